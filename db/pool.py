"""The asyncpg pool: one per process, opened in the Starlette lifespan."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg

from db import metrics, tracing


@dataclass(frozen=True)
class PoolSettings:
    """Sizes and timeouts that bound every request's use of the database."""

    min_size: int = 1
    max_size: int = 10
    statement_timeout_ms: int = 5000
    acquire_timeout_s: float = 5.0

    @classmethod
    def from_env(cls) -> PoolSettings:
        return cls(
            min_size=int(os.environ.get("DB_POOL_MIN", "1")),
            max_size=int(os.environ.get("DB_POOL_MAX", "10")),
            statement_timeout_ms=int(os.environ.get("DB_STATEMENT_TIMEOUT_MS", "5000")),
            acquire_timeout_s=float(os.environ.get("DB_ACQUIRE_TIMEOUT_S", "5")),
        )


async def _init_connection(conn: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Pool `reset`: nothing beyond asyncpg's own rollback of an open transaction.

    asyncpg's default reset runs `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
    RESET ALL` on every release: one extra round trip per dataloader batch, ~6% of a
    small query's CPU (bench/README.md). The app keeps no session state on pooled
    connections (no SET outside a transaction, no LISTEN, no session advisory locks, no
    cursors outside a transaction; migrations use their own connection), so there is
    nothing to reset. Code that needs session state must use a dedicated connection.
    """


# Failures after which a connection is not trusted again (see FairPool.release).
_BROKEN = (
    asyncio.CancelledError,
    OSError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
)


def _terminate(connection: Any) -> None:
    try:
        if not connection.is_closed():
            connection.terminate()
    except asyncpg.InterfaceError:
        pass  # released already: asyncpg's release does nothing with it either


async def take_turn(turns: asyncio.Semaphore, timeout: float | None) -> float:  # noqa: ASYNC109
    """Acquire `turns` in arrival order (asyncio.Semaphore is FIFO), waiting at most `timeout`
    seconds (TimeoutError). The deadline is armed only when there is a wait: a free turn is
    taken at once, which for the pool is half the cost of a short query. Returns the seconds
    waited (0.0 when the turn was free)."""
    if turns.locked():
        started = time.perf_counter()
        async with asyncio.timeout(timeout):
            await turns.acquire()
        return time.perf_counter() - started
    await turns.acquire()
    return 0.0


class FairPool(asyncpg.Pool):  # type: ignore[misc]  # asyncpg is untyped
    """asyncpg's pool, handing connections out first come, first served, within a deadline.

    Fair: asyncpg waits for a free connection on an asyncio.Queue, which lets a newcomer take
    a just-released connection ahead of the waiter that was woken for it; the woken waiter
    queues again at the back. Under load (100 clients, 10 connections) some requests
    waited seconds: Q1's p99 was 6.3 s at a 23 ms median (bench/README.md). A FIFO-fair
    semaphore of max_size in front of the queue makes everyone wait their turn.

    Bounded: asyncpg's own `timeout` pool argument bounds connecting only; a plain
    `acquire()` would wait for a free connection forever, so it defaults to `acquire_timeout`.
    """

    def __init__(self, *args: Any, max_size: int, acquire_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, max_size=max_size, **kwargs)
        self.acquire_timeout = acquire_timeout
        self._turns = asyncio.Semaphore(max_size)
        self._in_use = 0  # connections handed out (db_pool_connections)

    def acquire(self, *, timeout: float | None = None) -> Any:
        return super().acquire(timeout=self.acquire_timeout if timeout is None else timeout)

    async def _acquire(self, timeout: float | None) -> Any:  # noqa: ASYNC109  (asyncpg API)
        turns = self._turns
        waited = await take_turn(turns, timeout)
        try:
            # A turn guarantees a free connection holder (a holder goes back to asyncpg's
            # queue before its turn is released), so nothing here waits for another
            # request; opening a new connection is bounded by the pool's connect timeout.
            # Without a timeout asyncpg also skips its wait_for, which costs a Task.
            connection = await super()._acquire(None)
        except BaseException:
            turns.release()
            raise
        self._in_use += 1
        if waited and metrics.ENABLED:
            metrics.POOL_WAIT_SECONDS.observe(waited)
        return connection

    def connection_counts(self) -> tuple[int, int, int]:
        """(idle, in use, most) connections, for db_pool_connections."""
        if self.is_closing():
            return 0, 0, 0
        return self.get_size() - self._in_use, self._in_use, self._maxsize

    async def release(self, connection: Any, *, timeout: float | None = None) -> None:  # noqa: ASYNC109
        # A connection whose use ended in a cancellation or a connection-level failure is
        # closed, never handed out again (the pool opens a new one). A request cancelled
        # while it held it (its time budget, a sibling field that failed, shutdown) may
        # have cut a statement off between the messages of the extended protocol: the server
        # then waits for the rest (`active`, ClientRead), and our reset sends nothing that
        # would end it. A connection the server ended mid-operation can be left in a state
        # asyncpg refuses to leave ("cannot switch to state 12"). asyncpg's own reset query
        # would find both out, at the cost of a round trip on every release (_keep_session).
        # The failure is the one being handled where the connection is released: the
        # `async with pool.acquire()` block's.
        failed = sys.exc_info()[1]
        task = asyncio.current_task()
        try:
            if isinstance(failed, _BROKEN) or (task is not None and task.cancelling()):
                _terminate(connection)
            await super().release(connection, timeout=timeout)
        finally:
            self._turns.release()
            self._in_use -= 1


async def create_pool(
    dsn: str,
    settings: PoolSettings | None = None,
    *,
    on_connect: Callable[[asyncpg.Connection], Awaitable[None]] | None = None,
) -> asyncpg.Pool:
    """Open a pool whose connections decode json/jsonb and carry a statement timeout.

    `on_connect` runs after the codecs are set (tests use it to attach a query counter).
    """
    settings = settings or PoolSettings()

    async def init(conn: asyncpg.Connection) -> None:
        await _init_connection(conn)
        if on_connect is not None:
            await on_connect(conn)

    pool = FairPool(
        dsn,
        acquire_timeout=settings.acquire_timeout_s,
        connection_class=(
            tracing.ObservedConnection if tracing.observes_statements() else asyncpg.Connection
        ),
        record_class=asyncpg.Record,
        min_size=settings.min_size,
        max_size=settings.max_size,
        max_queries=50_000,  # asyncpg's create_pool defaults
        max_inactive_connection_lifetime=300.0,
        loop=None,
        init=init,
        reset=_keep_session,
        timeout=settings.acquire_timeout_s,
        command_timeout=settings.statement_timeout_ms / 1000 + 1,
        server_settings={
            "application_name": "campaign-graphql",
            "statement_timeout": str(settings.statement_timeout_ms),
        },
    )
    await pool
    if metrics.ENABLED:
        metrics.watch_pool(pool)
    return pool
