"""Users as members: lookup, transactions, rewards, spending and merchant affinities."""

from __future__ import annotations

from datetime import date
from typing import Any

from db.page_batch import RenderedLists
from db.rewards import RenderedReward, RewardRow, RewardStatus
from db.transactions import (
    RenderedTransaction,
    SpendingBucket,
    SpendingGroup,
    TransactionFilter,
    TransactionRow,
)
from db.users import UserRow
from resolvers.context import Context
from resolvers.errors import BadUserInput
from resolvers.ids import argument_pk
from resolvers.pagination import DATETIME, INT, CursorKind, capped_request
from resolvers.periods import period

MAX_AFFINITIES = 100
DEFAULT_AFFINITIES = 10


async def user(ctx: Context, global_id: str) -> UserRow | None:
    """The user with this ID, or None; a malformed ID is BAD_USER_INPUT naming `id`."""
    pk = argument_pk(global_id, "User", "id")
    row: UserRow | None = await ctx.loaders.user_by_id.load(pk)
    return row


# A cursor names the user whose connection it came from: another user's cursor is refused.
def transaction_cursor(user_pk: int) -> CursorKind:
    return CursorKind(f"transactions:{user_pk}", (DATETIME, INT))


def reward_cursor(user_pk: int) -> CursorKind:
    return CursorKind(f"rewards:{user_pk}", (DATETIME, INT))


def account_transaction_cursor(account_pk: int) -> CursorKind:
    return CursorKind(f"account-transactions:{account_pk}", (DATETIME, INT))


async def list_transactions(
    ctx: Context,
    parent_pk: int,
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    flt: TransactionFilter,
    render: str | RenderedLists | None = None,
    of_account: bool = False,
) -> Any:
    """A page of the user's transactions (`of_account`: the account's): a Page of
    TransactionRows; with `render` a JSON expression over a row (schema/render.py), a Page of
    RenderedTransactions (that JSON in place of the columns); with RenderedLists, a
    RenderedPage."""
    if flt.occurred_from and flt.occurred_to and flt.occurred_to < flt.occurred_from:
        raise BadUserInput("`filter.to` must not be before `filter.from`", "filter.to")
    cursor = (account_transaction_cursor if of_account else transaction_cursor)(parent_pk)
    request = await capped_request(ctx, cursor, first=first, after=after, last=last, before=before)
    loaders = ctx.loaders
    pages = (
        loaders.transactions_page_by_account if of_account else loaders.transactions_page_by_user
    )
    page = await pages.load((parent_pk, request, flt, render))
    if render is None:
        for row in page.rows:
            loaders.transaction_by_id.prime(row.id, row)
    return page


async def count_transactions(
    ctx: Context, parent_pk: int, flt: TransactionFilter, *, of_account: bool = False
) -> int:
    loaders = ctx.loaders
    counts = (
        loaders.transactions_count_by_account if of_account else loaders.transactions_count_by_user
    )
    total: int = await counts.load((parent_pk, flt))
    return total


def transaction_cursor_of(row: TransactionRow | RenderedTransaction) -> str:
    return transaction_cursor(row.user_id).encode((row.occurred_at, row.id))


def campaign_reward_cursor(campaign_pk: int) -> CursorKind:
    return CursorKind(f"campaign-rewards:{campaign_pk}", (DATETIME, INT))


async def list_rewards(
    ctx: Context,
    parent_pk: int,
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    statuses: tuple[RewardStatus, ...] | None,
    render: str | RenderedLists | None = None,
    of_campaign: bool = False,
) -> Any:
    """A page of the user's rewards (`of_campaign`: the rewards the campaign paid; with
    `render`, as `list_transactions`)."""
    cursor = (campaign_reward_cursor if of_campaign else reward_cursor)(parent_pk)
    request = await capped_request(ctx, cursor, first=first, after=after, last=last, before=before)
    loaders = ctx.loaders
    pages = loaders.rewards_page_by_campaign if of_campaign else loaders.rewards_page_by_user
    return await pages.load((parent_pk, request, statuses, render))


async def count_rewards(
    ctx: Context,
    parent_pk: int,
    statuses: tuple[RewardStatus, ...] | None,
    *,
    of_campaign: bool = False,
) -> int:
    loaders = ctx.loaders
    counts = loaders.rewards_count_by_campaign if of_campaign else loaders.rewards_count_by_user
    total: int = await counts.load((parent_pk, statuses))
    return total


def reward_cursor_of(row: RewardRow | RenderedReward) -> str:
    return reward_cursor(row.user_id).encode((row.earned_at, row.id))


async def spending(
    ctx: Context, user_pk: int, day_from: date, day_to: date, group: SpendingGroup
) -> list[SpendingBucket]:
    start, end = period(day_from, day_to, max_days=None)
    buckets: list[SpendingBucket] = await ctx.loaders.spending_by_user_period.load(
        (user_pk, start, end, group)
    )
    return buckets


def affinity_limit(first: int | None) -> int:
    if first is None:
        return DEFAULT_AFFINITIES
    if first < 0:
        raise BadUserInput(f"`first` must not be negative (got {first})", "first")
    if first > MAX_AFFINITIES:
        raise BadUserInput(f"`first` must be at most {MAX_AFFINITIES} (got {first})", "first")
    return first
