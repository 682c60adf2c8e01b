"""Members' linked bank and card accounts."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

import asyncpg


class AccountKind(enum.Enum):
    CHECKING = "CHECKING"
    SAVINGS = "SAVINGS"
    CREDIT_CARD = "CREDIT_CARD"


@dataclass(slots=True)  # not frozen: built per row on hot paths, ~2x cheaper
class AccountRow:
    id: int
    user_id: int
    kind: AccountKind
    institution: str
    last_four: str
    currency: str
    balance_cents: int
    created_at: datetime


COLUMNS = "id, user_id, kind, institution, last_four, currency, balance_cents, created_at"


def _row(r: asyncpg.Record) -> AccountRow:
    return AccountRow(
        id=r["id"],
        user_id=r["user_id"],
        kind=AccountKind(r["kind"]),
        institution=r["institution"],
        last_four=r["last_four"],
        currency=r["currency"].strip(),
        balance_cents=r["balance_cents"],
        created_at=r["created_at"],
    )


BY_IDS = f"SELECT {COLUMNS} FROM accounts WHERE id = ANY($1::bigint[])"


async def by_ids(conn: asyncpg.Connection, ids: list[int]) -> list[AccountRow | None]:
    found = {r["id"]: _row(r) for r in await conn.fetch(BY_IDS, ids)}
    return [found.get(i) for i in ids]


# A user's accounts are a plain list (no paging), so the query cost needs a bound on it.
MAX_ACCOUNTS_PER_USER = 50

BY_USER_IDS = f"""
SELECT a.* FROM unnest($1::bigint[]) AS k(user_id)
CROSS JOIN LATERAL (
    SELECT {COLUMNS} FROM accounts WHERE user_id = k.user_id ORDER BY id LIMIT $2
) AS a
ORDER BY a.id
"""


async def by_user_ids(conn: asyncpg.Connection, user_ids: list[int]) -> list[list[AccountRow]]:
    """Each user's accounts, oldest first: the first MAX_ACCOUNTS_PER_USER."""
    found: dict[int, list[AccountRow]] = {u: [] for u in user_ids}
    for r in await conn.fetch(BY_USER_IDS, user_ids, MAX_ACCOUNTS_PER_USER):
        found[r["user_id"]].append(_row(r))
    return [found[u] for u in user_ids]
