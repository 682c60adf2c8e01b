"""The benchmark's query documents: ours and PostGraphile's, and how to compare their data.

The two schemas name things differently (our `campaign(id:)` takes a Relay global ID,
PostGraphile's `campaignByRowId(rowId:)` the primary key; our timestamps and PostGraphile's are
both ISO 8601 but may differ in trailing zeros), so each query has a pair of documents and a
`normalise` step that maps both responses to the same plain data before they are compared.
Requests to our server carry a bearer token: an ADMIN's for Q1, Q2, Q4a and Q5-Q7, the member's
own for Q3 and Q4.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

# The cost of a GraphQL request with nothing to resolve: HTTP, parsing (cached), validation
# (cached), the operation hooks and the response; both servers' floor, side by side.
Q0 = "{ __typename }"

Q1_OURS = """
query Q1($id: ID!) {
  campaign(id: $id) {
    id name description status version startsAt endsAt createdAt
  }
}
"""

Q1_PG = """
query Q1($id: BigInt!) {
  campaignByRowId(rowId: $id) {
    rowId name description status version startsAt endsAt createdAt
  }
}
"""

Q2_OURS = """
query Q2($from: Date!, $to: Date!) {
  campaigns(first: 50) {
    edges { node {
      id name status
      merchant { id name category }
      createdBy { id name }
      dailyAnalytics(from: $from, to: $to) { day impressions clicks conversions }
      abTests { id name status variants { name impressions conversions } }
    } }
  }
}
"""

Q2_PG = """
query Q2 {
  allCampaigns(first: 50, orderBy: PRIMARY_KEY_DESC) {
    edges { node {
      rowId name status
      merchantByMerchantId { rowId name category }
      userByCreatedBy { rowId name }
      # amber has no range filter; the generator writes one row per day up to yesterday, so
      # the 7 newest rows are the days $from..$to of ours (compared oldest first).
      campaignAnalyticsDailiesByCampaignId(first: 7, orderBy: DAY_DESC) {
        nodes { day impressions clicks conversions }
      }
      abTestsByCampaignId(orderBy: PRIMARY_KEY_ASC) { nodes {
        rowId name status
        # the generator inserts the control first, then variant-a, variant-b: primary key
        # order is our order (control first, then by name)
        abTestVariantsByAbTestId(orderBy: PRIMARY_KEY_ASC) {
          nodes { name impressions conversions }
        }
      } }
    } }
  }
}
"""

Q3_OURS = """
query Q3($id: ID!) {
  user(id: $id) {
    transactions(first: 50) {
      edges { node { id amount { amount currency } category occurredAt description } }
      pageInfo { hasNextPage }
    }
  }
}
"""

Q3_PG = """
query Q3($id: BigInt!) {
  userByRowId(rowId: $id) {
    transactionsByUserId(first: 50, orderBy: [OCCURRED_AT_DESC, PRIMARY_KEY_DESC]) {
      edges { node { rowId amountCents currency category occurredAt description } }
      pageInfo { hasNextPage }
    }
  }
}
"""


# Q4: a member's 50 newest rewards, each with its campaign and that campaign's merchant. As the
# member, through `me`: a member may see ACTIVE campaigns only, so our server answers
# `campaign: null` with a FORBIDDEN error for the others (by design: README, "Who sees which
# object"); those errors are expected here and PostGraphile's non-ACTIVE campaigns are nulled
# before comparing. Q4a is the same shape read by an ADMIN through `user(id:)`: no errors.
_Q4_REWARDS = """
    rewards(first: 50) {
      edges { node {
        id amount { amount currency } status earnedAt
        campaign { id name status merchant { id name } }
      } }
    }
"""

Q4_OURS = "query Q4 {\n  me {" + _Q4_REWARDS + "  }\n}\n"

Q4A_OURS = "query Q4a($id: ID!) {\n  user(id: $id) {" + _Q4_REWARDS + "  }\n}\n"

Q4_PG = """
query Q4($id: BigInt!) {
  userByRowId(rowId: $id) {
    rewardsByUserId(first: 50, orderBy: [EARNED_AT_DESC, PRIMARY_KEY_DESC]) {
      edges { node {
        rowId amountCents currency status earnedAt
        campaignByCampaignId { rowId name status merchantByMerchantId { rowId name } }
      } }
    }
  }
}
"""

# Q5: two root lists, one of them with a list of objects per row.
Q5_OURS = """
query Q5 {
  merchants(first: 50) { edges { node { id name category } } }
  campaigns(first: 20) { edges { node { id name status abTests { id name status } } } }
}
"""

Q5_PG = """
query Q5 {
  allMerchants(first: 50, orderBy: [NAME_ASC, PRIMARY_KEY_ASC]) {
    edges { node { rowId name category } }
  }
  allCampaigns(first: 20, orderBy: PRIMARY_KEY_DESC) {
    edges { node {
      rowId name status
      # ours: the first 10 tests, oldest first
      abTestsByCampaignId(first: 10, orderBy: PRIMARY_KEY_ASC) { nodes { rowId name status } }
    } }
  }
}
"""

# Q6: 20 objects of two types by global ID through the Node interface. PostGraphile has no
# `nodes(ids:)`: its equivalent is 20 aliased `node(id:)` fields in one document.
NODES = 20
_CAMPAIGN_FIELDS = "id name status startsAt"
_MERCHANT_FIELDS = "id name category"

Q6_OURS = f"""
query Q6($ids: [ID!]!) {{
  nodes(ids: $ids) {{
    __typename
    ... on Campaign {{ {_CAMPAIGN_FIELDS} }}
    ... on Merchant {{ {_MERCHANT_FIELDS} }}
  }}
}}
"""

Q6_PG = (
    "query Q6("
    + ", ".join(f"$n{j}: ID!" for j in range(NODES))
    + ") {\n"
    + "".join(
        f"  n{j}: node(id: $n{j}) {{ __typename"
        f" ... on Campaign {{ {_CAMPAIGN_FIELDS.replace('id ', 'rowId ', 1)} }}"
        f" ... on Merchant {{ {_MERCHANT_FIELDS.replace('id ', 'rowId ', 1)} }} }}\n"
        for j in range(NODES)
    )
    + "}\n"
)

# Q7: a connection in a connection: a page of 20 users (oldest first, as admin.users orders
# them), each with their 5 newest transactions. Each request starts the page after a different
# user (`after`, one of VARIETY cursors built from the user's sort key).
Q7_OURS = """
query Q7($after: String) {
  admin {
    users(first: 20, after: $after) {
      edges { node {
        id name role
        transactions(first: 5) {
          edges { node { id amount { amount currency } occurredAt } }
        }
      } }
    }
  }
}
"""

Q7_PG = """
query Q7($after: Cursor) {
  allUsers(first: 20, after: $after, orderBy: [CREATED_AT_ASC, PRIMARY_KEY_ASC]) {
    edges { node {
      rowId name role
      transactionsByUserId(first: 5, orderBy: [OCCURRED_AT_DESC, PRIMARY_KEY_DESC]) {
        edges { node { rowId amountCents currency occurredAt } }
      }
    } }
  }
}
"""

# PostGraphile 5's cursor for an `orderBy` list: base64 of JSON [a digest of the order, the sort
# key's values as strings]; this digest is the one of [CREATED_AT_ASC, PRIMARY_KEY_ASC] (read
# from its responses). A wrong one makes PostGraphile answer an error, which the data check
# before each measurement stops on.
PG_USERS_ORDER_DIGEST = "1c59920d75"


def gid(type_name: str, pk: int) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


def pg_node_id(type_name: str, pk: int) -> str:
    """PostGraphile 5's node ID: base64 of JSON [type name, primary key as a string]."""
    return base64.b64encode(
        json.dumps([type_name, str(pk)], separators=(",", ":")).encode()
    ).decode()


def ours_user_cursor(created_at: datetime, pk: int) -> str:
    """Our admin.users cursor (resolvers/pagination.CursorKind.encode)."""
    payload = json.dumps(["users", created_at.isoformat(), pk], separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode()


def pg_user_cursor(created_at: datetime, pk: int) -> str:
    """PostGraphile's cursor for allUsers(orderBy: [CREATED_AT_ASC, PRIMARY_KEY_ASC])."""
    values = [PG_USERS_ORDER_DIGEST, created_at.isoformat(timespec="microseconds"), str(pk)]
    return base64.b64encode(json.dumps(values, separators=(",", ":")).encode()).decode()


def _ts(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _q1_ours(data: Any) -> Any:
    c = data["campaign"]
    return {**c, **{k: _ts(c[k]) for k in ("startsAt", "endsAt", "createdAt")}}


def _q1_pg(data: Any) -> Any:
    c = dict(data["campaignByRowId"])
    c["id"] = gid("Campaign", int(c.pop("rowId")))
    return {**c, **{k: _ts(c[k]) for k in ("startsAt", "endsAt", "createdAt")}}


def _q3_ours(data: Any) -> Any:
    conn = data["user"]["transactions"]
    return conn["pageInfo"]["hasNextPage"], [
        (
            e["node"]["id"],
            Decimal(e["node"]["amount"]["amount"]),
            e["node"]["amount"]["currency"],
            e["node"]["category"],
            _ts(e["node"]["occurredAt"]),
            e["node"]["description"],
        )
        for e in conn["edges"]
    ]


def _q3_pg(data: Any) -> Any:
    conn = data["userByRowId"]["transactionsByUserId"]
    return conn["pageInfo"]["hasNextPage"], [
        (
            gid("Transaction", int(e["node"]["rowId"])),
            Decimal(int(e["node"]["amountCents"])).scaleb(-2),
            e["node"]["currency"].strip(),
            e["node"]["category"],
            _ts(e["node"]["occurredAt"]),
            e["node"]["description"],
        )
        for e in conn["edges"]
    ]


def _q2_ours(data: Any) -> Any:
    out = []
    for e in data["campaigns"]["edges"]:
        n = e["node"]
        out.append(
            {
                "id": n["id"],
                "name": n["name"],
                "status": n["status"],
                "merchant": n["merchant"],
                "createdBy": n["createdBy"],
                "daily": [
                    (d["day"], d["impressions"], d["clicks"], d["conversions"])
                    for d in n["dailyAnalytics"]
                ],
                "abTests": [
                    (
                        t["id"],
                        t["name"],
                        t["status"],
                        [(v["name"], v["impressions"], v["conversions"]) for v in t["variants"]],
                    )
                    for t in n["abTests"]
                ],
            }
        )
    return out


def _q2_pg(data: Any) -> Any:
    out = []
    for e in data["allCampaigns"]["edges"]:
        n = e["node"]
        m, u = n["merchantByMerchantId"], n["userByCreatedBy"]
        daily = n["campaignAnalyticsDailiesByCampaignId"]["nodes"]
        out.append(
            {
                "id": gid("Campaign", int(n["rowId"])),
                "name": n["name"],
                "status": n["status"],
                "merchant": {
                    "id": gid("Merchant", int(m["rowId"])),
                    "name": m["name"],
                    "category": m["category"],
                },
                "createdBy": u and {"id": gid("User", int(u["rowId"])), "name": u["name"]},
                "daily": [
                    (d["day"], int(d["impressions"]), int(d["clicks"]), int(d["conversions"]))
                    for d in reversed(daily)
                ],
                "abTests": [
                    (
                        gid("AbTest", int(t["rowId"])),
                        t["name"],
                        t["status"],
                        [
                            (v["name"], int(v["impressions"]), int(v["conversions"]))
                            for v in t["abTestVariantsByAbTestId"]["nodes"]
                        ],
                    )
                    for t in n["abTestsByCampaignId"]["nodes"]
                ],
            }
        )
    return out


def _money_pg(cents: str, currency: str) -> tuple[Decimal, str]:
    return Decimal(int(cents)).scaleb(-2), currency.strip()


def _q4_rewards_ours(user: Any) -> Any:
    out = []
    for e in user["rewards"]["edges"]:
        n, c = e["node"], e["node"]["campaign"]
        out.append(
            (
                n["id"],
                Decimal(n["amount"]["amount"]),
                n["amount"]["currency"],
                n["status"],
                _ts(n["earnedAt"]),
                c and (c["id"], c["name"], c["status"], c["merchant"]["id"], c["merchant"]["name"]),
            )
        )
    return out


def _q4_rewards_pg(data: Any, member_view: bool) -> Any:
    out = []
    for e in data["userByRowId"]["rewardsByUserId"]["edges"]:
        n, c = e["node"], e["node"]["campaignByCampaignId"]
        if c is not None and member_view and c["status"] != "ACTIVE":
            c = None  # a member sees ACTIVE campaigns only (null + FORBIDDEN from ours)
        m = c and c["merchantByMerchantId"]
        out.append(
            (
                gid("Reward", int(n["rowId"])),
                *_money_pg(n["amountCents"], n["currency"]),
                n["status"],
                _ts(n["earnedAt"]),
                c
                and (
                    gid("Campaign", int(c["rowId"])),
                    c["name"],
                    c["status"],
                    gid("Merchant", int(m["rowId"])),
                    m["name"],
                ),
            )
        )
    return out


def _q5_ours(data: Any) -> Any:
    merchants = [
        (n["id"], n["name"], n["category"]) for n in (e["node"] for e in data["merchants"]["edges"])
    ]
    campaigns = [
        (n["id"], n["name"], n["status"], [(t["id"], t["name"], t["status"]) for t in n["abTests"]])
        for n in (e["node"] for e in data["campaigns"]["edges"])
    ]
    return merchants, campaigns


def _q5_pg(data: Any) -> Any:
    merchants = [
        (gid("Merchant", int(n["rowId"])), n["name"], n["category"])
        for n in (e["node"] for e in data["allMerchants"]["edges"])
    ]
    campaigns = [
        (
            gid("Campaign", int(n["rowId"])),
            n["name"],
            n["status"],
            [
                (gid("AbTest", int(t["rowId"])), t["name"], t["status"])
                for t in n["abTestsByCampaignId"]["nodes"]
            ],
        )
        for n in (e["node"] for e in data["allCampaigns"]["edges"])
    ]
    return merchants, campaigns


def _q6_node(n: Any, pk: Any) -> Any:
    if n is None:
        return None
    if n["__typename"] == "Campaign":
        return ("Campaign", pk("Campaign", n), n["name"], n["status"], _ts(n["startsAt"]))
    return (n["__typename"], pk(n["__typename"], n), n["name"], n["category"])


def _q6_ours(data: Any) -> Any:
    return [_q6_node(n, lambda _, n: n["id"]) for n in data["nodes"]]


def _q6_pg(data: Any) -> Any:
    return [_q6_node(data[f"n{j}"], lambda t, n: gid(t, int(n["rowId"]))) for j in range(NODES)]


def _q7_ours(data: Any) -> Any:
    return [
        (
            n["id"],
            n["name"],
            n["role"],
            [
                (t["id"], Decimal(t["amount"]["amount"]), t["amount"]["currency"],
                 _ts(t["occurredAt"]))
                for t in (e["node"] for e in n["transactions"]["edges"])
            ],
        )
        for n in (e["node"] for e in data["admin"]["users"]["edges"])
    ]  # fmt: skip


def _q7_pg(data: Any) -> Any:
    return [
        (
            gid("User", int(n["rowId"])),
            n["name"],
            n["role"],
            [
                (gid("Transaction", int(t["rowId"])), *_money_pg(t["amountCents"], t["currency"]),
                 _ts(t["occurredAt"]))
                for t in (e["node"] for e in n["transactionsByUserId"]["edges"])
            ],
        )
        for n in (e["node"] for e in data["allUsers"]["edges"])
    ]  # fmt: skip


@dataclass(frozen=True)
class Query:
    name: str
    title: str
    ours: str
    pg: str
    # variables for request i (both servers get the same entity)
    ours_vars: Callable[[int], dict[str, Any]]
    pg_vars: Callable[[int], dict[str, Any]]
    normalise_ours: Callable[[Any], Any]
    normalise_pg: Callable[[Any], Any]
    # who sends request i to our server: a user id (its bearer token goes with the request)
    viewer: Callable[[int], int]
    # an error code our server is expected to answer beside the data (each error of the
    # response must have it, and data must not be null); None: no error expected
    expected_error: str | None = None


@dataclass(frozen=True)
class Dataset:
    """What the queries need to know about the seeded database (read by `Dataset.load`)."""

    admin: int
    campaigns: tuple[int, int]  # lowest and highest campaign id
    members: tuple[int, ...]  # members who own transactions (Q3 reads theirs)
    last_day: date  # the newest day with analytics rows
    merchants: tuple[int, int] = (0, 0)  # lowest and highest merchant id (Q6)
    # (created_at, id) of users spread over admin.users's order, each with 20 after it (Q7)
    user_keys: tuple[tuple[datetime, int], ...] = ()

    @classmethod
    async def load(cls, conn: Any) -> Dataset:
        row = await conn.fetchrow(
            "SELECT (SELECT min(id) FROM users WHERE role = 'ADMIN') AS admin,"
            " (SELECT min(id) FROM campaigns) AS lo, (SELECT max(id) FROM campaigns) AS hi,"
            " (SELECT max(day) FROM campaign_analytics_daily) AS last_day,"
            " (SELECT min(id) FROM merchants) AS mlo, (SELECT max(id) FROM merchants) AS mhi"
        )
        members = await conn.fetch(
            "SELECT id FROM users u WHERE role = 'MEMBER'"
            " AND EXISTS (SELECT 1 FROM transactions t WHERE t.user_id = u.id) ORDER BY id"
        )
        ids = [r["id"] for r in members]
        step = max(1, len(ids) // VARIETY)
        users = await conn.fetch("SELECT created_at, id FROM users ORDER BY created_at, id")
        keys = [(r["created_at"], r["id"]) for r in users[:-20]]
        ustep = max(1, len(keys) // VARIETY)
        return cls(
            row["admin"],
            (row["lo"], row["hi"]),
            tuple(ids[::step][:VARIETY]),
            row["last_day"],
            (row["mlo"], row["mhi"]),
            tuple(keys[::ustep][:VARIETY]),
        )


VARIETY = 200  # different ids per query, so no single row is hot


def build(ds: Dataset) -> list[Query]:
    lo, hi = ds.campaigns

    def campaign_pk(i: int) -> int:
        return lo + (i * 7919) % (hi - lo + 1)

    def member_pk(i: int) -> int:
        return ds.members[i % len(ds.members)]

    mlo, mhi = ds.merchants

    def node_key(i: int, j: int) -> tuple[str, int]:
        """The j-th object of request i: 12 campaigns and 8 merchants, mixed."""
        k = i * NODES + j
        if j % 5 in (1, 3):
            return "Merchant", mlo + (k * 104729) % (mhi - mlo + 1)
        return "Campaign", lo + (k * 7919) % (hi - lo + 1)

    week = {"from": (ds.last_day - timedelta(days=6)).isoformat(), "to": ds.last_day.isoformat()}
    return [
        Query(
            "Q0",
            "the floor: { __typename }, no field resolved (as an ADMIN: token checked)",
            Q0,
            Q0,
            lambda i: {},
            lambda i: {},
            lambda data: data,
            lambda data: data,
            lambda i: ds.admin,
        ),
        Query(
            "Q1",
            "one campaign by id, 8 fields (as an ADMIN)",
            Q1_OURS,
            Q1_PG,
            lambda i: {"id": gid("Campaign", campaign_pk(i))},
            lambda i: {"id": str(campaign_pk(i))},
            _q1_ours,
            _q1_pg,
            lambda i: ds.admin,
        ),
        Query(
            "Q2",
            "50 campaigns x merchant, createdBy, 7 daily rows, abTests (as an ADMIN)",
            Q2_OURS,
            Q2_PG,
            lambda i: week,
            lambda i: {},
            _q2_ours,
            _q2_pg,
            lambda i: ds.admin,
        ),
        Query(
            "Q3",
            "a member's 50 newest transactions, keyset page (as that member)",
            Q3_OURS,
            Q3_PG,
            lambda i: {"id": gid("User", member_pk(i))},
            lambda i: {"id": str(member_pk(i))},
            _q3_ours,
            _q3_pg,
            member_pk,
        ),
        Query(
            "Q4",
            "a member's 50 newest rewards x campaign x merchant (as that member, via me)",
            Q4_OURS,
            Q4_PG,
            lambda i: {},
            lambda i: {"id": str(member_pk(i))},
            lambda data: _q4_rewards_ours(data["me"]),
            lambda data: _q4_rewards_pg(data, member_view=True),
            member_pk,
            expected_error="FORBIDDEN",
        ),
        Query(
            "Q4a",
            "the same 50 rewards x campaign x merchant (as an ADMIN, via user(id:))",
            Q4A_OURS,
            Q4_PG,
            lambda i: {"id": gid("User", member_pk(i))},
            lambda i: {"id": str(member_pk(i))},
            lambda data: _q4_rewards_ours(data["user"]),
            lambda data: _q4_rewards_pg(data, member_view=False),
            lambda i: ds.admin,
        ),
        Query(
            "Q5",
            "two root lists: 50 merchants, 20 campaigns x abTests (as an ADMIN)",
            Q5_OURS,
            Q5_PG,
            lambda i: {},
            lambda i: {},
            _q5_ours,
            _q5_pg,
            lambda i: ds.admin,
        ),
        Query(
            "Q6",
            f"nodes(ids:) of {NODES} campaigns and merchants, inline fragments (as an ADMIN)",
            Q6_OURS,
            Q6_PG,
            lambda i: {"ids": [gid(*node_key(i, j)) for j in range(NODES)]},
            lambda i: {f"n{j}": pg_node_id(*node_key(i, j)) for j in range(NODES)},
            _q6_ours,
            _q6_pg,
            lambda i: ds.admin,
        ),
        Query(
            "Q7",
            "20 users x their 5 newest transactions, a page after a cursor (as an ADMIN)",
            Q7_OURS,
            Q7_PG,
            lambda i: {"after": ours_user_cursor(*ds.user_keys[i % len(ds.user_keys)])},
            lambda i: {"after": pg_user_cursor(*ds.user_keys[i % len(ds.user_keys)])},
            _q7_ours,
            _q7_pg,
            lambda i: ds.admin,
        ),
    ]
