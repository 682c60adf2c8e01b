"""Sessions and the sign-in throttle keep their tables bounded, and windows end on time."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from resolvers import sessions
from tests import factories as f
from tests.conftest import Api

LOGIN = """
mutation ($email: String!, $password: String!) {
  login(input: {email: $email, password: $password}) { token refreshToken userErrors { code } }
}
"""
REFRESH = """
mutation ($refresh: String!) {
  refreshToken(input: {refreshToken: $refresh}) { token refreshToken userErrors { code } }
}
"""
ME = "{ me { id } }"


async def _login(anon: Api, password: str = f.PASSWORD) -> dict[str, Any]:
    body = await anon.data(LOGIN, {"email": "mia@example.com", "password": password})
    return dict(body["login"])


async def _refresh(anon: Api, token: str) -> dict[str, Any]:
    return dict((await anon.data(REFRESH, {"refresh": token}))["refreshToken"])


async def _works(anon: Api, token: str) -> bool:
    body = await anon.gql(ME, headers={"Authorization": f"Bearer {token}"})
    return "errors" not in body


async def test_signing_in_again_and_again_keeps_the_newest_sessions_only(
    anon: Api, conn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    uid = await f.user(conn, "mia@example.com")
    monkeypatch.setattr(sessions, "SESSIONS_PER_USER", 3)
    tokens = [(await _login(anon))["token"] for _ in range(4)]
    count = await conn.fetchval("SELECT count(*) FROM sessions WHERE user_id = $1", uid)
    assert count == 3
    assert [await _works(anon, t) for t in tokens] == [False, True, True, True]


async def test_only_the_newest_spent_refresh_tokens_are_remembered(
    anon: Api, conn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    await f.user(conn, "mia@example.com")
    monkeypatch.setattr(sessions, "SPENT_KEPT", 2)
    pair = await _login(anon)
    spent = []
    for _ in range(4):
        spent.append(pair["refreshToken"])
        pair = await _refresh(anon, pair["refreshToken"])
    assert await conn.fetchval("SELECT count(*) FROM refresh_tokens WHERE used_at IS NOT NULL") == 2
    # The oldest spent token is forgotten: refused as unknown, and the session lives on.
    forgotten = await _refresh(anon, spent[0])
    assert forgotten["userErrors"] == [{"code": "INVALID_REFRESH_TOKEN"}]
    assert await _works(anon, pair["token"])
    # A remembered one still ends the session.
    await _refresh(anon, spent[-1])
    assert not await _works(anon, pair["token"])


async def test_two_refreshes_with_one_token_at_once_end_the_session(
    anon: Api, conn: asyncpg.Connection
) -> None:
    await f.user(conn, "mia@example.com")
    pair = await _login(anon)
    first, second = await asyncio.gather(
        _refresh(anon, pair["refreshToken"]), _refresh(anon, pair["refreshToken"])
    )
    # One spends it; the other finds it spent (the session row is locked in between).
    assert sorted(bool(r["token"]) for r in (first, second)) == [False, True]
    winner = first if first["token"] else second
    assert not await _works(anon, winner["token"])


async def test_a_throttle_window_ends_and_stale_counters_are_deleted(
    anon: Api, conn: asyncpg.Connection
) -> None:
    await f.user(conn, "mia@example.com")
    for _ in range(5):
        assert (await _login(anon, "wrong password here"))["token"] is None
    body = await anon.gql(LOGIN, {"email": "mia@example.com", "password": f.PASSWORD})
    assert body["errors"][0]["extensions"]["code"] == "LOGIN_THROTTLED"
    await conn.execute(
        "INSERT INTO sign_in_throttle (scope, key, window_start, failures)"
        " VALUES ('ADDRESS', '203.0.113.9', now() - interval '1 day', 7)"
    )

    # When: the window has passed (moved back here rather than waited for).
    await conn.execute("UPDATE sign_in_throttle SET window_start = now() - interval '16 minutes'")

    # Then: the right password works again, and the stale counters are gone.
    assert (await _login(anon))["token"]
    keys = await conn.fetch("SELECT scope, key, failures FROM sign_in_throttle ORDER BY scope")
    assert [tuple(k) for k in keys] == [("ADDRESS", "127.0.0.1", 0)]
