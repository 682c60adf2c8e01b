"""A realistic, deterministic data set of any size, for demos and benchmarks.

`python server.py seed --users N --merchants M --transactions-per-user K --campaigns C --seed S`
loads it into an empty database: rows are made in Python from one `random.Random(seed)` and
sent with COPY (asyncpg's `copy_records_to_table`) in chunks, so memory stays flat however many
rows there are; derived tables (rewards, spend totals, merchant affinities) are computed by SQL
inside the database. The same seed, sizes and day give the same rows.

Primary keys are written explicitly (COPY accepts values for identity columns) so that child
rows can point at their parents without reading ids back; the identity sequences are moved
past them at the end.
"""

from __future__ import annotations

import itertools
import random
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from typing import Any, TextIO

import asyncpg

from db.passwords import hash_password

CHUNK_ROWS = 50_000
HISTORY_DAYS = 365
ANALYTICS_DAYS = 90
GENERATED_PASSWORD = "member-password"
CATEGORIES = (
    "Groceries",
    "Dining",
    "Fuel",
    "Shopping",
    "Travel",
    "Electronics",
    "Health",
    "Entertainment",
)
INSTITUTIONS = ("First Bank", "Card Co", "Credit Union", "Metro Savings")
FAVOURITES_PER_USER = 8
FAVOURITE_SHARE = 0.8


@dataclass(frozen=True)
class Sizes:
    users: int
    merchants: int
    transactions_per_user: int
    campaigns: int

    def __post_init__(self) -> None:
        if self.users < 1 or self.merchants < 1:
            raise ValueError("--users and --merchants must be at least 1")
        if self.transactions_per_user < 0 or self.campaigns < 0:
            raise ValueError("--transactions-per-user and --campaigns must not be negative")


class Progress:
    """One self-overwriting status line per table on `out` (stderr by default)."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out if out is not None else sys.stderr
        self.started = time.perf_counter()

    def update(self, table: str, done: int, total: int) -> None:
        width = 30
        filled = width * done // total if total else width
        bar = "#" * filled + "." * (width - filled)
        elapsed = time.perf_counter() - self.started
        self.out.write(f"\r{table:<26} [{bar}] {done:>10,}/{total:,}  {elapsed:7.1f}s")
        if done >= total:
            self.out.write("\n")
        self.out.flush()

    def step(self, label: str) -> None:
        elapsed = time.perf_counter() - self.started
        self.out.write(f"{label:<26} ...  {elapsed:7.1f}s\n")
        self.out.flush()


async def _copy(
    conn: asyncpg.Connection,
    table: str,
    columns: Sequence[str],
    rows: Iterator[tuple[Any, ...]],
    total: int,
    progress: Progress,
) -> None:
    done = 0
    progress.update(table, 0, total)
    while chunk := list(itertools.islice(rows, CHUNK_ROWS)):
        await conn.copy_records_to_table(table, records=chunk, columns=list(columns))
        done += len(chunk)
        progress.update(table, done, total)


async def _base_id(conn: asyncpg.Connection, table: str) -> int:
    return int(await conn.fetchval(f"SELECT coalesce(max(id), 0) FROM {table}"))


async def generate(
    conn: asyncpg.Connection,
    sizes: Sizes,
    *,
    seed: int = 1,
    today: date | None = None,
    progress: Progress | None = None,
) -> None:
    """Load the generated data set into `conn`'s database in one transaction."""
    rng = random.Random(seed)
    progress = progress or Progress()
    today = today or datetime.now(UTC).date()
    midnight = datetime.combine(today, clock(), tzinfo=UTC)
    # COPY speaks the binary format, which asyncpg lacks for the citext extension type;
    # citext's binary form is text's.
    await conn.set_builtin_type_codec("citext", codec_name="text")
    async with conn.transaction():
        await _load(conn, sizes, rng, today, midnight, progress)
    progress.step("done")


async def _load(
    conn: asyncpg.Connection,
    sizes: Sizes,
    rng: random.Random,
    today: date,
    midnight: datetime,
    progress: Progress,
) -> None:
    # --- merchants: popularity follows a long tail, like real card spend.
    m0 = await _base_id(conn, "merchants")
    merchant_ids = list(range(m0 + 1, m0 + sizes.merchants + 1))
    merchant_category = {mid: rng.choice(CATEGORIES) for mid in merchant_ids}
    await _copy(
        conn,
        "merchants",
        ("id", "name", "category"),
        ((mid, f"Merchant {mid - m0}", merchant_category[mid]) for mid in merchant_ids),
        sizes.merchants,
        progress,
    )
    popularity = list(itertools.accumulate(1 / (rank + 1) for rank in range(sizes.merchants)))

    # --- users: one admin, a manager per ten campaigns, members for the rest.
    u0 = await _base_id(conn, "users")
    managers = max(1, sizes.campaigns // 10) if sizes.users > 1 else 0
    password_hash = hash_password(GENERATED_PASSWORD)

    def role(i: int) -> str:
        return "ADMIN" if i == 0 else "MANAGER" if i <= managers else "MEMBER"

    user_ids = list(range(u0 + 1, u0 + sizes.users + 1))
    manager_ids = user_ids[1 : managers + 1] or user_ids[:1]
    member_ids = user_ids[managers + 1 :] or user_ids
    await _copy(
        conn,
        "users",
        ("id", "email", "name", "role", "password_hash", "created_at"),
        (
            (
                uid,
                f"user{uid - u0}@example.com",
                f"User {uid - u0}",
                role(i),
                password_hash,
                midnight - timedelta(days=HISTORY_DAYS + rng.randrange(0, 365)),
            )
            for i, uid in enumerate(user_ids)
        ),
        sizes.users,
        progress,
    )

    # --- accounts: every member has one or two.
    a0 = await _base_id(conn, "accounts")
    accounts: list[list[int]] = []
    account_rows: list[tuple[Any, ...]] = []
    next_account = a0
    for uid in member_ids:
        mine = []
        for kind in ("CHECKING", "CREDIT_CARD")[: rng.randint(1, 2)]:
            next_account += 1
            mine.append(next_account)
            account_rows.append(
                (
                    next_account,
                    uid,
                    kind,
                    rng.choice(INSTITUTIONS),
                    f"{rng.randrange(10000):04d}",
                    rng.randrange(0, 2_000_000),
                )
            )
        accounts.append(mine)
    await _copy(
        conn,
        "accounts",
        ("id", "user_id", "kind", "institution", "last_four", "balance_cents"),
        iter(account_rows),
        len(account_rows),
        progress,
    )
    del account_rows

    # --- transactions: mostly at a member's few favourite merchants, over the past year.
    t0 = await _base_id(conn, "transactions")
    span_s = HISTORY_DAYS * 24 * 3600
    k = sizes.transactions_per_user

    def transactions() -> Iterator[tuple[Any, ...]]:
        tid = t0
        for uid, mine in zip(member_ids, accounts, strict=True):
            favourites = rng.choices(merchant_ids, cum_weights=popularity, k=FAVOURITES_PER_USER)
            anywhere = rng.choices(merchant_ids, cum_weights=popularity, k=k)
            for n in range(k):
                tid += 1
                mid = rng.choice(favourites) if rng.random() < FAVOURITE_SHARE else anywhere[n]
                yield (
                    tid,
                    rng.choice(mine),
                    uid,
                    mid,
                    rng.randrange(100, 25_000),
                    merchant_category[mid],
                    midnight - timedelta(seconds=rng.randrange(1, span_s)),
                    f"Purchase at Merchant {mid - m0}",
                )

    await _copy(
        conn,
        "transactions",
        (
            "id",
            "account_id",
            "user_id",
            "merchant_id",
            "amount_cents",
            "category",
            "occurred_at",
            "description",
        ),
        transactions(),
        len(member_ids) * k,
        progress,
    )

    # --- campaigns, with their daily analytics and A/B tests.
    c0 = await _base_id(conn, "campaigns")
    statuses = ("DRAFT", "ACTIVE", "ACTIVE", "ACTIVE", "PAUSED", "COMPLETED")
    campaign_rows = []
    for n in range(sizes.campaigns):
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
    await _copy(
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
    await _copy(
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

    # --- derived in SQL: rewards, campaign spend, merchant affinities.
    progress.step("rewards")
    await conn.execute(REWARDS_SQL, t0, c0)
    await conn.execute(SPENT_SQL, c0)
    progress.step("merchant affinities")
    await conn.execute(AFFINITY_SQL, t0)
    progress.step("identity sequences")
    for table in ("merchants", "users", "accounts", "transactions", "campaigns"):
        await conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
            f" (SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
        )
    await conn.execute(
        "INSERT INTO settings (key, value) VALUES ('max_page_size', '100'::jsonb)"
        " ON CONFLICT (key) DO NOTHING"
    )


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
    t0 = await _base_id(conn, "ab_tests")
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
    await _copy(
        conn,
        "ab_tests",
        ("id", "campaign_id", "name", "status", "started_at", "ended_at"),
        iter(tests),
        len(tests),
        progress,
    )
    await _copy(
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

# Score: the member's spend at the merchant relative to their top merchant, in 0..1.
AFFINITY_SQL = """
INSERT INTO user_merchant_affinity (user_id, merchant_id, score, transaction_count,
                                    total_spend_cents, last_transaction_at)
SELECT user_id, merchant_id,
       round(sum(amount_cents)::numeric / max(sum(amount_cents)) OVER (PARTITION BY user_id),
             4)::float8,
       count(*), sum(amount_cents), max(occurred_at)
FROM transactions
WHERE id > $1 AND merchant_id IS NOT NULL
GROUP BY user_id, merchant_id
"""
