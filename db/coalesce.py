"""One statement for the same kind of lookup from every request in flight at that moment.

Each request has its own dataloaders (resolvers/loaders.py): within a request, the loads of
one kind made in one event-loop turn become one batch, so a request's statement count is
fixed by its query's shape. Under load, many requests are at the same step at once (ten
clients asking for a campaign each, all authenticated as some user): each would still send
its own `campaigns WHERE id = ANY($1)` and `users WHERE id = ANY($1)`. A Coalescer sits
under the loaders of one kind: the batches that the requests' loaders hand it in the same
turn go to PostgreSQL as ONE statement, on one pooled connection, and each request gets its
own rows back.

Nothing is cached or shared beyond that statement: every batch is read by a statement that
starts after the batch was asked for (the same freshness as its own statement would have),
each request's loader still caches only for its own request, and access rules run per request
on what it receives. A statement that PostgreSQL refuses (one request's bad key, such as text
it cannot store) is not allowed to fail the others: then every batch is read again on its own,
so each request gets exactly the answer or the error its own statement would have given.
Connection-level failures (the database is down, the pool is exhausted) reach every batch.

The batch functions must be pure lookups: each key's result depends on that key alone, which
is what a dataloader batch function promises anyway.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any

import asyncpg

Fetch = Callable[[asyncpg.Connection, list[Any]], Awaitable[Sequence[Any]]]


class ReadCancelled(ConnectionError):
    """A shared read was cancelled before it answered. The requests waiting on it were not
    cancelled themselves: for them the database did not answer (a ConnectionError, which they
    report as SERVICE_UNAVAILABLE), where the CancelledError itself would end each of them as
    if it had been cancelled, past every error handler."""


def waiting_error(exc: BaseException) -> BaseException:
    """What a request waiting on a shared read gets when the read failed with `exc`."""
    if isinstance(exc, asyncio.CancelledError):
        return ReadCancelled("The read was cancelled before the database answered")
    return exc


class Coalescer:
    """`load(keys)`: the fetch's results for `keys`, read together with the other batches
    asked for in the same event-loop turn (see the module doc)."""

    __slots__ = ("_fetch", "_pool", "_scheduled", "_waiting", "statements")

    def __init__(self, pool: asyncpg.Pool, fetch: Fetch) -> None:
        self._pool = pool
        self._fetch = fetch
        self._waiting: list[tuple[list[Hashable], asyncio.Future[list[Any]]]] = []
        self._scheduled = False
        self.statements = 0  # batches sent, for tests and the benchmark's notes

    def load(self, keys: list[Hashable]) -> asyncio.Future[list[Any]]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()
        self._waiting.append((keys, future))
        if not self._scheduled:
            self._scheduled = True
            # Run after the callbacks already queued: every request that reaches this step
            # in the current turn joins the batch.
            loop.call_soon(self._dispatch)
        return future

    def _dispatch(self) -> None:
        self._scheduled = False
        waiting, self._waiting = self._waiting, []
        asyncio.get_running_loop().create_task(self._run(waiting))

    async def _run(self, waiting: list[tuple[list[Hashable], asyncio.Future[list[Any]]]]) -> None:
        if len(waiting) == 1:
            keys, future = waiting[0]
            await self._settle(keys, future)
            return
        unique = list(dict.fromkeys(k for keys, _ in waiting for k in keys))
        try:
            results = await self._read(unique)
        except asyncpg.PostgresError:
            # Refused by PostgreSQL for some key: each batch on its own (module doc).
            await asyncio.gather(*(self._settle(keys, future) for keys, future in waiting))
            return
        except BaseException as exc:  # noqa: BLE001 (handed to every waiting request)
            for _keys, future in waiting:
                if not future.done():
                    future.set_exception(waiting_error(exc))
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        found = dict(zip(unique, results, strict=True))
        for keys, future in waiting:
            if not future.done():  # a request that gave up (cancelled) no longer waits
                future.set_result([found[k] for k in keys])

    async def _settle(self, keys: list[Hashable], future: asyncio.Future[list[Any]]) -> None:
        try:
            results = await self._read(keys)
        except BaseException as exc:  # noqa: BLE001 (the request's own error)
            if not future.done():
                future.set_exception(waiting_error(exc))
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        if not future.done():
            future.set_result(list(results))

    async def _read(self, keys: list[Hashable]) -> Sequence[Any]:
        self.statements += 1
        async with self._pool.acquire() as conn:
            return await self._fetch(conn, keys)


# DB_COALESCE=0 turns coalescing off: each request's batch is then its own statement.
ENABLED = os.environ.get("DB_COALESCE", "1") != "0"

# One Coalescer per (pool, batch function), made on first use.
_coalescers: weakref.WeakKeyDictionary[asyncpg.Pool, dict[Fetch, Coalescer]] = (
    weakref.WeakKeyDictionary()
)


def coalescer_for(pool: asyncpg.Pool, fetch: Fetch) -> Coalescer | None:
    """The pool's Coalescer for `fetch`, or None when coalescing is off."""
    if not ENABLED:
        return None
    by_fetch = _coalescers.get(pool)
    if by_fetch is None:
        by_fetch = _coalescers[pool] = {}
    coalescer = by_fetch.get(fetch)
    if coalescer is None:
        coalescer = by_fetch[fetch] = Coalescer(pool, fetch)
    return coalescer
