"""The benchmark's query documents: ours and PostGraphile's, and how to compare their data.

The two schemas name things differently (our `campaign(id:)` takes a Relay global ID,
PostGraphile's `campaignByRowId(rowId:)` the primary key; our timestamps and PostGraphile's are
both ISO 8601 but may differ in trailing zeros), so each query has a pair of documents and a
`normalise` step that maps both responses to the same plain data before they are compared.
Q2 and Q3 use the field names issue 3 specifies; they are skipped while our schema lacks them.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
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
      abTests { id name status variants { id name impressions conversions } }
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
      # amber has no range filter; the bench data's last 7 days are the same rows as $from..$to
      campaignAnalyticsDailiesByCampaignId(first: 7, orderBy: DAY_DESC) {
        nodes { day impressions clicks conversions }
      }
      abTestsByCampaignId(orderBy: PRIMARY_KEY_ASC) { nodes {
        rowId name status
        abTestVariantsByAbTestId(orderBy: PRIMARY_KEY_ASC) {
          nodes { rowId name impressions conversions }
        }
      } }
    } }
  }
}
"""

# Interim Q2 on fields that exist before issue 3: 50 campaigns x 10 scalars, merchant, createdBy
# (~750 fields). Replaced in the goal table by Q2 once issue 3's fields land.
Q2A_OURS = """
query Q2a {
  campaigns(first: 50) {
    edges { node {
      id name description status rewardType version startsAt endsAt createdAt updatedAt
      merchant { id name category }
      createdBy { id name role }
    } }
  }
}
"""

Q2A_PG = """
query Q2a {
  allCampaigns(first: 50, orderBy: PRIMARY_KEY_DESC) {
    edges { node {
      rowId name description status rewardType version startsAt endsAt createdAt updatedAt
      merchantByMerchantId { rowId name category }
      userByCreatedBy { rowId name role }
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
    return [
        (
            e["node"]["id"],
            e["node"]["amount"]["currency"],
            e["node"]["category"],
            _ts(e["node"]["occurredAt"]),
            e["node"]["description"],
        )
        for e in conn["edges"]
    ]


def _q3_pg(data: Any) -> Any:
    conn = data["userByRowId"]["transactionsByUserId"]
    return [
        (
            gid("Transaction", int(e["node"]["rowId"])),
            e["node"]["currency"],
            e["node"]["category"],
            _ts(e["node"]["occurredAt"]),
            e["node"]["description"],
        )
        for e in conn["edges"]
    ]


_TIMES = ("startsAt", "endsAt", "createdAt", "updatedAt")


def _q2a_ours(data: Any) -> Any:
    return [
        {**e["node"], **{k: _ts(e["node"][k]) for k in _TIMES}} for e in data["campaigns"]["edges"]
    ]


def _q2a_pg(data: Any) -> Any:
    out = []
    for e in data["allCampaigns"]["edges"]:
        n = dict(e["node"])
        m, u = n.pop("merchantByMerchantId"), n.pop("userByCreatedBy")
        n["id"] = gid("Campaign", int(n.pop("rowId")))
        n["merchant"] = {
            "id": gid("Merchant", int(m["rowId"])),
            "name": m["name"],
            "category": m["category"],
        }
        n["createdBy"] = u and {
            "id": gid("User", int(u["rowId"])),
            "name": u["name"],
            "role": u["role"],
        }
        out.append({**n, **{k: _ts(n[k]) for k in _TIMES}})
    return out


def _q2_ours(data: Any) -> Any:
    return [
        (
            e["node"]["id"],
            e["node"]["name"],
            e["node"]["merchant"]["name"],
            len(e["node"]["dailyAnalytics"]),
            len(e["node"]["abTests"]),
        )
        for e in data["campaigns"]["edges"]
    ]


def _q2_pg(data: Any) -> Any:
    return [
        (
            gid("Campaign", int(e["node"]["rowId"])),
            e["node"]["name"],
            e["node"]["merchantByMerchantId"]["name"],
            len(e["node"]["campaignAnalyticsDailiesByCampaignId"]["nodes"]),
            len(e["node"]["abTestsByCampaignId"]["nodes"]),
        )
        for e in data["allCampaigns"]["edges"]
    ]


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


CAMPAIGNS = 20_000
MEMBERS = range(51, 2051)
WEEK = {"from": "2026-11-08", "to": "2026-11-14"}  # the last 7 seeded days


def _campaign_pk(i: int) -> int:
    return 1 + (i * 7919) % CAMPAIGNS


def _member_pk(i: int) -> int:
    return MEMBERS[(i * 7919) % len(MEMBERS)]


QUERIES = [
    Query(
        "Q1",
        "one campaign by id, 8 fields",
        Q1_OURS,
        Q1_PG,
        lambda i: {"id": gid("Campaign", _campaign_pk(i))},
        lambda i: {"id": str(_campaign_pk(i))},
        _q1_ours,
        _q1_pg,
    ),
    Query(
        "Q2",
        "50 campaigns x merchant, createdBy, 7 daily rows, abTests",
        Q2_OURS,
        Q2_PG,
        lambda i: WEEK,
        lambda i: {},
        _q2_ours,
        _q2_pg,
    ),
    Query(
        "Q2a",
        "interim: 50 campaigns x 10 fields, merchant, createdBy",
        Q2A_OURS,
        Q2A_PG,
        lambda i: {},
        lambda i: {},
        _q2a_ours,
        _q2a_pg,
    ),
    Query(
        "Q3",
        "a member's 50 newest transactions, keyset page",
        Q3_OURS,
        Q3_PG,
        lambda i: {"id": gid("User", _member_pk(i))},
        lambda i: {"id": str(_member_pk(i))},
        _q3_ours,
        _q3_pg,
    ),
]
