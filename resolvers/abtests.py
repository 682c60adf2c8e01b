"""A/B tests: listing, and the statistics of a test's result."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from db import abtests as db
from db.abtests import AbTestFilter, AbTestRow, VariantRow
from db.page_batch import RenderedLists
from resolvers.context import Context
from resolvers.ids import argument_pk
from resolvers.pagination import INT, CursorKind, capped_request, read_page

CURSOR = CursorKind("abTests", (INT,))
SIGNIFICANCE = 0.05


async def ab_test(ctx: Context, global_id: str) -> AbTestRow | None:
    pk = argument_pk(global_id, "AbTest", "id")
    row: AbTestRow | None = await ctx.loaders.ab_test_by_id.load(pk)
    return row


async def list_ab_tests(
    ctx: Context,
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    flt: AbTestFilter,
    how: str | RenderedLists | None = None,
) -> Any:
    """A page of tests: AbTestRows, or what PostgreSQL writes (`how`, db/abtests.py)."""
    request = await capped_request(ctx, CURSOR, first=first, after=after, last=last, before=before)
    return await read_page(
        ctx,
        request,
        lambda conn, r: db.page(conn, r, flt, how),
        ctx.loaders.ab_test_by_id if how is None else None,
    )


async def count_ab_tests(ctx: Context, flt: AbTestFilter) -> int:
    async with ctx.connection() as conn:
        return await db.total(conn, flt)


def cursor_of(row: AbTestRow) -> str:
    return CURSOR.encode((row.id,))


def conversion_rate(v: VariantRow) -> float | None:
    return v.conversions / v.impressions if v.impressions else None


@dataclass(frozen=True)
class TestResult:
    control: VariantRow | None
    best: VariantRow | None
    lift: float | None
    p_value: float | None
    winner: VariantRow | None


def two_proportion_p_value(x1: int, n1: int, x2: int, n2: int) -> float | None:
    """Two-sided p-value of the pooled two-proportion z-test; None when undefined."""
    if n1 == 0 or n2 == 0:
        return None
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return None
    z = (x2 / n2 - x1 / n1) / se
    return math.erfc(abs(z) / math.sqrt(2))


def result(variants: list[VariantRow]) -> TestResult:
    """Compare the best non-control variant (by conversion rate) with the control.

    `winner` is set only when the difference is significant (p < 0.05): the better of the two.
    """
    control = next((v for v in variants if v.is_control), None)
    others = [v for v in variants if not v.is_control and v.impressions > 0]
    best = max(others, key=lambda v: (v.conversions / v.impressions, -v.id), default=None)
    if control is None or best is None:
        return TestResult(control, best, None, None, None)
    control_rate, best_rate = conversion_rate(control), conversion_rate(best)
    lift = None
    if control_rate and best_rate is not None:
        lift = (best_rate - control_rate) / control_rate
    p = two_proportion_p_value(
        control.conversions, control.impressions, best.conversions, best.impressions
    )
    winner = None
    if p is not None and p < SIGNIFICANCE and control_rate is not None and best_rate is not None:
        winner = best if best_rate > control_rate else control
    return TestResult(control, best, lift, p, winner)
