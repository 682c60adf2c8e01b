"""Rewards members earned from campaigns, and their per-status totals."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
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


class RewardStatus(enum.Enum):
    PENDING = "PENDING"
    EARNED = "EARNED"
    REDEEMED = "REDEEMED"
    EXPIRED = "EXPIRED"


@dataclass(slots=True)  # not frozen: built per row on hot paths, ~2x cheaper
class RewardRow:
    id: int
    user_id: int
    campaign_id: int
    transaction_id: int
    amount_cents: int
    currency: str
    status: RewardStatus
    earned_at: datetime


COLUMNS = "id, user_id, campaign_id, transaction_id, amount_cents, currency, status, earned_at"
KEYSET = Keyset(("earned_at", "id"), descending=True)


def _row(r: asyncpg.Record) -> RewardRow:
    values = {k: r[k] for k in RewardRow.__dataclass_fields__}
    values["currency"] = values["currency"].strip()
    values["status"] = RewardStatus(values["status"])
    return RewardRow(**values)


@dataclass(slots=True)
class RenderedReward:
    """A page's row whose JSON PostgreSQL wrote (`json`; "" when the page's lists were
    written whole): what the connection needs besides (the cursor's key and its user)."""

    id: int
    user_id: int
    earned_at: datetime
    json: str

    @property
    def owner_pk(self) -> int:
        """The user the row belongs to (what its visibility rule reads)."""
        return self.user_id


RENDERED = RenderedRows(("id", "user_id", "earned_at"), RenderedReward, fact="user_id")


def _filters(statuses: tuple[RewardStatus, ...] | None) -> tuple[list[str], list[Any]]:
    """Predicates numbered from $2 ($1 is the users array)."""
    if statuses:
        return ["status = ANY($2::text[])"], [[s.value for s in statuses]]
    return [], []


# (user, page request, statuses, what PostgreSQL writes: a JSON expression over a row
# (db/render.py), the page's lists, or None)
PageKey = tuple[int, PageRequest, tuple[RewardStatus, ...] | None, str | RenderedLists | None]


async def pages(
    conn: asyncpg.Connection, keys: list[PageKey]
) -> list[Page[RewardRow] | Page[RenderedReward] | RenderedPage]:
    """For each (user, page request, statuses, rendering): that page of the user's rewards,
    newest first (as `transactions.pages`)."""
    return await pages_by_user(
        conn,
        keys,
        table="rewards",
        columns=COLUMNS,
        keyset=KEYSET,
        where_of=_filters,
        to_row=_row,
        rendered=RENDERED,
    )


async def totals(
    conn: asyncpg.Connection, keys: list[tuple[int, tuple[RewardStatus, ...] | None]]
) -> list[int]:
    return await counts_by_user(conn, keys, table="rewards", where_of=_filters)


async def pages_by_campaign(
    conn: asyncpg.Connection, keys: list[PageKey]
) -> list[Page[RewardRow] | Page[RenderedReward] | RenderedPage]:
    """`pages`, of a campaign's rewards: keys are (campaign, page request, statuses,
    rendering)."""
    return await pages_by_user(
        conn,
        keys,
        table="rewards",
        columns=COLUMNS,
        keyset=KEYSET,
        where_of=_filters,
        to_row=_row,
        rendered=RENDERED,
        parent_column="campaign_id",
    )


async def totals_by_campaign(
    conn: asyncpg.Connection, keys: list[tuple[int, tuple[RewardStatus, ...] | None]]
) -> list[int]:
    return await counts_by_user(
        conn, keys, table="rewards", where_of=_filters, parent_column="campaign_id"
    )


@dataclass(frozen=True)
class RewardsSummaryRow:
    """A user's rewards per status, in minor units of `currency`."""

    currency: str
    earned_cents: int
    pending_cents: int
    redeemed_cents: int


SUMMARY = """
SELECT user_id, currency,
       coalesce(sum(amount_cents) FILTER (WHERE status = 'EARNED'), 0) AS earned_cents,
       coalesce(sum(amount_cents) FILTER (WHERE status = 'PENDING'), 0) AS pending_cents,
       coalesce(sum(amount_cents) FILTER (WHERE status = 'REDEEMED'), 0) AS redeemed_cents
FROM rewards WHERE user_id = ANY($1::bigint[])
GROUP BY user_id, currency
ORDER BY user_id, currency
"""


async def summaries(conn: asyncpg.Connection, user_ids: list[int]) -> list[list[RewardsSummaryRow]]:
    """Per user, one summary per currency they have rewards in (none: empty list)."""
    found: dict[int, list[RewardsSummaryRow]] = {u: [] for u in user_ids}
    for r in await conn.fetch(SUMMARY, user_ids):
        found[r["user_id"]].append(
            RewardsSummaryRow(
                currency=r["currency"].strip(),
                earned_cents=r["earned_cents"],
                pending_cents=r["pending_cents"],
                redeemed_cents=r["redeemed_cents"],
            )
        )
    return [found[u] for u in user_ids]


BY_IDS = f"SELECT {COLUMNS} FROM rewards WHERE id = ANY($1::bigint[])"


async def by_ids(conn: asyncpg.Connection, ids: list[int]) -> list[RewardRow | None]:
    found = {r["id"]: _row(r) for r in await conn.fetch(BY_IDS, ids)}
    return [found.get(i) for i in ids]


BY_TRANSACTION_IDS = f"SELECT {COLUMNS} FROM rewards WHERE transaction_id = ANY($1::bigint[])"


async def by_transaction_ids(conn: asyncpg.Connection, ids: list[int]) -> list[RewardRow | None]:
    """Each transaction's reward (a transaction earns at most one), in their order."""
    found = {r["transaction_id"]: _row(r) for r in await conn.fetch(BY_TRANSACTION_IDS, ids)}
    return [found.get(i) for i in ids]
