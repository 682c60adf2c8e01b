"""The benchmark's query documents: ours and PostGraphile's, and how to compare their data.

The two schemas name things differently (our `campaign(id:)` takes a Relay global ID,
PostGraphile's `campaignByRowId(rowId:)` the primary key; our timestamps and PostGraphile's are
both ISO 8601 but may differ in trailing zeros), so each query has a pair of documents and a
`normalise` step that maps both responses to the same plain data before they are compared.
Requests to our server carry a bearer token: an ADMIN's for Q1 and Q2, the member's own for Q3.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

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


def gid(type_name: str, pk: int) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


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


@dataclass(frozen=True)
class Dataset:
    """What the queries need to know about the seeded database (read by `Dataset.load`)."""

    admin: int
    campaigns: tuple[int, int]  # lowest and highest campaign id
    members: tuple[int, ...]  # members who own transactions (Q3 reads theirs)
    last_day: date  # the newest day with analytics rows

    @classmethod
    async def load(cls, conn: Any) -> Dataset:
        row = await conn.fetchrow(
            "SELECT (SELECT min(id) FROM users WHERE role = 'ADMIN') AS admin,"
            " (SELECT min(id) FROM campaigns) AS lo, (SELECT max(id) FROM campaigns) AS hi,"
            " (SELECT max(day) FROM campaign_analytics_daily) AS last_day"
        )
        members = await conn.fetch(
            "SELECT id FROM users u WHERE role = 'MEMBER'"
            " AND EXISTS (SELECT 1 FROM transactions t WHERE t.user_id = u.id) ORDER BY id"
        )
        ids = [r["id"] for r in members]
        step = max(1, len(ids) // VARIETY)
        return cls(
            row["admin"], (row["lo"], row["hi"]), tuple(ids[::step][:VARIETY]), row["last_day"]
        )


VARIETY = 200  # different ids per query, so no single row is hot


def build(ds: Dataset) -> list[Query]:
    lo, hi = ds.campaigns

    def campaign_pk(i: int) -> int:
        return lo + (i * 7919) % (hi - lo + 1)

    def member_pk(i: int) -> int:
        return ds.members[i % len(ds.members)]

    week = {"from": (ds.last_day - timedelta(days=6)).isoformat(), "to": ds.last_day.isoformat()}
    return [
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
    ]
