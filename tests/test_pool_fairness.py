"""The pool hands out connections in the order they were asked for, and takes them back."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from db.pool import PoolSettings, create_pool


async def _order_of_service(pool: asyncpg.Pool, newcomer_delay: int) -> list[str]:
    """Two callers wait for the only connection; it is released, and a newcomer asks for one
    `newcomer_delay` event-loop steps later (which lands it between the release and the
    moment the first waiter wakes up)."""
    served: list[str] = []
    holder = await pool.acquire()

    async def caller(name: str, delay: int = 0) -> None:
        for _ in range(delay):
            await asyncio.sleep(0)
        async with pool.acquire():
            served.append(name)

    waiters = [asyncio.create_task(caller(name)) for name in ("first", "second")]
    await asyncio.sleep(0.05)  # both are now queued behind `holder`
    release = asyncio.create_task(pool.release(holder))
    newcomer = asyncio.create_task(caller("newcomer", newcomer_delay))
    await asyncio.gather(release, newcomer, *waiters)
    return served


async def test_waiting_callers_are_served_before_a_newcomer(db_dsn: str) -> None:
    pool = await create_pool(db_dsn, PoolSettings(min_size=1, max_size=1))
    try:
        for delay in range(6):
            assert await _order_of_service(pool, delay) == ["first", "second", "newcomer"]
    finally:
        await pool.close()


async def test_plain_asyncpg_pool_lets_a_newcomer_jump_the_queue(db_dsn: str) -> None:
    """Why FairPool exists: the behaviour it replaces (a woken waiter loses its turn)."""

    async def keep_session(conn: asyncpg.Connection) -> None:  # as in db/pool.py
        pass

    pool = await asyncpg.create_pool(db_dsn, min_size=1, max_size=1, reset=keep_session)
    try:
        orders = [await _order_of_service(pool, delay) for delay in range(6)]
        assert any(order != ["first", "second", "newcomer"] for order in orders), orders
    finally:
        await pool.close()


async def test_a_connection_whose_statement_was_cancelled_is_usable_when_handed_out_again(
    db_dsn: str,
) -> None:
    """A request cancelled while its statement runs (a time budget, a client gone) gives its
    connection back through asyncpg's release, which cancels the statement first: the next
    request on the pool's one connection runs at once, never "another operation is in
    progress"; a connection left in a transaction is rolled back."""
    pool = await create_pool(db_dsn, PoolSettings(min_size=1, max_size=1))

    async def sleeper() -> None:
        async with pool.acquire() as conn:
            await conn.execute("SELECT pg_sleep(5)")

    try:
        for delay in (0, 0.001, 0.01, 0.05):
            task = asyncio.create_task(sleeper())
            await asyncio.sleep(delay)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            async with asyncio.timeout(2), pool.acquire() as conn:
                assert await conn.fetchval("SELECT 1") == 1
        conn = await pool.acquire()
        await conn.execute("BEGIN; CREATE TEMP TABLE left_open (x int)")
        await pool.release(conn)
        async with pool.acquire() as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT to_regclass('pg_temp.left_open')") is None
    finally:
        await pool.close()
