"""The attacker's tour of issue 12, part 5 (and the document-size parts of part 6): a cost model
that counts every list, one budget per batch, a response-size cap, a time budget, and a cap on
field selections checked before validation. Each test replays one finding from the outside."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import graphql
import pytest
import strawberry.schema.schema as strawberry_schema
from graphql import build_schema

from schema import documents, limits, list_lengths
from schema import schema as app_schema
from tests import factories as f
from tests import member_factories as mf
from tests.conftest import Api, Cast, StatementCounter

DEFAULTS = limits.Limits()
TODAY = datetime.now(UTC).date()
A_YEAR_AGO = TODAY - timedelta(days=365)

# The finding: 30 aliases of this cost 9,000 and returned 1.1 M objects (74 MB).
YEAR_OF_DAYS = (
    f'campaigns(first: 100) {{ nodes {{ dailyAnalytics(from: "{A_YEAR_AGO}", to: "{TODAY}") '
    "{ day impressions clicks conversions } } }"
)
DAYS_BY_VARIABLES = """
query ($from: Date, $to: Date) {
  campaigns(first: 10) { nodes { dailyAnalytics(from: $from, to: $to) { day } } }
}
"""
LAUNCH = """
mutation ($id: ID!) { launchCampaign(input: {id: $id}) { campaign { status } userErrors { code } } }
"""


async def post(api: Api, body: Any) -> tuple[int, Any]:
    response = await api.client.post("/graphql", json=body, headers=api.headers)
    return response.status_code, response.json()


def the_error(body: dict[str, Any]) -> dict[str, Any]:
    [error] = body["errors"]
    assert body.get("data") is None
    return error


def me_with_ids(n: int) -> str:
    """`{ me { id id ... } }`, a text no cache has seen."""
    return "{ me { " + " ".join(["id"] * n) + " } } # " + uuid.uuid4().hex


# --- every list is counted -------------------------------------------------------------------


async def test_a_year_of_daily_analytics_counts_every_day(
    cast: Cast, statements: StatementCounter
) -> None:
    # One alias of the finding's query: 100 campaigns, 100 nodes, 100 x 366 days.
    error = the_error(await cast.manager.gql("{ " + YEAR_OF_DAYS + " }"))
    assert error["extensions"]["code"] == "COST_LIMIT_EXCEEDED"
    assert error["message"] == (
        f"The query may return up to {100 + 100 + 100 * 366} objects; the cost limit is "
        f"{DEFAULTS.max_cost}"
    )
    assert statements.count == 0


@pytest.mark.parametrize(
    ("variables", "days"),
    [
        ({"from": str(A_YEAR_AGO), "to": str(TODAY)}, 366),
        ({"from": str(TODAY - timedelta(days=6))}, 7),  # `to` defaults to today
        ({}, 30),  # the default period
        ({"from": "not a date"}, 366),  # refused when coerced; the worst case meanwhile
        ({"from": str(TODAY), "to": str(A_YEAR_AGO)}, 0),  # backwards: refused, no rows
    ],
)
async def test_daily_analytics_range_from_variables_is_counted(
    cast: Cast, tight: Any, variables: dict[str, str], days: int
) -> None:
    tight(max_cost=1)
    error = the_error(await cast.manager.gql(DAYS_BY_VARIABLES, variables))
    assert error["extensions"]["code"] == "COST_LIMIT_EXCEEDED"
    assert f"up to {10 + 10 + 10 * days} objects" in error["message"]


@pytest.mark.parametrize(
    ("query", "cost"),
    [
        ("{ me { accounts { id } } }", 1 + 50),
        (
            f'{{ me {{ spending(from: "{A_YEAR_AGO}", to: "{TODAY}", groupBy: CATEGORY) '
            "{ key } } }",
            1 + 100,
        ),
        ("{ me { merchantAffinities(first: 7) { score } } }", 1 + 7),
        ("{ me { merchantAffinities { score } } }", 1 + 10),
        ("{ admin { settings { key } } }", 1 + 2),
        ("{ affinitySummary { topMerchants { users } } }", 1 + 100),
        (
            "{ campaigns(first: 2) { nodes { abTests { variants { name } } } } }",
            2 + 2 + 2 * 10 + 2 * 10 * 10,
        ),
    ],
)
async def test_lists_without_paging_count_their_cap(
    cast: Cast, tight: Any, statements: StatementCounter, query: str, cost: int
) -> None:
    tight(max_cost=1)
    error = the_error(await cast.admin.gql(query))
    assert error["extensions"]["code"] == "COST_LIMIT_EXCEEDED"
    assert error["message"] == f"The query may return up to {cost} objects; the cost limit is 1"
    assert statements.count == 0


async def test_accounts_stop_at_their_stated_cap(cast: Cast, conn: asyncpg.Connection) -> None:
    member = cast.member.user_id
    await conn.execute(
        "INSERT INTO accounts (user_id, kind, institution, last_four)"
        " SELECT $1, 'CHECKING', 'Bank ' || g, '0000' FROM generate_series(1, 51) g",
        member,
    )
    data = await cast.member.data("{ me { accounts { institution } } }")
    assert [a["institution"] for a in data["me"]["accounts"]] == [f"Bank {n}" for n in range(1, 51)]


async def test_ab_tests_and_variants_stop_at_their_stated_caps(
    cast: Cast, conn: asyncpg.Connection
) -> None:
    c = await f.campaign(conn, await f.merchant(conn), status="ACTIVE")
    test_ids = await conn.fetch(
        "INSERT INTO ab_tests (campaign_id, name) SELECT $1, 'T' || g"
        " FROM generate_series(1, 11) g RETURNING id",
        c,
    )
    await conn.execute(
        "INSERT INTO ab_test_variants (ab_test_id, name, traffic_share)"
        " SELECT $1, 'v' || lpad(g::text, 2, '0'), 0.01 FROM generate_series(1, 11) g",
        test_ids[0]["id"],
    )
    query = "query ($id: ID!) { campaign(id: $id) { abTests { name variants { name } } } }"
    data = await cast.manager.data(query, {"id": f.gid("Campaign", c)})
    tests = data["campaign"]["abTests"]
    assert [t["name"] for t in tests] == [f"T{n}" for n in range(1, 11)]
    assert [v["name"] for v in tests[0]["variants"]] == [f"v{n:02}" for n in range(1, 11)]


async def test_spending_returns_at_most_its_stated_groups(
    cast: Cast, conn: asyncpg.Connection
) -> None:
    member = cast.member.user_id
    assert member is not None
    account = await mf.account(conn, member, institution="Bank", last_four="0000")
    # 101 categories; category n spends n cents, so the smallest (c001) is the one left out.
    await conn.execute(
        "INSERT INTO transactions (account_id, user_id, amount_cents, category, occurred_at)"
        " SELECT $1, $2, g, 'c' || lpad(g::text, 3, '0'), now() FROM generate_series(1, 101) g",
        account,
        member,
    )
    query = (
        f'{{ me {{ spending(from: "{TODAY - timedelta(days=1)}", to: "{TODAY}", '
        "groupBy: CATEGORY) { key share } } }"
    )
    buckets = (await cast.member.data(query))["me"]["spending"]
    assert len(buckets) == 100
    assert buckets[0]["key"] == "c101"
    assert "c001" not in {b["key"] for b in buckets}
    assert buckets[0]["share"] == pytest.approx(101 / sum(range(1, 102)))


@pytest.mark.parametrize(
    "coordinate", [f"{t}.{name}" for t, name, _ in list_lengths.list_fields(app_schema._schema)]
)
def test_every_list_field_has_a_worst_case(coordinate: str) -> None:
    type_name, field_name = coordinate.split(".")
    assert (
        coordinate in list_lengths.LIST_LENGTHS or f"*.{field_name}" in list_lengths.LIST_LENGTHS
    ), (
        f"{coordinate} is a list without a worst-case length; add to LIST_LENGTHS in "
        f'schema/list_lengths.py: "{coordinate}": Cap(n) (or CountOf, IntArgument, DayRange, '
        "PAGE, Leaves()), and make its resolver return no more"
    )


def test_every_line_of_the_table_names_a_list_field() -> None:
    fields = {f"{t}.{name}" for t, name, _ in list_lengths.list_fields(app_schema._schema)}
    names = {c.split(".")[1] for c in fields}
    for key in list_lengths.LIST_LENGTHS:
        assert key in fields or (key.startswith("*.") and key[2:] in names), key


def test_a_schema_with_an_uncounted_list_does_not_start() -> None:
    extra = build_schema("type Query { tags: [Tag!]! }  type Tag { name: String }")
    with pytest.raises(LookupError) as refused:
        list_lengths.check(extra)
    assert '"Query.tags": <Cap(n)' in str(refused.value)


# --- one budget per batch --------------------------------------------------------------------


async def test_a_batch_shares_one_cost_budget(cast: Cast, statements: StatementCounter) -> None:
    # Each operation is within the limit (4,000 + 20 objects); three of them are not.
    one = "{ campaigns(first: 20) { nodes { dailyAnalytics(from: $f, to: $t) { day } } } }"
    query = "query ($f: Date, $t: Date) " + one
    variables = {"f": str(TODAY - timedelta(days=198)), "t": str(TODAY)}
    assert "errors" not in await cast.manager.gql(query, variables)
    statements.reset()
    status, body = await post(cast.manager, [{"query": query, "variables": variables}] * 3)
    assert status == 400
    assert body["errors"] == [
        {
            "message": f"The batch may return up to {3 * (20 + 20 + 20 * 199)} objects; the "
            f"cost limit is {DEFAULTS.max_cost} for the whole request",
            "extensions": {"code": "COST_LIMIT_EXCEEDED"},
        }
    ]
    assert statements.count == 0


# --- validation that cannot be made expensive ------------------------------------------------


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the documents graphql-core validates (every path validates through Strawberry's
    validate_document)."""
    calls: list[int] = []

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return graphql.validate(*args, **kwargs)

    monkeypatch.setattr(strawberry_schema, "validate", counting)
    return calls


async def test_repeated_fields_are_refused_before_validation(
    anon: Api, validations: list[int]
) -> None:
    error = the_error(await anon.gql(me_with_ids(1990)))
    assert error["extensions"]["code"] == "FIELD_LIMIT_EXCEEDED"
    assert error["message"] == (
        f"The document selects 1991 fields; the limit is {DEFAULTS.max_fields}"
    )
    assert validations == []


BATCH_FIELDS_REFUSED = {
    "message": f"The batch selects more than {DEFAULTS.max_fields} fields, the limit for the "
    "whole request",
    "extensions": {"code": "FIELD_LIMIT_EXCEEDED"},
}


async def test_the_60_kb_batch_of_repeated_fields_is_refused_before_validation(
    anon: Api, validations: list[int]
) -> None:
    # The finding: this batch blocked the event loop for 1.7 s (each document validated twice).
    batch = [{"query": me_with_ids(1990)} for _ in range(10)]
    status, body = await post(anon, batch)
    assert status == 400
    assert body["errors"] == [BATCH_FIELDS_REFUSED]
    assert validations == []


async def test_a_batch_shares_one_token_budget(anon: Api, validations: list[int]) -> None:
    # 4 documents of 2 fields and ~610 tokens each: each within the token limit, not together.
    ids = ", ".join(['"x"'] * 600)
    batch = [{"query": f"{{ nodes(ids: [{ids}]) {{ id }} }} # {n}"} for n in range(4)]
    status, body = await post(anon, batch)
    assert status == 400
    assert body["errors"] == [
        {
            "message": f"The batch has more than {DEFAULTS.max_tokens} tokens; the limit is for "
            "the whole request",
            "extensions": {"code": "TOKEN_LIMIT_EXCEEDED"},
        }
    ]
    assert validations == []


async def test_a_batch_of_repeated_fields_shares_one_field_budget(
    anon: Api, validations: list[int]
) -> None:
    # 151 fields, each its own response name, ~460 tokens each: only their sum is too many.
    aliased = "{ me { " + " ".join(f"a{n}: id" for n in range(150)) + " } }"
    batch = [{"query": f"{aliased} # {n}"} for n in range(10)]
    status, body = await post(anon, batch)
    assert status == 400
    assert body["errors"] == [BATCH_FIELDS_REFUSED]
    assert validations == []


@pytest.mark.parametrize("selection", ["id", "noSuchField"])
async def test_each_document_is_validated_once(
    anon: Api, validations: list[int], selection: str
) -> None:
    # Without a token `me` fails, an invalid document is refused: either way the document
    # was validated once.
    body = await anon.gql("{ me { " + selection + " } } # " + uuid.uuid4().hex)
    assert body["errors"][0]["extensions"]["code"] in (
        "UNAUTHENTICATED",
        "GRAPHQL_VALIDATION_FAILED",
    )
    assert len(validations) == 1


def test_fragments_count_their_fields_at_every_spread() -> None:
    # Each level spreads the one below twice: 2^16 fields from a few hundred bytes.
    levels = [f"fragment F{n} on User {{ ...F{n + 1} ...F{n + 1} }}" for n in range(16)]
    document = graphql.parse(
        "{ me { ...F0 } } " + " ".join(levels) + " fragment F16 on User { id }"
    )
    from schema import documents

    assert documents.count_fields(document) == 1 + 2**16


# --- the backstops ---------------------------------------------------------------------------


async def test_a_response_over_the_cap_is_refused_whole(
    cast: Cast, conn: asyncpg.Connection, tight: Any
) -> None:
    member = cast.member.user_id
    assert member is not None
    account = await mf.account(conn, member, institution="Bank", last_four="0000")
    await conn.execute(
        "INSERT INTO transactions (account_id, user_id, amount_cents, category, occurred_at,"
        " description) SELECT $1, $2, 100, 'Retail', now() - g * interval '1 minute',"
        " repeat('x', 500) FROM generate_series(1, 20) g",
        account,
        member,
    )
    # A page PostgreSQL writes as JSON (schema/render.py) is counted like any other.
    query = "{ me { transactions(first: 20) { nodes { id description } } } }"
    body = await cast.member.data(query)
    assert len(body["me"]["transactions"]["nodes"]) == 20
    tight(max_response_bytes=5_000)
    response = await cast.member.client.post(
        "/graphql", json={"query": query}, headers=cast.member.headers
    )
    assert response.status_code == 400
    assert len(response.content) < 200
    assert response.json() == {
        "errors": [
            {
                "message": response.json()["errors"][0]["message"],
                "extensions": {"code": "RESPONSE_TOO_LARGE"},
            }
        ]
    }
    assert response.json()["errors"][0]["message"].endswith(
        "bytes; the limit is 5000 bytes; ask for less"
    )


async def test_a_request_over_its_time_budget_is_cancelled_and_the_pool_recovers(
    api: Api, conn: asyncpg.Connection, tight: Any
) -> None:
    tight(request_timeout_s=0.5)
    c = await f.campaign(conn, await f.merchant(conn))
    # Another session holds the campaign's row: the launch's UPDATE waits in PostgreSQL.
    blocker = conn.transaction()
    await blocker.start()
    await conn.execute("SELECT 1 FROM campaigns WHERE id = $1 FOR UPDATE", c)
    try:
        response = await asyncio.wait_for(
            api.client.post(
                "/graphql",
                json={"query": LAUNCH, "variables": {"id": f.gid("Campaign", c)}},
                headers=api.headers,
            ),
            timeout=3,
        )
    finally:
        await blocker.rollback()
    assert response.status_code == 504
    assert response.json() == {
        "errors": [
            {
                "message": "The request took longer than its time budget of 0.5 s; ask for less",
                "extensions": {"code": "REQUEST_TIMEOUT"},
            }
        ]
    }
    # Nothing half-written, and the cancelled statement is gone from PostgreSQL.
    assert await conn.fetchval("SELECT status FROM campaigns WHERE id = $1", c) == "DRAFT"
    assert await conn.fetchval("SELECT count(*) FROM audit_logs") == 0
    # Every pooled connection works: more requests than the pool has connections.
    results = await asyncio.gather(*(api.gql("{ campaigns { totalCount } }") for _ in range(25)))
    assert all(r == {"data": {"campaigns": {"totalCount": 1}}} for r in results)
    launched = await api.data(LAUNCH, {"id": f.gid("Campaign", c)})
    assert launched["launchCampaign"] == {"campaign": {"status": "ACTIVE"}, "userErrors": []}
    busy = await conn.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'campaign-graphql'"
        " AND state <> 'idle'"
    )
    assert busy == 0


async def test_variable_defaults_are_counted(cast: Cast, tight: Any) -> None:
    # Without variables, the defaults apply: 100 campaigns of a year of days, not the
    # connection's default 20 and the analytics' default 30 days.
    tight(max_cost=1)
    query = (
        f'query ($n: Int = 100, $from: Date = "{A_YEAR_AGO}") {{ campaigns(first: $n) '
        "{ nodes { dailyAnalytics(from: $from) { day } } } }"
    )
    error = the_error(await cast.manager.gql(query))
    assert error["extensions"]["code"] == "COST_LIMIT_EXCEEDED"
    assert f"up to {100 + 100 + 100 * 366} objects" in error["message"]


# --- found by the attack on the merged server ------------------------------------------------


async def test_a_batch_of_two_operation_documents_is_refused_not_run(
    cast: Cast, statements: StatementCounter
) -> None:
    # Each document's first operation went uncounted by the batch budget, and ran.
    one = "query A { campaigns(first: 20) { nodes { id } } } query B { __typename }"

    status, body = await post(cast.manager, [{"query": one}] * 3)

    assert status == 400
    assert body["errors"] == [
        {
            "message": "The document has several operations: name the one to run in "
            "`operationName`",
            "extensions": {"code": "OPERATION_NOT_CHOSEN"},
        }
    ]
    assert statements.count == 0


async def test_a_document_of_several_operations_needs_an_operation_name(
    cast: Cast, statements: StatementCounter
) -> None:
    # Strawberry ran the first operation when none was named.
    document = "query A { campaigns { totalCount } } query B { __typename }"

    status, body = await post(cast.manager, {"query": document})

    assert status == 200
    error = the_error(body)
    assert error["extensions"]["code"] == "OPERATION_NOT_CHOSEN"
    assert statements.count == 0
    status, body = await post(cast.manager, {"query": document, "operationName": "B"})
    assert (status, body) == (200, {"data": {"__typename": "Query"}})


async def test_a_page_size_given_as_a_whole_float_is_counted(cast: Cast, tight: Any) -> None:
    # graphql-core reads {"n": 100.0} as the Int 100; the cost walk counted the default 20.
    tight(max_cost=150)
    query = "query ($n: Int) { campaigns(first: $n) { nodes { id } } }"

    for n in (100, 100.0):
        error = the_error(await cast.manager.gql(query, {"n": n}))
        assert error["extensions"]["code"] == "COST_LIMIT_EXCEEDED"
        assert "up to 200 objects" in error["message"]


async def test_a_field_repeated_in_one_place_is_refused_before_validation(
    anon: Api, validations: list[int]
) -> None:
    # 200 x `me { ... on User { id } }` (400 fields, within that cap) took 0.17 s each to
    # validate: the overlapping-fields rule compares every pair of the repeated field.
    def repeated(n: int) -> str:
        return "{ " + " ".join(["me { ... on User { id } }"] * n) + " } # " + uuid.uuid4().hex

    error = the_error(await anon.gql(repeated(DEFAULTS.max_repeated_fields + 1)))
    assert error["extensions"]["code"] == "FIELD_LIMIT_EXCEEDED"
    assert error["message"] == (
        f"The document selects one field {DEFAULTS.max_repeated_fields + 1} times in one place "
        f"(through fragments); the limit is {DEFAULTS.max_repeated_fields}"
    )
    assert validations == []
    # Within the cap it is validated, and refused only for want of a sign-in.
    body = await anon.gql(repeated(DEFAULTS.max_repeated_fields))
    assert {e["extensions"]["code"] for e in body["errors"]} == {"UNAUTHENTICATED"}
    assert validations == [1]


def test_repeats_are_counted_through_fragments() -> None:
    document = graphql.parse(
        "query { me { ...A ...B id } } fragment A on User { id name } "
        "fragment B on User { id ...A }"
    )
    assert documents.most_repeated(document) == 4  # id: itself, A, B and B's A


async def test_too_many_ids_are_refused_before_the_list_is_converted_per_field(
    anon: Api, cast: Cast, statements: StatementCounter
) -> None:
    # A 900 KB `$ids` used by 30 aliased `nodes` cost 0.5 s of CPU, even without a token:
    # the list was converted for every alias before the 100-ID cap refused it.
    query = (
        "query ($ids: [ID!]!) { "
        + " ".join(f"a{n}: nodes(ids: $ids) {{ id }}" for n in range(30))
        + " }"
    )
    ids = ["Q2FtcGFpZ246MQ=="] * 5000

    for client in (anon, cast.member):
        error = the_error(await client.gql(query, {"ids": ids}))
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "ids"}
        assert error["message"] == "`ids` may hold at most 100 IDs (got 5000)"
    assert statements.count == 0


async def test_too_many_ids_in_a_batch_are_a_coded_400(anon: Api) -> None:
    query = "query ($ids: [ID!]!) { nodes(ids: $ids) { id } }"

    status, body = await post(anon, [{"query": query, "variables": {"ids": ["x"] * 101}}] * 2)

    assert status == 400
    assert body["errors"] == [
        {
            "message": "`ids` may hold at most 100 IDs (got 101)",
            "extensions": {"code": "BAD_USER_INPUT"},
        }
    ]
