"""Issue 12, parts 3 and 4, from an attacker's side: each test replays one finding.

Sign-in: argon2 on the event loop, many passwords per request, no throttling, a reset token
hashed before it was checked. Sessions: tokens outliving a password reset, a disable and
re-enable, a DISABLED user signed in by a reset, no logout, no refresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from argon2 import PasswordHasher

from db import passwords, sessions
from resolvers import signin
from resolvers.signin import SignInPolicy
from server import create_app
from tests import factories as f
from tests.conftest import JWT_SECRET, Api, Cast, _WithLifespanState

LOGIN = """
mutation ($email: String!, $password: String!) {
  login(input: {email: $email, password: $password}) {
    token expiresAt refreshToken refreshTokenExpiresAt user { id } userErrors { code }
  }
}
"""
# What a client could ask before sessions existed: the revocation tests replay the findings
# with it, so they fail on the old code for the finding's reason, not for a missing field.
LOGIN_ACCESS = """
mutation ($email: String!, $password: String!) {
  login(input: {email: $email, password: $password}) { token userErrors { code } }
}
"""
REFRESH = """
mutation ($refresh: String!) {
  refreshToken(input: {refreshToken: $refresh}) {
    token refreshToken user { id } userErrors { code message }
  }
}
"""
LOGOUT = "mutation ($all: Boolean!) { logout(input: {allSessions: $all}) { endedSessions } }"
ME = "{ me { id } }"
RESET = "mutation ($id: ID!) { resetUserPassword(input: {userId: $id}) { token } }"
COMPLETE = """
mutation ($token: String!) {
  completePasswordReset(input: {token: $token, newPassword: "a brand new passphrase"}) {
    user { id } userErrors { code }
  }
}
"""
SET_STATUS = """
mutation ($id: ID!, $status: UserStatus!) {
  setUserStatus(input: {userId: $id, status: $status}) { userErrors { code } }
}
"""
WRONG = "not the password at all"


class CountingHasher(PasswordHasher):
    """argon2 as configured, counting calls; `hold` makes each call wait until released."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.running = 0
        self.most_at_once = 0
        self.hold = False
        self.entered = threading.Semaphore(0)
        self.release = threading.Event()
        self._lock = threading.Lock()

    def _enter(self) -> None:
        with self._lock:
            self.calls += 1
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        if self.hold:
            self.entered.release()
            # Bounded, so that code hashing on the event loop fails the test instead of hanging.
            self.release.wait(timeout=5)

    def _leave(self) -> None:
        with self._lock:
            self.running -= 1

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self._enter()
        try:
            return super().verify(hash, password)
        finally:
            self._leave()

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self._enter()
        try:
            return super().hash(password, salt=salt)
        finally:
            self._leave()


@pytest.fixture
def hasher(monkeypatch: pytest.MonkeyPatch) -> Iterator[CountingHasher]:
    counting = CountingHasher()
    monkeypatch.setattr(passwords, "_hasher", counting)
    yield counting
    counting.release.set()


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


async def _login(
    anon: Api, email: str, password: str = f.PASSWORD, document: str = LOGIN
) -> dict[str, Any]:
    payload: dict[str, Any] = (await anon.data(document, {"email": email, "password": password}))[
        "login"
    ]
    return payload


async def _signed_in(client: Api, token: str) -> bool:
    body = await client.gql(ME, headers=_auth(token))
    if _codes(body) == ["UNAUTHENTICATED"]:
        return False
    assert body["data"]["me"]["id"], body
    return True


# --- sign-in that cannot be abused ----------------------------------------------------------


async def test_login_hashes_off_the_event_loop_so_other_requests_keep_flowing(
    cast: Cast, hasher: CountingHasher
) -> None:
    # Given: a login whose password check is held inside argon2.
    hasher.hold = True
    login = asyncio.create_task(_login(cast.anonymous, "manager@example.com"))
    assert await asyncio.to_thread(hasher.entered.acquire, True, 5)

    # When: another user asks who they are meanwhile.
    me = await cast.member.data(ME)

    # Then: they are answered while the login is still hashing.
    assert me["me"]["id"] and not login.done()
    hasher.release.set()
    assert (await login)["token"]


async def test_password_checks_run_at_most_two_at_a_time(
    cast: Cast, hasher: CountingHasher
) -> None:
    hasher.hold = True
    emails = ["manager@example.com", "member@example.com", "other@example.com"]
    logins = [asyncio.create_task(_login(cast.anonymous, e)) for e in emails]
    for _ in range(2):
        assert await asyncio.to_thread(hasher.entered.acquire, True, 5)
    assert hasher.running == 2  # the third waits for a slot, not for a thread
    hasher.release.set()
    assert all(p["token"] for p in await asyncio.gather(*logins))
    assert hasher.most_at_once == 2


async def test_aliased_logins_in_one_operation_are_refused_before_any_password_work(
    cast: Cast, hasher: CountingHasher
) -> None:
    guesses = " ".join(
        f'g{i}: login(input: {{email: "member@example.com", password: "guess {i}"}}) {{ token }}'
        for i in range(30)
    )
    body = await cast.anonymous.gql(f"mutation {{ {guesses} }}")
    assert _codes(body) == ["SIGN_IN_LIMIT_EXCEEDED"]
    assert "30 sign-in fields" in body["errors"][0]["message"]
    assert "data" not in body or body["data"] is None
    assert hasher.calls == 0


async def test_a_batch_of_logins_is_refused_before_any_password_work(
    cast: Cast, hasher: CountingHasher
) -> None:
    one = 'mutation { login(input: {email: "member@example.com", password: "guess"}) { token } }'
    reset = (
        'mutation { completePasswordReset(input: {token: "t", newPassword: "x"}) { user { id } } }'
    )
    response = await cast.anonymous.client.post(
        "/graphql", json=[{"query": one}, {"query": one}, {"query": reset}]
    )
    assert response.status_code == 400
    assert _codes(response.json()) == ["SIGN_IN_LIMIT_EXCEEDED"]
    assert hasher.calls == 0


async def test_failed_logins_for_an_account_are_throttled_even_with_the_right_password(
    cast: Cast, hasher: CountingHasher
) -> None:
    for _ in range(5):
        assert (await _login(cast.anonymous, "member@example.com", WRONG))["token"] is None
    checked = hasher.calls

    body = await cast.anonymous.gql(LOGIN, {"email": "MEMBER@example.com ", "password": f.PASSWORD})

    assert _codes(body) == ["LOGIN_THROTTLED"]
    retry = body["errors"][0]["extensions"]["retryAfterSeconds"]
    assert isinstance(retry, int) and 0 < retry <= 15 * 60
    assert hasher.calls == checked  # refused before any hashing
    # Another account from the same address is not locked out by this one.
    assert (await _login(cast.anonymous, "manager@example.com"))["token"]


async def test_failures_from_one_address_are_throttled_across_accounts_and_processes(
    cast: Cast, db_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(signin, "POLICY", SignInPolicy(address_failures=3))
    for i in range(3):
        assert (await _login(cast.anonymous, f"nobody{i}@example.com", WRONG))["token"] is None

    # A second server process (its own app and pool) on the same database sees the count.
    async with _second_app(db_dsn) as other:
        response = await other.post(
            "/graphql",
            json={"query": LOGIN, "variables": {"email": "member@example.com", "password": "x"}},
        )
    assert _codes(response.json()) == ["LOGIN_THROTTLED"]


async def test_reset_token_is_checked_before_the_new_password_is_hashed(
    cast: Cast, hasher: CountingHasher
) -> None:
    body = await cast.anonymous.data(COMPLETE, {"token": "guessed-token"})
    assert body["completePasswordReset"]["userErrors"] == [{"code": "INVALID_TOKEN"}]
    assert hasher.calls == 0


async def test_guessing_reset_tokens_is_throttled_per_address(
    cast: Cast, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(signin, "POLICY", SignInPolicy(address_failures=3))
    for i in range(3):
        body = await cast.anonymous.data(COMPLETE, {"token": f"guess-{i}"})
        assert body["completePasswordReset"]["userErrors"] == [{"code": "INVALID_TOKEN"}]
    assert _codes(await cast.anonymous.gql(COMPLETE, {"token": "guess-4"})) == ["LOGIN_THROTTLED"]


# --- sessions a single-page app can live with -----------------------------------------------


async def test_access_tokens_are_short_lived_and_come_with_a_refresh_token(cast: Cast) -> None:
    signed = await _login(cast.anonymous, "member@example.com")
    issued = datetime.fromisoformat(signed["expiresAt"])
    refresh_ends = datetime.fromisoformat(signed["refreshTokenExpiresAt"])
    assert issued - datetime.now(issued.tzinfo) <= timedelta(minutes=15)
    assert refresh_ends - issued >= timedelta(days=13)
    assert signed["refreshToken"] and signed["refreshToken"] not in signed["token"]


async def test_refresh_rotates_and_a_reused_refresh_token_ends_the_session(
    cast: Cast, conn: asyncpg.Connection
) -> None:
    anon = cast.anonymous
    signed = await _login(anon, "member@example.com")
    stored = await conn.fetch("SELECT token_hash FROM refresh_tokens")
    assert signed["refreshToken"] not in str(stored)  # only a hash is kept

    # The SPA refreshes: a new pair, and the new access token works.
    first = (await anon.data(REFRESH, {"refresh": signed["refreshToken"]}))["refreshToken"]
    assert first["userErrors"] == [] and first["refreshToken"] != signed["refreshToken"]
    assert await _signed_in(anon, first["token"])

    # A thief replays the stolen, already spent refresh token.
    stolen = (await anon.data(REFRESH, {"refresh": signed["refreshToken"]}))["refreshToken"]
    assert stolen["token"] is None
    assert [e["code"] for e in stolen["userErrors"]] == ["INVALID_REFRESH_TOKEN"]

    # The whole session is over, for the thief and the owner alike.
    assert not await _signed_in(anon, first["token"])
    again = (await anon.data(REFRESH, {"refresh": first["refreshToken"]}))["refreshToken"]
    assert [e["code"] for e in again["userErrors"]] == ["INVALID_REFRESH_TOKEN"]


async def test_session_tokens_die_with_their_session_whatever_ended_it(
    api: Api, conn: asyncpg.Connection
) -> None:
    uid = await f.user(conn, "mia@example.com")
    anon = api.anonymous()
    signed = await _login(anon, "mia@example.com")
    token = (await api.data(RESET, {"id": f.gid("User", uid)}))["resetUserPassword"]["token"]
    await anon.data(COMPLETE, {"token": token})
    refreshed = (await anon.data(REFRESH, {"refresh": signed["refreshToken"]}))["refreshToken"]
    assert refreshed["token"] is None
    assert [e["code"] for e in refreshed["userErrors"]] == ["INVALID_REFRESH_TOKEN"]


async def test_logout_ends_the_session_at_once_and_keeps_others(cast: Cast) -> None:
    anon = cast.anonymous
    laptop = await _login(anon, "member@example.com")
    phone = await _login(anon, "member@example.com")
    assert await _signed_in(anon, laptop["token"])  # verified (and remembered) once

    ended = await anon.data(LOGOUT, {"all": False}, headers=_auth(laptop["token"]))

    assert ended == {"logout": {"endedSessions": 1}}
    assert not await _signed_in(anon, laptop["token"])
    refreshed = (await anon.data(REFRESH, {"refresh": laptop["refreshToken"]}))["refreshToken"]
    assert refreshed["token"] is None
    assert await _signed_in(anon, phone["token"])


async def test_logout_of_all_sessions_ends_every_device(cast: Cast) -> None:
    anon = cast.anonymous
    laptop = await _login(anon, "member@example.com")
    phone = await _login(anon, "member@example.com")
    ended = await anon.data(LOGOUT, {"all": True}, headers=_auth(phone["token"]))
    assert ended["logout"]["endedSessions"] >= 2
    assert not await _signed_in(anon, laptop["token"])
    assert not await _signed_in(anon, phone["token"])


async def test_a_password_reset_ends_every_session(api: Api, conn: asyncpg.Connection) -> None:
    uid = await f.user(conn, "mia@example.com")
    anon = api.anonymous()
    signed = await _login(anon, "mia@example.com", document=LOGIN_ACCESS)
    token = (await api.data(RESET, {"id": f.gid("User", uid)}))["resetUserPassword"]["token"]

    done = await anon.data(COMPLETE, {"token": token})

    assert done["completePasswordReset"]["userErrors"] == []
    assert not await _signed_in(anon, signed["token"])


async def test_re_enabling_a_user_does_not_revive_their_old_tokens(
    api: Api, conn: asyncpg.Connection
) -> None:
    uid = await f.user(conn, "mia@example.com")
    anon = api.anonymous()
    signed = await _login(anon, "mia@example.com", document=LOGIN_ACCESS)
    for status in ("DISABLED", "ACTIVE"):
        await api.data(SET_STATUS, {"id": f.gid("User", uid), "status": status})

    assert not await _signed_in(anon, signed["token"])
    again = await _login(anon, "mia@example.com", document=LOGIN_ACCESS)
    assert await _signed_in(anon, again["token"])  # signing in again works


async def test_a_role_change_ends_the_users_sessions(api: Api, conn: asyncpg.Connection) -> None:
    uid = await f.user(conn, "max@example.com", role="MANAGER")
    anon = api.anonymous()
    signed = await _login(anon, "max@example.com", document=LOGIN_ACCESS)
    assert await _signed_in(anon, signed["token"])
    demote = "mutation ($id: ID!) { updateUser(input: {id: $id, role: MEMBER}) { user { id } } }"
    await api.data(demote, {"id": f.gid("User", uid)})
    assert not await _signed_in(anon, signed["token"])


async def test_a_disabled_user_with_a_reset_token_is_not_signed_in_by_it(
    api: Api, conn: asyncpg.Connection
) -> None:
    # Given: a manager holds a reset token, and is then disabled.
    uid = await f.user(conn, "max@example.com", role="MANAGER")
    token = (await api.data(RESET, {"id": f.gid("User", uid)}))["resetUserPassword"]["token"]
    await api.data(SET_STATUS, {"id": f.gid("User", uid), "status": "DISABLED"})
    hashed = await conn.fetchval("SELECT password_hash FROM users WHERE id = $1", uid)

    # When: they redeem it and try a staff mutation in the same operation.
    body = await api.anonymous().gql(
        """mutation ($token: String!) {
          completePasswordReset(input: {token: $token, newPassword: "a brand new passphrase"}) {
            user { id } userErrors { code } }
          createMerchant(input: {name: "Mine", category: "Loot"}) { merchant { id } } }""",
        {"token": token},
    )

    # Then: the password stays, nothing runs as them (createMerchant's UNAUTHENTICATED nulls
    # the whole `data`), and re-enabling does not revive the token.
    assert _codes(body) == ["UNAUTHENTICATED"]
    assert body["errors"][0]["path"] == ["createMerchant"]
    assert await conn.fetchval("SELECT password_hash FROM users WHERE id = $1", uid) == hashed
    assert await conn.fetchval("SELECT count(*) FROM merchants WHERE name = 'Mine'") == 0
    await api.data(SET_STATUS, {"id": f.gid("User", uid), "status": "ACTIVE"})
    again = await api.anonymous().data(COMPLETE, {"token": token})
    assert again["completePasswordReset"]["userErrors"] == [{"code": "INVALID_TOKEN"}]


def _second_app(dsn: str) -> Any:
    @contextlib.asynccontextmanager
    async def open_client() -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(dsn, apply_migrations=False, jwt_secret=JWT_SECRET)
        async with app.router.lifespan_context(app) as state:
            transport = httpx.ASGITransport(app=_WithLifespanState(app, dict(state or {})))
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
                yield c

    return open_client()


# --- found by the attack on the merged server ------------------------------------------------


async def _session_opened_after(db_dsn: str, user_id: int, old_hash: str, change: str) -> bool:
    """Whether a login that checked `old_hash` opens a session while `change` (run in a
    transaction that locked the user's row first, as a reset or a disable does) commits."""
    admin = await asyncpg.connect(db_dsn)
    racer = await asyncpg.connect(db_dsn)
    try:
        changing = admin.transaction()
        await changing.start()
        await admin.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", user_id)
        await admin.execute(change, user_id)
        opening = asyncio.ensure_future(
            sessions.create(
                racer,
                session_id="00000000-0000-4000-8000-000000000001",
                user_id=user_id,
                expires_at=datetime.now(UTC) + timedelta(days=1),
                refresh_hash="x" * 64,
                password_hash=old_hash,
            )
        )
        # The login's statement waits on the user's row until the change commits.
        for _ in range(200):
            waiting = await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND datname = current_database()"
            )
            if waiting:
                break
            await asyncio.sleep(0.01)
        assert waiting == 1 and not opening.done()
        await changing.commit()
        return await opening
    finally:
        await admin.close()
        await racer.close()


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE users SET password_hash = 'new' WHERE id = $1",
        "UPDATE users SET status = 'DISABLED' WHERE id = $1",
    ],
    ids=["password reset", "disabled"],
)
async def test_a_login_checked_before_a_reset_or_disable_opens_no_session_after_it(
    conn: asyncpg.Connection, db_dsn: str, change: str
) -> None:
    # A login whose password check ran while a reset or a disable committed opened a session
    # after the revocation, which then outlived it.
    user = await f.user(conn, "racer@example.com")
    old_hash = await conn.fetchval("SELECT password_hash FROM users WHERE id = $1", user)

    opened = await _session_opened_after(db_dsn, user, old_hash, change)

    assert opened is False
    assert (
        await conn.fetchval(
            "SELECT count(*) FROM sessions WHERE id = '00000000-0000-4000-8000-000000000001'"
        )
        == 0
    )


async def test_a_login_with_the_current_password_still_opens_a_session(
    conn: asyncpg.Connection, db_dsn: str
) -> None:
    user = await f.user(conn, "racer@example.com")
    current = await conn.fetchval("SELECT password_hash FROM users WHERE id = $1", user)

    opened = await _session_opened_after(
        db_dsn, user, current, "UPDATE users SET name = 'Renamed' WHERE id = $1"
    )

    assert opened is True


async def test_spellings_of_one_email_share_its_throttle(
    cast: Cast, conn: asyncpg.Connection
) -> None:
    # PostgreSQL finds iris@ by "İris@" too, but Python's lower() made "İ" a key of its own,
    # so each "i" in an email doubled the guesses allowed per window.
    await f.user(conn, "iris@example.com")
    for spelling in ("iris", "İris", "irİs", "IRIS", "İrİs"):
        body = await _login(cast.anonymous, f"{spelling}@example.com", WRONG)
        assert body["token"] is None

    body = await cast.anonymous.gql(LOGIN, {"email": "İris@example.com", "password": f.PASSWORD})

    assert _codes(body) == ["LOGIN_THROTTLED"]
