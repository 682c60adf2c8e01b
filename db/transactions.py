"""Card transactions: a member's purchases, newest first, and spending aggregates."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from db.page_batch import (
    RenderedLists,
    RenderedPage,
    RenderedRows,
    counts_by_user,
    pages_by_user,
)
from db.pagination import Keyset, Page, PageRequest


@dataclass(slots=True)  # not frozen: built per row on hot paths, ~2x cheaper
class TransactionRow:
    id: int
    account_id: int
    user_id: int
    merchant_id: int | None
    amount_cents: int
    currency: str
    category: str
    occurred_at: datetime
    description: str


COLUMNS = (
    "id, account_id, user_id, merchant_id, amount_cents, currency, category, occurred_at,"
    " description"
)
KEYSET = Keyset(("occurred_at", "id"), descending=True)


def _row(r: asyncpg.Record) -> TransactionRow:
    return TransactionRow(
        r["id"],
        r["account_id"],
        r["user_id"],
        r["merchant_id"],
        r["amount_cents"],
        r["currency"].strip(),
        r["category"],
        r["occurred_at"],
        r["description"],
    )


@dataclass(slots=True)
class RenderedTransaction:
    """A page's row whose JSON PostgreSQL wrote (`json`; "" when the page's lists were
    written whole): what the connection needs besides (the cursor's key and its user)."""

    id: int
    user_id: int
    occurred_at: datetime
    json: str

    @property
    def owner_pk(self) -> int:
        """The user the row belongs to (what its visibility rule reads)."""
        return self.user_id


RENDERED = RenderedRows(("id", "user_id", "occurred_at"), RenderedTransaction, fact="user_id")


@dataclass(frozen=True)
class TransactionFilter:
    """`occurred_from`/`occurred_to` are whole days, both inclusive (UTC)."""

    occurred_from: date | None = None
    occurred_to: date | None = None
    category: str | None = None
    merchant_id: int | None = None

    def sql(self) -> tuple[list[str], list[Any]]:
        """Predicates numbered from $2 ($1 is the users array)."""
        args: list[Any] = []
        where: list[str] = []
        if self.occurred_from is not None:
            args.append(self.occurred_from)
            where.append(f"occurred_at >= (${len(args) + 1}::date)::timestamp AT TIME ZONE 'UTC'")
        if self.occurred_to is not None:
            args.append(self.occurred_to)
            where.append(
                f"occurred_at < (${len(args) + 1}::date + 1)::timestamp AT TIME ZONE 'UTC'"
            )
        if self.category is not None:
            args.append(self.category)
            where.append(f"category = ${len(args) + 1}")
        if self.merchant_id is not None:
            args.append(self.merchant_id)
            where.append(f"merchant_id = ${len(args) + 1}")
        return where, args


# (user, page request, filter, what PostgreSQL writes: a JSON expression over a row
# (db/render.py), the page's lists, or None)
PageKey = tuple[int, PageRequest, TransactionFilter, str | RenderedLists | None]


async def pages(
    conn: asyncpg.Connection, keys: list[PageKey]
) -> list[Page[TransactionRow] | Page[RenderedTransaction] | RenderedPage]:
    """For each (user, page request, filter, rendering): that page of the user's
    transactions, newest first: TransactionRows, RenderedTransactions with the expression's
    value, or a RenderedPage."""
    return await pages_by_user(
        conn,
        keys,
        table="transactions",
        columns=COLUMNS,
        keyset=KEYSET,
        where_of=lambda flt: flt.sql(),
        to_row=_row,
        rendered=RENDERED,
    )


async def totals(conn: asyncpg.Connection, keys: list[tuple[int, TransactionFilter]]) -> list[int]:
    """For each (user, filter): how many transactions match."""
    return await counts_by_user(conn, keys, table="transactions", where_of=TransactionFilter.sql)


async def pages_by_account(
    conn: asyncpg.Connection, keys: list[PageKey]
) -> list[Page[TransactionRow] | Page[RenderedTransaction] | RenderedPage]:
    """`pages`, of an account's transactions: keys are (account, page request, filter,
    rendering)."""
    return await pages_by_user(
        conn,
        keys,
        table="transactions",
        columns=COLUMNS,
        keyset=KEYSET,
        where_of=lambda flt: flt.sql(),
        to_row=_row,
        rendered=RENDERED,
        parent_column="account_id",
    )


async def totals_by_account(
    conn: asyncpg.Connection, keys: list[tuple[int, TransactionFilter]]
) -> list[int]:
    """For each (account, filter): how many transactions match."""
    return await counts_by_user(
        conn, keys, table="transactions", where_of=TransactionFilter.sql, parent_column="account_id"
    )


class SpendingGroup(enum.Enum):
    CATEGORY = "CATEGORY"
    MERCHANT = "MERCHANT"
    MONTH = "MONTH"


@dataclass(frozen=True)
class SpendingBucket:
    """One group of a user's spending in a period; `key` is the category, merchant id or month."""

    key: str
    merchant_id: int | None
    month: date | None
    currency: str
    total_cents: int
    count: int
    share: float


_GROUP_KEY = {
    SpendingGroup.CATEGORY: "category",
    SpendingGroup.MERCHANT: "coalesce(merchant_id::text, '')",
    SpendingGroup.MONTH: "to_char(date_trunc('month', occurred_at AT TIME ZONE 'UTC'), 'YYYY-MM')",
}

# Categories, merchants and months are unbounded, so only the largest groups are returned
# (the query cost counts this many per `spending`); `share` still counts every group.
MAX_SPENDING_GROUPS = 100

# Keyed by (user, from, to): one statement serves every user and period a request asks about.
# `share` is the bucket's part of the period's spending in its currency.
SPENDING = """
WITH k AS (
    SELECT * FROM unnest($1::bigint[], $2::date[], $3::date[]) WITH ORDINALITY
             AS k(user_id, day_from, day_to, n)
), g AS (
    SELECT k.n, {key} AS key, min(t.merchant_id) AS merchant_id, t.currency,
           sum(t.amount_cents) AS total_cents, count(*) AS count
    FROM k JOIN transactions t
      ON t.user_id = k.user_id
     AND t.occurred_at >= k.day_from::timestamp AT TIME ZONE 'UTC'
     AND t.occurred_at < (k.day_to + 1)::timestamp AT TIME ZONE 'UTC'
    GROUP BY k.n, 2, t.currency
), ranked AS (
    SELECT n, key, merchant_id, currency, total_cents, count,
           total_cents::float8 / nullif(sum(total_cents) OVER (PARTITION BY n, currency), 0)
               AS share,
           row_number() OVER (PARTITION BY n ORDER BY total_cents DESC, key, currency) AS rank
    FROM g
)
SELECT n, key, merchant_id, currency, total_cents, count, share
FROM ranked
WHERE rank <= $4
ORDER BY n, total_cents DESC, key
"""


async def spending(
    conn: asyncpg.Connection, group: SpendingGroup, keys: list[tuple[int, date, date]]
) -> list[list[SpendingBucket]]:
    """For each (user, from, to): the MAX_SPENDING_GROUPS largest buckets, largest first."""
    sql = SPENDING.format(key=_GROUP_KEY[group])
    found: dict[int, list[SpendingBucket]] = {n: [] for n in range(1, len(keys) + 1)}
    records = await conn.fetch(
        sql,
        [k[0] for k in keys],
        [k[1] for k in keys],
        [k[2] for k in keys],
        MAX_SPENDING_GROUPS,
    )
    for r in records:
        month = None
        if group is SpendingGroup.MONTH:
            month = date.fromisoformat(r["key"] + "-01")
        found[r["n"]].append(
            SpendingBucket(
                key=r["key"],
                merchant_id=r["merchant_id"] if group is SpendingGroup.MERCHANT else None,
                month=month,
                currency=r["currency"].strip(),
                total_cents=r["total_cents"],
                count=r["count"],
                share=r["share"] or 0.0,
            )
        )
    return [found[n] for n in range(1, len(keys) + 1)]


BY_IDS = f"SELECT {COLUMNS} FROM transactions WHERE id = ANY($1::bigint[])"


async def by_ids(conn: asyncpg.Connection, ids: list[int]) -> list[TransactionRow | None]:
    found = {r["id"]: _row(r) for r in await conn.fetch(BY_IDS, ids)}
    return [found.get(i) for i in ids]
