"""Signing in and access tokens: login, expiry, tampering, algorithms, disabled users."""

from __future__ import annotations

import base64
import json
import warnings
from datetime import UTC, datetime, timedelta

import asyncpg
import jwt
import pytest

from resolvers import auth
from resolvers.auth import Tokens
from resolvers.errors import Unauthenticated
from tests import factories as f
from tests.conftest import JWT_SECRET, TOKENS, Api, StatementCounter, session_of

LOGIN = """
mutation ($email: String!, $password: String!) {
  login(input: {email: $email, password: $password}) {
    token expiresAt user { id email role } userErrors { field message code }
  }
}
"""
ME = "{ me { id name email } }"
SID = "6f1c1d4e-2b1a-4c55-9a7e-0f3a2d9b8c71"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _error(body: dict) -> tuple[str, str]:
    [error] = body["errors"]
    return error["extensions"]["code"], error["message"]


async def test_login_returns_a_token_that_signs_later_requests_in(
    anon: Api, conn: asyncpg.Connection
) -> None:
    uid = await f.user(conn, "mia@example.com", name="Mia", role="MEMBER")
    before = datetime.now(UTC).replace(microsecond=0)

    payload = (await anon.data(LOGIN, {"email": "MIA@example.com", "password": f.PASSWORD}))[
        "login"
    ]

    assert payload["userErrors"] == []
    assert payload["user"] == {
        "id": f.gid("User", uid),
        "email": "mia@example.com",
        "role": "MEMBER",
    }
    expires = datetime.fromisoformat(payload["expiresAt"])
    assert before + timedelta(minutes=15) <= expires <= before + timedelta(minutes=16)
    me = await anon.data(ME, headers=_auth(payload["token"]))
    assert me["me"] == {"id": f.gid("User", uid), "name": "Mia", "email": "mia@example.com"}


async def test_wrong_password_and_unknown_email_get_the_same_refusal(
    anon: Api, conn: asyncpg.Connection
) -> None:
    await f.user(conn, "mia@example.com")
    wrong_password = await anon.data(LOGIN, {"email": "mia@example.com", "password": "nope"})
    unknown_email = await anon.data(LOGIN, {"email": "who@example.com", "password": f.PASSWORD})
    assert wrong_password == unknown_email
    assert wrong_password["login"]["token"] is None
    assert wrong_password["login"]["userErrors"] == [
        {"field": None, "message": "The email or password is wrong", "code": "INVALID_CREDENTIALS"}
    ]


async def test_disabled_user_cannot_log_in(anon: Api, conn: asyncpg.Connection) -> None:
    await f.user(conn, "gone@example.com", status="DISABLED")
    payload = (await anon.data(LOGIN, {"email": "gone@example.com", "password": f.PASSWORD}))[
        "login"
    ]
    assert payload["token"] is None
    assert [e["code"] for e in payload["userErrors"]] == ["ACCOUNT_DISABLED"]


async def test_disabling_a_user_stops_their_token_at_once_and_for_good(
    api: Api, conn: asyncpg.Connection
) -> None:
    uid = await f.user(conn, "mia@example.com")
    member = api.as_user(uid)
    assert (await member.data(ME))["me"]["id"] == f.gid("User", uid)
    set_status = """
    mutation ($id: ID!, $status: UserStatus!) {
      setUserStatus(input: {userId: $id, status: $status}) { user { status } userErrors { code } }
    }
    """

    await api.data(set_status, {"id": f.gid("User", uid), "status": "DISABLED"})
    assert _error(await member.gql(ME)) == ("UNAUTHENTICATED", auth.SESSION_ENDED)

    # Re-enabling revives no token issued before: the user signs in again.
    await api.data(set_status, {"id": f.gid("User", uid), "status": "ACTIVE"})
    assert _error(await member.gql(ME)) == ("UNAUTHENTICATED", auth.SESSION_ENDED)


async def test_expired_token_is_refused(anon: Api, conn: asyncpg.Connection) -> None:
    uid = await f.user(conn)
    old = TOKENS.issue(uid, session_of(uid), now=datetime.now(UTC) - timedelta(minutes=16))
    assert _error(await anon.gql(ME, headers=_auth(old.token))) == (
        "UNAUTHENTICATED",
        "The access token has expired; get a new one with `refreshToken`, or sign in again",
    )


def _segments(token: str) -> list[str]:
    return token.split(".")


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


async def test_tampered_token_is_refused(anon: Api, conn: asyncpg.Connection) -> None:
    member = await f.user(conn, "mia@example.com")
    admin = await f.user(conn, "boss@example.com", role="ADMIN")
    header, payload, signature = _segments(TOKENS.issue(member, session_of(member)).token)
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = ".".join([header, _b64({**claims, "sub": str(admin)}), signature])
    assert _error(await anon.gql(ME, headers=_auth(forged))) == (
        "UNAUTHENTICATED",
        "The access token is invalid",
    )


async def test_unsigned_alg_none_token_is_refused(anon: Api, conn: asyncpg.Connection) -> None:
    uid = await f.user(conn, role="ADMIN")
    now = int(datetime.now(UTC).timestamp())
    claims = {
        "sub": str(uid),
        "sid": session_of(uid),
        "iss": "campaign-graphql",
        "iat": now,
        "exp": now + 600,
    }
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    assert _error(await anon.gql(ME, headers=_auth(unsigned)))[0] == "UNAUTHENTICATED"


async def test_tokens_with_another_algorithm_or_secret_are_refused(
    anon: Api, conn: asyncpg.Connection
) -> None:
    uid = await f.user(conn, role="ADMIN")
    now = datetime.now(UTC)
    claims = {
        "sub": str(uid),
        "sid": session_of(uid),
        "iss": "campaign-graphql",
        "iat": now,
        "exp": now + timedelta(1),
    }
    with warnings.catch_warnings():  # PyJWT warns that the key is short for HS512: true
        warnings.simplefilter("ignore")
        hs512 = jwt.encode(claims, JWT_SECRET, algorithm="HS512")
    other_secret = Tokens("another-secret-that-is-also-long-enough!!").issue(uid, session_of(uid))
    other_secret = other_secret.token
    for token in (hs512, other_secret, "not.a.token", "garbage"):
        assert _error(await anon.gql(ME, headers=_auth(token))) == (
            "UNAUTHENTICATED",
            "The access token is invalid",
        ), token


async def test_token_of_a_deleted_user_is_refused(anon: Api, conn: asyncpg.Connection) -> None:
    uid = await f.user(conn)
    token = TOKENS.issue(uid, session_of(uid)).token
    await conn.execute("DELETE FROM users WHERE id = $1", uid)
    assert _error(await anon.gql(ME, headers=_auth(token)))[0] == "UNAUTHENTICATED"


async def test_anonymous_and_malformed_headers_are_told_how_to_sign_in(anon: Api) -> None:
    code, message = _error(await anon.gql(ME))
    assert code == "UNAUTHENTICATED" and "Bearer" in message and "login" in message
    code, message = _error(await anon.gql(ME, headers={"Authorization": "Basic dXNlcjpwdw=="}))
    assert (code, message) == (
        "UNAUTHENTICATED",
        "The Authorization header must be `Bearer <token>`",
    )


async def test_login_and_introspection_work_with_a_bad_token(
    anon: Api, conn: asyncpg.Connection
) -> None:
    await f.user(conn, "mia@example.com")
    bad = _auth("garbage")
    data = await anon.data(LOGIN, {"email": "mia@example.com", "password": f.PASSWORD}, headers=bad)
    assert data["login"]["token"]
    schema = await anon.data("{ __schema { queryType { name } } }", headers=bad)
    assert schema == {"__schema": {"queryType": {"name": "Query"}}}


async def test_loading_the_viewer_costs_one_statement(
    api: Api, statements: StatementCounter
) -> None:
    await api.data("{ me { id } }")  # warm up: a first query runs asyncpg type introspection
    statements.reset()
    await api.data("{ me { id name } }")
    assert statements.count == 1, statements.statements


class _Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).timestamp()

    def __call__(self) -> float:
        return self.now


async def test_a_token_verified_earlier_is_refused_once_it_expires(
    anon: Api, conn: asyncpg.Connection
) -> None:
    # Given: the app checks tokens against a clock the test moves, and a token it accepted.
    clock = _Clock()
    anon.app.state["tokens"] = Tokens(JWT_SECRET, clock=clock)
    uid = await f.user(conn)
    issued = TOKENS.issue(uid, session_of(uid))
    assert (await anon.data(ME, headers=_auth(issued.token)))["me"]["id"] == f.gid("User", uid)
    clock.now = issued.expires_at.timestamp() - 1
    assert (await anon.data(ME, headers=_auth(issued.token)))["me"]["id"] == f.gid("User", uid)

    # When: its expiry passes.
    clock.now = issued.expires_at.timestamp()

    # Then: it is refused like any expired token, on every later request too.
    for _ in range(2):
        assert _error(await anon.gql(ME, headers=_auth(issued.token))) == (
            "UNAUTHENTICATED",
            "The access token has expired; get a new one with `refreshToken`, or sign in again",
        )


def test_verify_checks_a_known_tokens_expiry_on_every_call() -> None:
    clock = _Clock()
    tokens = Tokens(JWT_SECRET, clock=clock)
    issued = tokens.issue(7, SID)
    assert tokens.verify(issued.token) == (7, SID)
    clock.now = issued.expires_at.timestamp()
    with pytest.raises(Unauthenticated, match="expired"):
        tokens.verify(issued.token)


def test_a_refused_token_is_not_remembered_as_valid() -> None:
    tokens = Tokens(JWT_SECRET)
    good = tokens.issue(7, SID).token
    header, payload, signature = _segments(good)
    forged = ".".join([header, _b64({"sub": "8", "iss": "campaign-graphql"}), signature])
    expired = tokens.issue(7, SID, now=datetime.now(UTC) - timedelta(minutes=16)).token
    assert tokens.verify(good) == (7, SID)
    for _ in range(2):
        for token, message in ((forged, "invalid"), (expired, "expired")):
            with pytest.raises(Unauthenticated, match=message):
                tokens.verify(token)


def test_remembered_tokens_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "VERIFIED_TOKENS_KEPT", 3)
    tokens = Tokens(JWT_SECRET)
    issued = [tokens.issue(user_id, SID).token for user_id in range(1, 6)]
    assert [tokens.verify(token)[0] for token in issued] == [1, 2, 3, 4, 5]
    assert list(tokens._verified) == issued[2:]  # the oldest went first
    assert [tokens.verify(token)[0] for token in issued] == [1, 2, 3, 4, 5]


async def test_one_login_per_request_works_in_a_batch(anon: Api, conn: asyncpg.Connection) -> None:
    await f.user(conn, "member@example.com")
    login = """mutation ($password: String!) {
      login(input: {email: "member@example.com", password: $password}) { token } }"""
    response = await anon.client.post(
        "/graphql",
        json=[{"query": login, "variables": {"password": f.PASSWORD}}, {"query": "{ __typename }"}],
    )
    assert response.status_code == 200
    assert response.json()[0]["data"]["login"]["token"]
