"""Per-request dataloaders: every field under a list reads through one of these.

Each batch function runs ONE statement for all keys (`= ANY($1)`) and returns results in key
order with None for misses, so a query's statement count depends on its shape, not its size.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Hashable, Iterable
from functools import partial
from typing import Any, TypeVar

import asyncpg
from aiodataloader import DataLoader
from aiodataloader import Loader as QueuedLoad

from db import (
    abtests,
    accounts,
    affinity,
    analytics,
    campaigns,
    merchants,
    rewards,
    sessions,
    settings,
    transactions,
    users,
)
from db.coalesce import Coalescer, ReadCancelled, coalescer_for

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
# Keys and values differ per loader; each batch function's signature says which.
Loader = DataLoader[Any, Any]


def _same(key: Any) -> Any:
    return key


class _Loader(DataLoader[Any, Any]):
    """aiodataloader's DataLoader, made without the checks its __init__ runs on the batch
    function every time (inspect.iscoroutinefunction and friends: most of the cost of making
    a loader, which every request does). The batch functions are ours, made by `batch_for`
    once per pool, and are coroutine functions; the class defaults (batch, cache, no
    max_batch_size) apply as for any DataLoader.

    `prime` is lazy: a page of 50 rows primes 50 keys of the by-id loader, and most are never
    loaded, so a primed value waits in `_primed` until its key is loaded (or cleared) instead
    of becoming a resolved future at once. A key is cached when it is in either; as with
    aiodataloader, priming a cached key changes nothing and a primed Exception fails the load.

    A failed batch's keys stay failed for the rest of the request, where aiodataloader forgets
    them so that a later load reads again. Within a request, that later load is the compiled
    executor's rerun of the same query after it bailed out on the error (schema/compiled.py):
    it must report the same error, not wait for the pool a second time (a request starved of
    connections waited twice its acquire timeout, and sometimes got through on the rerun).
    """

    def __init__(  # noqa: PLR0913 (all aiodataloader reads)
        self,
        batch_load_fn: Callable[[list[Any]], Coroutine[Any, Any, list[Any]]],
        loop: Any,
        coalescer: Coalescer | None = None,
        then: Callable[[list[Any]], list[Any]] | None = None,
    ) -> None:
        self.loop = loop
        self.batch_load_fn = batch_load_fn
        # With a Coalescer (the batch function's own), a batch goes to it directly from the
        # dispatch callback (`_dispatch`) instead of through a Task running the batch
        # function; `then` is the batch function's post-processing of the rows.
        self._coalescer = coalescer
        self._then = then
        self.get_cache_key = _same
        self._cache = {}
        self._queue = []
        self._primed: dict[Any, Any] = {}

    def load(self, key: Any) -> asyncio.Future[Any]:
        cached = self._cache.get(key)
        if cached is not None:
            if not cached.cancelled():
                return cached
            # Cancelled by an earlier awaiter that was itself cancelled (a sibling field the
            # executor gave up on). This awaiter was not: for it the read failed, as a failed
            # batch's keys stay failed (above), never a CancelledError it did not ask for.
            cached = self._cache[key] = self.loop.create_future()
            cached.set_exception(_cancelled())
            return cached
        if key is None:
            raise TypeError(
                "The loader.load() function must be called with a value, but got: None."
            )
        future = self._cache[key] = self.loop.create_future()
        if self._primed and key in self._primed:
            _settle(future, self._primed.pop(key))
        else:
            self.do_resolve_reject(key, future)
        return future

    def prime(self, key: Any, value: Any) -> _Loader:
        if key not in self._cache:
            self._primed.setdefault(key, value)
        return self

    def clear(self, key: Any) -> _Loader:
        self._cache.pop(key, None)
        self._primed.pop(key, None)
        return self

    def clear_all(self) -> _Loader:
        self._cache.clear()
        self._primed.clear()
        return self

    def do_resolve_reject(self, key: Any, future: Any) -> None:
        # aiodataloader schedules a Task whose only work is the (synchronous) dispatch of the
        # queue; a plain callback does the same one turn sooner, without the Task.
        self._queue.append(QueuedLoad(key=key, future=future))
        if len(self._queue) == 1:
            self.loop.call_soon(_dispatch, self)

    def load_many(self, keys: Iterable[Any]) -> asyncio.Future[list[Any]]:
        """`load` for each key, as aiodataloader's load_many, with one future for all of them
        instead of asyncio.gather's callback per key (the list prefetch loads 50 keys at once
        in four loaders per page of campaigns). Its value is the keys' values in key order;
        the first failed key, in key order, fails it."""
        futures = [self.load(key) for key in keys]
        whole: asyncio.Future[list[Any]] = self.loop.create_future()
        _settle_when_done(whole, futures, 0)
        return whole


def _dispatch(loader: _Loader) -> None:
    """aiodataloader's `dispatch_queue`, settling the keys with `_deliver`. Over a Coalescer
    the queue's keys go to it at once, with no Task and no coroutine for the batch (three per
    request for a 50-row page: ~10 µs each); otherwise the batch function runs in a Task, as
    in aiodataloader."""
    queue, loader._queue = loader._queue, []
    if not queue:
        return
    keys = [q.key for q in queue]
    if loader._coalescer is not None:
        found = loader._coalescer.load(keys)
        then = loader._then
    else:
        found = asyncio.ensure_future(loader.batch_load_fn(keys))
        then = None  # the batch function applies its own
    found.add_done_callback(partial(_deliver, loader, queue, then))


def _deliver(
    loader: _Loader,
    queue: list[QueuedLoad],
    then: Callable[[list[Any]], list[Any]] | None,
    found: asyncio.Future[list[Any]],
) -> None:
    """What aiodataloader's `dispatch_queue_batch` does with a batch's values: each key gets
    its value (an Exception value fails that key), and a failed batch fails every key of it.
    Unlike aiodataloader, the failed keys stay cached (see `_Loader`)."""
    if found.cancelled():  # the batch's Task, cancelled (at shutdown, say)
        for q in queue:
            if not q.future.done():
                q.future.set_exception(_cancelled())
        return
    try:
        values = found.result()
        if then is not None:
            values = then(values)
        values = list(values)
        if len(values) != len(queue):
            raise TypeError(  # noqa: TRY301 (aiodataloader's check, handled as it handles it)
                "DataLoader must be constructed with a function which accepts Iterable<key> "
                "and returns Future<Iterable<value>>, but the function did not return a "
                "Future of a Iterable with the same length as the Iterable of keys."
            )
    except Exception as exc:  # noqa: BLE001 (reaches every key of the batch)
        for q in queue:
            if not q.future.done():
                q.future.set_exception(exc)
        return
    for q, value in zip(queue, values, strict=True):
        if not q.future.done():
            _settle(q.future, value)


def _cancelled() -> ReadCancelled:
    return ReadCancelled("The read was cancelled before the database answered")


def _settle(future: asyncio.Future[Any], value: Any) -> None:
    """A primed value's future, as aiodataloader's `prime` makes it."""
    if isinstance(value, Exception):
        future.set_exception(value)
    else:
        future.set_result(value)


def _settle_when_done(
    whole: asyncio.Future[list[Any]], futures: list[Any], start: int, _done: Any = None
) -> None:
    """Settle `whole` from `futures` once all are done, waiting on one at a time: the keys of
    one batch are settled together, so this usually waits once."""
    for i in range(start, len(futures)):
        if not futures[i].done():
            futures[i].add_done_callback(partial(_settle_when_done, whole, futures, i + 1))
            return
    if whole.done():  # cancelled by its awaiter meanwhile
        return
    if any(future.cancelled() for future in futures):
        whole.set_exception(_cancelled())
        return
    # Every key's error is read (as asyncio.gather does), so none is logged as never retrieved.
    errors = [error for error in (future.exception() for future in futures) if error is not None]
    if errors:
        whole.set_exception(errors[0])
    else:
        whole.set_result([future.result() for future in futures])


def batch_for(
    pool: asyncpg.Pool,
    fetch: Callable[[asyncpg.Connection, list[Any]], Awaitable[list[Any]]],
    then: Callable[[list[Any]], list[Any]] | None = None,
) -> Callable[[list[Any]], Coroutine[Any, Any, list[Any]]]:
    """A batch function that reads with one statement on one pooled connection; `then` turns
    the rows into the loader's values. (With coalescing on, loaders hand their batches to the
    fetch's Coalescer instead: `_dispatch`.)"""

    async def load(keys: list[Any]) -> list[Any]:
        async with pool.acquire() as conn:
            found = await fetch(conn, list(keys))
        return then(found) if then is not None else found

    return load


def batched(
    pool: asyncpg.Pool,
    fetch: Callable[[asyncpg.Connection, list[Any]], Awaitable[list[Any]]],
    then: Callable[[list[Any]], list[Any]] | None = None,
) -> Loader:
    """A DataLoader reading with `fetch`: through its Coalescer (db/coalesce.py: shared with
    the same loader's batches from other requests in the same event-loop turn), or with
    `batch_for(pool, fetch, then)` when coalescing is off."""
    return _Loader(
        batch_for(pool, fetch, then), asyncio.get_running_loop(), coalescer_for(pool, fetch), then
    )


# The batch functions (and Coalescers) of a pool's loaders that need nothing from their
# request, made once.
_batches: weakref.WeakKeyDictionary[asyncpg.Pool, dict[str, Any]] = weakref.WeakKeyDictionary()


class Loaders:
    """This request's loaders, each made the first time it is used.

    A request uses a few of them: making all twenty up front was ~10 % of the CPU of a
    one-campaign query (bench/README.md).
    """

    campaign_by_id: Loader
    merchant_by_id: Loader
    user_by_id: Loader
    viewer_by_session: Loader
    setting_by_key: Loader
    account_by_id: Loader
    accounts_by_user_id: Loader
    transaction_by_id: Loader
    transactions_page_by_user: Loader
    transactions_count_by_user: Loader
    rewards_page_by_user: Loader
    rewards_count_by_user: Loader
    reward_by_id: Loader
    rewards_summary_by_user_id: Loader
    spending_by_user_period: Loader
    affinities_by_user_limit: Loader
    daily_analytics_by_campaign_period: Loader
    analytics_summary_by_campaign_period: Loader
    ab_test_by_id: Loader
    ab_tests_by_campaign_id: Loader
    variants_by_ab_test_id: Loader

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    def __getattr__(self, name: str) -> Loader:
        # Only reached for a loader not made yet: once set, the attribute is found directly.
        if name == "ab_tests_by_campaign_id":
            loader = batched(
                self._pool,
                abtests.with_variants_by_campaign_ids,
                _priming(self.variants_by_ab_test_id),
            )
        elif name in _FETCHES:
            batches = _batches.get(self._pool)
            if batches is None:
                batches = _batches[self._pool] = {}
            made = batches.get(name)
            if made is None:
                fetch = _FETCHES[name]
                made = batches[name] = (
                    batch_for(self._pool, fetch),
                    coalescer_for(self._pool, fetch),
                )
            loader = _Loader(made[0], asyncio.get_running_loop(), made[1])
        else:
            raise AttributeError(name)
        setattr(self, name, loader)
        return loader


def build_loaders(pool: asyncpg.Pool) -> Loaders:
    return Loaders(pool)


def _priming(
    variants: Loader,
) -> Callable[[list[list[tuple[abtests.AbTestRow, list[Any]]]]], list[list[abtests.AbTestRow]]]:
    """Campaigns' A/B tests are read with their variants in the same statement; the variants
    go into this request's `variants` loader cache, so `AbTest.variants` under them needs no
    statement."""

    def prime(found: list[list[tuple[abtests.AbTestRow, list[Any]]]]) -> list[Any]:
        for tests in found:
            for test, rows in tests:
                variants.prime(test.id, rows)
        return [[test for test, _ in tests] for tests in found]

    return prime


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


# Each loader's batch function (ab_tests_by_campaign_id also primes variants_by_ab_test_id).
_FETCHES: dict[str, Callable[[asyncpg.Connection, list[Any]], Awaitable[list[Any]]]] = {
    "campaign_by_id": campaigns.by_ids,
    "merchant_by_id": merchants.by_ids,
    "user_by_id": users.by_ids,
    "viewer_by_session": sessions.viewers,
    "setting_by_key": settings.by_keys,
    "account_by_id": accounts.by_ids,
    "accounts_by_user_id": accounts.by_user_ids,
    "transaction_by_id": transactions.by_ids,
    "transactions_page_by_user": transactions.pages,
    "transactions_count_by_user": transactions.totals,
    "rewards_page_by_user": rewards.pages,
    "rewards_count_by_user": rewards.totals,
    "reward_by_id": rewards.by_ids,
    "rewards_summary_by_user_id": rewards.summaries,
    "spending_by_user_period": _spending,
    "affinities_by_user_limit": affinity.top_by_users,
    "daily_analytics_by_campaign_period": analytics.daily,
    "analytics_summary_by_campaign_period": analytics.summaries,
    "ab_test_by_id": abtests.by_ids,
    "variants_by_ab_test_id": abtests.variants_by_test_ids,
}
