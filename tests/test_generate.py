"""The data generator: sizes as asked, consistent derived rows, same seed -> same data."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from datetime import date

import asyncpg
import pytest

from db import generate, generate_campaigns
from tests.conftest import PgServer, clone_database, drop_database, repo_root, with_database

SIZES = generate.Sizes(users=30, merchants=12, transactions_per_user=7, campaigns=10)
TODAY = date(2026, 3, 1)
# Columns that do not come from the generator's random stream (defaults like now()) are left out.
SNAPSHOT = {
    "users": "id, email, name, role, created_at",
    "merchants": "id, name, category",
    "accounts": "id, user_id, kind, institution, last_four, balance_cents",
    "transactions": "id, account_id, user_id, merchant_id, amount_cents, category, occurred_at",
    "campaigns": "id, merchant_id, created_by, status, reward_type, reward_value, spent_cents",
    "rewards": "user_id, campaign_id, transaction_id, amount_cents, status",
    "campaign_analytics_daily": "campaign_id, day, impressions, clicks, conversions",
    "ab_test_variants": "ab_test_id, name, impressions, conversions",
    "user_merchant_affinity": "user_id, merchant_id, score, transaction_count",
}


async def _snapshot(conn: asyncpg.Connection) -> dict[str, list[tuple[object, ...]]]:
    return {
        table: [tuple(r) for r in await conn.fetch(f"SELECT {cols} FROM {table} ORDER BY 1, 2, 3")]
        for table, cols in SNAPSHOT.items()
    }


async def test_generates_the_asked_sizes_with_consistent_derived_rows(
    conn: asyncpg.Connection,
) -> None:
    out = io.StringIO()
    await generate.generate(conn, SIZES, seed=5, today=TODAY, progress=generate.Progress(out))

    managers = SIZES.campaigns // 10
    members = SIZES.users - 1 - managers
    counts = {
        t: await conn.fetchval(f"SELECT count(*) FROM {t}")
        for t in ("users", "merchants", "transactions", "campaigns")
    }
    assert counts == {
        "users": SIZES.users,
        "merchants": SIZES.merchants,
        "transactions": members * SIZES.transactions_per_user,
        "campaigns": SIZES.campaigns,
    }
    launched = await conn.fetchval("SELECT count(*) FROM campaigns WHERE status <> 'DRAFT'")
    assert await conn.fetchval("SELECT count(*) FROM campaign_analytics_daily") == (
        launched * generate_campaigns.ANALYTICS_DAYS
    )
    # Every reward belongs to its transaction's member and a launched campaign of its merchant.
    assert not await conn.fetchval(
        """SELECT count(*) FROM rewards r JOIN transactions t ON t.id = r.transaction_id
           JOIN campaigns c ON c.id = r.campaign_id
           WHERE r.user_id <> t.user_id OR c.merchant_id <> t.merchant_id OR c.status = 'DRAFT'"""
    )
    # Each member's top merchant scores exactly 1.
    assert await conn.fetchval(
        "SELECT bool_and(top = 1) FROM (SELECT max(score) AS top FROM user_merchant_affinity"
        " GROUP BY user_id) s"
    )
    # New rows get fresh ids after the generated ones.
    new_id = await conn.fetchval(
        "INSERT INTO merchants (name, category) VALUES ('x', 'y') RETURNING id"
    )
    assert new_id == SIZES.merchants + 1
    assert "transactions" in out.getvalue() and "done" in out.getvalue()


async def test_same_seed_gives_the_same_data_and_another_seed_does_not(
    pg_server: PgServer, template_dsn: str
) -> None:
    snapshots = []
    for seed in (5, 5, 6):
        name = await clone_database(pg_server)
        conn = await asyncpg.connect(with_database(pg_server.admin_dsn, name))
        try:
            await generate.generate(
                conn, SIZES, seed=seed, today=TODAY, progress=generate.Progress(io.StringIO())
            )
            snapshots.append(await _snapshot(conn))
        finally:
            await conn.close()
            await drop_database(pg_server, name)
    assert snapshots[0] == snapshots[1]
    assert snapshots[0]["transactions"] != snapshots[2]["transactions"]


def test_sizes_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        generate.Sizes(users=0, merchants=1, transactions_per_user=1, campaigns=1)
    with pytest.raises(ValueError, match="negative"):
        generate.Sizes(users=1, merchants=1, transactions_per_user=-1, campaigns=1)


async def test_seed_command_generates_and_refuses_a_non_empty_database(
    pg_server: PgServer, template_dsn: str
) -> None:
    name = await clone_database(pg_server)
    dsn = with_database(pg_server.admin_dsn, name)
    argv = [
        sys.executable,
        "server.py",
        "seed",
        "--with-published-passwords",  # DATABASE_URL is set: a throwaway test database
        "--users",
        "6",
        "--merchants",
        "3",
        "--transactions-per-user",
        "4",
        "--campaigns",
        "2",
        "--seed",
        "9",
    ]
    env = {**os.environ, "DATABASE_URL": dsn}
    try:
        first = await asyncio.to_thread(
            subprocess.run, argv, cwd=repo_root(), env=env, capture_output=True, text=True
        )
        second = await asyncio.to_thread(
            subprocess.run, argv, cwd=repo_root(), env=env, capture_output=True, text=True
        )
        conn = await asyncpg.connect(dsn)
        try:
            users = await conn.fetchval("SELECT count(*) FROM users")
            transactions = await conn.fetchval("SELECT count(*) FROM transactions")
        finally:
            await conn.close()
    finally:
        await drop_database(pg_server, name)
    assert first.returncode == 0, first.stderr
    assert "database size" in first.stdout and "transactions" in first.stderr
    # One admin and one manager (2 campaigns // 10, at least 1); four members buy 4 times each.
    assert (users, transactions) == (6, 4 * 4)
    assert second.returncode != 0 and "already has users" in second.stderr
