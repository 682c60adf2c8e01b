"""The asyncpg pool: one per process, opened in the Starlette lifespan."""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg


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


class BoundedPool(asyncpg.Pool):  # type: ignore[misc]  # asyncpg ships no type stubs
    """A pool whose `acquire()` gives up after `acquire_timeout` seconds by default.

    asyncpg's own `timeout` pool argument bounds connecting only; a plain `acquire()` would
    wait for a free connection forever.
    """

    def __init__(self, *args: Any, acquire_timeout: float, **kwargs: Any) -> None:
        self.acquire_timeout = acquire_timeout
        super().__init__(*args, **kwargs)

    def acquire(self, *, timeout: float | None = None) -> Any:
        return super().acquire(timeout=self.acquire_timeout if timeout is None else timeout)


async def _init_connection(conn: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


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

    # The arguments asyncpg.create_pool passes, with our subclass.
    pool = BoundedPool(
        dsn,
        acquire_timeout=settings.acquire_timeout_s,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        min_size=settings.min_size,
        max_size=settings.max_size,
        max_queries=50000,
        max_inactive_connection_lifetime=300.0,
        loop=None,
        init=init,
        timeout=settings.acquire_timeout_s,
        command_timeout=settings.statement_timeout_ms / 1000 + 1,
        server_settings={
            "application_name": "campaign-graphql",
            "statement_timeout": str(settings.statement_timeout_ms),
        },
    )
    await pool
    return pool
