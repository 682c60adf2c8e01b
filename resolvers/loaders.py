"""Per-request dataloaders: every field under a list reads through one of these.

Each batch function runs ONE statement for all keys (`= ANY($1)`) and returns results in key
order with None for misses, so a query's statement count depends on its shape, not its size.
Each loader is declared once below, typed by its batch function, and made the first time a
request uses it (a request uses a few of the twenty).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from functools import cached_property
from typing import Any, TypeVar

import asyncpg
from aiodataloader import DataLoader

from db import (
    abtests,
    accounts,
    affinity,
    analytics,
    audit,
    campaigns,
    merchants,
    page_batch,
    rewards,
    sessions,
    settings,
    tracing,
    transactions,
    users,
)
from db.coalesce import coalescer_for

K = TypeVar("K")
V = TypeVar("V")
Fetch = Callable[[asyncpg.Connection, list[K]], Awaitable[Sequence[V]]]
# Any loader, where its keys and values do not matter.
Loader = DataLoader[Any, Any]


def batched(
    pool: asyncpg.Pool,
    fetch: Fetch[K, Any],
    then: Callable[[list[Any]], list[V]] | None = None,
) -> DataLoader[K, V]:
    """A DataLoader whose batches are read with `fetch`: through its Coalescer (db/coalesce.py:
    one statement shared with the same loader's batches from other requests in the same
    event-loop turn), or on a pooled connection of its own when coalescing is off. `then`
    turns the rows into the loader's values."""
    coalescer = coalescer_for(pool, fetch)

    async def read(keys: list[K]) -> list[V]:
        found: list[Any]
        if coalescer is not None:
            found = await coalescer.load(keys)  # type: ignore[arg-type]  # keys are hashable
        else:
            async with pool.acquire() as conn:
                found = list(await fetch(conn, keys))
        return then(found) if then is not None else found

    async def load(keys: list[K]) -> list[V]:
        tracer = tracing.tracer()
        if tracer is None:
            return await read(keys)
        # A span per batch; its statement's span is its child (a statement shared with other
        # requests' batches is the child of the first one's: db/coalesce.py).
        with tracer.start_as_current_span(
            f"loader {fetch.__module__.rpartition('.')[2]}.{fetch.__name__}",
            attributes={"graphql.loader.keys": len(keys), "code.function.name": fetch.__qualname__},
        ):
            return await read(keys)

    return DataLoader(load)


# (table, fact, JSON expression) -> the batch function reading those rows by id. Kept so
# that each selection's Coalescer is found again; bounded like the executor's plans.
_WRITTEN: OrderedDict[tuple[str, str, str], Fetch[int, tuple[Any, str] | None]] = OrderedDict()
_MAX_WRITTEN = 512


def _written_fetch(table: str, fact: str, expression: str) -> Fetch[int, tuple[Any, str] | None]:
    key = (table, fact, expression)
    fetch = _WRITTEN.get(key)
    if fetch is None:

        async def fetch(conn: asyncpg.Connection, ids: list[int]) -> list[tuple[Any, str] | None]:
            return await page_batch.written_by_ids(conn, table, fact, expression, ids)

        _WRITTEN[key] = fetch
        if len(_WRITTEN) > _MAX_WRITTEN:
            _WRITTEN.popitem(last=False)
    return fetch


class Loaders:
    """This request's loaders."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    def written(
        self, table: str, fact: str, expression: str
    ) -> DataLoader[int, tuple[Any, str] | None]:
        """Rows of `table` by id, as (fact, the JSON PostgreSQL writes with `expression`)."""
        made: dict[tuple[str, str, str], DataLoader[int, tuple[Any, str] | None]]
        made = self.__dict__.setdefault("_written", {})
        key = (table, fact, expression)
        loader = made.get(key)
        if loader is None:
            loader = made[key] = batched(self._pool, _written_fetch(table, fact, expression))
        return loader

    def _made(self, fetch: Fetch[K, V]) -> DataLoader[K, V]:
        return batched(self._pool, fetch)

    @cached_property
    def campaign_by_id(self) -> DataLoader[int, campaigns.CampaignRow | None]:
        return self._made(campaigns.by_ids)

    @cached_property
    def campaigns_page_by_merchant(self) -> DataLoader[campaigns.MerchantPageKey, Any]:
        return self._made(campaigns.pages_by_merchant)

    @cached_property
    def campaigns_count_by_merchant(
        self,
    ) -> DataLoader[tuple[int, campaigns.CampaignFilter], int]:
        return self._made(campaigns.totals_by_merchant)

    @cached_property
    def merchant_by_id(self) -> DataLoader[int, merchants.MerchantRow | None]:
        return self._made(merchants.by_ids)

    @cached_property
    def user_by_id(self) -> DataLoader[int, users.UserRow | None]:
        return self._made(users.by_ids)

    @cached_property
    def viewer_by_session(self) -> DataLoader[str, users.UserRow | None]:
        return self._made(sessions.viewers)

    @cached_property
    def setting_by_key(self) -> DataLoader[str, settings.SettingRow | None]:
        return self._made(settings.by_keys)

    @cached_property
    def account_by_id(self) -> DataLoader[int, accounts.AccountRow | None]:
        return self._made(accounts.by_ids)

    @cached_property
    def accounts_by_user_id(self) -> DataLoader[int, list[accounts.AccountRow]]:
        return self._made(accounts.by_user_ids)

    @cached_property
    def transaction_by_id(self) -> DataLoader[int, transactions.TransactionRow | None]:
        return self._made(transactions.by_ids)

    @cached_property
    def transactions_page_by_user(self) -> DataLoader[transactions.PageKey, Any]:
        return self._made(transactions.pages)

    @cached_property
    def transactions_count_by_user(
        self,
    ) -> DataLoader[tuple[int, transactions.TransactionFilter], int]:
        return self._made(transactions.totals)

    @cached_property
    def transactions_page_by_account(self) -> DataLoader[transactions.PageKey, Any]:
        return self._made(transactions.pages_by_account)

    @cached_property
    def transactions_count_by_account(
        self,
    ) -> DataLoader[tuple[int, transactions.TransactionFilter], int]:
        return self._made(transactions.totals_by_account)

    @cached_property
    def rewards_page_by_user(self) -> DataLoader[rewards.PageKey, Any]:
        return self._made(rewards.pages)

    @cached_property
    def rewards_page_by_campaign(self) -> DataLoader[rewards.PageKey, Any]:
        return self._made(rewards.pages_by_campaign)

    @cached_property
    def rewards_count_by_campaign(
        self,
    ) -> DataLoader[tuple[int, tuple[rewards.RewardStatus, ...] | None], int]:
        return self._made(rewards.totals_by_campaign)

    @cached_property
    def rewards_count_by_user(
        self,
    ) -> DataLoader[tuple[int, tuple[rewards.RewardStatus, ...] | None], int]:
        return self._made(rewards.totals)

    @cached_property
    def audit_entry_by_id(self) -> DataLoader[int, audit.AuditRow | None]:
        return self._made(audit.by_ids)

    @cached_property
    def reward_by_transaction_id(self) -> DataLoader[int, rewards.RewardRow | None]:
        return self._made(rewards.by_transaction_ids)

    @cached_property
    def reward_by_id(self) -> DataLoader[int, rewards.RewardRow | None]:
        return self._made(rewards.by_ids)

    @cached_property
    def rewards_summary_by_user_id(self) -> DataLoader[int, list[rewards.RewardsSummaryRow]]:
        return self._made(rewards.summaries)

    @cached_property
    def spending_by_user_period(
        self,
    ) -> DataLoader[
        tuple[int, Any, Any, transactions.SpendingGroup], list[transactions.SpendingBucket]
    ]:
        return self._made(_spending)

    @cached_property
    def affinities_by_user_limit(self) -> DataLoader[tuple[int, int], list[affinity.AffinityRow]]:
        return self._made(affinity.top_by_users)

    @cached_property
    def daily_analytics_by_campaign_period(
        self,
    ) -> DataLoader[analytics.Key, list[analytics.DailyRow]]:
        return self._made(analytics.daily)

    @cached_property
    def analytics_summary_by_campaign_period(
        self,
    ) -> DataLoader[analytics.Key, analytics.SummaryRow]:
        return self._made(analytics.summaries)

    @cached_property
    def ab_test_by_id(self) -> DataLoader[int, abtests.AbTestRow | None]:
        return self._made(abtests.by_ids)

    @cached_property
    def variants_by_ab_test_id(self) -> DataLoader[int, list[abtests.VariantRow]]:
        return self._made(abtests.variants_by_test_ids)

    @cached_property
    def ab_tests_by_campaign_id(self) -> DataLoader[int, list[abtests.AbTestRow]]:
        """Read with their variants in the same statement; the variants go into this
        request's `variants_by_ab_test_id` cache, so `AbTest.variants` needs no statement."""
        variants = self.variants_by_ab_test_id

        def prime(found: list[list[tuple[abtests.AbTestRow, list[Any]]]]) -> list[Any]:
            for tests in found:
                for test, rows in tests:
                    variants.prime(test.id, rows)
            return [[test for test, _ in tests] for tests in found]

        return batched(self._pool, abtests.with_variants_by_campaign_ids, prime)


def build_loaders(pool: asyncpg.Pool) -> Loaders:
    return Loaders(pool)


async def _spending(
    conn: asyncpg.Connection, keys: list[tuple[int, Any, Any, transactions.SpendingGroup]]
) -> list[list[transactions.SpendingBucket]]:
    """Keys are (user, from, to, groupBy): one statement per grouping asked for in the batch."""
    results: dict[int, list[transactions.SpendingBucket]] = {}
    for group in transactions.SpendingGroup:
        positions = [i for i, k in enumerate(keys) if k[3] is group]
        if positions:
            found = await transactions.spending(conn, group, [keys[i][:3] for i in positions])
            results.update(zip(positions, found, strict=True))
    return [results[i] for i in range(len(keys))]
