"""The /graphql view's plain path (one operation POSTed as a JSON object) answers exactly as
Strawberry's generic path does: every request below goes through both and the responses are
compared byte for byte (status, headers, body). Other requests never take the plain path.

The plain path is entered at the front door (schema.http.GraphQLLane, before Starlette's
router and middleware); `Paths.generic()` makes the lane hand the request down the stack, so
the comparison covers the lane too."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
import orjson
import pytest
from starlette.routing import Route

from schema import limits
from schema.http import GraphQLApp
from tests import factories as f
from tests.conftest import Api, bearer

GQL_JSON = "application/graphql-response+json"
SERVER_REQUEST_ID = re.compile(rb"[0-9a-f]{32}")
ACCEPTS = (
    None,
    "application/json",
    GQL_JSON,
    f"{GQL_JSON}, application/json;q=0.9",
    "application/json, */*",
    "*/*",
    "text/html",
)

CAMPAIGN = """
query Q1($id: ID!) {
  campaign(id: $id) { id name description status version startsAt endsAt createdAt }
}
"""
# Two operations in one document (joined here: tests/test_executor.py runs every
# document literal of the suite and expects one operation in each).
OPERATION_A = "query A { me { id } }"
OPERATION_B = "query B($id: ID!) { campaign(id: $id) { name } }"
TWO_OPERATIONS = f"{OPERATION_A}\n{OPERATION_B}"
SET_STATUS = """
mutation ($id: ID!) {
  setUserStatus(input: {userId: $id, status: ACTIVE}) { user { id status } userErrors { code } }
}
"""
CREATE = """
mutation ($input: CreateCampaignInput!) {
  createCampaign(input: $input) { campaign { id } userErrors { code } }
}
"""


class Paths:
    """Counts the requests that took the plain path; `generic()` turns the plain path off."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.plain = 0
        self._monkeypatch = monkeypatch
        run_plain = GraphQLApp._run_plain

        async def counted(view: GraphQLApp, *args: Any) -> Any:
            self.plain += 1
            return await run_plain(view, *args)

        monkeypatch.setattr(GraphQLApp, "_run_plain", counted)

    @contextmanager
    def generic(self) -> Iterator[None]:
        async def never(view: GraphQLApp, request: Any) -> None:
            return None

        with self._monkeypatch.context() as patch:
            patch.setattr(GraphQLApp, "_plain_operation", never)
            yield


@pytest.fixture
def paths(monkeypatch: pytest.MonkeyPatch) -> Paths:
    return Paths(monkeypatch)


async def _send(api: Api, body: bytes, headers: dict[str, str]) -> tuple[int, list[Any], bytes]:
    response = await api.client.post("/graphql", content=body, headers=headers)
    return response.status_code, response.headers.raw, response.content


async def _both(
    api: Api, paths: Paths, body: bytes, headers: dict[str, str]
) -> tuple[int, list[Any], bytes]:
    """Send through the plain path, then the generic one; assert the same response."""
    headers = {"content-type": "application/json", "x-request-id": "diff-1", **headers}
    before = paths.plain
    plain = await _send(api, body, headers)
    assert paths.plain == before + 1, "the plain path was not taken"
    with paths.generic():
        generic = await _send(api, body, headers)
    assert paths.plain == before + 1
    # Each request has its own server request id (in a masked error): the rest must be equal.
    assert _without_request_ids(plain) == _without_request_ids(generic), (body, headers)
    return plain


def _without_request_ids(sent: tuple[int, list[Any], bytes]) -> tuple[int, list[Any], bytes]:
    status, headers, content = sent
    return status, headers, SERVER_REQUEST_ID.sub(b"<request id>", content)


def _json(document: str, **fields: Any) -> bytes:
    return orjson.dumps({"query": document, **fields})


async def test_plain_path_answers_like_the_generic_path(
    api: Api, conn: asyncpg.Connection, paths: Paths
) -> None:
    m = await f.merchant(conn)
    c = await f.campaign(conn, m)
    member = await f.user(conn, "member@example.com")
    campaign = {"id": f.gid("Campaign", c)}
    await conn.execute(
        """
        CREATE FUNCTION fail_insert() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'INSERT INTO campaigns failed'; END $$;
        CREATE TRIGGER fail_insert BEFORE INSERT ON campaigns
        FOR EACH ROW EXECUTE FUNCTION fail_insert();
        """
    )
    create = {
        "input": {
            "merchantId": f.gid("Merchant", m),
            "name": "Spring",
            "rewardType": "FIXED_AMOUNT",
            "rewardValue": "1.50",
            "budget": "100",
        }
    }
    admin = api.headers
    cases: list[tuple[str, bytes, dict[str, str]]] = [
        ("success", _json(CAMPAIGN, variables=campaign), admin),
        ("no variables entry", _json("{ campaigns { totalCount } }"), admin),
        ("null variables", _json("{ me { id } }", variables=None, extensions=None), admin),
        ("extensions", _json("{ me { id } }", extensions={"x": 1}), admin),
        ("validation error", _json("{ nope }"), admin),
        ("parse error", _json("{ campaigns {"), admin),
        ("empty document", _json(""), admin),
        ("missing variable", _json(CAMPAIGN, variables={}), admin),
        ("wrong variable type", _json(CAMPAIGN, variables={"id": {"a": 1}}), admin),
        ("field error", _json('{ campaign(id: "bad") { id } }'), admin),
        ("masked internal error", _json(CREATE, variables=create), admin),
        ("unauthenticated", _json(CAMPAIGN, variables=campaign), {}),
        ("bad token", _json("{ me { id } }"), {"authorization": "Bearer nope"}),
        ("a member", _json(CAMPAIGN, variables=campaign), bearer(member)),
        ("operation A", _json(TWO_OPERATIONS, operationName="A"), admin),
        ("operation B", _json(TWO_OPERATIONS, operationName="B", variables=campaign), admin),
        ("no operation name", _json(TWO_OPERATIONS), admin),
        ("unknown operation", _json(TWO_OPERATIONS, operationName="C"), admin),
        ("mutation", _json(SET_STATUS, variables={"id": f.gid("User", member)}), admin),
        ("charset", _json("{ me { id } }"), {**admin, "content-type": "application/json; a=b"}),
    ]
    statuses = set()
    for name, body, headers in cases:
        for accept in ACCEPTS:
            sent = headers | ({"accept": accept} if accept else {})
            status, _, content = await _both(api, paths, body, sent)
            statuses.add(status)
            assert content.startswith(b'{"data"') or b'"errors"' in content, name
    assert statuses == {200, 400}
    assert await conn.fetchval("SELECT count(*) FROM campaigns") == 1


async def test_other_requests_keep_the_generic_path(api: Api, paths: Paths) -> None:
    query = {"query": "{ me { id } }"}
    requests = [
        ("get", None, {}),
        ("batch", b'[{"query": "{ me { id } }"}]', {"content-type": "application/json"}),
        ("bad json", b"{not json", {"content-type": "application/json"}),
        ("query not a string", b'{"query": 42}', {"content-type": "application/json"}),
        ("variables a list", b'{"query": "{ me { id } }", "variables": [1]}', {}),
        ("upper-case type", b'{"query": "{ me { id } }"}', {"content-type": "Application/JSON"}),
        ("text/plain", b"{ me { id } }", {"content-type": "text/plain"}),
        ("graphql type", b"{ me { id } }", {"content-type": "application/graphql"}),
    ]
    for name, body, headers in requests:
        if body is None:
            response = await api.client.get("/graphql", params=query, headers=api.headers)
        else:
            response = await api.client.post(
                "/graphql",
                content=body,
                headers=api.headers | {"content-type": "application/json"} | headers,
            )
        assert response.status_code in (200, 400), name
        assert paths.plain == 0, name


class RouterCalls:
    """Counts the requests Starlette's router handed to a route."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        handle = Route.handle

        async def counted(route: Route, *args: Any) -> None:
            self.count += 1
            await handle(route, *args)

        monkeypatch.setattr(Route, "handle", counted)


async def test_json_posts_skip_the_router_and_everything_else_takes_it(
    api: Api, paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    router = RouterCalls(monkeypatch)
    response = await api.client.post(
        "/graphql", json={"query": "{ me { id } }"}, headers={**api.headers, "x-request-id": "r-1"}
    )
    assert response.json() == {"data": {"me": {"id": f.gid("User", api.user_id)}}}
    assert response.headers["x-request-id"] == "r-1"
    assert (router.count, paths.plain) == (0, 1)

    # A body in several chunks is put together.
    async def chunks() -> Any:
        yield b'{"query": "{ me'
        yield b' { id } }"}'

    response = await api.client.post(
        "/graphql", content=chunks(), headers={**api.headers, "content-type": "application/json"}
    )
    assert response.json() == {"data": {"me": {"id": f.gid("User", api.user_id)}}}
    assert (router.count, paths.plain) == (0, 2)
    assert response.headers["x-request-id"]  # a fresh one

    # Not a plain JSON operation: down the stack, with the body the lane read.
    response = await api.client.post(
        "/graphql",
        content=b'[{"query": "{ me { id } }"}]',
        headers={**api.headers, "content-type": "application/json", "x-request-id": "r-2"},
    )
    assert response.json() == [{"data": {"me": {"id": f.gid("User", api.user_id)}}}]
    assert response.headers["x-request-id"] == "r-2"
    assert (router.count, paths.plain) == (1, 2)
    # Other paths and methods: the router.
    response = await api.client.get(
        "/graphql", params={"query": "{ me { id } }"}, headers=api.headers
    )
    assert response.status_code == 200
    assert (await api.client.post("/healthz")).status_code == 405
    assert (router.count, paths.plain) == (3, 2)


async def test_a_declared_length_over_the_limit_never_reaches_the_view(
    api: Api, paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    router = RouterCalls(monkeypatch)
    body = b'{"query": "{ me { id } }"}' + b" " * limits.LIMITS.max_body_bytes
    response = await api.client.post(
        "/graphql", content=body, headers={**api.headers, "content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert (router.count, paths.plain) == (0, 0)  # refused by the stack's BodySizeLimit
