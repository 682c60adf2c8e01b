"""Member-merchant affinity scores (0..1) and their platform-wide summary."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg


@dataclass(slots=True)  # not frozen: built per row on hot paths, ~2x cheaper
class AffinityRow:
    user_id: int
    merchant_id: int
    score: float
    transaction_count: int
    total_spend_cents: int
    last_transaction_at: datetime | None


# Keys are (user, limit): each user's top merchants by score, one statement for the batch.
TOP_BY_USERS = """
SELECT k.n, a.user_id, a.merchant_id, a.score, a.transaction_count, a.total_spend_cents,
       a.last_transaction_at
FROM unnest($1::bigint[], $2::int[]) WITH ORDINALITY AS k(user_id, lim, n)
CROSS JOIN LATERAL (
    SELECT user_id, merchant_id, score, transaction_count, total_spend_cents,
           last_transaction_at
    FROM user_merchant_affinity
    WHERE user_id = k.user_id
    ORDER BY score DESC, merchant_id
    LIMIT k.lim
) a
ORDER BY k.n, a.score DESC, a.merchant_id
"""


async def top_by_users(
    conn: asyncpg.Connection, keys: list[tuple[int, int]]
) -> list[list[AffinityRow]]:
    found: dict[int, list[AffinityRow]] = {n: [] for n in range(1, len(keys) + 1)}
    records = await conn.fetch(TOP_BY_USERS, [k[0] for k in keys], [k[1] for k in keys])
    for r in records:
        values = dict(r)
        found[values.pop("n")].append(AffinityRow(**values))
    return [found[n] for n in range(1, len(keys) + 1)]


@dataclass(frozen=True)
class MerchantScore:
    merchant_id: int
    mean_score: float
    users: int


@dataclass(frozen=True)
class AffinitySummaryRow:
    users: int
    merchants: int
    mean_score: float | None
    top_merchants: list[MerchantScore]


SUMMARY = """
SELECT count(DISTINCT user_id) AS users, count(DISTINCT merchant_id) AS merchants,
       avg(score) AS mean_score
FROM user_merchant_affinity
"""

TOP_MERCHANTS = """
SELECT merchant_id, avg(score) AS mean_score, count(*) AS users
FROM user_merchant_affinity
GROUP BY merchant_id
ORDER BY mean_score DESC, merchant_id
LIMIT $1
"""


async def summary(conn: asyncpg.Connection, top: int) -> AffinitySummaryRow:
    totals = await conn.fetchrow(SUMMARY)
    top_rows = await conn.fetch(TOP_MERCHANTS, top)
    return AffinitySummaryRow(
        users=totals["users"],
        merchants=totals["merchants"],
        mean_score=totals["mean_score"],
        top_merchants=[MerchantScore(**dict(r)) for r in top_rows],
    )
