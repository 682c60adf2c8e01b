"""A/B tests on campaigns and their variants."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from db.page_batch import RenderedLists, RenderedPage, RenderedRows, RootPages
from db.pagination import Keyset, Page, PageRequest, count


class AbTestStatus(enum.Enum):
    DRAFT = "DRAFT"
    RUNNING = "RUNNING"
    STOPPED = "STOPPED"


@dataclass(slots=True)  # not frozen: built per row on hot paths, ~2x cheaper
class AbTestRow:
    id: int
    campaign_id: int
    name: str
    status: AbTestStatus
    started_at: datetime | None
    ended_at: datetime | None
    created_at: datetime


@dataclass(slots=True)  # not frozen: built per row on hot paths, ~2x cheaper
class VariantRow:
    id: int
    ab_test_id: int
    name: str
    is_control: bool
    traffic_share: Decimal
    impressions: int
    conversions: int


COLUMNS = "id, campaign_id, name, status, started_at, ended_at, created_at"
VARIANT_COLUMNS = "id, ab_test_id, name, is_control, traffic_share, impressions, conversions"
KEYSET = Keyset(("id",), descending=True)


def _row(r: asyncpg.Record) -> AbTestRow:
    return _row_of(dict(r))


def _row_of(values: dict[str, Any]) -> AbTestRow:
    values["status"] = AbTestStatus(values["status"])
    return AbTestRow(**values)


BY_IDS = f"SELECT {COLUMNS} FROM ab_tests WHERE id = ANY($1::bigint[])"


async def by_ids(conn: asyncpg.Connection, ids: list[int]) -> list[AbTestRow | None]:
    found = {r["id"]: _row(r) for r in await conn.fetch(BY_IDS, ids)}
    return [found.get(i) for i in ids]


# A campaign's tests and a test's variants are plain lists (no paging), so the query cost
# needs a bound on each.
MAX_TESTS_PER_CAMPAIGN = 10
MAX_VARIANTS_PER_TEST = 10

BY_CAMPAIGN_IDS = f"""
SELECT t.* FROM unnest($1::bigint[]) AS k(campaign_id)
CROSS JOIN LATERAL (
    SELECT {COLUMNS} FROM ab_tests WHERE campaign_id = k.campaign_id ORDER BY id LIMIT $2
) AS t
ORDER BY t.id
"""


async def by_campaign_ids(conn: asyncpg.Connection, ids: list[int]) -> list[list[AbTestRow]]:
    """For each campaign id: its first MAX_TESTS_PER_CAMPAIGN tests, oldest first."""
    found: dict[int, list[AbTestRow]] = {i: [] for i in ids}
    for r in await conn.fetch(BY_CAMPAIGN_IDS, ids, MAX_TESTS_PER_CAMPAIGN):
        found[r["campaign_id"]].append(_row(r))
    return [found[i] for i in ids]


# The tests of many campaigns with each test's variants (in VARIANTS_BY_TEST_IDS's order),
# in one statement: a page of campaigns with `abTests { variants }` costs one read, not two.
WITH_VARIANTS_BY_CAMPAIGN_IDS = f"""
SELECT t.*,
       ARRAY(SELECT ROW({VARIANT_COLUMNS}) FROM ab_test_variants v WHERE v.ab_test_id = t.id
             ORDER BY v.is_control DESC, v.name LIMIT $3) AS variants
FROM unnest($1::bigint[]) AS k(campaign_id)
CROSS JOIN LATERAL (
    SELECT {COLUMNS} FROM ab_tests WHERE campaign_id = k.campaign_id ORDER BY id LIMIT $2
) AS t
ORDER BY t.id
"""


async def with_variants_by_campaign_ids(
    conn: asyncpg.Connection, ids: list[int]
) -> list[list[tuple[AbTestRow, list[VariantRow]]]]:
    """For each campaign id: its tests, oldest first, each with its variants."""
    found: dict[int, list[tuple[AbTestRow, list[VariantRow]]]] = {i: [] for i in ids}
    for r in await conn.fetch(
        WITH_VARIANTS_BY_CAMPAIGN_IDS, ids, MAX_TESTS_PER_CAMPAIGN, MAX_VARIANTS_PER_TEST
    ):
        values = dict(r)
        variants = [VariantRow(*v) for v in values.pop("variants")]
        found[r["campaign_id"]].append((_row_of(values), variants))
    return [found[i] for i in ids]


# The control first, then the others by name.
VARIANTS_BY_TEST_IDS = f"""
SELECT v.* FROM unnest($1::bigint[]) AS k(ab_test_id)
CROSS JOIN LATERAL (
    SELECT {VARIANT_COLUMNS} FROM ab_test_variants WHERE ab_test_id = k.ab_test_id
    ORDER BY is_control DESC, name LIMIT $2
) AS v
ORDER BY v.ab_test_id, v.is_control DESC, v.name
"""


async def variants_by_test_ids(conn: asyncpg.Connection, ids: list[int]) -> list[list[VariantRow]]:
    """For each test id: its first MAX_VARIANTS_PER_TEST variants, the control first."""
    found: dict[int, list[VariantRow]] = {i: [] for i in ids}
    for r in await conn.fetch(VARIANTS_BY_TEST_IDS, ids, MAX_VARIANTS_PER_TEST):
        found[r["ab_test_id"]].append(VariantRow(**dict(r)))
    return [found[i] for i in ids]


@dataclass(frozen=True)
class AbTestFilter:
    statuses: tuple[AbTestStatus, ...] | None = None
    campaign_id: int | None = None

    def sql(self) -> tuple[list[str], list[Any]]:
        where: list[str] = []
        args: list[Any] = []
        if self.statuses:
            args.append([s.value for s in self.statuses])
            where.append(f"status = ANY(${len(args)}::text[])")
        if self.campaign_id is not None:
            args.append(self.campaign_id)
            where.append(f"campaign_id = ${len(args)}")
        return where, args


@dataclass(slots=True)
class RenderedAbTest:
    """A page's row whose JSON PostgreSQL wrote (`json`; "" when the page's lists were
    written whole): the cursor's key besides."""

    id: int
    json: str


RENDERED = RenderedRows(("id",), RenderedAbTest, fact="id")
PAGES = RootPages("ab_tests", COLUMNS, KEYSET, _row, RENDERED)


async def page(
    conn: asyncpg.Connection,
    request: PageRequest,
    flt: AbTestFilter,
    how: str | RenderedLists | None = None,
) -> Page[AbTestRow] | Page[RenderedAbTest] | RenderedPage:
    """A page of tests, newest first: AbTestRows; with `how`, what PostgreSQL writes
    (db/page_batch.py: `fetch_root_page`)."""
    where, args = flt.sql()
    return await PAGES.read(conn, request, where, args, how)


async def total(conn: asyncpg.Connection, flt: AbTestFilter) -> int:
    where, args = flt.sql()
    return await count(conn, table="ab_tests", where=where, args=args)
