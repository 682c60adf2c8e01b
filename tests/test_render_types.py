"""Campaigns, merchants, users, A/B tests and analytics days written by PostgreSQL (with their
joined rows and lists: schema/render.py) are byte for byte what the stock executor writes,
for values chosen to catch formatting differences; and they really are written by
PostgreSQL (one statement for the page, nothing per row)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import asyncpg
import pytest

from tests import factories as f
from tests import member_factories as mf
from tests.conftest import Api, StatementCounter
from tests.test_executor import same_answer
from tests.test_render import DESCRIPTIONS, _twice

CAMPAIGNS = """
fragment C on Campaign {
  __typename id name description status rewardType rewardValue
  budget { amount currency } spent { amount currency }
  startsAt endsAt version launchedAt pausedAt completedAt createdAt updatedAt
  merchant { id name category createdAt updatedAt }
  createdBy { id name role status createdAt }
  dailyAnalytics(from: "2026-03-01", to: "2026-03-07") { day impressions clicks conversions }
  abTests { id name status startedAt endedAt createdAt
            variants { name isControl impressions conversions } }
}
query ($first: Int!) {
  campaigns(first: $first) { edges { node { ...C } } nodes { id } pageInfo { hasNextPage } }
}
"""

OTHER_PAGES = """
{
  merchants(first: 50) { nodes { id name category createdAt updatedAt } }
  abTests(first: 50) { edges { node { id name status variants { name isControl } } } }
  admin { users(first: 50) { nodes { id name role status createdAt } } }
}
"""


async def _odd_world(conn: asyncpg.Connection) -> None:
    for n, text in enumerate(DESCRIPTIONS):
        merchant = await f.merchant(conn, f"M{n} {text}"[:200] or "M", category=text or "c")
        creator = (
            None
            if n % 2
            else await f.user(conn, f"odd{n}@example.com", name=f"U {text}", role="MANAGER")
        )
        campaign = await f.campaign(
            conn,
            merchant,
            name=f"C{n} {text}",
            status=("DRAFT", "ACTIVE", "PAUSED", "COMPLETED")[n % 4],
            created_by=creator,
            budget_cents=(0, 1, 99, 100, 9_007_199_254_740_993)[n % 5],
            spent_cents=n,
            starts_at=None if n % 2 else datetime(2026, 3, 1, 12, 0, 0, 1, tzinfo=UTC),
            ends_at=None if n % 3 else datetime(2027, 1, 1, tzinfo=UTC),
            reward_type="FIXED_AMOUNT" if n % 2 else "CASHBACK_PERCENT",
            reward_value=(1, 50, 10000, 0, 333)[n % 5],
        )
        await conn.execute("UPDATE campaigns SET description = $2 WHERE id = $1", campaign, text)
        for day in range(1, 9, 2):
            await mf.analytics_day(conn, campaign, date(2026, 3, day), impressions=day * n)
        if n % 2 == 0:
            test = await mf.ab_test(conn, campaign, name=f"T {text}")
            await mf.variant(conn, test, f"b {text}", impressions=n, conversions=0)
            await mf.variant(conn, test, "control", impressions=1, conversions=1, is_control=True)


@pytest.mark.parametrize("first", [50, 2, 0])
async def test_campaign_pages_with_joins_and_lists_are_byte_for_byte_the_stock_answer(
    api: Api, conn: asyncpg.Connection, statements: StatementCounter, first: int
) -> None:
    await _odd_world(conn)
    ours, ours_sql, stock, stock_sql = await _twice(api, statements, CAMPAIGNS, first=first)
    assert '"errors"' not in ours, ours
    assert ours == stock
    if first:
        assert '"variants":[{"name":"control"' in ours
    [page] = [s for s in ours_sql if "FROM campaigns" in s]
    assert "FROM merchants" in page and "ab_test_variants" in page  # written with the page
    assert len(ours_sql) == 3  # viewer, page-size setting, page
    assert len(stock_sql) > 3 or not first  # the stock executor loads each list's rows


async def test_other_pages_are_byte_for_byte_the_stock_answer(
    api: Api, conn: asyncpg.Connection, statements: StatementCounter
) -> None:
    await _odd_world(conn)
    ours, ours_sql, stock, _ = await _twice(api, statements, OTHER_PAGES)
    assert '"errors"' not in ours, ours
    assert ours == stock
    assert sum("n_read" in s for s in ours_sql) == 3  # each page's lists written whole


async def test_a_member_gets_campaigns_completed_by_the_executor_not_written_with_staff_fields(
    api: Api, conn: asyncpg.Connection, statements: StatementCounter
) -> None:
    """A member may not read `abTests` (STAFF) nor see every User: PostgreSQL writes nothing
    a rule would check per object, and the answer is the stock one, errors included."""
    await _odd_world(conn)
    member = api.as_user(await f.user(conn, "m@example.com", role="MEMBER"))
    ours, ours_sql, stock, _ = await _twice(member, statements, CAMPAIGNS, first=50)
    assert ours == stock
    assert '"FORBIDDEN"' in ours
    assert not any("n_read" in s or "AS rendered" in s for s in ours_sql)


REWARDS = """
query ($first: Int!) {
  me { rewards(first: $first) {
    edges { node { id status amount { amount }
      campaign { id name status merchant { id name } }
      transaction { id description merchant { name } } } }
    nodes { id campaign { name } }
  } }
}
"""


@pytest.mark.parametrize("first", [50, 3])
async def test_a_members_rewards_with_campaigns_they_may_not_see_are_the_stock_answer(
    api: Api, conn: asyncpg.Connection, statements: StatementCounter, first: int
) -> None:
    """PostgreSQL writes the rewards with their campaigns, checking the campaign rule in
    SQL: a campaign the member may not see (not ACTIVE) is null plus FORBIDDEN at its path,
    exactly as the stock executor answers (the order of errors aside: GraphQL gives it no
    meaning, and the stock executor's follows which loader finished first)."""
    await _odd_world(conn)
    member = await f.user(conn, "rewarded@example.com", role="MEMBER")
    account = await mf.account(conn, member)
    campaigns = [r["id"] for r in await conn.fetch("SELECT id FROM campaigns ORDER BY id")]
    for n, campaign in enumerate(campaigns * 2):
        merchant = await conn.fetchval("SELECT merchant_id FROM campaigns WHERE id = $1", campaign)
        when = datetime(2026, 3, 1 + n % 28, tzinfo=UTC)
        purchase = await mf.transaction(
            conn,
            account,
            member,
            merchant if n % 3 else None,
            amount_cents=100 + n,
            occurred_at=when,
            description=DESCRIPTIONS[n % 5],
        )
        await mf.reward(
            conn,
            member,
            campaign,
            purchase,
            amount_cents=n,
            status=("PENDING", "EARNED", "REDEEMED", "EXPIRED")[n % 4],
            earned_at=when,
        )
    as_member = api.as_user(member)
    ours, ours_sql, stock, _ = await _twice(as_member, statements, REWARDS, first=first)
    assert same_answer(ours, stock)
    assert ours.count('"FORBIDDEN"') >= 2  # DRAFT, PAUSED and COMPLETED campaigns
    assert '"campaign":null' in ours
    assert '"status":"ACTIVE"' in ours or first < 5
    [page] = [s for s in ours_sql if "FROM rewards" in s]
    assert "FROM campaigns" in page and "FROM merchants" in page  # written with the page
    assert len(ours_sql) == 3  # viewer, page-size setting, page


ONE = """
query ($ids: [ID!]!, $id: ID!) {
  campaign(id: $id) { id name status budget { amount currency } merchant { name } }
  nodes(ids: $ids) {
    __typename id
    ... on Campaign { name status createdBy { name } }
    ... on Merchant { name category }
    ... on User { name role }
  }
}
"""


@pytest.mark.parametrize("viewer", ["admin", "member"])
async def test_objects_by_id_are_written_by_postgresql_and_checked_by_their_rule(
    api: Api, conn: asyncpg.Connection, statements: StatementCounter, viewer: str
) -> None:
    """`campaign(id:)` and `nodes(ids:)` have PostgreSQL write each object; the Guard checks
    the row's fact (a member gets FORBIDDEN for a campaign that is not ACTIVE, as from the
    stock executor), and a missing ID is answered as before."""
    await _odd_world(conn)
    rows = await conn.fetch("SELECT id, status FROM campaigns ORDER BY id")
    draft = next(r["id"] for r in rows if r["status"] == "DRAFT")
    active = next(r["id"] for r in rows if r["status"] == "ACTIVE")
    merchant = await conn.fetchval("SELECT min(id) FROM merchants")
    user = await conn.fetchval("SELECT min(id) FROM users")
    ids = [
        f.gid("Campaign", active),
        f.gid("Campaign", draft),
        f.gid("Merchant", merchant),
        f.gid("User", user),
        f.gid("Campaign", 10**9),
    ]
    caller = api if viewer == "admin" else api.as_user(await f.user(conn, "o@example.com"))
    for campaign in (active, draft):
        ours, ours_sql, stock, _ = await _twice(
            caller, statements, ONE, ids=ids, id=f.gid("Campaign", campaign)
        )
        assert same_answer(ours, stock)
        assert any("AS json FROM campaigns" in s for s in ours_sql), ours_sql
    assert ('"FORBIDDEN"' in ours) == (viewer == "member")
