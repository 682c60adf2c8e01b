"""The benchmark's Q2 (bench/queries.py) costs a fixed number of SQL statements, whatever the
page size, never one per campaign."""

from __future__ import annotations

from datetime import date, timedelta

import asyncpg

from bench.queries import Q2_OURS
from tests import factories as f
from tests import member_factories as mf
from tests.conftest import Api, StatementCounter

LAST_DAY = date(2026, 11, 14)
WEEK = {"from": (LAST_DAY - timedelta(days=6)).isoformat(), "to": LAST_DAY.isoformat()}


async def arrange(conn: asyncpg.Connection, n: int) -> None:
    """n campaigns, each with its own merchant and creator, 7 days of analytics and an A/B
    test with two variants: every list under Q2 has rows for every campaign."""
    for i in range(n):
        m = await f.merchant(conn, f"M{i}")
        u = await f.user(conn, f"u{i}@example.com", role="MANAGER")
        c = await f.campaign(conn, m, name=f"C{i}", created_by=u, status="ACTIVE")
        for d in range(7):
            await mf.analytics_day(conn, c, LAST_DAY - timedelta(days=d), impressions=d)
        t = await mf.ab_test(conn, c, name=f"T{i}")
        await mf.variant(conn, t, "control", impressions=10, conversions=1, is_control=True)
        await mf.variant(conn, t, "variant-a", impressions=10, conversions=2)


async def q2_statements(api: Api, statements: StatementCounter, first: int) -> list[str]:
    statements.reset()
    document = Q2_OURS.replace("campaigns(first: 50)", f"campaigns(first: {first})")
    data = await api.data(document, WEEK)
    edges = data["campaigns"]["edges"]
    assert len(edges) == first
    for e in edges:
        node = e["node"]
        assert node["merchant"]["name"].startswith("M") and node["createdBy"]["name"]
        assert [d["impressions"] for d in node["dailyAnalytics"]] == [6, 5, 4, 3, 2, 1, 0]
        [test] = node["abTests"]
        assert [v["name"] for v in test["variants"]] == ["control", "variant-a"]
    return list(statements.statements)


async def test_q2_costs_three_statements_for_5_and_for_50_campaigns(
    api: Api, conn: asyncpg.Connection, statements: StatementCounter
) -> None:
    await arrange(conn, 50)

    five = await q2_statements(api, statements, 5)
    fifty = await q2_statements(api, statements, 50)

    assert len(five) == len(fifty), fifty
    # The viewer (with their session) and the page-size setting, then ONE read: PostgreSQL
    # writes the page with each campaign's merchant, creator, days and tests with variants.
    assert len(fifty) == 3, fifty
    viewer, setting, page = fifty
    assert "FROM sessions" in viewer and "FROM settings" in setting
    for table in (
        "FROM campaigns",
        "FROM merchants",
        "FROM users",
        "campaign_analytics_daily",
        "FROM ab_tests",
        "FROM ab_test_variants",
    ):
        assert table in page, (table, page)
