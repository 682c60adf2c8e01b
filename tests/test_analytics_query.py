"""Campaign daily analytics and summaries, and the platform affinity summary."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import asyncpg
import pytest

from tests import factories as f
from tests import member_factories as mf
from tests.conftest import Api

ANALYTICS = """
query ($id: ID!, $from: Date, $to: Date) {
  campaign(id: $id) {
    dailyAnalytics(from: $from, to: $to) {
      day impressions clicks conversions spend { amount } revenue { amount }
    }
    analyticsSummary(from: $from, to: $to) {
      from to days impressions clicks conversions spend { amount currency } revenue { amount }
      ctr conversionRate roas
    }
  }
}
"""


def money(cents: int) -> str:
    return str(Decimal(cents).scaleb(-2))


async def test_daily_analytics_and_summary_over_a_period(
    api: Api, conn: asyncpg.Connection
) -> None:
    c = await f.campaign(conn, await f.merchant(conn), status="ACTIVE")
    other = await f.campaign(conn, await f.merchant(conn, "Other"), status="ACTIVE")
    start = date(2026, 2, 1)
    days = []
    for n in range(20):
        row = (start + timedelta(days=n), 1000 + n, 50 + n, 5 + n % 3, 700 + n, 2000 + 10 * n)
        days.append(row)
        await mf.analytics_day(
            conn,
            c,
            row[0],
            impressions=row[1],
            clicks=row[2],
            conversions=row[3],
            spend_cents=row[4],
            revenue_cents=row[5],
        )
        await mf.analytics_day(conn, other, row[0], impressions=1)
    day_from, day_to = date(2026, 2, 5), date(2026, 2, 14)
    window = [d for d in days if day_from <= d[0] <= day_to]

    data = (
        await api.data(
            ANALYTICS, {"id": f.gid("Campaign", c), "from": str(day_from), "to": str(day_to)}
        )
    )["campaign"]

    assert data["dailyAnalytics"] == [
        {
            "day": str(d[0]),
            "impressions": d[1],
            "clicks": d[2],
            "conversions": d[3],
            "spend": {"amount": money(d[4])},
            "revenue": {"amount": money(d[5])},
        }
        for d in window
    ]
    impressions, clicks, conversions, spend, revenue = (
        sum(d[i] for d in window) for i in range(1, 6)
    )
    summary = data["analyticsSummary"]
    assert summary["from"] == str(day_from) and summary["to"] == str(day_to)
    assert summary["days"] == len(window) == 10
    assert (summary["impressions"], summary["clicks"], summary["conversions"]) == (
        impressions,
        clicks,
        conversions,
    )
    assert summary["spend"] == {"amount": money(spend), "currency": "USD"}
    assert summary["revenue"] == {"amount": money(revenue)}
    assert summary["ctr"] == pytest.approx(clicks / impressions)
    assert summary["conversionRate"] == pytest.approx(conversions / clicks)
    assert summary["roas"] == pytest.approx(revenue / spend)


async def test_analytics_default_to_the_last_30_days(api: Api, conn: asyncpg.Connection) -> None:
    c = await f.campaign(conn, await f.merchant(conn), status="ACTIVE")
    today = datetime.now(UTC).date()
    for n in range(40):
        await mf.analytics_day(conn, c, today - timedelta(days=n), impressions=n + 1)

    data = (await api.data(ANALYTICS, {"id": f.gid("Campaign", c)}))["campaign"]

    expected_days = [str(today - timedelta(days=n)) for n in reversed(range(30))]
    assert [d["day"] for d in data["dailyAnalytics"]] == expected_days
    assert data["analyticsSummary"]["impressions"] == sum(range(1, 31))


async def test_ratios_are_null_not_errors_when_denominators_are_zero(
    api: Api, conn: asyncpg.Connection
) -> None:
    c = await f.campaign(conn, await f.merchant(conn), status="ACTIVE")

    data = await api.data(
        ANALYTICS, {"id": f.gid("Campaign", c), "from": "2026-01-01", "to": "2026-01-31"}
    )

    summary = data["campaign"]["analyticsSummary"]
    assert data["campaign"]["dailyAnalytics"] == []
    assert (summary["days"], summary["impressions"], summary["spend"]["amount"]) == (0, 0, "0.00")
    assert (summary["ctr"], summary["conversionRate"], summary["roas"]) == (None, None, None)


async def test_analytics_refuse_dates_in_wrong_order_and_too_long_periods(
    api: Api, conn: asyncpg.Connection
) -> None:
    c = await f.campaign(conn, await f.merchant(conn))
    cases = [
        ({"from": "2026-02-10", "to": "2026-02-01"}, "to"),
        ({"from": "2024-01-01", "to": "2026-01-01"}, "from"),
    ]
    for variables, argument in cases:
        body = await api.gql(ANALYTICS, {"id": f.gid("Campaign", c), **variables})
        assert body["errors"], variables
        assert {e["extensions"]["argument"] for e in body["errors"]} == {argument}
        assert {e["extensions"]["code"] for e in body["errors"]} == {"BAD_USER_INPUT"}


AFFINITY_SUMMARY = """
query ($top: Int) {
  affinitySummary(topMerchants: $top) {
    users merchants meanScore topMerchants { meanScore users merchant { id } }
  }
}
"""


async def test_affinity_summary_counts_means_and_top_merchants(
    api: Api, conn: asyncpg.Connection
) -> None:
    users = [await f.user(conn, f"u{i}@example.com") for i in range(3)]
    ms = [await f.merchant(conn, f"M{i}") for i in range(4)]
    scores = {
        (users[0], ms[0]): 1.0,
        (users[0], ms[1]): 0.4,
        (users[1], ms[0]): 0.6,
        (users[1], ms[2]): 0.9,
        (users[2], ms[1]): 0.2,
    }
    for (u, m), s in scores.items():
        await mf.affinity(conn, u, m, score=s)
    per_merchant: dict[int, list[float]] = {}
    for (_, m), s in scores.items():
        per_merchant.setdefault(m, []).append(s)
    means = sorted(
        ((sum(v) / len(v), m, len(v)) for m, v in per_merchant.items()), key=lambda x: (-x[0], x[1])
    )

    data = (await api.data(AFFINITY_SUMMARY, {"top": 2}))["affinitySummary"]

    assert (data["users"], data["merchants"]) == (3, 3)
    assert data["meanScore"] == pytest.approx(sum(scores.values()) / len(scores))
    assert [
        (pytest.approx(t["meanScore"]), t["merchant"]["id"], t["users"])
        for t in data["topMerchants"]
    ] == [(mean, f.gid("Merchant", m), n) for mean, m, n in means[:2]]
    body = await api.gql(AFFINITY_SUMMARY, {"top": 1000})
    assert body["errors"][0]["extensions"] == {
        "code": "BAD_USER_INPUT",
        "argument": "topMerchants",
    }


async def test_affinity_summary_of_nothing_is_zeros_and_null(api: Api) -> None:
    data = (await api.data(AFFINITY_SUMMARY))["affinitySummary"]
    assert data == {"users": 0, "merchants": 0, "meanScore": None, "topMerchants": []}
