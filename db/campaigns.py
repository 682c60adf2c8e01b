"""Campaigns and their lifecycle.

Every lifecycle transition is ONE conditional UPDATE that also reports the status it moved
from, so concurrent transitions can never both win; the caller writes the audit row in the
same transaction.
"""

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
    RootPages,
    counts_by_user,
    pages_by_user,
)
from db.pagination import Keyset, Page, PageRequest, contains_pattern, count


class CampaignStatus(enum.Enum):
    DRAFT = "DRAFT"
    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"
    COMPLETED = "COMPLETED"


class RewardType(enum.Enum):
    CASHBACK_PERCENT = "CASHBACK_PERCENT"
    FIXED_AMOUNT = "FIXED_AMOUNT"


@dataclass(slots=True)  # not frozen: built per row on hot paths, ~2x cheaper
class CampaignRow:
    id: int
    merchant_id: int
    created_by: int | None
    name: str
    description: str
    status: CampaignStatus
    reward_type: RewardType
    reward_value: int
    currency: str
    budget_cents: int
    spent_cents: int
    starts_at: datetime | None
    ends_at: datetime | None
    version: int
    launched_at: datetime | None
    paused_at: datetime | None
    completed_at: datetime | None
    created_at: datetime
    updated_at: datetime


_FIELDS = (
    "id, merchant_id, created_by, name, description, status, reward_type, reward_value,"
    " currency, budget_cents, spent_cents, starts_at, ends_at, version, launched_at,"
    " paused_at, completed_at, created_at, updated_at"
)
COLUMNS = _FIELDS
_C_COLUMNS = ", ".join(f"c.{f.strip()}" for f in _FIELDS.split(","))
KEYSET = Keyset(("id",), descending=True)


# Enum members by stored value (the CHECK constraints admit no others): a dict lookup is a
# fraction of an Enum call, and a page of 50 campaigns makes 100 of them.
_STATUSES = {s.value: s for s in CampaignStatus}
_REWARD_TYPES = {t.value: t for t in RewardType}


def _row(r: asyncpg.Record) -> CampaignRow:
    return CampaignRow(
        r["id"],
        r["merchant_id"],
        r["created_by"],
        r["name"],
        r["description"],
        _STATUSES[r["status"]],
        _REWARD_TYPES[r["reward_type"]],
        r["reward_value"],
        r["currency"].strip(),
        r["budget_cents"],
        r["spent_cents"],
        r["starts_at"],
        r["ends_at"],
        r["version"],
        r["launched_at"],
        r["paused_at"],
        r["completed_at"],
        r["created_at"],
        r["updated_at"],
    )


BY_IDS = f"SELECT {COLUMNS} FROM campaigns WHERE id = ANY($1::bigint[])"


async def by_ids(conn: asyncpg.Connection, ids: list[int]) -> list[CampaignRow | None]:
    found = {r["id"]: _row(r) for r in await conn.fetch(BY_IDS, ids)}
    return [found.get(i) for i in ids]


@dataclass(frozen=True)
class CampaignFilter:
    statuses: tuple[CampaignStatus, ...] | None = None
    merchant_id: int | None = None
    search: str | None = None

    def sql(self, first: int = 1) -> tuple[list[str], list[Any]]:
        """Predicates with their parameters numbered from `$first`."""
        where: list[str] = []
        args: list[Any] = []
        at = first - 1
        if self.statuses is not None:  # an empty tuple matches nothing
            args.append([s.value for s in self.statuses])
            where.append(f"status = ANY(${len(args) + at}::text[])")
        if self.merchant_id is not None:
            args.append(self.merchant_id)
            where.append(f"merchant_id = ${len(args) + at}")
        if self.search:
            args.append(contains_pattern(self.search))
            where.append(f"name ILIKE ${len(args) + at}")
        return where, args


@dataclass(slots=True)
class RenderedCampaign:
    """A page's row whose JSON PostgreSQL wrote (`json`; "" when the page's lists were
    written whole): what the connection needs besides (the cursor's key, the status the
    visibility rule reads)."""

    id: int
    status: CampaignStatus
    json: str


def _rendered(id: int, status: str, json: str) -> RenderedCampaign:
    return RenderedCampaign(id, _STATUSES[status], json)


RENDERED = RenderedRows(("id", "status"), _rendered, fact="status")
PAGES = RootPages("campaigns", COLUMNS, KEYSET, _row, RENDERED)


async def page(
    conn: asyncpg.Connection,
    request: PageRequest,
    flt: CampaignFilter,
    how: str | RenderedLists | None = None,
) -> Page[CampaignRow] | Page[RenderedCampaign] | RenderedPage:
    """A page of campaigns, newest first: CampaignRows; with `how`, what PostgreSQL writes
    (db/page_batch.py: `fetch_root_page`)."""
    where, args = flt.sql()
    return await PAGES.read(conn, request, where, args, how)


async def total(conn: asyncpg.Connection, flt: CampaignFilter) -> int:
    where, args = flt.sql()
    return await count(conn, table="campaigns", where=where, args=args)


# (merchant, page request, filter, what PostgreSQL writes)
MerchantPageKey = tuple[int, PageRequest, CampaignFilter, str | RenderedLists | None]


async def pages_by_merchant(conn: asyncpg.Connection, keys: list[MerchantPageKey]) -> list[Any]:
    """For each key, that page of the merchant's campaigns, newest first (as `page`); keys
    differing only in the merchant share one statement."""
    return await pages_by_user(
        conn,
        keys,
        table="campaigns",
        columns=COLUMNS,
        keyset=KEYSET,
        where_of=lambda flt: flt.sql(first=2),
        to_row=_row,
        rendered=RENDERED,
        parent_column="merchant_id",
    )


async def totals_by_merchant(
    conn: asyncpg.Connection, keys: list[tuple[int, CampaignFilter]]
) -> list[int]:
    """For each (merchant, filter): how many of its campaigns match."""
    return await counts_by_user(
        conn,
        keys,
        table="campaigns",
        where_of=lambda flt: flt.sql(first=2),
        parent_column="merchant_id",
    )


INSERT = f"""
INSERT INTO campaigns (merchant_id, created_by, name, description, reward_type, reward_value,
                       currency, budget_cents, starts_at, ends_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
RETURNING {COLUMNS}
"""


@dataclass(frozen=True)
class CampaignValues:
    """The editable fields of a campaign, already validated."""

    merchant_id: int
    name: str
    description: str
    reward_type: RewardType
    reward_value: int
    currency: str
    budget_cents: int
    starts_at: datetime | None
    ends_at: datetime | None


async def insert(
    conn: asyncpg.Connection, values: CampaignValues, created_by: int | None
) -> CampaignRow:
    r = await conn.fetchrow(
        INSERT,
        values.merchant_id,
        created_by,
        values.name,
        values.description,
        values.reward_type.value,
        values.reward_value,
        values.currency,
        values.budget_cents,
        values.starts_at,
        values.ends_at,
    )
    return _row(r)


LOCK = f"SELECT {COLUMNS} FROM campaigns WHERE id = $1 FOR UPDATE"


async def lock(conn: asyncpg.Connection, campaign_id: int) -> CampaignRow | None:
    """Read a campaign and hold its row lock until the transaction ends."""
    r = await conn.fetchrow(LOCK, campaign_id)
    return _row(r) if r else None


UPDATE = f"""
UPDATE campaigns
SET merchant_id = $2, name = $3, description = $4, reward_type = $5, reward_value = $6,
    currency = $7, budget_cents = $8, starts_at = $9, ends_at = $10,
    version = version + 1, updated_at = now()
WHERE id = $1
RETURNING {COLUMNS}
"""


async def update(conn: asyncpg.Connection, campaign_id: int, values: CampaignValues) -> CampaignRow:
    r = await conn.fetchrow(
        UPDATE,
        campaign_id,
        values.merchant_id,
        values.name,
        values.description,
        values.reward_type.value,
        values.reward_value,
        values.currency,
        values.budget_cents,
        values.starts_at,
        values.ends_at,
    )
    return _row(r)


DELETE_DRAFT = f"""
DELETE FROM campaigns
WHERE id = $1 AND status = 'DRAFT' AND ($2::int IS NULL OR version = $2)
RETURNING {COLUMNS}
"""


async def delete_draft(
    conn: asyncpg.Connection, campaign_id: int, expected_version: int | None
) -> CampaignRow | None:
    r = await conn.fetchrow(DELETE_DRAFT, campaign_id, expected_version)
    return _row(r) if r else None


@dataclass(frozen=True)
class Transition:
    """One edge of the lifecycle: where it may start, where it ends, what it stamps."""

    action: str
    to: CampaignStatus
    allowed_from: tuple[CampaignStatus, ...]
    sql: str


def _transition_sql(to: CampaignStatus, stamps: str, guards: str = "") -> str:
    return f"""
WITH old AS (SELECT id, status FROM campaigns WHERE id = $1 FOR UPDATE)
UPDATE campaigns c
SET status = '{to.value}', {stamps}, version = c.version + 1, updated_at = now()
FROM old
WHERE c.id = old.id AND old.status = ANY($2::text[])
  AND ($3::int IS NULL OR c.version = $3) {guards}
RETURNING {_C_COLUMNS}, old.status AS before_status
"""


S = CampaignStatus
LAUNCH = Transition(
    "campaign.launch",
    S.ACTIVE,
    (S.DRAFT, S.PAUSED),
    _transition_sql(
        S.ACTIVE,
        "launched_at = coalesce(c.launched_at, now()), paused_at = NULL",
        "AND (c.ends_at IS NULL OR c.ends_at > now()) AND c.spent_cents < c.budget_cents",
    ),
)
PAUSE = Transition(
    "campaign.pause", S.PAUSED, (S.ACTIVE,), _transition_sql(S.PAUSED, "paused_at = now()")
)
COMPLETE = Transition(
    "campaign.complete",
    S.COMPLETED,
    (S.ACTIVE, S.PAUSED),
    _transition_sql(S.COMPLETED, "completed_at = now()"),
)


async def transition(
    conn: asyncpg.Connection, t: Transition, campaign_id: int, expected_version: int | None
) -> tuple[CampaignRow, CampaignStatus] | None:
    """Apply `t` if the campaign's current state allows it; None when refused."""
    r = await conn.fetchrow(t.sql, campaign_id, [s.value for s in t.allowed_from], expected_version)
    if r is None:
        return None
    return _row(r), CampaignStatus(r["before_status"])
