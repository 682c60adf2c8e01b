"""Abuse limits and malicious documents: each refused with its own code, before any SQL runs."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import pytest

from schema import limits
from tests import factories as f
from tests.conftest import Api, StatementCounter

DEFAULTS = limits.Limits()

NESTED_READ = """
{ campaigns(first: 5) { edges { node { name merchant { name } createdBy { name } } } } }
"""


async def post(api: Api, body: Any, **kw: Any) -> tuple[int, dict[str, Any]]:
    kw["headers"] = api.headers | kw.get("headers", {})
    response = await api.client.post("/graphql", json=body, **kw)
    return response.status_code, response.json()


def the_error(body: dict[str, Any]) -> dict[str, Any]:
    [error] = body["errors"]
    assert "data" not in body or body["data"] is None
    return error


async def test_a_query_within_every_limit_runs(api: Api, conn: asyncpg.Connection) -> None:
    m = await f.merchant(conn, "Shop")
    await f.campaign(conn, m, name="Spring")
    data = await api.data(NESTED_READ)
    [edge] = data["campaigns"]["edges"]
    assert edge["node"]["merchant"] == {"name": "Shop"}


async def test_deep_nesting_is_refused_before_parsing(
    api: Api, statements: StatementCounter
) -> None:
    depth = 400  # deep enough to exhaust a recursive parser
    query = "{" + "a{" * depth + "a" + "}" * (depth + 1)
    status, body = await post(api, {"query": query})
    error = the_error(body)
    assert status == 200
    assert error["extensions"]["code"] == "DEPTH_LIMIT_EXCEEDED"
    assert f"depth limit of {DEFAULTS.max_depth}" in error["message"]
    assert statements.count == 0


async def test_query_depth_through_fragments_is_refused(
    api: Api, tight: Any, statements: StatementCounter
) -> None:
    tight(max_depth=3)
    # campaigns(1) > edges(2) > node(3) > merchant(4) > name(5), reached through fragments.
    query = """
    query { campaigns { ...E } }
    fragment E on CampaignConnection { edges { node { ...C } } }
    fragment C on Campaign { merchant { name } }
    """
    error = the_error(await api.gql(query))
    assert error["extensions"]["code"] == "DEPTH_LIMIT_EXCEEDED"
    assert error["message"] == "The query is 5 levels deep; the depth limit is 3"
    assert statements.count == 0


async def test_alias_bomb_is_refused(api: Api, statements: StatementCounter) -> None:
    count = DEFAULTS.max_aliases + 1
    query = "{ " + " ".join(f"c{i}: campaigns {{ totalCount }}" for i in range(count)) + " }"
    error = the_error(await api.gql(query))
    assert error["extensions"]["code"] == "ALIAS_LIMIT_EXCEEDED"
    assert error["message"] == (
        f"The query uses {count} aliases; the alias limit is {DEFAULTS.max_aliases}"
    )
    assert statements.count == 0


async def test_aliases_inside_a_reused_fragment_count_every_use(
    api: Api, tight: Any, statements: StatementCounter
) -> None:
    tight(max_aliases=5)
    # 3 aliases in the fragment, spread twice = 6.
    query = """
    { one: campaigns { ...F } two: campaigns { ...F } }
    fragment F on CampaignConnection { a: totalCount b: totalCount c: totalCount }
    """
    error = the_error(await api.gql(query))
    assert error["extensions"]["code"] == "ALIAS_LIMIT_EXCEEDED"
    assert "uses 8 aliases" in error["message"]  # 2 root aliases + 3 x 2
    assert statements.count == 0


async def test_token_limit_is_enforced(api: Api, statements: StatementCounter) -> None:
    query = "{" + " a" * (DEFAULTS.max_tokens + 1) + "}"
    assert len(query.encode()) < DEFAULTS.max_document_bytes  # so tokens, not size, trips
    error = the_error(await api.gql(query))
    assert error["extensions"]["code"] == "TOKEN_LIMIT_EXCEEDED"
    assert f"more than {DEFAULTS.max_tokens} tokens" in error["message"]
    assert statements.count == 0


async def test_huge_string_in_the_document_is_refused_by_size(
    api: Api, statements: StatementCounter
) -> None:
    text = "x" * (DEFAULTS.max_document_bytes + 1)
    query = '{ campaigns(filter: {search: "' + text + '"}) { totalCount } }'
    error = the_error(await api.gql(query))
    size = len(query.encode())
    assert error["extensions"]["code"] == "DOCUMENT_TOO_LARGE"
    assert error["message"] == (
        f"The document is {size} bytes; the limit is {DEFAULTS.max_document_bytes} bytes"
    )
    assert statements.count == 0


async def test_huge_string_in_variables_is_a_user_error(api: Api, conn: asyncpg.Connection) -> None:
    m = await f.merchant(conn)
    mutation = """
    mutation ($input: CreateCampaignInput!) {
      createCampaign(input: $input) { campaign { id } userErrors { field code } }
    }"""
    variables = {
        "input": {
            "merchantId": f.gid("Merchant", m),
            "name": "n" * 200_000,
            "rewardType": "FIXED_AMOUNT",
            "rewardValue": "1",
            "budget": "10",
        }
    }
    data = await api.data(mutation, variables)
    assert data["createCampaign"] == {
        "campaign": None,
        "userErrors": [{"field": ["name"], "code": "TOO_LONG"}],
    }
    assert await conn.fetchval("SELECT count(*) FROM campaigns") == 0


async def test_body_over_the_limit_is_413(api: Api, statements: StatementCounter) -> None:
    body = json.dumps({"query": "{ __typename }", "padding": "p" * DEFAULTS.max_body_bytes})
    response = await api.client.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["errors"][0] == {
        "message": f"The request body exceeds the limit of {DEFAULTS.max_body_bytes} bytes",
        "extensions": {"code": "PAYLOAD_TOO_LARGE"},
    }
    assert statements.count == 0


async def test_chunked_body_over_the_limit_is_413(api: Api, tight: Any) -> None:
    # No Content-Length: the middleware counts the body as it arrives.
    async def chunks() -> Any:
        for _ in range(30):
            yield b" " * 100_000

    response = await api.client.post(
        "/graphql", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_cost_multiplies_page_sizes_down_the_tree(
    api: Api, tight: Any, statements: StatementCounter
) -> None:
    tight(max_cost=50)
    query = "query ($n: Int) { campaigns(first: $n) { nodes { merchant { name } } } }"
    # Worst case for n: n campaigns (the connection), n nodes, n merchants.
    error = the_error(await api.gql(query, {"n": 20}))
    assert error["extensions"]["code"] == "COST_LIMIT_EXCEEDED"
    assert error["message"] == "The query may return up to 60 objects; the cost limit is 50"
    assert statements.count == 0

    body = await api.gql(query, {"n": 16})  # 48 objects: allowed
    assert "errors" not in body
    # The measure of a document is remembered per page size asked, never reused for another.
    error = the_error(await api.gql(query, {"n": 17}))
    assert error["message"] == "The query may return up to 51 objects; the cost limit is 50"
    assert "errors" not in await api.gql(query, {"n": 16})


async def test_cost_counts_each_id_asked_of_nodes(
    api: Api, tight: Any, statements: StatementCounter
) -> None:
    tight(max_cost=2)
    query = "query ($ids: [ID!]!) { nodes(ids: $ids) { id } }"
    ids = [f.gid("Campaign", n) for n in (1, 2, 3)]
    error = the_error(await api.gql(query, {"ids": ids}))
    assert error["extensions"]["code"] == "COST_LIMIT_EXCEEDED"
    assert error["message"] == "The query may return up to 3 objects; the cost limit is 2"
    assert statements.count == 0
    assert await api.data(query, {"ids": ids[:2]}) == {"nodes": [None, None]}


async def test_default_cost_limit_refuses_aliased_full_pages(
    api: Api, statements: StatementCounter
) -> None:
    one = "campaigns(first: 100) { edges { node { merchant { id } createdBy { id } } } }"
    query = "{ " + " ".join(f"c{i}: {one}" for i in range(DEFAULTS.max_aliases)) + " }"
    # Per alias: 100 each for the connection, edges, node, merchant and createdBy.
    expected = DEFAULTS.max_aliases * 5 * 100
    assert expected > DEFAULTS.max_cost
    error = the_error(await api.gql(query))
    assert error["extensions"]["code"] == "COST_LIMIT_EXCEEDED"
    assert f"up to {expected} objects" in error["message"]
    assert statements.count == 0


async def test_fragment_cycle_is_a_validation_error(api: Api, statements: StatementCounter) -> None:
    query = """
    { ...A }
    fragment A on Query { campaigns { totalCount } ...B }
    fragment B on Query { ...A }
    """
    error = the_error(await api.gql(query))
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "within itself" in error["message"]
    assert statements.count == 0


async def test_syntax_error_has_a_code(api: Api) -> None:
    error = the_error(await api.gql("{ campaigns { totalCount "))
    assert error["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"


async def test_ten_thousand_operation_batch_is_refused(
    api: Api, statements: StatementCounter
) -> None:
    batch = [{"query": "{ campaigns { totalCount } }"}] * 10_000
    status, body = await post(api, batch)
    assert status == 400
    assert body["errors"][0] == {
        "message": f"The batch has 10000 operations; the limit is {DEFAULTS.max_batch} per request",
        "extensions": {"code": "BATCH_LIMIT_EXCEEDED"},
    }
    assert statements.count == 0


async def test_small_batch_runs_each_operation(api: Api) -> None:
    status, body = await post(
        api, [{"query": "{ campaigns { totalCount } }"}, {"query": "{ __typename }"}]
    )
    assert status == 200
    assert body == [
        {"data": {"campaigns": {"totalCount": 0}}},
        {"data": {"__typename": "Query"}},
    ]


@pytest.mark.parametrize(
    "batch", [[1, 2], [{"query": 5}], [], [{"query": "{ a }", "variables": 3}]]
)
async def test_malformed_batch_is_a_bad_request(api: Api, batch: Any) -> None:
    status, body = await post(api, batch)
    assert status == 400
    assert body["errors"][0]["extensions"] == {"code": "BAD_REQUEST"}


async def test_invalid_utf8_body_is_a_bad_request(api: Api) -> None:
    response = await api.client.post(
        "/graphql",
        content=b'{"query": "{ __typename \xff\xfe }"}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"] == {"code": "BAD_REQUEST"}


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "multipart/form-data"])
async def test_wrong_content_type_is_a_bad_request(api: Api, content_type: str) -> None:
    response = await api.client.post(
        "/graphql",
        content=b'{"query": "{ __typename }"}',
        headers={"content-type": content_type},
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"] == {"code": "BAD_REQUEST"}


async def test_introspection_can_be_switched_off(
    api: Api, tight: Any, statements: StatementCounter
) -> None:
    tight(introspection=False)
    hidden = """
    { campaigns { totalCount } ...Q }
    fragment Q on Query { __schema { types { name } } }
    """
    error = the_error(await api.gql(hidden))
    assert error["extensions"]["code"] == "INTROSPECTION_DISABLED"
    assert statements.count == 0
    assert await api.data("{ __typename }") == {"__typename": "Query"}


async def test_page_size_over_the_setting_is_refused(api: Api) -> None:
    body = await api.gql("{ campaigns(first: 101) { totalCount } }")
    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "first"}
    assert "at most 100" in error["message"]


def test_limits_read_from_the_environment() -> None:
    got = limits.Limits.from_env(
        {"GRAPHQL_MAX_DEPTH": "7", "GRAPHQL_MAX_COST": "99", "APP_ENV": "production"}
    )
    assert (got.max_depth, got.max_cost, got.introspection) == (7, 99, False)
    assert got.max_aliases == DEFAULTS.max_aliases
    with pytest.raises(ValueError, match="GRAPHQL_MAX_BATCH must be a positive integer"):
        limits.Limits.from_env({"GRAPHQL_MAX_BATCH": "0"})
