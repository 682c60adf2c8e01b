"""Merchants: the businesses that fund campaigns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from db.page_batch import RenderedLists, RenderedPage, RenderedRows, RootPages
from db.pagination import Keyset, Page, PageRequest, contains_pattern, count


@dataclass(slots=True)  # not frozen: built per row on hot paths, ~2x cheaper
class MerchantRow:
    id: int
    name: str
    category: str
    created_at: datetime
    updated_at: datetime


COLUMNS = "id, name, category, created_at, updated_at"
KEYSET = Keyset(("name", "id"), descending=False)


def _row(r: asyncpg.Record) -> MerchantRow:
    return MerchantRow(r["id"], r["name"], r["category"], r["created_at"], r["updated_at"])


BY_IDS = f"""
SELECT {COLUMNS} FROM merchants WHERE id = ANY($1::bigint[])
"""


async def by_ids(conn: asyncpg.Connection, ids: list[int]) -> list[MerchantRow | None]:
    found = {r["id"]: _row(r) for r in await conn.fetch(BY_IDS, ids)}
    return [found.get(i) for i in ids]


def _filters(search: str | None) -> tuple[list[str], list[Any]]:
    if search:
        return ["name ILIKE $1"], [contains_pattern(search)]
    return [], []


@dataclass(slots=True)
class RenderedMerchant:
    """A page's row whose JSON PostgreSQL wrote (`json`; "" when the page's lists were
    written whole): the cursor's key besides."""

    id: int
    name: str
    json: str


RENDERED = RenderedRows(("id", "name"), RenderedMerchant, fact="id")
PAGES = RootPages("merchants", COLUMNS, KEYSET, _row, RENDERED)


async def page(
    conn: asyncpg.Connection,
    request: PageRequest,
    *,
    search: str | None,
    how: str | RenderedLists | None = None,
) -> Page[MerchantRow] | Page[RenderedMerchant] | RenderedPage:
    """A page of merchants by name: MerchantRows; with `how`, what PostgreSQL writes
    (db/page_batch.py: `fetch_root_page`)."""
    where, args = _filters(search)
    return await PAGES.read(conn, request, where, args, how)


async def total(conn: asyncpg.Connection, *, search: str | None) -> int:
    where, args = _filters(search)
    return await count(conn, table="merchants", where=where, args=args)


INSERT = f"""
INSERT INTO merchants (name, category) VALUES ($1, $2)
RETURNING {COLUMNS}
"""


async def insert(conn: asyncpg.Connection, name: str, category: str) -> MerchantRow:
    return _row(await conn.fetchrow(INSERT, name, category))


UPDATE = f"""
UPDATE merchants
SET name = coalesce($2, name), category = coalesce($3, category), updated_at = now()
WHERE id = $1
RETURNING {COLUMNS}
"""


async def update(
    conn: asyncpg.Connection, merchant_id: int, name: str | None, category: str | None
) -> MerchantRow | None:
    r = await conn.fetchrow(UPDATE, merchant_id, name, category)
    return _row(r) if r else None
