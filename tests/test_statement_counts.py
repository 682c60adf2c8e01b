"""A list query costs a number of SQL statements fixed by its shape, not by its size."""

from __future__ import annotations

import asyncpg

from tests import factories as f
from tests.conftest import Api, StatementCounter

# The benchmark's interim Q2 (bench/queries.py Q2A_OURS): campaigns x merchant, createdBy.
CAMPAIGN_LIST = """
query {
  campaigns(first: 50) {
    edges { node {
      id name description status rewardType version startsAt endsAt createdAt updatedAt
      merchant { id name category }
      createdBy { id name role }
    } }
  }
}
"""


async def _statements_for(
    rows: int, api: Api, conn: asyncpg.Connection, statements: StatementCounter
) -> int:
    await conn.execute("TRUNCATE campaigns, merchants, users CASCADE")
    for i in range(rows):
        m = await f.merchant(conn, f"Merchant {i}")
        u = await f.user(conn, f"creator{i}@example.com", name=f"Creator {i}", role="MANAGER")
        await f.campaign(conn, m, name=f"Campaign {i}", created_by=u)
    statements.reset()
    data = await api.data(CAMPAIGN_LIST)
    edges = data["campaigns"]["edges"]
    assert len(edges) == rows
    assert {e["node"]["merchant"]["name"] for e in edges} == {f"Merchant {i}" for i in range(rows)}
    return len(_ours(statements))


def _ours(statements: StatementCounter) -> list[str]:
    """The app's statements: asyncpg's own one-off type introspection on a fresh pooled
    connection (for citext, say) depends on which connection a batch lands on, not on us."""
    internal = ("typeinfo_tree", "set_config('jit'")
    return [s for s in statements.statements if not any(i in s for i in internal)]


async def test_campaign_list_statement_count_is_the_same_for_5_and_50_rows(
    api: Api, conn: asyncpg.Connection, statements: StatementCounter
) -> None:
    five = await _statements_for(5, api, conn, statements)
    fifty = await _statements_for(50, api, conn, statements)
    assert five == fifty, _ours(statements)
    # page + page-size setting + merchants batch + users batch
    assert fifty <= 4, _ours(statements)
