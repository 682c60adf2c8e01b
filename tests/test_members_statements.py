"""No N+1: the statement count of a query depends on its shape, not on how many rows it has."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest

from schema import limits
from tests import factories as f
from tests import member_factories as mf
from tests.conftest import Api, StatementCounter

CAMPAIGNS = """
query ($first: Int!) {
  campaigns(first: $first) {
    edges { node {
      id
      merchant { id name }
      createdBy {
        id accounts { id } rewardsSummary { earned { amount } }
        merchantAffinities(first: 3) { score merchant { id } }
        spending(from: "2026-01-01", to: "2026-12-31", groupBy: CATEGORY) { key }
        transactions(first: 2) { totalCount edges { node { id merchant { id } account { id } } } }
        rewards(first: 2, filter: {status: [EARNED]}) { totalCount edges { node { id } } }
      }
      dailyAnalytics(from: "2026-02-01", to: "2026-02-28") { day clicks }
      analyticsSummary(from: "2026-02-01", to: "2026-02-28") { ctr roas }
      lastWeek: dailyAnalytics(from: "2026-02-20", to: "2026-02-26") { day }
      abTests { id name variants { name conversionRate } result { pValue winner { name } } }
    } }
  }
}
"""

TRANSACTIONS = """
query ($id: ID!, $first: Int!) {
  user(id: $id) {
    transactions(first: $first) {
      edges { node { id amount { amount } merchant { id name } account { id lastFour } } }
    }
  }
}
"""

T0 = datetime(2026, 2, 10, tzinfo=UTC)


async def _campaigns(conn: asyncpg.Connection, n: int, offset: int) -> None:
    for i in range(offset, offset + n):
        m = await f.merchant(conn, f"M{i}")
        u = await f.user(conn, f"mgr{i}@example.com", role="MANAGER")
        a = await mf.account(conn, u)
        t = await mf.transaction(conn, a, u, m, amount_cents=100 + i, occurred_at=T0)
        await mf.affinity(conn, u, m, score=0.5)
        c = await f.campaign(conn, m, name=f"C{i}", status="ACTIVE", created_by=u)
        await mf.reward(conn, u, c, t, amount_cents=5, status="EARNED", earned_at=T0)
        for d in range(3):
            await mf.analytics_day(
                conn, c, date(2026, 2, 20 + d), impressions=100, clicks=10, spend_cents=50
            )
        test = await mf.ab_test(conn, c)
        await mf.variant(conn, test, "control", impressions=100, conversions=5, is_control=True)
        await mf.variant(conn, test, "b", impressions=100, conversions=9)


async def _count(api: Api, statements: StatementCounter, query: str, variables: dict) -> int:
    statements.reset()
    await api.data(query, variables)
    return statements.count


async def test_campaign_graph_costs_the_same_for_5_and_50_campaigns(
    api: Api,
    conn: asyncpg.Connection,
    statements: StatementCounter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The graph reads every list under 50 campaigns: its worst case (the caps of accounts,
    # spending, A/B tests...) is over the default cost limit, which this test is not about.
    monkeypatch.setattr(limits, "LIMITS", replace(limits.LIMITS, max_cost=100_000))
    await _campaigns(conn, 5, 0)
    small = await _count(api, statements, CAMPAIGNS, {"first": 5})
    await _campaigns(conn, 45, 5)
    statements.reset()
    data = await api.data(CAMPAIGNS, {"first": 50})
    large = statements.count

    edges = data["campaigns"]["edges"]
    assert len(edges) == 50
    assert all(len(e["node"]["dailyAnalytics"]) == 3 for e in edges)
    assert all(len(e["node"]["lastWeek"]) == 3 for e in edges)
    assert all(len(e["node"]["abTests"][0]["variants"]) == 2 for e in edges)
    assert all(len(e["node"]["createdBy"]["accounts"]) == 1 for e in edges)
    assert all(e["node"]["createdBy"]["transactions"]["totalCount"] == 1 for e in edges)
    assert all(len(e["node"]["createdBy"]["rewards"]["edges"]) == 1 for e in edges)
    assert small == large, statements.statements
    # viewer, setting, page, merchants, users, accounts by user, rewards summary, affinities,
    # spending, daily analytics (both periods in one statement), summaries, A/B tests with
    # their variants (one statement), the creators' transaction and reward pages and their
    # counts, and accounts by id.
    assert large == 17, statements.statements


async def test_transaction_page_costs_the_same_for_5_and_50_rows(
    api: Api, conn: asyncpg.Connection, statements: StatementCounter
) -> None:
    u = await f.user(conn)
    accounts = [await mf.account(conn, u, last_four=f"{i:04d}") for i in range(3)]
    merchants = [await f.merchant(conn, f"M{i}") for i in range(50)]
    for i in range(50):
        await mf.transaction(
            conn,
            accounts[i % 3],
            u,
            merchants[i],
            amount_cents=100,
            occurred_at=T0 - timedelta(hours=i),
        )
    variables = {"id": f.gid("User", u)}

    small = await _count(api, statements, TRANSACTIONS, {**variables, "first": 5})
    statements.reset()
    data = await api.data(TRANSACTIONS, {**variables, "first": 50})
    large = statements.count

    edges = data["user"]["transactions"]["edges"]
    assert len(edges) == 50
    assert {e["node"]["merchant"]["id"] for e in edges} == {f.gid("Merchant", m) for m in merchants}
    assert small == large, statements.statements
    # viewer, user, setting (page cap), page, merchants, accounts.
    assert large == 6, statements.statements


TRANSACTIONS_WITH_REWARDS = """
query ($id: ID!, $first: Int!) {
  user(id: $id) {
    transactions(first: $first) {
      nodes { id account { id } reward { id amount { amount } campaign { id } } }
    }
  }
}
"""


async def test_each_transaction_s_reward_costs_one_statement_for_the_page(
    api: Api, conn: asyncpg.Connection, statements: StatementCounter
) -> None:
    u = await f.user(conn)
    account = await mf.account(conn, u)
    shop = await f.merchant(conn, "Shop")
    campaign = await f.campaign(conn, shop, status="ACTIVE")
    for i in range(50):
        t = await mf.transaction(
            conn, account, u, shop, amount_cents=100, occurred_at=T0 - timedelta(hours=i)
        )
        if i % 2 == 0:  # every other purchase earned a reward
            await mf.reward(conn, u, campaign, t, amount_cents=5, status="EARNED", earned_at=T0)
    variables = {"id": f.gid("User", u)}

    small = await _count(api, statements, TRANSACTIONS_WITH_REWARDS, {**variables, "first": 5})
    statements.reset()
    data = await api.data(TRANSACTIONS_WITH_REWARDS, {**variables, "first": 50})
    large = statements.count

    nodes = data["user"]["transactions"]["nodes"]
    assert [n["reward"] is not None for n in nodes] == [i % 2 == 0 for i in range(50)]
    assert all(n["reward"]["campaign"]["id"] == f.gid("Campaign", campaign) for n in nodes[::2])
    assert small == large, statements.statements
    # viewer, user, setting (page cap), page, accounts, rewards by transaction, campaigns.
    assert large == 7, statements.statements


ACCOUNT_TRANSACTIONS = """
query ($id: ID!) {
  user(id: $id) {
    accounts {
      id
      transactions(first: 3) {
        totalCount
        pageInfo { hasNextPage endCursor }
        nodes { id account { id } }
      }
    }
  }
}
"""


async def test_each_account_s_transactions_cost_the_same_for_2_and_20_accounts(
    api: Api, conn: asyncpg.Connection, statements: StatementCounter
) -> None:
    u = await f.user(conn)
    shop = await f.merchant(conn, "Shop")

    async def accounts(n: int, offset: int) -> None:
        for i in range(offset, offset + n):
            account = await mf.account(conn, u, last_four=f"{i:04d}")
            for h in range(i % 5):  # 0 to 4 purchases each
                await mf.transaction(
                    conn, account, u, shop, amount_cents=100, occurred_at=T0 - timedelta(hours=h)
                )

    variables = {"id": f.gid("User", u)}
    await accounts(2, 0)
    small = await _count(api, statements, ACCOUNT_TRANSACTIONS, variables)
    await accounts(18, 2)
    statements.reset()
    data = await api.data(ACCOUNT_TRANSACTIONS, variables)
    large = statements.count

    found = data["user"]["accounts"]
    assert len(found) == 20
    for i, account in enumerate(found):
        page = account["transactions"]
        assert page["totalCount"] == i % 5
        assert len(page["nodes"]) == min(i % 5, 3)
        assert page["pageInfo"]["hasNextPage"] == (i % 5 > 3)
        assert all(n["account"]["id"] == account["id"] for n in page["nodes"])
    assert small == large, statements.statements
    # viewer, user, accounts by user, setting (page cap), transaction pages, their counts,
    # accounts by id (each node's `account`, read by id).
    assert large == 7, "\n".join(s.split("\n")[0][:80] for s in statements.statements)


MERCHANT_CAMPAIGNS = """
query ($first: Int!) {
  merchants(first: $first) {
    nodes {
      id
      campaigns(first: 2) { totalCount pageInfo { hasNextPage } nodes { id name status } }
    }
  }
}
"""


async def test_each_merchant_s_campaigns_cost_the_same_for_2_and_20_merchants(
    api: Api, conn: asyncpg.Connection, statements: StatementCounter
) -> None:
    member = await f.user(conn, "mia@example.com", role="MEMBER")

    async def merchants(n: int, offset: int) -> None:
        for i in range(offset, offset + n):
            m = await f.merchant(conn, f"M{i:02d}")
            for status in ("DRAFT", "ACTIVE", "PAUSED", "ACTIVE"):
                await f.campaign(conn, m, name=f"M{i:02d} {status}", status=status)

    await merchants(2, 0)
    small = await _count(api, statements, MERCHANT_CAMPAIGNS, {"first": 20})
    await merchants(18, 2)
    statements.reset()
    data = await api.data(MERCHANT_CAMPAIGNS, {"first": 20})
    large = statements.count
    assert small == large, statements.statements
    found = data["merchants"]["nodes"]
    assert len(found) == 20
    for merchant in found:  # an admin: all 4, the 2 newest first
        page = merchant["campaigns"]
        assert page["totalCount"] == 4 and page["pageInfo"]["hasNextPage"]
        assert [n["status"] for n in page["nodes"]] == ["ACTIVE", "PAUSED"]

    as_member = await api.as_user(member).data(MERCHANT_CAMPAIGNS, {"first": 20})
    for merchant in as_member["merchants"]["nodes"]:  # a member: the ACTIVE ones only
        page = merchant["campaigns"]
        assert page["totalCount"] == 2 and not page["pageInfo"]["hasNextPage"]
        assert [n["status"] for n in page["nodes"]] == ["ACTIVE", "ACTIVE"]


CAMPAIGN_REWARDS = """
query ($first: Int!) {
  campaigns(first: $first) {
    nodes { id rewards(first: 2) { totalCount nodes { id amount { amount } status } } }
  }
}
"""


async def test_each_campaign_s_rewards_cost_the_same_for_2_and_20_campaigns(
    api: Api, conn: asyncpg.Connection, statements: StatementCounter
) -> None:
    member = await f.user(conn, "mia@example.com", role="MEMBER")
    account = await mf.account(conn, member)
    shop = await f.merchant(conn, "Shop")

    async def campaigns(n: int, offset: int) -> None:
        for i in range(offset, offset + n):
            c = await f.campaign(conn, shop, name=f"C{i:02d}", status="ACTIVE")
            for h in range(i % 4):  # 0 to 3 rewards each
                t = await mf.transaction(
                    conn, account, member, shop, amount_cents=100, occurred_at=T0
                )
                await mf.reward(
                    conn, member, c, t, amount_cents=5, status="EARNED",
                    earned_at=T0 - timedelta(hours=h),
                )  # fmt: skip

    await campaigns(2, 0)
    small = await _count(api, statements, CAMPAIGN_REWARDS, {"first": 20})
    await campaigns(18, 2)
    statements.reset()
    data = await api.data(CAMPAIGN_REWARDS, {"first": 20})
    large = statements.count
    assert small == large, statements.statements
    found = data["campaigns"]["nodes"]  # newest first: C19 .. C00
    assert [n["rewards"]["totalCount"] for n in found] == [i % 4 for i in range(19, -1, -1)]
    assert all(len(n["rewards"]["nodes"]) == min(n["rewards"]["totalCount"], 2) for n in found)
