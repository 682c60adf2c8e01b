"""Test fixtures: a real PostgreSQL, a migrated template, and one fresh database per test.

Without TEST_DATABASE_URL (or DATABASE_URL) the suite starts the embedded PostgreSQL in
.data/test-pg. Each test gets its own database cloned from a migrated template (fast with
STRATEGY FILE_COPY), so tests never share state and concurrency tests use real transactions.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
from starlette.types import Receive, Scope, Send

from db import migrate
from db.embedded import ROOT, EmbeddedPostgres
from resolvers.auth import Tokens
from server import create_app
from tests import factories as f

TEMPLATE = "cg_test_template"
# The app under test signs and checks tokens with this; tests mint tokens with TOKENS.
JWT_SECRET = "test-secret-that-is-long-enough-for-hs256!"
TOKENS = Tokens(JWT_SECRET)
_numbers = itertools.count()

# Access tokens name a session, and the server accepts one only while its session row is open.
# So that `bearer(user_id)` can mint a token without a database at hand, every user inserted
# into a test database gets a session at once, as if they had signed in, with an id derived
# from the user id (the template's trigger below; `open_test_session` for other databases).
TEST_SESSIONS = """
CREATE FUNCTION cg_test_session() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO sessions (id, user_id, expires_at)
    VALUES (md5('test-session:' || NEW.id)::uuid, NEW.id, now() + interval '1 year')
    ON CONFLICT (id) DO NOTHING;
    RETURN NEW;
END $$;
CREATE TRIGGER cg_test_session AFTER INSERT ON users
    FOR EACH ROW EXECUTE FUNCTION cg_test_session();
"""


def session_of(user_id: int) -> str:
    """The session every test user gets (TEST_SESSIONS), as `bearer` names it."""
    return str(uuid.UUID(hashlib.md5(f"test-session:{user_id}".encode()).hexdigest()))


async def open_test_session(conn: asyncpg.Connection, user_id: int) -> None:
    """The test session of a user in a database not cloned from the template."""
    await conn.execute(
        "INSERT INTO sessions (id, user_id, expires_at) VALUES ($1, $2, now() + interval '1 year')"
        " ON CONFLICT (id) DO UPDATE SET revoked_at = NULL, revoked_reason = NULL",
        session_of(user_id),
        user_id,
    )


def with_database(dsn: str, name: str) -> str:
    """The same server DSN pointing at database `name` (works for socket-style DSNs too)."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{name}"))


@dataclass
class PgServer:
    admin_dsn: str
    embedded: EmbeddedPostgres | None


@pytest.fixture(scope="session")
async def pg_server() -> AsyncIterator[PgServer]:
    url = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    embedded = None
    if not url:
        embedded = EmbeddedPostgres(ROOT / ".data" / "test-pg")
        url = embedded.dsn("postgres")
        conn = await asyncpg.connect(url)
        # Durability is pointless for throwaway test databases; speed is not.
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            await conn.execute(f"ALTER SYSTEM SET {setting} = off")
        await conn.execute("SELECT pg_reload_conf()")
        await conn.close()
    yield PgServer(url, embedded)


@pytest.fixture(scope="session")
async def template_dsn(pg_server: PgServer) -> str:
    conn = await asyncpg.connect(pg_server.admin_dsn)
    try:
        for row in await conn.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE 'cg_test_%'"
        ):
            await conn.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
    finally:
        await conn.close()
    dsn = with_database(pg_server.admin_dsn, TEMPLATE)
    conn = await asyncpg.connect(dsn)
    try:
        await migrate.migrate(conn)
        await conn.execute(TEST_SESSIONS)
    finally:
        await conn.close()
    return dsn


async def clone_database(pg_server: PgServer) -> str:
    name = f"cg_test_{os.getpid()}_{next(_numbers)}"
    conn = await asyncpg.connect(pg_server.admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}" STRATEGY FILE_COPY')
    finally:
        await conn.close()
    return name


async def drop_database(pg_server: PgServer, name: str) -> None:
    conn = await asyncpg.connect(pg_server.admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
async def db_dsn(pg_server: PgServer, template_dsn: str) -> AsyncIterator[str]:
    """A fresh, migrated, empty database of this test's own."""
    name = await clone_database(pg_server)
    yield with_database(pg_server.admin_dsn, name)
    await drop_database(pg_server, name)


@pytest.fixture
async def conn(db_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """A direct connection to the test database, for arranging data and checking results."""
    from db.pool import _init_connection

    connection = await asyncpg.connect(db_dsn)
    await _init_connection(connection)
    yield connection
    await connection.close()


@dataclass
class StatementCounter:
    """Counts the SQL statements the app's pool runs.

    Excluded: pool housekeeping on release, and asyncpg's one-time introspection of a type it
    meets for the first time on a connection (cached per connection afterwards).
    """

    statements: list[str] = field(default_factory=list)

    def reset(self) -> None:
        self.statements.clear()

    @property
    def count(self) -> int:
        return len(self.statements)

    def _log(self, record: Any) -> None:
        query = record.query.strip()
        if "RESET ALL" in query or "typeinfo_tree" in query or "set_config('jit'" in query:
            return
        self.statements.append(query)

    async def attach(self, connection: asyncpg.Connection) -> None:
        connection.add_query_logger(self._log)


@pytest.fixture
def statements() -> StatementCounter:
    return StatementCounter()


class _WithLifespanState:
    """httpx's ASGI transport runs no lifespan; hand each request the lifespan's state."""

    def __init__(self, app: Any, state: dict[str, Any]) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["state"] = dict(self.state)
        await self.app(scope, receive, send)


def bearer(user_id: int) -> dict[str, str]:
    """Headers that sign in as `user_id` with a fresh access token for their test session."""
    return {"Authorization": f"Bearer {TOKENS.issue(user_id, session_of(user_id)).token}"}


@dataclass
class Api:
    """An HTTP client bound to the ASGI app, with a GraphQL helper.

    The `api` fixture signs in as an ADMIN it creates (`user_id`); `as_user` and `anonymous`
    give the same client with other credentials.
    """

    client: httpx.AsyncClient
    app: Any
    headers: dict[str, str] = field(default_factory=dict)
    user_id: int | None = None

    def as_user(self, user_id: int) -> Api:
        return Api(self.client, self.app, bearer(user_id), user_id)

    def anonymous(self) -> Api:
        return Api(self.client, self.app, {}, None)

    async def gql(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        response = await self.client.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers={**self.headers, **(headers or {})},
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        # asyncpg calls query loggers (StatementCounter) with call_soon: one turn of the loop
        # lets those of this request's last statements run before the caller counts.
        await asyncio.sleep(0)
        return body

    async def data(self, query: str, variables: dict[str, Any] | None = None, **kw: Any) -> Any:
        """The `data` of a response that must have no errors."""
        body = await self.gql(query, variables, **kw)
        assert "errors" not in body, body["errors"]
        return body["data"]


@pytest.fixture
async def app(db_dsn: str, statements: StatementCounter) -> AsyncIterator[Any]:
    # One admin makes most of the suite's requests, some of them 20 at once: no per-caller
    # cap here (tests/test_attack_inputs.py tests it).
    application = create_app(
        db_dsn,
        apply_migrations=False,
        on_connect=statements.attach,
        jwt_secret=JWT_SECRET,
        max_in_flight_per_viewer=0,
    )
    async with application.router.lifespan_context(application) as state:
        yield _WithLifespanState(application, dict(state or {}))


@pytest.fixture
async def api(app: Any, conn: asyncpg.Connection) -> AsyncIterator[Api]:
    """A client signed in as an ADMIN created for this test (email test-admin@example.com)."""
    admin_id = await f.user(conn, "test-admin@example.com", name="Test Admin", role="ADMIN")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Api(client, app, bearer(admin_id), admin_id)


@pytest.fixture
def anon(api: Api) -> Api:
    """The same client without credentials."""
    return api.anonymous()


@dataclass(frozen=True)
class Cast:
    """One user of each role, with clients signed in as each (the `api` client is the admin)."""

    admin: Api
    manager: Api
    member: Api
    other_member: Api
    anonymous: Api


@pytest.fixture
async def cast(api: Api, conn: asyncpg.Connection) -> Cast:
    manager = await f.user(conn, "manager@example.com", name="Max Manager", role="MANAGER")
    member = await f.user(conn, "member@example.com", name="Mia Member", role="MEMBER")
    other = await f.user(conn, "other@example.com", name="Otto Other", role="MEMBER")
    return Cast(
        admin=api,
        manager=api.as_user(manager),
        member=api.as_user(member),
        other_member=api.as_user(other),
        anonymous=api.anonymous(),
    )


def repo_root() -> Path:
    return ROOT


@pytest.fixture
def tight(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Replace the process's limits (schema/limits.py) for one test."""
    from schema import limits

    def set_limits(**changes: Any) -> limits.Limits:
        value = replace(limits.LIMITS, **changes)
        monkeypatch.setattr(limits, "LIMITS", value)
        return value

    return set_limits


async def admin_with_session(conn: asyncpg.Connection, email: str) -> int:
    """An ADMIN in a database not cloned from the template (made again if it exists), with
    the test session `bearer` names."""
    admin = int(
        await conn.fetchval(
            "INSERT INTO users (email, name, role, password_hash)"
            " VALUES ($1, 'Admin', 'ADMIN', 'x')"
            " ON CONFLICT (email) DO UPDATE SET name = excluded.name RETURNING id",
            email,
        )
    )
    await open_test_session(conn, admin)
    return admin


# The real two-worker server the subscriptions and GraphiQL tests use (tests/live_server.py).
from tests.live_server import live, live_pg  # noqa: E402, F401
