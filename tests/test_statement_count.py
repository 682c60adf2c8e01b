"""A query's SQL statement count depends on its shape, never on how many rows it returns."""

from __future__ import annotations

import asyncpg
import pytest

from tests import factories as f
from tests.conftest import Api, StatementCounter

NESTED = """
query ($first: Int!) {
  campaigns(first: $first) {
    totalCount
    edges { node { id name merchant { id name } createdBy { id name } } }
  }
}
"""
# `email` has a rule checked per object, so PostgreSQL does not write these campaigns: the
# executor completes them, and their merchants and creators come through loaders.
LOADED = NESTED.replace("createdBy { id name }", "createdBy { id name email }")


async def arrange(conn: asyncpg.Connection, n: int) -> None:
    """n campaigns, each with its own merchant and creator (the worst case for N+1)."""
    for i in range(n):
        m = await f.merchant(conn, f"M{i}")
        u = await f.user(conn, f"u{i}@example.com", role="MANAGER")
        await f.campaign(conn, m, name=f"C{i}", created_by=u)


async def statements_for(
    api: Api, statements: StatementCounter, first: int, query: str = NESTED
) -> int:
    statements.reset()
    data = await api.data(query, {"first": first})
    edges = data["campaigns"]["edges"]
    assert len(edges) == first
    assert all(e["node"]["merchant"] and e["node"]["createdBy"] for e in edges)
    return statements.count


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # viewer + setting (page cap) + page (merchants and creators written with it) + count
        (NESTED, 4),
        # viewer + setting + page + count + merchants + creators; nothing per row.
        (LOADED, 6),
    ],
    ids=["written by PostgreSQL", "through loaders"],
)
async def test_campaigns_with_merchant_and_creator_cost_the_same_for_5_and_50(
    api: Api, conn: asyncpg.Connection, statements: StatementCounter, query: str, expected: int
) -> None:
    await arrange(conn, 50)

    five = await statements_for(api, statements, 5, query)
    fifty = await statements_for(api, statements, 50, query)

    assert five == fifty, statements.statements
    assert fifty == expected, statements.statements


async def test_loaders_batch_with_one_any_statement_per_loader(
    api: Api, conn: asyncpg.Connection, statements: StatementCounter
) -> None:
    await arrange(conn, 12)
    statements.reset()
    await api.data(LOADED, {"first": 12})
    merchant_reads = [s for s in statements.statements if "FROM merchants" in s]
    user_reads = [s for s in statements.statements if "FROM users" in s]
    viewer_reads = [s for s in statements.statements if "FROM sessions" in s]
    assert len(merchant_reads) == 1 and "ANY($1" in merchant_reads[0]
    # One read authenticates the caller (with their session), one batch loads every creator.
    assert len(viewer_reads) == 1 and len(user_reads) == 1
    assert all("ANY($1" in s for s in viewer_reads + user_reads)


async def test_node_lookups_in_one_request_share_a_batch(
    api: Api, conn: asyncpg.Connection, statements: StatementCounter
) -> None:
    m = await f.merchant(conn)
    ids = [f.gid("Campaign", await f.campaign(conn, m, name=f"C{i}")) for i in range(8)]
    statements.reset()
    data = await api.data("query ($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": ids})
    assert [n["id"] for n in data["nodes"]] == ids
    assert len([s for s in statements.statements if "FROM campaigns" in s]) == 1
