"""Password resets: an admin creates a single-use token, the user (signed out) redeems it."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import asyncpg

from tests import factories as f
from tests.conftest import Api

RESET = """
mutation ($id: ID!) {
  resetUserPassword(input: {userId: $id}) {
    token expiresAt user { id } userErrors { field message code }
  }
}
"""
COMPLETE = """
mutation ($token: String!, $password: String!) {
  completePasswordReset(input: {token: $token, newPassword: $password}) {
    user { id email } userErrors { field message code }
  }
}
"""
LOGIN = """
mutation ($email: String!, $password: String!) {
  login(input: {email: $email, password: $password}) { token userErrors { code } }
}
"""
NEW_PASSWORD = "a brand new passphrase"
REFUSED = [
    {
        "field": ["token"],
        "message": "This password reset token is unknown, already used or expired",
        "code": "INVALID_TOKEN",
    }
]


async def _reset(api: Api, uid: int) -> dict:
    payload = (await api.data(RESET, {"id": f.gid("User", uid)}))["resetUserPassword"]
    assert payload["userErrors"] == []
    return payload


async def _can_log_in(api: Api, email: str, password: str) -> bool:
    data = await api.anonymous().data(LOGIN, {"email": email, "password": password})
    return data["login"]["token"] is not None


async def test_reset_then_complete_changes_the_password(api: Api, conn: asyncpg.Connection) -> None:
    uid = await f.user(conn, "mia@example.com")
    before = datetime.now(UTC)

    reset = await _reset(api, uid)
    done = await api.anonymous().data(COMPLETE, {"token": reset["token"], "password": NEW_PASSWORD})

    assert done["completePasswordReset"] == {
        "user": {"id": f.gid("User", uid), "email": "mia@example.com"},
        "userErrors": [],
    }
    expires = datetime.fromisoformat(reset["expiresAt"])
    assert before + timedelta(minutes=60) <= expires <= datetime.now(UTC) + timedelta(minutes=60)
    assert await _can_log_in(api, "mia@example.com", NEW_PASSWORD)
    assert not await _can_log_in(api, "mia@example.com", f.PASSWORD)


async def test_only_the_hash_of_the_token_is_stored(api: Api, conn: asyncpg.Connection) -> None:
    uid = await f.user(conn)
    token = (await _reset(api, uid))["token"]
    stored = await conn.fetchval("SELECT token_hash FROM password_reset_tokens")
    assert stored == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(await conn.fetch("SELECT * FROM audit_logs"))


async def test_a_token_works_only_once(api: Api, conn: asyncpg.Connection) -> None:
    uid = await f.user(conn, "mia@example.com")
    token = (await _reset(api, uid))["token"]
    anon = api.anonymous()
    await anon.data(COMPLETE, {"token": token, "password": NEW_PASSWORD})
    again = await anon.data(COMPLETE, {"token": token, "password": "yet another passphrase"})
    assert again["completePasswordReset"] == {"user": None, "userErrors": REFUSED}
    assert await _can_log_in(api, "mia@example.com", NEW_PASSWORD)


async def test_expired_unknown_and_superseded_tokens_get_the_same_refusal(
    api: Api, conn: asyncpg.Connection
) -> None:
    uid = await f.user(conn, "mia@example.com")
    superseded = (await _reset(api, uid))["token"]
    expired = (await _reset(api, uid))["token"]
    await conn.execute("UPDATE password_reset_tokens SET expires_at = now() - interval '1 second'")
    anon = api.anonymous()
    for token in (expired, "no-such-token", superseded):
        data = await anon.data(COMPLETE, {"token": token, "password": NEW_PASSWORD})
        assert data["completePasswordReset"] == {"user": None, "userErrors": REFUSED}, token
    assert await _can_log_in(api, "mia@example.com", f.PASSWORD)


async def test_a_new_reset_token_replaces_the_previous_one(
    api: Api, conn: asyncpg.Connection
) -> None:
    uid = await f.user(conn, "mia@example.com")
    first = (await _reset(api, uid))["token"]
    second = (await _reset(api, uid))["token"]
    anon = api.anonymous()
    refused = await anon.data(COMPLETE, {"token": first, "password": NEW_PASSWORD})
    assert refused["completePasswordReset"]["userErrors"] == REFUSED
    accepted = await anon.data(COMPLETE, {"token": second, "password": NEW_PASSWORD})
    assert accepted["completePasswordReset"]["userErrors"] == []


async def test_expiry_follows_the_setting(api: Api, conn: asyncpg.Connection) -> None:
    uid = await f.user(conn)
    await conn.execute(
        "INSERT INTO settings (key, value) VALUES ('password_reset_expiry_minutes', '15')"
    )
    before = datetime.now(UTC)
    expires = datetime.fromisoformat((await _reset(api, uid))["expiresAt"])
    assert before + timedelta(minutes=15) <= expires <= datetime.now(UTC) + timedelta(minutes=15)


async def test_a_weak_password_is_refused_and_keeps_the_token(
    api: Api, conn: asyncpg.Connection
) -> None:
    uid = await f.user(conn)
    token = (await _reset(api, uid))["token"]
    anon = api.anonymous()
    weak = await anon.data(COMPLETE, {"token": token, "password": "short"})
    assert weak["completePasswordReset"]["userErrors"] == [
        {
            "field": ["newPassword"],
            "message": "newPassword must be at least 12 characters",
            "code": "WEAK_PASSWORD",
        }
    ]
    ok = await anon.data(COMPLETE, {"token": token, "password": NEW_PASSWORD})
    assert ok["completePasswordReset"]["userErrors"] == []


async def test_reset_for_unknown_or_malformed_user_is_a_user_error(api: Api) -> None:
    for given, code in ((f.gid("User", 999999), "NOT_FOUND"), ("bogus", "INVALID_ID")):
        payload = (await api.data(RESET, {"id": given}))["resetUserPassword"]
        assert payload["token"] is None
        assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [(["userId"], code)]


async def test_reset_and_completion_are_audited(api: Api, conn: asyncpg.Connection) -> None:
    uid = await f.user(conn)
    token = (await _reset(api, uid))["token"]
    await api.anonymous().data(COMPLETE, {"token": token, "password": NEW_PASSWORD})
    rows = await f.audit_rows(conn, uid)
    assert [(r["action"], r["actor_id"]) for r in rows] == [
        ("user.password_reset.create", api.user_id),
        ("user.password_reset.complete", uid),
    ]
