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
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from typing import Any

import asyncpg

from db import generate_campaigns
from db.bulk import Progress, base_id, copy_rows
from db.passwords import hash_password

HISTORY_DAYS = 365
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
    m0 = await base_id(conn, "merchants")
    merchant_ids = list(range(m0 + 1, m0 + sizes.merchants + 1))
    merchant_category = {mid: rng.choice(CATEGORIES) for mid in merchant_ids}
    await copy_rows(
        conn,
        "merchants",
        ("id", "name", "category"),
        ((mid, f"Merchant {mid - m0}", merchant_category[mid]) for mid in merchant_ids),
        sizes.merchants,
        progress,
    )
    popularity = list(itertools.accumulate(1 / (rank + 1) for rank in range(sizes.merchants)))

    # --- users: one admin, a manager per ten campaigns, members for the rest.
    u0 = await base_id(conn, "users")
    managers = max(1, sizes.campaigns // 10) if sizes.users > 1 else 0
    password_hash = hash_password(GENERATED_PASSWORD)

    def role(i: int) -> str:
        return "ADMIN" if i == 0 else "MANAGER" if i <= managers else "MEMBER"

    user_ids = list(range(u0 + 1, u0 + sizes.users + 1))
    manager_ids = user_ids[1 : managers + 1] or user_ids[:1]
    member_ids = user_ids[managers + 1 :] or user_ids
    await copy_rows(
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
    a0 = await base_id(conn, "accounts")
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
    await copy_rows(
        conn,
        "accounts",
        ("id", "user_id", "kind", "institution", "last_four", "balance_cents"),
        iter(account_rows),
        len(account_rows),
        progress,
    )
    del account_rows

    # --- transactions: mostly at a member's few favourite merchants, over the past year.
    t0 = await base_id(conn, "transactions")
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

    await copy_rows(
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

    await generate_campaigns.load(
        conn,
        rng,
        count=sizes.campaigns,
        merchant_ids=merchant_ids,
        manager_ids=manager_ids,
        first_transaction=t0,
        today=today,
        midnight=midnight,
        progress=progress,
    )

    # --- derived in SQL: merchant affinities.
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
