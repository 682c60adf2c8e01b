"""The asyncpg pool: one per process, opened in the Starlette lifespan."""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

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

    pool = await asyncpg.create_pool(
        dsn,
        min_size=settings.min_size,
        max_size=settings.max_size,
        init=init,
        reset=_keep_session,
        timeout=settings.acquire_timeout_s,
        command_timeout=settings.statement_timeout_ms / 1000 + 1,
        server_settings={
            "application_name": "campaign-graphql",
            "statement_timeout": str(settings.statement_timeout_ms),
        },
    )
    assert pool is not None
    return pool
