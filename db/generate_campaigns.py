"""The generator's campaigns: daily analytics, A/B tests, and the rewards they paid."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg

from db.bulk import Progress, base_id, copy_rows

ANALYTICS_DAYS = 90


async def load(
    conn: asyncpg.Connection,
    rng: random.Random,
    *,
    count: int,
    merchant_ids: list[int],
    manager_ids: list[int],
    first_transaction: int,
    today: date,
    midnight: datetime,
    progress: Progress,
) -> None:
    """`count` campaigns on random merchants, their analytics and tests, then (in SQL) the
    rewards purchases since `first_transaction` earned and each campaign's spend."""
    c0 = await base_id(conn, "campaigns")
    statuses = ("DRAFT", "ACTIVE", "ACTIVE", "ACTIVE", "PAUSED", "COMPLETED")
    campaign_rows = []
    for n in range(count):
        status = rng.choice(statuses)
        percent = rng.random() < 0.7
        campaign_rows.append(
            (
                c0 + n + 1,
                rng.choice(merchant_ids),
                rng.choice(manager_ids),
                f"Campaign {n + 1}",
                status,
                "CASHBACK_PERCENT" if percent else "FIXED_AMOUNT",
                rng.choice((100, 200, 300, 500)) if percent else rng.choice((100, 250, 500)),
                rng.choice((1_000_000, 5_000_000, 25_000_000)),
                midnight - timedelta(days=rng.randrange(60, 200)),
                midnight + timedelta(days=rng.randrange(30, 365)),
                None if status == "DRAFT" else midnight - timedelta(days=rng.randrange(30, 60)),
                midnight - timedelta(days=2) if status == "PAUSED" else None,
                midnight - timedelta(days=1) if status == "COMPLETED" else None,
            )
        )
    await copy_rows(
        conn,
        "campaigns",
        (
            "id",
            "merchant_id",
            "created_by",
            "name",
            "status",
            "reward_type",
            "reward_value",
            "budget_cents",
            "starts_at",
            "ends_at",
            "launched_at",
            "paused_at",
            "completed_at",
        ),
        iter(campaign_rows),
        len(campaign_rows),
        progress,
    )
    launched = [row[0] for row in campaign_rows if row[4] != "DRAFT"]
    await copy_rows(
        conn,
        "campaign_analytics_daily",
        (
            "campaign_id",
            "day",
            "impressions",
            "clicks",
            "conversions",
            "spend_cents",
            "revenue_cents",
        ),
        _analytics(rng, launched, today),
        len(launched) * ANALYTICS_DAYS,
        progress,
    )
    await _ab_tests(conn, rng, launched, midnight, progress)
    progress.step("rewards")
    await conn.execute(REWARDS_SQL, first_transaction, c0)
    await conn.execute(SPENT_SQL, c0)


def _analytics(
    rng: random.Random, campaign_ids: list[int], today: date
) -> Iterator[tuple[Any, ...]]:
    for cid in campaign_ids:
        base = rng.randrange(500, 20_000)
        for d in range(ANALYTICS_DAYS):
            impressions = max(0, int(base * rng.uniform(0.6, 1.4)))
            clicks = int(impressions * rng.uniform(0.005, 0.05))
            conversions = int(clicks * rng.uniform(0.02, 0.3))
            yield (
                cid,
                today - timedelta(days=d + 1),
                impressions,
                clicks,
                conversions,
                clicks * rng.randrange(20, 150),
                conversions * rng.randrange(1000, 8000),
            )


async def _ab_tests(
    conn: asyncpg.Connection,
    rng: random.Random,
    campaign_ids: list[int],
    midnight: datetime,
    progress: Progress,
) -> None:
    """An A/B test on every fourth launched campaign, with a control and one or two variants."""
    t0 = await base_id(conn, "ab_tests")
    tests, variants = [], []
    for n, cid in enumerate(campaign_ids[::4]):
        tid = t0 + n + 1
        status = rng.choice(("RUNNING", "RUNNING", "STOPPED", "DRAFT"))
        tests.append(
            (
                tid,
                cid,
                f"Headline test {n + 1}",
                status,
                None if status == "DRAFT" else midnight - timedelta(days=rng.randrange(10, 40)),
                midnight - timedelta(days=1) if status == "STOPPED" else None,
            )
        )
        names = ("control", "variant-a", "variant-b")[: rng.randint(2, 3)]
        base_rate = rng.uniform(0.02, 0.08)
        for v, name in enumerate(names):
            impressions = 0 if status == "DRAFT" else rng.randrange(2_000, 20_000)
            rate = base_rate * (1 if v == 0 else rng.uniform(0.8, 1.4))
            variants.append(
                (tid, name, v == 0, round(1 / len(names), 4), impressions, int(impressions * rate))
            )
    await copy_rows(
        conn,
        "ab_tests",
        ("id", "campaign_id", "name", "status", "started_at", "ended_at"),
        iter(tests),
        len(tests),
        progress,
    )
    await copy_rows(
        conn,
        "ab_test_variants",
        ("ab_test_id", "name", "is_control", "traffic_share", "impressions", "conversions"),
        iter(variants),
        len(variants),
        progress,
    )
    await conn.execute(
        "SELECT setval(pg_get_serial_sequence('ab_tests', 'id'),"
        " (SELECT coalesce(max(id), 0) + 1 FROM ab_tests), false)"
    )


# A purchase at a merchant with a launched campaign earns from that merchant's first campaign.
REWARDS_SQL = """
INSERT INTO rewards (user_id, campaign_id, transaction_id, amount_cents, status, earned_at)
SELECT t.user_id, c.id, t.id,
       CASE c.reward_type WHEN 'CASHBACK_PERCENT'
            THEN t.amount_cents * c.reward_value / 10000 ELSE c.reward_value END,
       (ARRAY['PENDING', 'EARNED', 'EARNED', 'REDEEMED', 'EXPIRED'])[1 + t.id % 5],
       t.occurred_at
FROM transactions t
JOIN (SELECT DISTINCT ON (merchant_id) id, merchant_id, reward_type, reward_value
      FROM campaigns WHERE status <> 'DRAFT' AND id > $2 ORDER BY merchant_id, id) c
  ON c.merchant_id = t.merchant_id
WHERE t.id > $1
"""

SPENT_SQL = """
UPDATE campaigns c SET spent_cents = s.total
FROM (SELECT campaign_id, sum(amount_cents) AS total FROM rewards
      WHERE status <> 'EXPIRED' GROUP BY campaign_id) s
WHERE s.campaign_id = c.id AND c.id > $1
"""
