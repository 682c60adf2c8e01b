"""schema/prepared.py: a valid query runs compiled without Strawberry's pipeline; anything that
would produce an error, and what it does not handle, goes through the pipeline unchanged."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest

from schema import compiled
from tests import factories as f
from tests.conftest import Api, session_of
from tests.factories import gid

BY_ID = "query ($id: ID!) { campaign(id: $id) { name status } }"
PAGE = "query ($n: Int) { campaigns(first: $n) { edges { node { name } } } }"


async def test_the_same_document_with_other_variables_gets_its_own_answer(
    api: Api, conn: asyncpg.Connection
) -> None:
    merchant = await f.merchant(conn)
    first = await f.campaign(conn, merchant, name="First")
    second = await f.campaign(conn, merchant, name="Second", status="ACTIVE")
    answered = compiled.RUNS["answered"]
    one = await api.data(BY_ID, {"id": gid("Campaign", first)})
    two = await api.data(BY_ID, {"id": gid("Campaign", second)})
    assert one == {"campaign": {"name": "First", "status": "DRAFT"}}
    assert two == {"campaign": {"name": "Second", "status": "ACTIVE"}}
    assert compiled.RUNS["answered"] - answered == 2


@pytest.fixture
async def three_campaigns(conn: asyncpg.Connection) -> None:
    merchant = await f.merchant(conn)
    for i in range(3):
        await f.campaign(conn, merchant, name=f"C{i}")


@pytest.mark.usefixtures("three_campaigns")
async def test_a_nullable_variable_left_out_is_omitted_like_graphql_core_does(api: Api) -> None:
    answered = compiled.RUNS["answered"]
    everything = await api.data(PAGE, {})
    two = await api.data(PAGE, {"n": 2})
    assert len(everything["campaigns"]["edges"]) == 3
    assert len(two["campaigns"]["edges"]) == 2
    assert compiled.RUNS["answered"] - answered == 2


@pytest.mark.usefixtures("three_campaigns")
async def test_variables_it_does_not_coerce_itself_go_through_the_pipeline(api: Api) -> None:
    answered = compiled.RUNS["answered"]
    # A default value: graphql-core applies it.
    body = await api.data("query ($n: Int = 1) { campaigns(first: $n) { totalCount } }")
    assert body == {"campaigns": {"totalCount": 3}}
    # A value of the wrong type: graphql-core's own error.
    wrong = await api.gql(PAGE, {"n": "two"})
    assert wrong["errors"][0]["message"].startswith("Variable '$n' has invalid value")
    # A missing required variable.
    missing = await api.gql(BY_ID, {})
    assert "non-null type 'ID!' to be provided" in missing["errors"][0]["message"]
    assert compiled.RUNS["answered"] == answered


async def test_an_error_during_execution_is_reported_by_the_pipeline(api: Api) -> None:
    bailed = compiled.RUNS["bailed out"]
    body = await api.gql(BY_ID, {"id": "not-an-id"})
    assert body["data"] == {"campaign": None}
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert body["errors"][0]["path"] == ["campaign"]
    # Tried once compiled, then the pipeline's executor did not try it again.
    assert compiled.RUNS["bailed out"] - bailed == 1


async def test_common_reads_start_together_and_are_used_by_the_fields(
    app: Any, conn: asyncpg.Connection, db_dsn: str
) -> None:
    from db.pool import create_pool
    from resolvers.auth import Credential
    from resolvers.context import Context
    from resolvers.warm import start_common_reads

    member = await f.user(conn, "warm@example.com", name="Warm")
    pool = await create_pool(db_dsn)
    try:
        request = SimpleNamespace(headers={}, state=SimpleNamespace(request_id="warm"))
        ctx = Context(
            request=request,
            response=None,
            pool=pool,
            request_id="warm",
            credential=Credential(user_id=member, session_id=session_of(member)),
        )  # type: ignore[arg-type]
        start_common_reads(ctx, paged=True)
        # Both loads are queued for the same dispatch, before any field asked for them.
        assert [q.key for q in ctx.loaders.viewer_by_session._queue] == [session_of(member)]
        assert [q.key for q in ctx.loaders.setting_by_key._queue] == ["max_page_size"]
        viewer = ctx.loaders.viewer_by_session.load(session_of(member))
        setting = ctx.loaders.setting_by_key.load("max_page_size")
        assert viewer.done() is False and setting.done() is False  # both already in flight
        assert (await viewer).email == "warm@example.com"
        assert await setting is None  # nothing stored: the default applies

        refused = Context(
            request=request,
            response=None,
            pool=pool,
            request_id="warm",
            credential=Credential(refused="bad token"),
        )  # type: ignore[arg-type]
        start_common_reads(refused, paged=False)
        assert "viewer_by_session" not in vars(refused.loaders)  # nothing read for a bad token
        assert "setting_by_key" not in vars(refused.loaders)
    finally:
        await pool.close()
