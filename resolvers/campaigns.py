"""Campaign queries, edits and lifecycle transitions."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import asyncpg
from strawberry import UNSET

from db import campaigns as db
from db.campaigns import CampaignFilter, CampaignRow, CampaignStatus, RewardType, Transition
from db.page_batch import RenderedLists
from resolvers import audit, constraints
from resolvers.context import Context
from resolvers.errors import ErrorCode
from resolvers.ids import InvalidGlobalId, from_global_id
from resolvers.outcome import Outcome
from resolvers.pagination import INT, CursorKind, capped_request, read_page
from resolvers.validation import Checker

CURSOR = CursorKind("campaigns", (INT,))
NAME_MAX = 200
DESCRIPTION_MAX = 5000
# Basis points: 10000 = 100 % cashback.
MAX_PERCENT_HUNDREDTHS = 10000


async def list_campaigns(
    ctx: Context,
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    flt: CampaignFilter,
    how: str | RenderedLists | None = None,
) -> Any:
    """A page of campaigns: CampaignRows, or what PostgreSQL writes (`how`, db/campaigns.py)."""
    request = await capped_request(ctx, CURSOR, first=first, after=after, last=last, before=before)
    return await read_page(
        ctx,
        request,
        lambda conn, r: db.page(conn, r, flt, how),
        ctx.loaders.campaign_by_id if how is None else None,
    )


def merchant_cursor(merchant_pk: int) -> CursorKind:
    return CursorKind(f"merchant-campaigns:{merchant_pk}", (INT,))


async def list_merchant_campaigns(
    ctx: Context,
    merchant_pk: int,
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    flt: CampaignFilter,
    how: str | RenderedLists | None = None,
) -> Any:
    """A page of one merchant's campaigns (`flt` already narrowed to the viewer's), read with
    every other merchant's of the same request in one statement."""
    request = await capped_request(
        ctx, merchant_cursor(merchant_pk), first=first, after=after, last=last, before=before
    )
    page = await ctx.loaders.campaigns_page_by_merchant.load((merchant_pk, request, flt, how))
    if how is None:
        for row in page.rows:
            ctx.loaders.campaign_by_id.prime(row.id, row)
    return page


async def count_merchant_campaigns(ctx: Context, merchant_pk: int, flt: CampaignFilter) -> int:
    total: int = await ctx.loaders.campaigns_count_by_merchant.load((merchant_pk, flt))
    return total


async def count_campaigns(ctx: Context, flt: CampaignFilter) -> int:
    async with ctx.connection() as conn:
        return await db.total(conn, flt)


def cursor_of(row: CampaignRow | db.RenderedCampaign) -> str:
    return CURSOR.encode((row.id,))


@dataclass(frozen=True)
class CampaignInput:
    """The editable fields as the API receives them; UNSET means 'leave as it is'."""

    merchant_id: Any = UNSET
    name: Any = UNSET
    description: Any = UNSET
    reward_type: Any = UNSET
    reward_value: Any = UNSET
    budget: Any = UNSET
    currency: Any = UNSET
    starts_at: Any = UNSET
    ends_at: Any = UNSET


def _given(value: Any) -> bool:
    return value is not UNSET


async def _clean(
    ctx: Context, given: CampaignInput, base: db.CampaignValues
) -> Outcome[db.CampaignValues]:
    """Merge `given` over `base` and check the result, reporting every problem at once."""
    check = Checker()
    values = base
    if _given(given.merchant_id):
        merchant_id = check.global_id("merchantId", given.merchant_id, "Merchant")
        if merchant_id is not None:
            if await ctx.loaders.merchant_by_id.load(merchant_id) is None:
                check.fail("merchantId", "No merchant has this ID", ErrorCode.NOT_FOUND)
            values = replace(values, merchant_id=merchant_id)
    if _given(given.name):
        values = replace(values, name=check.text("name", given.name, max_length=NAME_MAX))
    if _given(given.description):
        values = replace(
            values,
            description=check.text(
                "description",
                given.description or "",
                max_length=DESCRIPTION_MAX,
                required=False,
            ),
        )
    if _given(given.reward_type):
        values = replace(values, reward_type=RewardType(given.reward_type.value))
    if _given(given.reward_value):
        values = replace(values, reward_value=check.hundredths("rewardValue", given.reward_value))
    if _given(given.budget):
        values = replace(values, budget_cents=check.hundredths("budget", given.budget))
    if _given(given.currency):
        values = replace(values, currency=check.currency("currency", given.currency))
    if _given(given.starts_at):
        values = replace(values, starts_at=_aware(given.starts_at))
    if _given(given.ends_at):
        values = replace(values, ends_at=_aware(given.ends_at))
    if (
        values.reward_type is RewardType.CASHBACK_PERCENT
        and values.reward_value > MAX_PERCENT_HUNDREDTHS
    ):
        check.fail("rewardValue", "A cashback percentage must be at most 100", ErrorCode.INVALID)
    if values.starts_at and values.ends_at and values.ends_at <= values.starts_at:
        check.fail("endsAt", "endsAt must be after startsAt", ErrorCode.DATE_ORDER)
    if check.problems:
        return Outcome(None, check.problems)
    return Outcome(values)


def _aware(value: datetime | None) -> datetime | None:
    """Naive timestamps from clients are taken as UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


_BLANK = db.CampaignValues(
    merchant_id=0,
    name="",
    description="",
    reward_type=RewardType.CASHBACK_PERCENT,
    reward_value=0,
    currency="USD",
    budget_cents=0,
    starts_at=None,
    ends_at=None,
)


async def create(ctx: Context, given: CampaignInput) -> Outcome[CampaignRow]:
    cleaned = await _clean(ctx, given, _BLANK)
    if cleaned.value is None:
        return Outcome(None, cleaned.problems)
    try:
        async with ctx.transaction() as conn:
            row = await db.insert(conn, cleaned.value, ctx.viewer_id)
            await audit.record(
                conn, ctx, "campaign.create", "Campaign", row.id, None, audit.snapshot(row)
            )
    except asyncpg.IntegrityConstraintViolationError as error:
        return constraints.refuse(error)  # e.g. the merchant was deleted since the check
    return Outcome(row)


def _values_of(row: CampaignRow) -> db.CampaignValues:
    return db.CampaignValues(
        merchant_id=row.merchant_id,
        name=row.name,
        description=row.description,
        reward_type=row.reward_type,
        reward_value=row.reward_value,
        currency=row.currency,
        budget_cents=row.budget_cents,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
    )


def _campaign_pk(global_id: str) -> int | None:
    try:
        return from_global_id(global_id, "Campaign")
    except InvalidGlobalId:
        return None


def _invalid_id(global_id: str) -> Outcome[Any]:
    return Outcome.refuse("id", f"{global_id!r} is not a valid Campaign ID", ErrorCode.INVALID_ID)


def _not_found() -> Outcome[Any]:
    return Outcome.refuse("id", "No campaign has this ID", ErrorCode.NOT_FOUND)


def _conflict(row: CampaignRow, expected: int) -> Outcome[Any]:
    return Outcome.refuse(
        "expectedVersion",
        f"The campaign is at version {row.version}, not {expected}; reload and retry",
        ErrorCode.VERSION_CONFLICT,
    )


async def update(
    ctx: Context, global_id: str, expected_version: int | None, given: CampaignInput
) -> Outcome[CampaignRow]:
    pk = _campaign_pk(global_id)
    if pk is None:
        return _invalid_id(global_id)
    try:
        return await _update(ctx, pk, expected_version, given)
    except asyncpg.IntegrityConstraintViolationError as error:
        return constraints.refuse(error)


async def _update(
    ctx: Context, pk: int, expected_version: int | None, given: CampaignInput
) -> Outcome[CampaignRow]:
    async with ctx.transaction() as conn:
        current = await db.lock(conn, pk)
        if current is None:
            return _not_found()
        if expected_version is not None and current.version != expected_version:
            return _conflict(current, expected_version)
        if current.status is CampaignStatus.COMPLETED:
            return Outcome.refuse(
                None, "A completed campaign can no longer be edited", ErrorCode.INVALID_TRANSITION
            )
        cleaned = await _clean(ctx, given, _values_of(current))
        if cleaned.value is None:
            return Outcome(None, cleaned.problems)
        row = await db.update(conn, pk, cleaned.value)
        await audit.record(
            conn,
            ctx,
            "campaign.update",
            "Campaign",
            pk,
            audit.snapshot(current),
            audit.snapshot(row),
        )
    return Outcome(row)


async def delete(
    ctx: Context, global_id: str, expected_version: int | None
) -> Outcome[CampaignRow]:
    pk = _campaign_pk(global_id)
    if pk is None:
        return _invalid_id(global_id)
    async with ctx.transaction() as conn:
        row = await db.delete_draft(conn, pk, expected_version)
        if row is None:
            return await _explain(conn, pk, expected_version, "delete", (CampaignStatus.DRAFT,))
        await audit.record(conn, ctx, "campaign.delete", "Campaign", pk, audit.snapshot(row), None)
    return Outcome(row)


_LIFECYCLE_FIELDS = ("status", "version", "launched_at", "paused_at", "completed_at")


async def apply(
    ctx: Context, transition: Transition, global_id: str, expected_version: int | None
) -> Outcome[CampaignRow]:
    """Run one lifecycle transition and its audit row in one transaction."""
    pk = _campaign_pk(global_id)
    if pk is None:
        return _invalid_id(global_id)
    async with ctx.transaction() as conn:
        moved = await db.transition(conn, transition, pk, expected_version)
        if moved is None:
            verb = transition.action.split(".")[-1]
            return await _explain(conn, pk, expected_version, verb, transition.allowed_from)
        row, before_status = moved
        after = audit.snapshot(row, _LIFECYCLE_FIELDS)
        # The one statement reports only the status it moved from; that and the version are
        # all of "before" we know for certain.
        before = {"status": before_status.value, "version": row.version - 1}
        await audit.record(conn, ctx, transition.action, "Campaign", pk, before, after)
    return Outcome(row)


async def _explain(
    conn: Any,
    pk: int,
    expected_version: int | None,
    verb: str,
    allowed_from: tuple[CampaignStatus, ...],
) -> Outcome[CampaignRow]:
    """Why a conditional statement changed nothing, read in the same transaction."""
    [row] = await db.by_ids(conn, [pk])
    if row is None:
        return _not_found()
    if expected_version is not None and row.version != expected_version:
        return _conflict(row, expected_version)
    if row.status not in allowed_from:
        allowed = " or ".join(s.value for s in allowed_from)
        return Outcome.refuse(
            None,
            f"Cannot {verb} a {row.status.value} campaign; it must be {allowed}",
            ErrorCode.INVALID_TRANSITION,
        )
    if row.ends_at is not None and row.ends_at <= datetime.now(UTC):
        return Outcome.refuse(
            None,
            f"Cannot {verb}: the campaign ended at {row.ends_at.isoformat()}",
            ErrorCode.CAMPAIGN_ENDED,
        )
    if row.spent_cents >= row.budget_cents:
        return Outcome.refuse(
            None, f"Cannot {verb}: the campaign's budget is spent", ErrorCode.BUDGET_EXHAUSTED
        )
    return Outcome.refuse(None, f"Cannot {verb} the campaign now", ErrorCode.INVALID_TRANSITION)
