"""Reading a member: user/me, accounts, transactions, rewards, spending, merchant affinities."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import asyncpg
import pytest

from tests import factories as f
from tests import member_factories as mf
from tests.conftest import Api, Cast

USER = """
query ($id: ID!) {
  user(id: $id) {
    id name email role status
    accounts { id kind institution lastFour currency balance { amount currency } }
    rewardsSummary { earned { amount currency } pending { amount } redeemed { amount } }
  }
}
"""

TRANSACTIONS = """
query ($id: ID!, $first: Int, $after: String, $last: Int, $before: String,
       $filter: TransactionFilter) {
  user(id: $id) {
    transactions(first: $first, after: $after, last: $last, before: $before, filter: $filter) {
      totalCount
      edges { cursor node { id amount { amount } category occurredAt description
                            merchant { id } account { id } } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
}
"""

T0 = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


def money(cents: int) -> str:
    return str(Decimal(cents).scaleb(-2))


async def _member(conn: asyncpg.Connection) -> tuple[int, int, int, list[int]]:
    u = await f.user(conn, "mia@example.com", name="Mia")
    a1 = await mf.account(conn, u, kind="CHECKING", last_four="1111", balance_cents=12_345)
    a2 = await mf.account(conn, u, kind="CREDIT_CARD", institution="Card Co", last_four="2222")
    merchants = [await f.merchant(conn, f"M{i}", f"Cat{i % 2}") for i in range(3)]
    return u, a1, a2, merchants


async def test_user_returns_profile_accounts_and_rewards_summary(
    api: Api, conn: asyncpg.Connection
) -> None:
    u, a1, a2, ms = await _member(conn)
    c = await f.campaign(conn, ms[0], status="ACTIVE")
    amounts = {"EARNED": [150, 250], "PENDING": [75], "REDEEMED": [1000], "EXPIRED": [999]}
    for status, values in amounts.items():
        for cents in values:
            t = await mf.transaction(conn, a1, u, ms[0], amount_cents=cents * 10, occurred_at=T0)
            await mf.reward(conn, u, c, t, amount_cents=cents, status=status, earned_at=T0)

    data = (await api.data(USER, {"id": f.gid("User", u)}))["user"]

    assert data["name"] == "Mia" and data["email"] == "mia@example.com"
    assert (data["role"], data["status"]) == ("MEMBER", "ACTIVE")
    assert [a["id"] for a in data["accounts"]] == [f.gid("Account", a1), f.gid("Account", a2)]
    assert data["accounts"][0] == {
        "id": f.gid("Account", a1),
        "kind": "CHECKING",
        "institution": "First Bank",
        "lastFour": "1111",
        "currency": "USD",
        "balance": {"amount": "123.45", "currency": "USD"},
    }
    assert data["rewardsSummary"] == {
        "earned": {"amount": money(sum(amounts["EARNED"])), "currency": "USD"},
        "pending": {"amount": money(sum(amounts["PENDING"]))},
        "redeemed": {"amount": money(sum(amounts["REDEEMED"]))},
    }


async def test_malformed_user_id_is_bad_user_input(api: Api, conn: asyncpg.Connection) -> None:
    m = await f.merchant(conn)
    for bad in ("nonsense", f.gid("Merchant", m)):
        body = await api.gql(USER, {"id": bad})
        [error] = body["errors"]
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "id"}, bad


async def test_unknown_user_id_is_null_for_an_admin_and_forbidden_for_a_member(
    cast: Cast,
) -> None:
    unknown = {"id": f.gid("User", 424242)}

    as_admin = await cast.admin.gql(USER, unknown)
    as_member = await cast.member.gql(USER, unknown)
    assert cast.other_member.user_id is not None
    other = await cast.member.gql(USER, {"id": f.gid("User", cast.other_member.user_id)})

    assert as_admin == {"data": {"user": None}}
    # A member cannot tell a missing user from one they may not see.
    assert as_member["data"] == other["data"] == {"user": None}
    assert [e["extensions"]["code"] for e in as_member["errors"]] == ["FORBIDDEN"]
    assert as_member["errors"][0]["message"] == other["errors"][0]["message"]


async def test_me_is_the_signed_in_user(api: Api, conn: asyncpg.Connection) -> None:
    u, *_ = await _member(conn)
    data = await api.as_user(u).data("{ me { id name accounts { lastFour } } }")
    assert data["me"]["id"] == f.gid("User", u) and data["me"]["name"] == "Mia"
    assert sorted(a["lastFour"] for a in data["me"]["accounts"]) == ["1111", "2222"]


async def test_transactions_newest_first_with_filters_and_total(
    api: Api, conn: asyncpg.Connection
) -> None:
    u, a1, a2, ms = await _member(conn)
    rng = random.Random(3)
    rows = []
    for n in range(30):
        m = rng.choice(ms)
        when = T0 - timedelta(hours=rng.randrange(0, 24 * 40))
        category = f"Cat{ms.index(m) % 2}"
        tid = await mf.transaction(
            conn,
            rng.choice((a1, a2)),
            u,
            m,
            amount_cents=100 + n,
            occurred_at=when,
            category=category,
        )
        rows.append((when, tid, m, category))
    other = await f.user(conn, "other@example.com")
    other_account = await mf.account(conn, other)
    await mf.transaction(conn, other_account, other, ms[0], amount_cents=5, occurred_at=T0)
    newest_first = sorted(rows, key=lambda r: (r[0], r[1]), reverse=True)

    data = (await api.data(TRANSACTIONS, {"id": f.gid("User", u), "first": 100}))["user"]
    conn_ = data["transactions"]
    assert conn_["totalCount"] == 30
    assert [e["node"]["id"] for e in conn_["edges"]] == [
        f.gid("Transaction", r[1]) for r in newest_first
    ]

    day_from, day_to = date(2026, 3, 1), date(2026, 3, 10)
    flt = {
        "from": day_from.isoformat(),
        "to": day_to.isoformat(),
        "category": "Cat0",
        "merchantId": f.gid("Merchant", ms[0]),
    }
    expected = [
        r
        for r in newest_first
        if day_from <= r[0].date() <= day_to and r[3] == "Cat0" and r[2] == ms[0]
    ]
    data = await api.data(TRANSACTIONS, {"id": f.gid("User", u), "first": 100, "filter": flt})
    got = data["user"]["transactions"]
    assert got["totalCount"] == len(expected)
    assert [e["node"]["id"] for e in got["edges"]] == [f.gid("Transaction", r[1]) for r in expected]
    assert all(e["node"]["merchant"]["id"] == f.gid("Merchant", ms[0]) for e in got["edges"])


async def test_transactions_page_through_both_ways_while_rows_are_inserted(
    api: Api, conn: asyncpg.Connection
) -> None:
    u, a1, _, ms = await _member(conn)
    # Ties on occurred_at are broken by id, so same-time rows must not be lost either.
    times = [T0 - timedelta(minutes=m // 3) for m in range(25)]
    original = [
        await mf.transaction(conn, a1, u, ms[0], amount_cents=100, occurred_at=t) for t in times
    ]
    expected = [
        f.gid("Transaction", tid)
        for _, tid in sorted(zip(times, original, strict=True), reverse=True)
    ]
    uid = f.gid("User", u)

    seen: list[str] = []
    after = None
    inserted = 0
    while True:
        page = (await api.data(TRANSACTIONS, {"id": uid, "first": 4, "after": after}))["user"][
            "transactions"
        ]
        seen += [e["node"]["id"] for e in page["edges"]]
        # A newer and an older purchase land between page reads.
        await mf.transaction(conn, a1, u, ms[1], amount_cents=1, occurred_at=T0 + timedelta(days=1))
        await mf.transaction(
            conn, a1, u, ms[1], amount_cents=1, occurred_at=T0 - timedelta(days=400)
        )
        inserted += 2
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen))
    assert [i for i in seen if i in expected] == expected

    back: list[str] = []
    before = None
    while True:
        page = (await api.data(TRANSACTIONS, {"id": uid, "last": 5, "before": before}))["user"][
            "transactions"
        ]
        back = [e["node"]["id"] for e in page["edges"]] + back
        await mf.transaction(conn, a1, u, ms[1], amount_cents=1, occurred_at=T0 + timedelta(days=2))
        if not page["pageInfo"]["hasPreviousPage"]:
            break
        before = page["pageInfo"]["startCursor"]
    assert len(back) == len(set(back))
    assert [i for i in back if i in expected] == expected
    assert len(back) >= len(expected) + inserted - 2


async def test_transactions_bad_arguments_are_refused_with_the_argument_named(
    api: Api, conn: asyncpg.Connection
) -> None:
    u, a1, _, ms = await _member(conn)
    other = await f.user(conn, "o@example.com")
    oa = await mf.account(conn, other)
    await mf.transaction(conn, a1, u, ms[0], amount_cents=1, occurred_at=T0)
    await mf.transaction(conn, oa, other, ms[0], amount_cents=1, occurred_at=T0)
    other_cursor = (await api.data(TRANSACTIONS, {"id": f.gid("User", other), "first": 1}))["user"][
        "transactions"
    ]["edges"][0]["cursor"]
    campaign_cursor_query = "{ campaigns(first: 1) { edges { cursor } } }"
    await f.campaign(conn, ms[0])
    campaign_cursor = (await api.data(campaign_cursor_query))["campaigns"]["edges"][0]["cursor"]
    cases = [
        ({"first": 101}, "first"),
        ({"first": -1}, "first"),
        ({"first": 1, "after": other_cursor}, "after"),
        ({"first": 1, "after": campaign_cursor}, "after"),
        ({"first": 1, "after": other_cursor[:-4] + "AAAA"}, "after"),
        ({"filter": {"from": "2026-03-10", "to": "2026-03-01"}}, "filter.to"),
        ({"filter": {"merchantId": "junk"}}, "filter.merchantId"),
    ]
    for variables, argument in cases:
        body = await api.gql(TRANSACTIONS, {"id": f.gid("User", u), **variables})
        [error] = body["errors"]
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": argument}, variables


REWARDS = """
query ($id: ID!, $first: Int, $after: String, $filter: RewardFilter) {
  user(id: $id) {
    rewards(first: $first, after: $after, filter: $filter) {
      totalCount
      edges { node { id status amount { amount } campaign { id } transaction { id } } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""


async def test_rewards_connection_filters_by_status_and_pages(
    api: Api, conn: asyncpg.Connection
) -> None:
    u, a1, _, ms = await _member(conn)
    c = await f.campaign(conn, ms[0], status="ACTIVE")
    made = []
    for n, status in enumerate(["EARNED", "PENDING", "EARNED", "REDEEMED", "EARNED"]):
        t = await mf.transaction(conn, a1, u, ms[0], amount_cents=1000, occurred_at=T0)
        when = T0 - timedelta(days=n)
        r = await mf.reward(conn, u, c, t, amount_cents=10 * n, status=status, earned_at=when)
        made.append((r, status, t))
    earned = [r for r in made if r[1] == "EARNED"]  # already newest first

    first = (
        await api.data(
            REWARDS, {"id": f.gid("User", u), "first": 2, "filter": {"status": ["EARNED"]}}
        )
    )["user"]["rewards"]
    second = (
        await api.data(
            REWARDS,
            {
                "id": f.gid("User", u),
                "first": 2,
                "after": first["pageInfo"]["endCursor"],
                "filter": {"status": ["EARNED"]},
            },
        )
    )["user"]["rewards"]

    assert first["totalCount"] == len(earned)
    nodes = [e["node"] for e in first["edges"] + second["edges"]]
    assert [n["id"] for n in nodes] == [f.gid("Reward", r[0]) for r in earned]
    assert nodes[0]["campaign"] == {"id": f.gid("Campaign", c)}
    assert nodes[0]["transaction"] == {"id": f.gid("Transaction", earned[0][2])}
    assert not second["pageInfo"]["hasNextPage"]


SPENDING = """
query ($id: ID!, $from: Date!, $to: Date!, $groupBy: SpendingGroup!) {
  user(id: $id) {
    spending(from: $from, to: $to, groupBy: $groupBy) {
      key count share total { amount currency } month merchant { id }
    }
  }
}
"""


@pytest.mark.parametrize("group_by", ["CATEGORY", "MERCHANT", "MONTH"])
async def test_spending_groups_totals_counts_and_shares(
    api: Api, conn: asyncpg.Connection, group_by: str
) -> None:
    u, a1, _, ms = await _member(conn)
    rng = random.Random(11)
    day_from, day_to = date(2026, 1, 10), date(2026, 3, 5)
    groups: dict[str, list[int]] = defaultdict(list)
    for _ in range(60):
        m = rng.choice(ms)
        when = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(0, 90 * 1440))
        cents = rng.randrange(100, 10_000)
        category = f"Cat{ms.index(m) % 2}"
        await mf.transaction(
            conn, a1, u, m, amount_cents=cents, occurred_at=when, category=category
        )
        if day_from <= when.date() <= day_to:
            key = {
                "CATEGORY": category,
                "MERCHANT": f.gid("Merchant", m),
                "MONTH": when.strftime("%Y-%m"),
            }[group_by]
            groups[key].append(cents)
    grand = sum(sum(v) for v in groups.values())

    data = await api.data(
        SPENDING,
        {"id": f.gid("User", u), "from": str(day_from), "to": str(day_to), "groupBy": group_by},
    )
    buckets = data["user"]["spending"]

    assert {b["key"]: (b["total"]["amount"], b["count"]) for b in buckets} == {
        k: (money(sum(v)), len(v)) for k, v in groups.items()
    }
    totals = [Decimal(b["total"]["amount"]) for b in buckets]
    assert totals == sorted(totals, reverse=True)
    for b in buckets:
        assert b["share"] == pytest.approx(sum(groups[b["key"]]) / grand)
        if group_by == "MERCHANT":
            assert b["merchant"] == {"id": b["key"]}
        if group_by == "MONTH":
            assert b["month"] == b["key"] + "-01"


async def test_spending_with_dates_in_the_wrong_order_is_refused(
    api: Api, conn: asyncpg.Connection
) -> None:
    u = await f.user(conn)
    body = await api.gql(
        SPENDING,
        {"id": f.gid("User", u), "from": "2026-03-05", "to": "2026-03-01", "groupBy": "MONTH"},
    )
    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "to"}


AFFINITIES = """
query ($id: ID!, $first: Int) {
  user(id: $id) {
    merchantAffinities(first: $first) {
      score transactionCount totalSpend { amount } lastTransactionAt merchant { id name }
    }
  }
}
"""


async def test_merchant_affinities_top_by_score(api: Api, conn: asyncpg.Connection) -> None:
    u = await f.user(conn)
    other = await f.user(conn, "x@example.com")
    scores = [0.2, 0.9, 0.5, 1.0, 0.1]
    ms = [await f.merchant(conn, f"M{i}") for i in range(len(scores))]
    for m, score in zip(ms, scores, strict=True):
        await mf.affinity(
            conn,
            u,
            m,
            score=score,
            transaction_count=int(score * 10),
            total_spend_cents=int(score * 10_000),
            last_transaction_at=T0,
        )
        await mf.affinity(conn, other, m, score=0.99)
    top = sorted(zip(scores, ms, strict=True), reverse=True)[:3]

    data = await api.data(AFFINITIES, {"id": f.gid("User", u), "first": 3})

    assert [
        (a["score"], a["merchant"]["id"], a["transactionCount"], a["totalSpend"]["amount"])
        for a in data["user"]["merchantAffinities"]
    ] == [(s, f.gid("Merchant", m), int(s * 10), money(int(s * 10_000))) for s, m in top]
    for bad in (-1, 101):
        body = await api.gql(AFFINITIES, {"id": f.gid("User", u), "first": bad})
        assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "argument": "first"}


async def test_node_resolves_member_types(api: Api, conn: asyncpg.Connection) -> None:
    u, a1, _, ms = await _member(conn)
    t = await mf.transaction(conn, a1, u, ms[0], amount_cents=1, occurred_at=T0)
    ids = [f.gid("Account", a1), f.gid("Transaction", t), f.gid("Transaction", 99999)]
    data = await api.data("query ($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": ids})
    assert data["nodes"] == [{"id": ids[0]}, {"id": ids[1]}, None]
