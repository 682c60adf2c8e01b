"""Reading campaigns: by id, by node, as a paginated, filtered connection."""

from __future__ import annotations

import asyncpg

from tests import factories as f
from tests.conftest import Api

CAMPAIGN = """
query ($id: ID!) {
  campaign(id: $id) {
    id name status version rewardType rewardValue
    budget { amount currency } spent { amount currency }
    merchant { id name } createdBy { id name role }
  }
}
"""

PAGE = """
query ($first: Int, $after: String, $last: Int, $before: String, $filter: CampaignFilter) {
  campaigns(first: $first, after: $after, last: $last, before: $before, filter: $filter) {
    totalCount
    edges { cursor node { id name } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""


async def test_campaign_by_id_returns_all_fields(api: Api, conn: asyncpg.Connection) -> None:
    m = await f.merchant(conn, "Green Grocer")
    u = await f.user(conn, "mgr@example.com", name="Max", role="MANAGER")
    c = await f.campaign(
        conn, m, name="Spring", created_by=u, budget_cents=12345, spent_cents=45, reward_value=250
    )

    data = await api.data(CAMPAIGN, {"id": f.gid("Campaign", c)})

    assert data["campaign"] == {
        "id": f.gid("Campaign", c),
        "name": "Spring",
        "status": "DRAFT",
        "version": 1,
        "rewardType": "CASHBACK_PERCENT",
        "rewardValue": "2.50",
        "budget": {"amount": "123.45", "currency": "USD"},
        "spent": {"amount": "0.45", "currency": "USD"},
        "merchant": {"id": f.gid("Merchant", m), "name": "Green Grocer"},
        "createdBy": {"id": f.gid("User", u), "name": "Max", "role": "MANAGER"},
    }


async def test_campaign_unknown_id_is_null(api: Api) -> None:
    data = await api.data(CAMPAIGN, {"id": f.gid("Campaign", 999)})
    assert data["campaign"] is None


async def test_campaign_malformed_or_foreign_id_names_the_argument(
    api: Api, conn: asyncpg.Connection
) -> None:
    m = await f.merchant(conn)
    for bad in ("not-an-id", f.gid("Merchant", m), "Q2FtcGFpZ246eA=="):
        body = await api.gql(CAMPAIGN, {"id": bad})
        [error] = body["errors"]
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "id"}
        assert body["data"] == {"campaign": None}


async def test_node_and_nodes_resolve_each_type_in_order(
    api: Api, conn: asyncpg.Connection
) -> None:
    m = await f.merchant(conn, "M1")
    u = await f.user(conn, "u@example.com", name="U1")
    c = await f.campaign(conn, m, name="C1")
    query = """
    query ($id: ID!, $ids: [ID!]!) {
      node(id: $id) { id ... on Campaign { name } }
      nodes(ids: $ids) { id ... on Merchant { name } ... on User { name } ... on Campaign { name } }
    }
    """
    ids = [f.gid("User", u), f.gid("Campaign", 424242), f.gid("Merchant", m)]
    data = await api.data(query, {"id": f.gid("Campaign", c), "ids": ids})
    assert data["node"] == {"id": f.gid("Campaign", c), "name": "C1"}
    assert data["nodes"] == [
        {"id": f.gid("User", u), "name": "U1"},
        None,
        {"id": f.gid("Merchant", m), "name": "M1"},
    ]


async def test_node_with_unknown_type_is_bad_user_input(api: Api) -> None:
    body = await api.gql("query ($id: ID!) { node(id: $id) { id } }", {"id": f.gid("Ship", 1)})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_campaigns_page_forward_then_backward_covers_every_row_once(
    api: Api, conn: asyncpg.Connection
) -> None:
    m = await f.merchant(conn)
    ids = [await f.campaign(conn, m, name=f"C{i}") for i in range(7)]
    newest_first = [f.gid("Campaign", i) for i in reversed(ids)]

    seen: list[str] = []
    after = None
    while True:
        data = (await api.data(PAGE, {"first": 3, "after": after}))["campaigns"]
        assert data["totalCount"] == 7
        seen += [e["node"]["id"] for e in data["edges"]]
        if not data["pageInfo"]["hasNextPage"]:
            break
        after = data["pageInfo"]["endCursor"]
    assert seen == newest_first

    back: list[str] = []
    before = None
    while True:
        data = (await api.data(PAGE, {"last": 3, "before": before}))["campaigns"]
        back = [e["node"]["id"] for e in data["edges"]] + back
        if not data["pageInfo"]["hasPreviousPage"]:
            break
        before = data["pageInfo"]["startCursor"]
    assert back == newest_first


async def test_campaigns_filter_by_status_merchant_and_search(
    api: Api, conn: asyncpg.Connection
) -> None:
    m1, m2 = await f.merchant(conn, "A"), await f.merchant(conn, "B")
    await f.campaign(conn, m1, name="Summer cashback", status="ACTIVE")
    await f.campaign(conn, m1, name="Winter cashback", status="PAUSED")
    await f.campaign(conn, m2, name="Summer points", status="ACTIVE")
    await f.campaign(conn, m2, name="100% sale", status="DRAFT")

    async def names(flt: dict[str, object]) -> list[str]:
        data = (await api.data(PAGE, {"filter": flt}))["campaigns"]
        assert data["totalCount"] == len(data["edges"])
        return sorted(e["node"]["name"] for e in data["edges"])

    assert await names({"status": ["ACTIVE"]}) == ["Summer cashback", "Summer points"]
    assert await names({"merchantId": f.gid("Merchant", m1)}) == [
        "Summer cashback",
        "Winter cashback",
    ]
    assert await names({"search": "summer", "status": ["ACTIVE", "PAUSED"]}) == [
        "Summer cashback",
        "Summer points",
    ]
    # LIKE wildcards in the search are literal characters.
    assert await names({"search": "%"}) == ["100% sale"]


async def test_page_size_over_cap_negative_and_bad_cursor_are_refused(
    api: Api, conn: asyncpg.Connection
) -> None:
    m = await f.merchant(conn)
    await f.campaign(conn, m)
    merchant_cursor = (await api.data("{ merchants(first: 1) { edges { cursor } } }"))["merchants"][
        "edges"
    ][0]["cursor"]
    cases = [
        ({"first": 101}, "first"),
        ({"first": -1}, "first"),
        ({"last": 500}, "last"),
        ({"first": 1, "after": "garbage!"}, "after"),
        ({"first": 1, "after": merchant_cursor}, "after"),
        ({"first": 1, "last": 1}, "last"),
    ]
    for variables, argument in cases:
        body = await api.gql(PAGE, variables)
        [error] = body["errors"]
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": argument}, variables
        assert argument in error["message"]


async def test_page_size_cap_follows_the_setting(api: Api, conn: asyncpg.Connection) -> None:
    await conn.execute("INSERT INTO settings (key, value) VALUES ('max_page_size', '5')")
    body = await api.gql(PAGE, {"first": 6})
    assert "at most 5" in body["errors"][0]["message"]
    assert "errors" not in await api.gql(PAGE, {"first": 5})


async def test_merchants_connection_sorted_by_name(api: Api, conn: asyncpg.Connection) -> None:
    for name in ("Zeta", "alpha", "Beta"):
        await f.merchant(conn, name)
    query = """
    query ($after: String) { merchants(first: 2, after: $after, filter: {search: "a"}) {
      totalCount edges { node { name } } pageInfo { hasNextPage endCursor } } }
    """
    first = (await api.data(query))["merchants"]
    second = (await api.data(query, {"after": first["pageInfo"]["endCursor"]}))["merchants"]
    names = [e["node"]["name"] for e in first["edges"] + second["edges"]]
    assert names == sorted(["Zeta", "alpha", "Beta"])  # byte order of the C collation
    assert first["totalCount"] == 3
    assert first["pageInfo"]["hasNextPage"] and not second["pageInfo"]["hasNextPage"]
