"""A/B tests: lookup, listing with filters and totalCount, variants, the z-test result."""

from __future__ import annotations

import asyncpg
import pytest

from tests import factories as f
from tests import member_factories as mf
from tests.conftest import Api

AB_TEST = """
query ($id: ID!) {
  abTest(id: $id) {
    id name status campaign { id }
    variants { name isControl trafficShare impressions conversions conversionRate }
    result {
      lift pValue control { name } bestVariant { name } winner { name }
    }
  }
}
"""

AB_TESTS = """
query ($first: Int, $after: String, $filter: AbTestFilter) {
  abTests(first: $first, after: $after, filter: $filter) {
    totalCount edges { node { id name } } pageInfo { hasNextPage endCursor }
  }
}
"""


async def _test_with(
    conn: asyncpg.Connection, control: tuple[int, int], *others: tuple[int, int]
) -> int:
    c = await f.campaign(conn, await f.merchant(conn), status="ACTIVE")
    t = await mf.ab_test(conn, c)
    await mf.variant(
        conn, t, "control", impressions=control[0], conversions=control[1], is_control=True
    )
    for n, (impressions, conversions) in enumerate(others):
        await mf.variant(conn, t, f"v{n}", impressions=impressions, conversions=conversions)
    return t


async def test_significant_lift_names_the_winner(api: Api, conn: asyncpg.Connection) -> None:
    # 100/1000 against 130/1000: R's prop.test(c(130, 100), c(1000, 1000), correct = FALSE)
    # gives X-squared = 4.4214, p-value = 0.03549; the lift is 30 %.
    t = await _test_with(conn, (1000, 100), (1000, 130), (1000, 110))

    data = (await api.data(AB_TEST, {"id": f.gid("AbTest", t)}))["abTest"]

    assert data["variants"][0] == {
        "name": "control",
        "isControl": True,
        "trafficShare": 0.5,
        "impressions": 1000,
        "conversions": 100,
        "conversionRate": 0.1,
    }
    result = data["result"]
    assert result["control"] == {"name": "control"}
    assert result["bestVariant"] == {"name": "v0"}
    assert result["lift"] == pytest.approx(0.30)
    assert result["pValue"] == pytest.approx(0.03549, abs=5e-5)
    assert result["winner"] == {"name": "v0"}


async def test_insignificant_difference_has_no_winner(api: Api, conn: asyncpg.Connection) -> None:
    # 100/1000 against 110/1000: pooled rate 0.105, z = 0.01 / 0.013710 = 0.7294, and from the
    # normal table 2 * (1 - 0.76711) = 0.4658 (R's prop.test without correction: 0.4657).
    t = await _test_with(conn, (1000, 100), (1000, 110))
    result = (await api.data(AB_TEST, {"id": f.gid("AbTest", t)}))["abTest"]["result"]
    assert result["pValue"] == pytest.approx(0.4657, abs=3e-4)
    assert result["lift"] == pytest.approx(0.10)
    assert result["winner"] is None


async def test_test_without_traffic_has_null_statistics(api: Api, conn: asyncpg.Connection) -> None:
    t = await _test_with(conn, (0, 0), (0, 0))
    data = (await api.data(AB_TEST, {"id": f.gid("AbTest", t)}))["abTest"]
    assert data["variants"][1]["conversionRate"] is None
    assert data["result"] == {
        "lift": None,
        "pValue": None,
        "control": {"name": "control"},
        "bestVariant": None,
        "winner": None,
    }


async def test_ab_tests_list_filters_counts_and_pages(api: Api, conn: asyncpg.Connection) -> None:
    m = await f.merchant(conn)
    c1, c2 = await f.campaign(conn, m, name="A"), await f.campaign(conn, m, name="B")
    made = []
    for n, (c, status) in enumerate(
        [(c1, "RUNNING"), (c1, "STOPPED"), (c2, "RUNNING"), (c2, "DRAFT"), (c1, "RUNNING")]
    ):
        made.append((await mf.ab_test(conn, c, name=f"T{n}", status=status), c, status))
    newest_first = list(reversed(made))

    async def ids(flt: dict[str, object] | None, first: int = 2) -> tuple[int, list[str]]:
        got: list[str] = []
        after, total = None, -1
        while True:
            page = (await api.data(AB_TESTS, {"first": first, "after": after, "filter": flt}))[
                "abTests"
            ]
            total = page["totalCount"]
            got += [e["node"]["id"] for e in page["edges"]]
            if not page["pageInfo"]["hasNextPage"]:
                return total, got
            after = page["pageInfo"]["endCursor"]

    def expect(keep: object) -> tuple[int, list[str]]:
        rows = [f.gid("AbTest", t) for t, c, s in newest_first if keep(c, s)]  # type: ignore[operator]
        return len(rows), rows

    assert await ids(None) == expect(lambda c, s: True)
    assert await ids({"status": ["RUNNING"]}) == expect(lambda c, s: s == "RUNNING")
    assert await ids({"campaignId": f.gid("Campaign", c1), "status": ["RUNNING", "STOPPED"]}) == (
        expect(lambda c, s: c == c1)
    )
    body = await api.gql(AB_TESTS, {"filter": {"campaignId": f.gid("Merchant", m)}})
    assert body["errors"][0]["extensions"] == {
        "code": "BAD_USER_INPUT",
        "argument": "filter.campaignId",
    }


async def test_campaign_lists_its_ab_tests(api: Api, conn: asyncpg.Connection) -> None:
    t = await _test_with(conn, (10, 1), (10, 2))
    c = await conn.fetchval("SELECT campaign_id FROM ab_tests WHERE id = $1", t)
    data = await api.data(
        "query ($id: ID!) { campaign(id: $id) { abTests { id variants { name } } } }",
        {"id": f.gid("Campaign", c)},
    )
    assert data["campaign"]["abTests"] == [
        {"id": f.gid("AbTest", t), "variants": [{"name": "control"}, {"name": "v0"}]}
    ]
    node = await api.data("query ($id: ID!) { node(id: $id) { id } }", {"id": f.gid("AbTest", t)})
    assert node["node"] == {"id": f.gid("AbTest", t)}
