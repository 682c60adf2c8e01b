"""Deterministic demo data: the same seed and day give the same rows.

Loaded by `python server.py serve` into an empty embedded database, or by `python server.py seed`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import asyncpg

from db.passwords import hash_password
from db.users import Role


@dataclass(frozen=True)
class DemoUser:
    email: str
    name: str
    role: Role
    password: str


DEMO_USERS = (
    DemoUser("admin@example.com", "Ada Admin", Role.ADMIN, "admin-password"),
    DemoUser("manager@example.com", "Max Manager", Role.MANAGER, "manager-password"),
    DemoUser("member@example.com", "Mia Member", Role.MEMBER, "member-password"),
    DemoUser("member2@example.com", "Noah Member", Role.MEMBER, "member-password"),
)
EXTRA_MEMBERS = 8
MERCHANTS = (
    ("Green Grocer", "Groceries"),
    ("Bean There Coffee", "Dining"),
    ("Fuel Stop", "Fuel"),
    ("Page Turner Books", "Shopping"),
    ("Cloud Nine Travel", "Travel"),
    ("Pixel Electronics", "Electronics"),
)
CAMPAIGN_STATUSES = (
    "DRAFT",
    "DRAFT",
    "ACTIVE",
    "ACTIVE",
    "ACTIVE",
    "PAUSED",
    "PAUSED",
    "COMPLETED",
)
TRANSACTIONS_PER_MEMBER = 40
ANALYTICS_DAYS = 30


async def is_empty(conn: asyncpg.Connection) -> bool:
    return not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM users)")


async def seed_demo(conn: asyncpg.Connection, *, seed: int = 42, today: date | None = None) -> None:
    """Load the demo data set in one transaction."""
    rng = random.Random(seed)
    today = today or datetime.now(UTC).date()
    midnight = datetime.combine(today, time(), tzinfo=UTC)
    async with conn.transaction():
        merchant_ids = [
            await conn.fetchval(
                "INSERT INTO merchants (name, category) VALUES ($1, $2) RETURNING id", n, c
            )
            for n, c in MERCHANTS
        ]
        people = list(DEMO_USERS) + [
            DemoUser(f"member{i}@example.com", f"Member {i}", Role.MEMBER, "member-password")
            for i in range(3, 3 + EXTRA_MEMBERS)
        ]
        hashes = {p.password: hash_password(p.password) for p in people}
        user_ids = {}
        for p in people:
            user_ids[p.email] = await conn.fetchval(
                "INSERT INTO users (email, name, role, password_hash) VALUES ($1, $2, $3, $4)"
                " RETURNING id",
                p.email,
                p.name,
                p.role.value,
                hashes[p.password],
            )
        members = [user_ids[p.email] for p in people if p.role is Role.MEMBER]
        manager_id = user_ids["manager@example.com"]

        accounts: dict[int, list[int]] = {}
        for uid in members:
            accounts[uid] = []
            for kind, institution in (("CHECKING", "First Bank"), ("CREDIT_CARD", "Card Co")):
                accounts[uid].append(
                    await conn.fetchval(
                        "INSERT INTO accounts"
                        " (user_id, kind, institution, last_four, balance_cents)"
                        " VALUES ($1, $2, $3, $4, $5) RETURNING id",
                        uid,
                        kind,
                        institution,
                        f"{rng.randrange(10000):04d}",
                        rng.randrange(10_000, 500_000),
                    )
                )

        categories = dict(zip(merchant_ids, (c for _, c in MERCHANTS), strict=True))
        txns = []
        for uid in members:
            for _ in range(TRANSACTIONS_PER_MEMBER):
                mid = rng.choice(merchant_ids)
                txns.append(
                    (
                        rng.choice(accounts[uid]),
                        uid,
                        mid,
                        rng.randrange(500, 20_000),
                        "USD",
                        categories[mid],
                        midnight - timedelta(minutes=rng.randrange(1, 90 * 24 * 60)),
                        f"Purchase at merchant {mid}",
                    )
                )
        await conn.copy_records_to_table(
            "transactions",
            records=txns,
            columns=[
                "account_id",
                "user_id",
                "merchant_id",
                "amount_cents",
                "currency",
                "category",
                "occurred_at",
                "description",
            ],
        )

        campaign_ids = []
        for i, status in enumerate(CAMPAIGN_STATUSES):
            mid = merchant_ids[i % len(merchant_ids)]
            launched = midnight - timedelta(days=45) if status != "DRAFT" else None
            campaign_ids.append(
                (
                    await conn.fetchval(
                        """
                INSERT INTO campaigns (merchant_id, created_by, name, description, status,
                    reward_type, reward_value, budget_cents, starts_at, ends_at, launched_at,
                    paused_at, completed_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id
                """,
                        mid,
                        manager_id,
                        f"{MERCHANTS[i % len(MERCHANTS)][0]} offer {i + 1}",
                        f"Demo campaign {i + 1}",
                        status,
                        "CASHBACK_PERCENT" if i % 3 else "FIXED_AMOUNT",
                        rng.choice((200, 300, 500)) if i % 3 else rng.choice((100, 250)),
                        rng.choice((500_000, 1_000_000, 2_500_000)),
                        midnight - timedelta(days=60),
                        midnight + timedelta(days=120 + i),
                        launched,
                        midnight - timedelta(days=3) if status == "PAUSED" else None,
                        midnight - timedelta(days=1) if status == "COMPLETED" else None,
                    ),
                    status,
                    mid,
                )
            )

        # Rewards: each purchase at a merchant with a launched campaign earns from the first one.
        await conn.execute(
            """
            INSERT INTO rewards (user_id, campaign_id, transaction_id, amount_cents, status,
                                 earned_at)
            SELECT DISTINCT ON (t.id) t.user_id, c.id, t.id,
                   CASE c.reward_type WHEN 'CASHBACK_PERCENT'
                        THEN t.amount_cents * c.reward_value / 10000 ELSE c.reward_value END,
                   (ARRAY['PENDING', 'EARNED', 'EARNED', 'REDEEMED'])[1 + t.id % 4],
                   t.occurred_at
            FROM transactions t JOIN campaigns c ON c.merchant_id = t.merchant_id
            WHERE c.status <> 'DRAFT'
            ORDER BY t.id, c.id
            """
        )
        await conn.execute(
            """
            UPDATE campaigns c SET spent_cents = s.total
            FROM (SELECT campaign_id, sum(amount_cents) AS total FROM rewards
                  GROUP BY campaign_id) s
            WHERE s.campaign_id = c.id
            """
        )

        analytics = []
        for cid, status, _ in campaign_ids:
            if status == "DRAFT":
                continue
            for d in range(ANALYTICS_DAYS):
                impressions = rng.randrange(500, 5000)
                clicks = rng.randrange(10, impressions // 10)
                conversions = rng.randrange(0, clicks // 2 + 1)
                analytics.append(
                    (
                        cid,
                        today - timedelta(days=d + 1),
                        impressions,
                        clicks,
                        conversions,
                        conversions * rng.randrange(50, 300),
                        conversions * rng.randrange(1000, 6000),
                    )
                )
        await conn.copy_records_to_table(
            "campaign_analytics_daily",
            records=analytics,
            columns=[
                "campaign_id",
                "day",
                "impressions",
                "clicks",
                "conversions",
                "spend_cents",
                "revenue_cents",
            ],
        )

        active = [cid for cid, status, _ in campaign_ids if status in ("ACTIVE", "PAUSED")]
        for n, cid in enumerate(active[:3]):
            test_status = ("RUNNING", "STOPPED", "DRAFT")[n]
            test_id = await conn.fetchval(
                "INSERT INTO ab_tests (campaign_id, name, status, started_at, ended_at)"
                " VALUES ($1, $2, $3, $4, $5) RETURNING id",
                cid,
                f"Headline test {n + 1}",
                test_status,
                midnight - timedelta(days=20) if test_status != "DRAFT" else None,
                midnight - timedelta(days=2) if test_status == "STOPPED" else None,
            )
            names = ("control", "variant-a", "variant-b")[: 2 + n % 2]
            for v, name in enumerate(names):
                impressions = 0 if test_status == "DRAFT" else rng.randrange(2000, 6000)
                await conn.execute(
                    "INSERT INTO ab_test_variants (ab_test_id, name, is_control, traffic_share,"
                    " impressions, conversions) VALUES ($1, $2, $3, $4, $5, $6)",
                    test_id,
                    name,
                    v == 0,
                    round(1 / len(names), 4),
                    impressions,
                    int(impressions * rng.uniform(0.02, 0.08)),
                )

        await conn.execute(
            """
            INSERT INTO user_merchant_affinity (user_id, merchant_id, score, transaction_count,
                                                total_spend_cents, last_transaction_at)
            SELECT user_id, merchant_id,
                   round((sum(amount_cents)::numeric
                          / max(sum(amount_cents)) OVER (PARTITION BY user_id)), 4)::float8,
                   count(*), sum(amount_cents), max(occurred_at)
            FROM transactions GROUP BY user_id, merchant_id
            """
        )
        await conn.execute(
            "INSERT INTO settings (key, value) VALUES ('max_page_size', '100'::jsonb)"
        )
