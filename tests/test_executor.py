"""Our executor (schema/execution/) gives exactly the stock executor's answers.

Two identical databases (demo data, then cloned) serve two copies of the app; every request
goes to one through our executor and to the other through Strawberry's stock executor,
and the responses must be equal. Mutations run on both, so both databases stay identical.
The requests: every GraphQL document found in the test suite (with variables made from the
demo data), queries generated from the schema by hypothesis-graphql, and lists whose items
have dataloader fields, for an ADMIN and a MEMBER. Status, data and errors must be equal.
"""

from __future__ import annotations

import ast
import base64
import itertools
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
import strawberry
from graphql import (
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    OperationDefinitionNode,
    parse,
    type_from_ast,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import from_schema
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from db.seed import seed_demo
from schema import schema
from schema.execution import Executor
from schema.execution.executor import leaf
from schema.members import Transaction
from schema.merchants import Merchant
from server import create_app
from tests.conftest import (
    JWT_SECRET,
    PgServer,
    _WithLifespanState,
    bearer,
    drop_database,
    with_database,
)

TESTS = Path(__file__).parent
# Timestamps written by now() differ between the two databases by the time between requests.
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)?")
# Measurements that differ between any two requests (and pools), whichever executor runs them.
MEASURED = re.compile(r'"(latencyMs|uptimeSeconds|poolSize|poolInUse)":[0-9.e+-]+')


def suite_documents() -> Iterator[str]:
    """Every string literal in tests/ that parses as a GraphQL document with one operation
    (one with several needs an `operationName`, which these comparisons do not send) that is
    not a subscription."""
    for path in sorted(TESTS.glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
                if "{" not in text:
                    continue
                try:
                    document = parse(text)
                except GraphQLError:
                    continue
                operations = [
                    d for d in document.definitions if isinstance(d, OperationDefinitionNode)
                ]
                # A subscription is a stream, not executed over HTTP (tests/streams.py).
                if len(operations) == 1 and operations[0].operation.value != "subscription":
                    yield text


def _gid(type_name: str, pk: int) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


def variable_sets(document: str, ids: dict[str, list[str]]) -> list[dict[str, Any]]:
    """A few variable assignments per document: real IDs of each type, small page sizes."""
    [operation] = [d for d in parse(document).definitions if isinstance(d, OperationDefinitionNode)]
    all_ids = [i for values in ids.values() for i in values]
    sets: list[dict[str, Any]] = []
    for type_name in ids:
        variables: dict[str, Any] = {}
        for definition in operation.variable_definitions or ():
            t = type_from_ast(schema._schema, definition.type)
            inner = t.of_type if isinstance(t, GraphQLNonNull) else t
            name = definition.variable.name.value
            if str(inner) == "ID":
                variables[name] = ids[type_name][0]
            elif isinstance(inner, GraphQLList) and "ID" in str(inner):
                variables[name] = all_ids[:4] + ["not-an-id"]
            elif str(inner) == "Int":
                variables[name] = 2
            elif isinstance(t, GraphQLNonNull):
                return []  # an input we cannot invent: the document's own test covers it
        sets.append(variables)
    return sets


@pytest.fixture
async def twin_apps(pg_server: PgServer, db_dsn: str) -> AsyncIterator[list[httpx.AsyncClient]]:
    conn = await asyncpg.connect(db_dsn)
    try:
        await seed_demo(conn)
        admin_id = await conn.fetchval("SELECT id FROM users WHERE email = 'admin@example.com'")
    finally:
        await conn.close()
    source = urlsplit(db_dsn).path.lstrip("/")
    twin = f"{source}_twin"
    admin = await asyncpg.connect(pg_server.admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{twin}" TEMPLATE "{source}" STRATEGY FILE_COPY')
    finally:
        await admin.close()
    clients = []
    try:
        async with (
            _client(db_dsn, admin_id) as fast_client,
            _client(with_database(pg_server.admin_dsn, twin), admin_id) as stock_client,
        ):
            clients = [fast_client, stock_client]
            yield clients
    finally:
        await drop_database(pg_server, twin)


def _client(dsn: str, admin_id: int) -> Any:
    import contextlib

    @contextlib.asynccontextmanager
    async def open_client() -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(dsn, apply_migrations=False, jwt_secret=JWT_SECRET)
        async with app.router.lifespan_context(app) as state:
            transport = httpx.ASGITransport(app=_WithLifespanState(app, dict(state or {})))
            async with httpx.AsyncClient(
                transport=transport, base_url="http://test", headers=bearer(admin_id)
            ) as c:
                yield c

    return open_client()


_request_ids = itertools.count()


async def both(
    clients: list[httpx.AsyncClient],
    query: str,
    variables: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> Any:
    """(fast response, stock response), each as (status, normalised body)."""
    answers = []
    headers = {"x-request-id": f"diff-{next(_request_ids)}", **(headers or {})}
    for client, executor in zip(
        clients, (Executor, StrawberryGraphQLCoreExecutionContext), strict=True
    ):
        schema.execution_context_class = executor
        try:
            r = await client.post(
                "/graphql", json={"query": query, "variables": variables}, headers=headers
            )
        finally:
            schema.execution_context_class = Executor
        text = MEASURED.sub(r'"\1":<measured>', TIMESTAMP.sub("<ts>", r.text))
        answers.append((r.status_code, text))
    return answers


def same_answer(ours: str, stock: str) -> bool:
    """The same body: data byte for byte, errors the same set (their order has no meaning in
    GraphQL, and the stock executor's follows which loader finished first)."""
    if ours == stock:
        return True
    o_body, s_body = json.loads(ours), json.loads(stock)
    o_errors, s_errors = o_body.pop("errors", None), s_body.pop("errors", None)
    if o_errors is None or s_errors is None:
        return False

    def key(error: dict[str, Any]) -> str:
        return json.dumps(error, sort_keys=True)

    return (
        json.dumps(o_body) == json.dumps(s_body)
        and sorted(o_errors, key=key) == sorted(s_errors, key=key)
        and ours.split(',"errors":')[0] == stock.split(',"errors":')[0]
    )


def assert_same_answer(ours: Any, stock: Any, what: Any) -> None:
    """The same status, data and errors."""
    assert ours[0] == stock[0], what
    assert same_answer(ours[1], stock[1]), what


async def demo_ids(clients: list[httpx.AsyncClient]) -> dict[str, list[str]]:
    body = (await clients[1].post("/graphql", json={"query": IDS})).json()["data"]
    campaigns = [e["node"]["id"] for e in body["campaigns"]["edges"]]
    merchants = [e["node"]["id"] for e in body["merchants"]["edges"]]
    return {"Campaign": campaigns, "Merchant": merchants, "Other": [_gid("Campaign", 10**9)]}


IDS = """
{ campaigns(first: 5) { edges { node { id } } } merchants(first: 5) { edges { node { id } } } }
"""


def test_plain_scalar_fields_take_the_fast_path_and_resolver_fields_do_not() -> None:
    campaign = schema._schema.get_type("Campaign")
    assert leaf(campaign.fields["name"]) is not None
    assert leaf(campaign.fields["status"]) is not None
    assert leaf(campaign.fields["merchant"]) is None  # custom resolver
    assert leaf(campaign.fields["budget"]) is None  # object type
    user = schema._schema.get_type("User")
    assert leaf(user.fields["name"]) is not None
    assert leaf(user.fields["email"]) is None  # guarded by a permission class


async def test_suite_documents_give_identical_responses(twin_apps: list[Any]) -> None:
    documents = sorted(set(suite_documents()))
    assert len(documents) >= 3  # the collection found the suite's documents
    ids = await demo_ids(twin_apps)
    compared = 0
    for document in documents:
        for variables in variable_sets(document, ids):
            fast, stock = await both(twin_apps, document, variables)
            assert_same_answer(fast, stock, (document, variables))
            compared += 1
    assert compared >= len(documents)


def generated_queries(count: int) -> list[str]:
    """Deterministic queries from the schema, arguments included (mostly invalid IDs)."""
    collected: list[str] = []
    scalars = {
        "DateTime": st.just("2026-01-01T00:00:00+00:00").map(_string_node),
        "Decimal": st.sampled_from(["1.5", "0"]).map(_string_node),
        "Date": st.sampled_from(["2026-01-01", "2026-02-01"]).map(_string_node),
        "JSON": st.sampled_from(["50", "x"]).map(_string_node),
    }

    @settings(
        max_examples=count,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(from_schema(schema.as_str(), custom_scalars=scalars))
    def collect(query: str) -> None:
        collected.append(query)

    collect()
    return collected


def _string_node(value: str) -> Any:
    from graphql import StringValueNode

    return StringValueNode(value=value)


async def test_generated_queries_give_identical_responses(twin_apps: list[Any]) -> None:
    queries = generated_queries(80)
    assert len(queries) >= 40
    for query in queries:
        fast, stock = await both(twin_apps, query, {})
        assert_same_answer(fast, stock, query)


# Lists whose items have dataloader fields with PREFETCH recipes (the executor loads them for
# the whole list first), nested lists, arguments, and a period the resolver refuses.
LISTS = """
query ($from: Date, $to: Date) {
  campaigns(first: 20) {
    edges { cursor node {
      id name status
      merchant { id name }
      createdBy { id name email }
      dailyAnalytics(from: $from, to: $to) { day impressions spend { amount } }
      abTests { id name variants { name impressions conversionRate } }
    } }
  }
}
"""


async def test_lists_with_loader_fields_give_identical_responses(
    twin_apps: list[Any], db_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = await asyncpg.connect(db_dsn)
    try:
        member = await conn.fetchval("SELECT min(id) FROM users WHERE role = 'MEMBER'")
        last_day = await conn.fetchval("SELECT max(day) FROM campaign_analytics_daily")
    finally:
        await conn.close()
    week = {"from": str(last_day.fromordinal(last_day.toordinal() - 6)), "to": str(last_day)}
    refused = {"from": str(last_day), "to": "2000-01-01"}  # `to` before `from`
    for variables, viewer in [
        (week, None),  # the test's ADMIN
        ({}, None),  # default period
        (refused, None),  # each item reports the error
        (week, bearer(member)),  # a MEMBER: STAFF-only fields refuse
    ]:
        fast, stock = await both(twin_apps, LISTS, variables, viewer)
        assert_same_answer(fast, stock, (variables, viewer))
        assert fast[0] == 200
    body = fast[1]
    assert '"FORBIDDEN"' in body  # the member's answer did exercise refusals


# `account` is not declared in schema/render.py: PostgreSQL cannot write these nodes, so the
# Transaction objects are completed by the executor.
MY_TRANSACTIONS = """
query { me { transactions(first: 3) {
  edges { node { id category amount { currency } account { __typename } } } } } }
"""


async def test_an_object_cast_to_another_type_is_refused_like_the_stock_executor(
    twin_apps: list[Any], db_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An object `strawberry.cast` to another type fails as in the stock executor."""
    conn = await asyncpg.connect(db_dsn)
    try:
        member = await conn.fetchval(
            "SELECT min(user_id) FROM transactions t JOIN users u ON u.id = t.user_id "
            "WHERE u.role = 'MEMBER'"
        )
    finally:
        await conn.close()
    fast, stock = await both(twin_apps, MY_TRANSACTIONS, {}, bearer(member))
    assert_same_answer(fast, stock, "plain")
    assert fast[0] == 200 and '"errors"' not in fast[1]

    from_row = Transaction.from_row

    def cast_first(row: Any) -> Any:
        made = from_row(row)
        return strawberry.cast(Merchant, made) if row.id == first_id else made

    first_id = json.loads(fast[1])["data"]["me"]["transactions"]["edges"][0]["node"]["id"]
    first_id = int(base64.b64decode(first_id).decode().split(":")[1])
    monkeypatch.setattr(Transaction, "from_row", staticmethod(cast_first))
    fast, stock = await both(twin_apps, MY_TRANSACTIONS, {}, bearer(member))
    assert_same_answer(fast, stock, "cast")
    assert '"errors"' in fast[1]  # graphql-core refuses the Merchant-cast object
