"""Masked errors: unexpected failures carry a code and the request id, never internals; the
constraint violations a user can cause are userErrors."""

from __future__ import annotations

import asyncio
import logging
import re

import asyncpg
import pytest

from tests import factories as f
from tests.conftest import Api

CREATE = """
mutation ($input: CreateCampaignInput!) {
  createCampaign(input: $input) { campaign { id name } userErrors { field message code } }
}
"""

# Words that would reveal the database behind the API.
INTERNALS = re.compile(
    r"traceback|select |insert |update |campaigns|merchants|audit_logs|constraint|_fkey|"
    r"_check|asyncpg|postgres|\.py",
    re.IGNORECASE,
)


def campaign_input(merchant_id: int, name: str = "Spring") -> dict[str, object]:
    return {
        "input": {
            "merchantId": f.gid("Merchant", merchant_id),
            "name": name,
            "rewardType": "FIXED_AMOUNT",
            "rewardValue": "1.50",
            "budget": "100",
        }
    }


async def test_unexpected_database_error_is_masked_with_the_request_id(
    api: Api, conn: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    m = await f.merchant(conn)
    # A real fault inside PostgreSQL whose message names tables and SQL.
    await conn.execute(
        """
        CREATE FUNCTION fail_insert() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'INSERT INTO campaigns failed: constraint secret_fkey'; END $$;
        CREATE TRIGGER fail_insert BEFORE INSERT ON campaigns
        FOR EACH ROW EXECUTE FUNCTION fail_insert();
        """
    )
    response = await api.client.post(
        "/graphql",
        json={"query": CREATE, "variables": campaign_input(m)},
        headers=api.headers | {"x-request-id": "req-mask-1"},
    )

    assert response.status_code == 200
    body = response.json()
    [error] = body["errors"]
    # The request id is the server's own (the caller's is only echoed in the header).
    request_id = error["extensions"]["requestId"]
    assert len(request_id) == 32 and request_id != "req-mask-1"
    assert error["message"] == f"Internal server error (request id {request_id})"
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}
    assert error["path"] == ["createCampaign"]
    assert not INTERNALS.search(response.text), response.text
    # The log line has what the response hides.
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert request_id in logged and "req-mask-1" in logged and "secret_fkey" in logged
    assert await conn.fetchval("SELECT count(*) FROM audit_logs") == 0


async def test_unmapped_constraint_violation_is_masked(api: Api, conn: asyncpg.Connection) -> None:
    m = await f.merchant(conn)
    await conn.execute(
        "ALTER TABLE campaigns ADD CONSTRAINT test_only_check CHECK (name <> 'Forbidden')"
    )
    response = await api.client.post(
        "/graphql",
        json={"query": CREATE, "variables": campaign_input(m, "Forbidden")},
        headers=api.headers,
    )
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert not INTERNALS.search(response.text), response.text
    assert await conn.fetchval("SELECT count(*) FROM campaigns") == 0


async def _wait_until_blocked(conn: asyncpg.Connection) -> None:
    for _ in range(200):
        waiting = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE application_name = 'campaign-graphql' AND wait_event_type = 'Lock'"
        )
        if waiting:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the mutation never waited on the lock")


async def test_merchant_deleted_during_create_is_a_not_found_user_error(
    api: Api, conn: asyncpg.Connection, db_dsn: str
) -> None:
    """The race the pre-check cannot close: the merchant exists when checked, and is deleted
    (by another transaction) before the insert's foreign key check."""
    m = await f.merchant(conn)
    deleter = await asyncpg.connect(db_dsn)
    try:
        tx = deleter.transaction()
        await tx.start()
        await deleter.execute("DELETE FROM merchants WHERE id = $1", m)  # holds the row lock
        mutation = asyncio.create_task(api.gql(CREATE, campaign_input(m)))
        await _wait_until_blocked(conn)
        await tx.commit()
        body = await mutation
    finally:
        await deleter.close()

    assert "errors" not in body
    assert body["data"]["createCampaign"] == {
        "campaign": None,
        "userErrors": [
            {"field": ["merchantId"], "message": "No merchant has this ID", "code": "NOT_FOUND"}
        ],
    }
    assert await conn.fetchval("SELECT count(*) FROM campaigns") == 0
    assert await conn.fetchval("SELECT count(*) FROM audit_logs") == 0


async def test_nul_character_in_text_is_a_user_error(api: Api, conn: asyncpg.Connection) -> None:
    m = await f.merchant(conn)
    data = await api.data(CREATE, campaign_input(m, "bad\x00name"))
    assert data["createCampaign"]["userErrors"] == [
        {"field": ["name"], "message": "name must not contain NUL characters", "code": "INVALID"}
    ]
    assert await conn.fetchval("SELECT count(*) FROM campaigns") == 0


async def test_duplicate_email_maps_to_an_email_taken_user_error(conn: asyncpg.Connection) -> None:
    from resolvers.constraints import problem_for
    from resolvers.errors import ErrorCode

    await f.user(conn, "ann@example.com")
    with pytest.raises(asyncpg.UniqueViolationError) as raised:
        await f.user(conn, "ANN@example.com")  # citext: the same email
    problem = problem_for(raised.value)
    assert problem is not None
    assert (problem.field, problem.code) == (("email",), ErrorCode.EMAIL_TAKEN)
    assert not INTERNALS.search(problem.message)


async def test_unknown_violation_is_not_mapped(conn: asyncpg.Connection) -> None:
    from resolvers.constraints import problem_for

    m = await f.merchant(conn)
    with pytest.raises(asyncpg.ForeignKeyViolationError) as raised:
        await f.campaign(conn, m, created_by=999_999)
    assert problem_for(raised.value) is None


async def test_client_faults_are_not_logged_as_internal_errors(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="campaign_graphql.errors")
    body = await api.gql('{ campaigns(after: "!!!") { totalCount } }')
    # A bad cursor is the client's fault: coded, and not logged as an internal error.
    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "after"}
    assert not [r for r in caplog.records if r.name == "campaign_graphql.errors"]


async def test_nul_in_a_search_filter_is_bad_user_input_not_internal(api: Api) -> None:
    body = await api.gql(
        "query ($s: String) { campaigns(filter: {search: $s}) { totalCount } }", {"s": "a\x00b"}
    )
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "NUL" in error["message"]
    assert not INTERNALS.search(error["message"])


async def test_nul_in_a_login_email_is_wrong_credentials(api: Api) -> None:
    data = await api.anonymous().data(
        'mutation ($e: String!) { login(input: {email: $e, password: "whatever it is"})'
        " { token userErrors { code } } }",
        {"e": "admin\x00@example.com"},
    )
    assert data["login"] == {"token": None, "userErrors": [{"code": "INVALID_CREDENTIALS"}]}
