"""Rows for the members, analytics and A/B test tests, inserted with plain SQL."""

from __future__ import annotations

from datetime import date, datetime

import asyncpg


async def account(
    conn: asyncpg.Connection,
    user_id: int,
    *,
    kind: str = "CHECKING",
    institution: str = "First Bank",
    last_four: str = "1234",
    balance_cents: int = 0,
) -> int:
    return int(
        await conn.fetchval(
            "INSERT INTO accounts (user_id, kind, institution, last_four, balance_cents)"
            " VALUES ($1, $2, $3, $4, $5) RETURNING id",
            user_id,
            kind,
            institution,
            last_four,
            balance_cents,
        )
    )


async def transaction(
    conn: asyncpg.Connection,
    account_id: int,
    user_id: int,
    merchant_id: int | None,
    *,
    amount_cents: int,
    occurred_at: datetime,
    category: str = "Retail",
    description: str = "",
) -> int:
    return int(
        await conn.fetchval(
            "INSERT INTO transactions (account_id, user_id, merchant_id, amount_cents, category,"
            " occurred_at, description) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            account_id,
            user_id,
            merchant_id,
            amount_cents,
            category,
            occurred_at,
            description,
        )
    )


async def reward(
    conn: asyncpg.Connection,
    user_id: int,
    campaign_id: int,
    transaction_id: int,
    *,
    amount_cents: int,
    status: str,
    earned_at: datetime,
) -> int:
    return int(
        await conn.fetchval(
            "INSERT INTO rewards (user_id, campaign_id, transaction_id, amount_cents, status,"
            " earned_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            user_id,
            campaign_id,
            transaction_id,
            amount_cents,
            status,
            earned_at,
        )
    )


async def analytics_day(
    conn: asyncpg.Connection,
    campaign_id: int,
    day: date,
    *,
    impressions: int = 0,
    clicks: int = 0,
    conversions: int = 0,
    spend_cents: int = 0,
    revenue_cents: int = 0,
) -> None:
    await conn.execute(
        "INSERT INTO campaign_analytics_daily (campaign_id, day, impressions, clicks,"
        " conversions, spend_cents, revenue_cents) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        campaign_id,
        day,
        impressions,
        clicks,
        conversions,
        spend_cents,
        revenue_cents,
    )


async def ab_test(
    conn: asyncpg.Connection, campaign_id: int, *, name: str = "Test", status: str = "RUNNING"
) -> int:
    return int(
        await conn.fetchval(
            "INSERT INTO ab_tests (campaign_id, name, status) VALUES ($1, $2, $3) RETURNING id",
            campaign_id,
            name,
            status,
        )
    )


async def variant(
    conn: asyncpg.Connection,
    ab_test_id: int,
    name: str,
    *,
    impressions: int,
    conversions: int,
    is_control: bool = False,
    traffic_share: float = 0.5,
) -> int:
    return int(
        await conn.fetchval(
            "INSERT INTO ab_test_variants (ab_test_id, name, is_control, traffic_share,"
            " impressions, conversions) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            ab_test_id,
            name,
            is_control,
            traffic_share,
            impressions,
            conversions,
        )
    )


async def affinity(
    conn: asyncpg.Connection,
    user_id: int,
    merchant_id: int,
    *,
    score: float,
    transaction_count: int = 1,
    total_spend_cents: int = 100,
    last_transaction_at: datetime | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO user_merchant_affinity (user_id, merchant_id, score, transaction_count,"
        " total_spend_cents, last_transaction_at) VALUES ($1, $2, $3, $4, $5, $6)",
        user_id,
        merchant_id,
        score,
        transaction_count,
        total_spend_cents,
        last_transaction_at,
    )
