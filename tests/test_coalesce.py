"""db/coalesce.py: the same lookup from several requests at once is one statement, and one
request's bad key does not fail the others."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from db import settings, users
from db.coalesce import Coalescer
from db.pool import create_pool
from resolvers.loaders import batched
from tests import factories as f
from tests.conftest import StatementCounter
from tests.factories import gid


@pytest.fixture
async def pool(db_dsn: str, statements: StatementCounter) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(db_dsn, on_connect=statements.attach)
    yield pool
    await pool.close()


async def test_batches_of_one_turn_are_one_statement_and_each_gets_its_own_rows(
    pool: asyncpg.Pool, conn: asyncpg.Connection, statements: StatementCounter
) -> None:
    ids = [await f.user(conn, f"c{i}@example.com", name=f"C{i}") for i in range(4)]
    coalescer = Coalescer(pool, users.by_ids)
    statements.reset()
    # Three requests' batches, asked for in the same turn; two share a key.
    first, second, third = await asyncio.gather(
        coalescer.load([ids[0], ids[1]]), coalescer.load([ids[1], ids[2]]), coalescer.load([-1])
    )
    assert [u.email for u in first] == ["c0@example.com", "c1@example.com"]
    assert [u.email for u in second] == ["c1@example.com", "c2@example.com"]
    assert third == [None]
    assert statements.count == 1
    assert coalescer.statements == 1

    # A batch asked for later (another turn) is its own statement.
    (later,) = await coalescer.load([ids[3]])
    assert later.email == "c3@example.com"
    assert statements.count == 2


async def test_a_key_postgresql_refuses_fails_only_its_own_batch(
    pool: asyncpg.Pool, statements: StatementCounter
) -> None:
    coalescer = Coalescer(pool, settings.by_keys)
    statements.reset()
    good = coalescer.load(["max_page_size"])
    bad = coalescer.load(["nul\x00key"])  # text PostgreSQL cannot store
    other = coalescer.load(["password_reset_expiry_minutes", "max_page_size"])
    results = await asyncio.gather(good, bad, other, return_exceptions=True)
    assert results[0] == [None]  # no row stored: the default applies
    assert isinstance(results[1], asyncpg.PostgresError)
    assert results[2] == [None, None]
    # The merged statement failed, then each batch was read on its own.
    assert coalescer.statements == 4


async def test_the_database_going_away_reaches_every_batch(db_dsn: str) -> None:
    pool = await create_pool(db_dsn)
    coalescer = Coalescer(pool, users.by_ids)
    await pool.close()
    results = await asyncio.gather(coalescer.load([1]), coalescer.load([2]), return_exceptions=True)
    assert all(isinstance(r, asyncpg.InterfaceError) for r in results), results
    assert coalescer.statements == 1


async def test_concurrent_requests_share_statements_and_each_gets_its_own_answer(
    api: Any, conn: asyncpg.Connection, statements: StatementCounter
) -> None:
    merchant = await f.merchant(conn)
    ids = [await f.campaign(conn, merchant, name=f"Shared {i}") for i in range(6)]
    query = "query ($id: ID!) { campaign(id: $id) { name merchant { id } } }"
    statements.reset()
    bodies = await asyncio.gather(*(api.data(query, {"id": gid("Campaign", i)}) for i in ids))
    assert [b["campaign"]["name"] for b in bodies] == [f"Shared {i}" for i in range(6)]
    # Alone, each request reads its viewer and its campaign (PostgreSQL writes it with its
    # merchant): 12 statements. Started together, they reach each step in the same turn.
    viewers = sum("FROM sessions" in s for s in statements.statements)
    campaigns = sum("FROM campaigns" in s for s in statements.statements)
    assert viewers <= 2 and campaigns <= 2, statements.statements
    assert statements.count == viewers + campaigns


async def test_loaders_over_a_coalescer_settle_their_keys_and_share_a_statement(
    pool: asyncpg.Pool, conn: asyncpg.Connection, statements: StatementCounter
) -> None:
    """A loader over a Coalescer hands its batch to it: each key gets its value (through the
    loader's `then`), a failed batch fails every key of it, and two requests' loaders still
    share the statement."""
    ids = [await f.user(conn, f"l{i}@example.com", name=f"L{i}") for i in range(2)]
    names = batched(pool, users.by_ids, lambda rows: [r.name if r else None for r in rows])
    other_request = batched(pool, users.by_ids)
    statements.reset()
    mine, theirs = await asyncio.gather(
        names.load_many([ids[0], ids[1], -1]), other_request.load(ids[1])
    )
    assert mine == ["L0", "L1", None]
    assert theirs.email == "l1@example.com"
    assert statements.count == 1

    keys = batched(pool, settings.by_keys)
    statements.reset()
    with pytest.raises(asyncpg.PostgresError):
        await keys.load("nul\x00key")  # text PostgreSQL cannot store: the batch fails
    assert statements.count == 1
    assert await keys.load("max_page_size") is None  # the loader goes on working
