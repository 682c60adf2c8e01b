"""Rows whose JSON PostgreSQL writes (schema/render.py, db/render.py) give the very bytes the
stock executor gives for the same objects, and are used only where they can be.

Each query runs twice on the same app and database: through the ours executor (which
asks PostgreSQL for the rows' JSON) and through Strawberry's stock executor (which builds
and serializes Transaction objects). The bodies must be byte for byte equal, for values
chosen to catch formatting differences: quotes, backslashes, control characters, non-ASCII
text, line separators; amounts of 0, one cent and more than a float holds; timestamps with
and without microseconds, before year 1000, and the infinities; a padded currency.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from schema import schema
from schema.execution import Executor
from tests import factories as f
from tests import member_factories as mf
from tests.conftest import Api, StatementCounter

DESCRIPTIONS = [
    'say "hi"',
    "back\\slash and /slash",
    "line\nbreak\ttab\r\x01\x1f\x7f",
    "café ☕ 𝄞 \u2028\u2029",
    "",
]
AMOUNTS = [0, 1, 5, 10, 99, 100, 123456, 9_007_199_254_740_993]
TIMES = [
    datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC),
    datetime(2026, 3, 1, 12, 0, 0, 500000, tzinfo=UTC),
    datetime(2026, 3, 1, 12, 0, 0, 1, tzinfo=UTC),
    datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC),
]

TRANSACTIONS = """
fragment T on Transaction { id category occurredAt description }
query ($first: Int!) {
  me {
    transactions(first: $first) {
      edges { cursor node { ...T amount { amount currency } } }
      nodes { ...T amount { amount currency } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""

ALIASED = """
query {
  me { transactions(first: 50) { edges { node {
    kind: __typename
    when: occurredAt
    amount { howMuch: amount __typename in: currency }
    occurredAt
    id
  } } } }
}
"""


@contextmanager
def stock_executor() -> Iterator[None]:
    schema.execution_context_class = StrawberryGraphQLCoreExecutionContext
    try:
        yield
    finally:
        schema.execution_context_class = Executor


async def _member_with_odd_transactions(conn: asyncpg.Connection) -> int:
    member = await f.user(conn, "odd@example.com", name="Odd Member", role="MEMBER")
    account = await mf.account(conn, member)
    n = 0
    for amount in AMOUNTS:
        for description in DESCRIPTIONS:
            when = TIMES[n % len(TIMES)].replace(day=1 + n % 28)
            await mf.transaction(
                conn, account, member, None, amount_cents=amount, occurred_at=when,
                category=f"Cat {n % 3}", description=description,
            )  # fmt: skip
            n += 1
    await conn.execute(
        "UPDATE transactions SET occurred_at = 'infinity' WHERE id = (SELECT min(id) FROM"
        " transactions WHERE user_id = $1)",
        member,
    )
    await conn.execute(
        "UPDATE transactions SET occurred_at = '-infinity', currency = ' EU'"
        " WHERE id = (SELECT max(id) FROM transactions WHERE user_id = $1)",
        member,
    )
    return member


async def _twice(api: Api, statements: StatementCounter, query: str, **variables: Any) -> Any:
    """(ours body, its statements, stock body, its statements), bodies as raw text."""
    answers: list[Any] = []
    for stock in (False, True):
        statements.reset()
        with stock_executor() if stock else _nothing():
            response = await api.client.post(
                "/graphql", json={"query": query, "variables": variables}, headers=api.headers
            )
        answers += [response.text, list(statements.statements)]
    return answers


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def _rendered(sql: list[str]) -> str | None:
    """How the request's statements had PostgreSQL write JSON: "rows" (a JSON per row),
    "lists" (each list of a page whole), or None."""
    if any("n_read" in s for s in sql):  # db/page_batch.fetch_rendered_pages
        return "lists"
    if any("AS rendered" in s for s in sql):
        return "rows"
    return None


async def test_rendered_pages_are_byte_for_byte_the_stock_answer(
    api: Api, conn: asyncpg.Connection, statements: StatementCounter
) -> None:
    member = api.as_user(await _member_with_odd_transactions(conn))
    # With `cursor`, edges are not written whole (only their nodes are).
    for query, first, how in (
        (TRANSACTIONS, 50, "rows"),
        (TRANSACTIONS, 7, "rows"),
        (ALIASED, 50, "lists"),
    ):
        ours, ours_sql, stock, stock_sql = await _twice(member, statements, query, first=first)
        assert '"errors"' not in ours, ours
        assert ours.count('"occurredAt"') >= 7
        assert ours == stock
        assert _rendered(ours_sql) == how
        assert _rendered(stock_sql) is None
    assert '"when":"9999-12-31T23:59:59.999999"' in ours  # asyncpg's naive datetime.max
    assert '"in":"EU"' in ours


PAGE_INFO = "pageInfo { hasNextPage hasPreviousPage startCursor endCursor }"


@pytest.mark.parametrize(
    ("query", "expected", "how"),
    [
        # `account` has a resolver: PostgreSQL cannot write it.
        (
            "{ me { transactions(first: 5) { edges { node { id account { lastFour } } } } } }",
            '"lastFour":"1234"',
            None,
        ),
        # Edges with cursors are not written whole, and per row the nodes would need two
        # different JSONs of the same rows.
        (
            "{ me { transactions(first: 5) {"
            " edges { cursor node { id } } nodes { description } } } }",
            '"description":"',
            None,
        ),
        # `nodes` cannot be written (a resolver field) and the edges' nodes are the same
        # rows: every Transaction is completed as an object.
        (
            "{ me { transactions(first: 5) {"
            " edges { node { id } } nodes { id account { lastFour } } } } }",
            '"lastFour":"1234"',
            None,
        ),
        # Written whole, each list its own selection.
        (
            "{ me { transactions(first: 5) {"
            f" edges {{ node {{ id }} }} nodes {{ description }} {PAGE_INFO} totalCount }} }} }}",
            '"hasNextPage":true,"hasPreviousPage":false',
            "lists",
        ),
        (
            f"{{ me {{ transactions(last: 3) {{ nodes {{ id occurredAt }} {PAGE_INFO} }} }} }}",
            '"hasNextPage":false,"hasPreviousPage":true',
            "lists",
        ),
        (
            f"{{ me {{ transactions(first: 0) {{ edges {{ node {{ id }} }} {PAGE_INFO} }} }} }}",
            '"edges":[],"pageInfo":{"hasNextPage":true,"hasPreviousPage":false,'
            '"startCursor":null,"endCursor":null}',
            "lists",
        ),
        (
            f"{{ me {{ transactions(first: 100) {{ {PAGE_INFO} }} }} }}",
            '"hasNextPage":false',
            "lists",
        ),
        (
            '{ me { transactions(first: 5, filter: {category: "none such"}) {'
            f" nodes {{ id }} {PAGE_INFO} }} }} }}",
            '"nodes":[],"pageInfo":{"hasNextPage":false,"hasPreviousPage":false,'
            '"startCursor":null,"endCursor":null}',
            "lists",
        ),
    ],
    ids=[
        "resolver field",
        "cursor and two selections",
        "one selection not written",
        "lists",
        "backward",
        "first 0",
        "no list",
        "empty",
    ],
)
async def test_what_postgresql_writes_depends_on_the_selection(
    api: Api,
    conn: asyncpg.Connection,
    statements: StatementCounter,
    query: str,
    expected: str,
    how: str | None,
) -> None:
    member = api.as_user(await _member_with_odd_transactions(conn))
    ours, ours_sql, stock, _ = await _twice(member, statements, query)
    assert '"errors"' not in ours, ours
    assert ours == stock and expected in ours
    assert _rendered(ours_sql) == how


async def test_pages_from_cursors_written_whole_are_the_stock_answer(
    api: Api, conn: asyncpg.Connection, statements: StatementCounter
) -> None:
    """Forward from `after` and backward from `before`, through the whole connection."""
    member = api.as_user(await _member_with_odd_transactions(conn))
    query = """
    query ($first: Int, $after: String, $last: Int, $before: String) {
      me { transactions(first: $first, after: $after, last: $last, before: $before) {
        nodes { id amount { amount } }
        pageInfo { hasNextPage hasPreviousPage endCursor startCursor }
      } }
    }
    """
    seen = 0
    for direction in ("forward", "backward"):
        cursor = None
        while True:
            if direction == "forward":
                variables = {"first": 6, "after": cursor}
            else:
                variables = {"last": 6, "before": cursor}
            ours, ours_sql, stock, _ = await _twice(member, statements, query, **variables)
            assert ours == stock and _rendered(ours_sql) == "lists"
            info = json.loads(ours)["data"]["me"]["transactions"]["pageInfo"]
            seen += 1
            more = info["hasNextPage"] if direction == "forward" else info["hasPreviousPage"]
            if not more:
                break
            cursor = info["endCursor"] if direction == "forward" else info["startCursor"]
    assert seen == 2 * -(-len(AMOUNTS) * len(DESCRIPTIONS) // 6)  # every page, both ways


async def test_users_under_a_list_share_one_rendered_statement(
    api: Api, conn: asyncpg.Connection, statements: StatementCounter
) -> None:
    for n in range(3):
        user = await f.user(conn, f"m{n}@example.com", name=f"M{n}", role="MEMBER")
        account = await mf.account(conn, user)
        for day in range(1, 4):
            await mf.transaction(
                conn, account, user, None, amount_cents=100 * n + day,
                occurred_at=datetime(2026, 2, day, tzinfo=UTC), description=f"d{day}",
            )  # fmt: skip
    query = """
    { admin { users(first: 10) { edges { node {
        transactions(first: 2) { edges { node { id amount { amount } description } } }
    } } } } }
    """
    ours, ours_sql, stock, stock_sql = await _twice(api, statements, query)
    assert ours == stock and '"description":"d3"' in ours
    assert sum("n_read" in s for s in ours_sql) == 1
    assert len(ours_sql) <= len(stock_sql)


REWARDS = """
query ($first: Int!, $status: [RewardStatus!]) {
  me { rewards(first: $first, filter: {status: $status}) {
    edges { node { id status amount { amount currency } earnedAt __typename } }
    nodes { status earnedAt }
    pageInfo { hasNextPage endCursor }
    totalCount
  } }
}
"""

REWARDS_WITH_CURSORS = """
query { me { rewards(first: 9) { edges { cursor node { id status earnedAt } } } } }
"""


async def test_rewards_are_written_by_postgresql_too(
    api: Api, conn: asyncpg.Connection, statements: StatementCounter
) -> None:
    """Another connection of the same kind: an enum written as its GraphQL name."""
    member_id = await f.user(conn, "rewarded@example.com", name="Rewarded", role="MEMBER")
    account = await mf.account(conn, member_id)
    merchant = await f.merchant(conn, "Rewarding merchant")
    campaign = await f.campaign(conn, merchant, name="Rewards", status="ACTIVE")
    statuses = ["PENDING", "EARNED", "REDEEMED", "EXPIRED"]
    for n, amount in enumerate(AMOUNTS):
        when = TIMES[n % len(TIMES)].replace(day=1 + n)
        purchase = await mf.transaction(
            conn, account, member_id, None, amount_cents=amount, occurred_at=when
        )
        await mf.reward(
            conn, member_id, campaign, purchase, amount_cents=amount,
            status=statuses[n % len(statuses)], earned_at=when,
        )  # fmt: skip
    member = api.as_user(member_id)
    for query, variables, how in (
        (REWARDS, {"first": 50}, "lists"),
        (REWARDS, {"first": 3, "status": ["EARNED", "EXPIRED"]}, "lists"),
        (REWARDS_WITH_CURSORS, {}, "rows"),
    ):
        ours, ours_sql, stock, _ = await _twice(member, statements, query, **variables)
        assert '"errors"' not in ours, ours
        assert ours == stock
        assert _rendered(ours_sql) == how
        assert '"status":"REDEEMED"' in ours or variables.get("status")
        assert '"status":"EXPIRED"' in ours
