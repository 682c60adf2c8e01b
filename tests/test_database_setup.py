"""Migrations, demo seed, and the command line."""

from __future__ import annotations

import asyncio
import datetime
import subprocess
import sys
from collections.abc import AsyncIterator

import asyncpg
import pytest

from db import migrate, seed
from db.embedded import ROOT
from tests.conftest import PgServer, clone_database, drop_database, with_database


@pytest.fixture
async def empty_dsn(pg_server: PgServer) -> AsyncIterator[str]:
    """A database with nothing in it, not even the migrations table."""
    admin = await asyncpg.connect(pg_server.admin_dsn)
    name = "cg_test_empty"
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    yield with_database(pg_server.admin_dsn, name)
    await drop_database(pg_server, name)


async def test_concurrent_migrators_apply_each_migration_exactly_once(empty_dsn: str) -> None:
    conns = [await asyncpg.connect(empty_dsn) for _ in range(4)]
    try:
        applied = await asyncio.gather(*(migrate.migrate(c) for c in conns))
        rows = await conns[0].fetch("SELECT version FROM schema_migrations ORDER BY version")
    finally:
        for c in conns:
            await c.close()
    expected = [m.version for m in migrate.available()]
    assert sorted(v for batch in applied for v in batch) == expected
    assert [r["version"] for r in rows] == expected


async def test_migrations_create_every_table_of_the_design(template_dsn: str) -> None:
    conn = await asyncpg.connect(template_dsn)
    try:
        tables = {
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
        unindexed = await conn.fetch(
            """
            SELECT c.conrelid::regclass::text AS tbl, a.attname
            FROM pg_constraint c
            JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
            WHERE c.contype = 'f' AND NOT EXISTS (
              SELECT 1 FROM pg_index i
              WHERE i.indrelid = c.conrelid AND i.indkey[0] = c.conkey[1])
            """
        )
    finally:
        await conn.close()
    assert tables >= {
        "users",
        "merchants",
        "accounts",
        "transactions",
        "campaigns",
        "rewards",
        "campaign_analytics_daily",
        "ab_tests",
        "ab_test_variants",
        "user_merchant_affinity",
        "audit_logs",
        "settings",
        "password_reset_tokens",
        "schema_migrations",
    }
    assert [dict(r) for r in unindexed] == [], "every foreign key needs an index"


async def test_constraints_refuse_negative_money_and_unknown_status(
    conn: asyncpg.Connection,
) -> None:
    m = await conn.fetchval("INSERT INTO merchants (name, category) VALUES ('m', 'c') RETURNING id")
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute(
            "INSERT INTO campaigns (merchant_id, name, reward_type, reward_value, budget_cents)"
            " VALUES ($1, 'x', 'FIXED_AMOUNT', 1, -1)",
            m,
        )
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute(
            "INSERT INTO campaigns (merchant_id, name, status, reward_type, reward_value,"
            " budget_cents) VALUES ($1, 'x', 'SLEEPING', 'FIXED_AMOUNT', 1, 1)",
            m,
        )


async def summary(conn: asyncpg.Connection) -> dict[str, object]:
    return {
        "statuses": sorted(r[0] for r in await conn.fetch("SELECT DISTINCT status FROM campaigns")),
        "roles": sorted(r[0] for r in await conn.fetch("SELECT DISTINCT role FROM users")),
        "spend": await conn.fetchval("SELECT sum(amount_cents) FROM transactions"),
        "rewards": await conn.fetchval("SELECT count(*) FROM rewards"),
        "days": await conn.fetchval("SELECT count(DISTINCT day) FROM campaign_analytics_daily"),
        "variants": await conn.fetchval("SELECT count(*) FROM ab_test_variants"),
        "affinities": await conn.fetchval("SELECT count(*) FROM user_merchant_affinity"),
    }


async def test_demo_seed_is_deterministic_and_covers_every_status(pg_server: PgServer) -> None:
    day = datetime.date(2026, 11, 1)
    results = []
    for _ in range(2):
        name = await clone_database(pg_server)
        conn = await asyncpg.connect(with_database(pg_server.admin_dsn, name))
        try:
            assert await seed.is_empty(conn)
            await seed.seed_demo(conn, seed=7, today=day)
            assert not await seed.is_empty(conn)
            results.append(await summary(conn))
        finally:
            await conn.close()
            await drop_database(pg_server, name)
    assert results[0] == results[1]
    assert results[0]["statuses"] == ["ACTIVE", "COMPLETED", "DRAFT", "PAUSED"]
    assert results[0]["roles"] == ["ADMIN", "MANAGER", "MEMBER"]
    assert results[0]["days"] == seed.ANALYTICS_DAYS
    assert all(results[0][k] for k in ("spend", "rewards", "variants", "affinities"))


@pytest.mark.parametrize("command", ["serve", "migrate", "seed", "export-schema"])
def test_every_subcommand_has_help(command: str) -> None:
    result = subprocess.run(
        [sys.executable, "server.py", command, "--help"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0
    assert f"usage: campaign-graphql {command}" in result.stdout


def test_export_schema_prints_the_committed_schema() -> None:
    result = subprocess.run(
        [sys.executable, "server.py", "export-schema"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.stdout == (ROOT / "schema.graphql").read_text()
