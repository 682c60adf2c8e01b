"""Field errors at every depth give the answer Strawberry's stock executor gives, and the
database is read once per operation.

Two identical databases (one world of users, campaigns and rewards, then cloned) serve two
copies of the app: ours as it runs in production, and one whose schema is a plain
`strawberry.Schema` built from the same Query, Mutation and extensions (graphql-core's
execution, no fast path of ours). Each case is sent to both, from outside, over HTTP through
the ASGI app; data must be equal, and errors equal by (path, code, message). Each case has an
error somewhere: at the root, inside an object, inside list items, in a non-null position
(the null goes up to the nearest nullable parent), and beside sibling fields whose statements
are still running when the error happens.

"Read once": the app's statements are logged with their arguments once its connections are
idle again; none may be sent twice with the same arguments unless the stock executor sends it
as often (a field error must not make the operation, or part of it, run again). And no
connection may be left in the middle of a statement (pg_stat_activity 'active', waiting for
the client) once the answer is out: the next request to get it would fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
import strawberry
from starlette.applications import Starlette

import schema as schema_package
import server
from schema import schema as our_schema
from tests import factories as f
from tests import member_factories as mf
from tests.conftest import (
    JWT_SECRET,
    PgServer,
    StatementCounter,
    _WithLifespanState,
    bearer,
    clone_database,
    drop_database,
    with_database,
)

APP_NAME = "campaign-graphql"  # the pool's application_name (db/pool.py)
# Codes an error may have in these cases: what the callers may not do, nothing else.
EXPECTED_CODES = {"FORBIDDEN", "UNAUTHENTICATED"}


def stock_schema() -> strawberry.Schema:
    """The same schema as ours, executed by Strawberry and graphql-core as they ship."""
    return strawberry.Schema(
        query=schema_package.Query,
        mutation=schema_package.Mutation,
        subscription=schema_package.Subscription,
        extensions=list(our_schema.extensions),
        execution_context_class=None,
        scalar_overrides=schema_package.SCALAR_OVERRIDES,
    )


# --- the world -------------------------------------------------------------------------------


@dataclass
class World:
    users: dict[str, int]  # viewer name -> user id
    ids: dict[str, str]  # name -> global ID, for variables
    active_campaigns: int


async def build_world(conn: asyncpg.Connection) -> World:
    manager = await f.user(conn, "manager@example.com", name="Max Manager", role="MANAGER")
    member = await f.user(conn, "member@example.com", name="Mia Member", role="MEMBER")
    other = await f.user(conn, "other@example.com", name="Otto Other", role="MEMBER")
    shop = await f.merchant(conn, "Corner Shop")
    cafe = await f.merchant(conn, "Cafe", category="Food")
    campaigns = {}
    for name, status, merchant in (
        ("Spring", "ACTIVE", shop),
        ("Summer", "ACTIVE", cafe),
        ("Autumn", "PAUSED", shop),
        ("Winter", "DRAFT", cafe),
        ("Last year", "COMPLETED", shop),
    ):
        campaigns[name] = await f.campaign(
            conn, merchant, name=name, status=status, created_by=manager
        )
    # The member's rewards come from ACTIVE campaigns and from a PAUSED one (which a member
    # may not see through Reward.campaign); the other member has one of their own.
    account = await mf.account(conn, member, institution="Member Bank")
    own_transactions = []
    for day, campaign in enumerate(("Spring", "Autumn", "Summer", "Autumn"), start=1):
        purchase = await mf.transaction(
            conn, account, member, shop if day % 2 else cafe, amount_cents=1000 + day,
            occurred_at=datetime(2026, 3, day, tzinfo=UTC), description=f"purchase {day}",
        )  # fmt: skip
        own_transactions.append(purchase)
        await mf.reward(
            conn, member, campaigns[campaign], purchase, amount_cents=50 + day,
            status="EARNED", earned_at=datetime(2026, 3, day + 1, tzinfo=UTC),
        )  # fmt: skip
    other_account = await mf.account(conn, other, institution="Other Bank")
    other_purchase = await mf.transaction(
        conn, other_account, other, shop, amount_cents=777,
        occurred_at=datetime(2026, 3, 9, tzinfo=UTC), description="not yours",
    )  # fmt: skip
    await mf.reward(
        conn, other, campaigns["Spring"], other_purchase, amount_cents=7, status="EARNED",
        earned_at=datetime(2026, 3, 10, tzinfo=UTC),
    )  # fmt: skip
    ids = {
        "member": f.gid("User", member),
        "other": f.gid("User", other),
        "manager": f.gid("User", manager),
        "shop": f.gid("Merchant", shop),
        "active": f.gid("Campaign", campaigns["Spring"]),
        "active2": f.gid("Campaign", campaigns["Summer"]),
        "paused": f.gid("Campaign", campaigns["Autumn"]),
        "draft": f.gid("Campaign", campaigns["Winter"]),
        "missing": f.gid("Campaign", 987654),
        "own_transaction": f.gid("Transaction", own_transactions[0]),
        "other_transaction": f.gid("Transaction", other_purchase),
    }
    users = {"member": member, "other": other, "manager": manager}
    return World(users=users, ids=ids, active_campaigns=2)


# --- two apps on two identical databases ------------------------------------------------------


@dataclass
class Databases:
    ours: str
    stock: str
    world: World


@pytest.fixture(scope="module")
async def databases(pg_server: PgServer, template_dsn: str) -> AsyncIterator[Databases]:
    """The world in one database, and its clone for the stock app (read-only cases, so
    they stay identical)."""
    source = await clone_database(pg_server)
    conn = await asyncpg.connect(with_database(pg_server.admin_dsn, source))
    try:
        world = await build_world(conn)
    finally:
        await conn.close()
    twin = f"{source}_stock"
    admin = await asyncpg.connect(pg_server.admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{twin}" TEMPLATE "{source}" STRATEGY FILE_COPY')
    finally:
        await admin.close()
    try:
        yield Databases(source, twin, world)
    finally:
        for name in (twin, source):
            await drop_database(pg_server, name)


class Statements(StatementCounter):
    """The statements the app's pool runs, each with its arguments (`sent`)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, str]] = []

    def reset(self) -> None:
        super().reset()
        self.sent.clear()

    def _log(self, record: Any) -> None:
        before = len(self.statements)
        super()._log(record)
        if len(self.statements) > before:
            self.sent.append((self.statements[-1], repr(record.args)))


@dataclass
class Side:
    """One app, its client, its statement counter and its database's name."""

    client: httpx.AsyncClient
    statements: Statements
    database: str
    graphql_app: Any


@dataclass
class Twins:
    ours: Side
    stock: Side
    world: World
    admin: asyncpg.Connection  # on the server's admin database: pg_stat_activity
    admin_dsn: str


def _graphql_app(app: Starlette) -> Any:
    [route] = [
        r for r in app.routes if getattr(r, "path", None) == "/graphql" and hasattr(r, "methods")
    ]
    return route.endpoint


@contextlib.asynccontextmanager
async def _side(
    admin: asyncpg.Connection, admin_dsn: str, database: str, schema_object: Any = None
) -> AsyncIterator[Side]:
    counter = Statements()
    with pytest.MonkeyPatch.context() as patch:
        if schema_object is not None:
            patch.setattr(server, "schema", schema_object)
        app = server.create_app(
            with_database(admin_dsn, database),
            apply_migrations=False,
            on_connect=counter.attach,
            jwt_secret=JWT_SECRET,
            max_in_flight_per_viewer=0,
        )
    ended = "SELECT 0"
    try:
        async with app.router.lifespan_context(app) as state:
            transport = httpx.ASGITransport(app=_WithLifespanState(app, dict(state or {})))
            try:
                async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
                    yield Side(c, counter, database, _graphql_app(app))
            finally:
                # A connection left in the middle of a statement (a failure these tests look
                # for) would hold the pool's close forever: end it on the server's side.
                ended = await admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = $1 AND datname = $2 AND state = 'active'",
                    APP_NAME,
                    database,
                )
    except (OSError, asyncpg.InterfaceError, TimeoutError):
        if ended == "SELECT 0":
            raise  # the pool failed to close by itself


@pytest.fixture
async def twins(pg_server: PgServer, databases: Databases) -> AsyncIterator[Twins]:
    """A fresh pair of apps for each test (a test that breaks one breaks no other test)."""
    admin = await asyncpg.connect(pg_server.admin_dsn)
    stock = stock_schema()
    dsn = pg_server.admin_dsn
    try:
        async with (
            _side(admin, dsn, databases.ours) as ours_side,
            _side(admin, dsn, databases.stock, stock) as stock_side,
        ):
            # The reference really is the stock executor, and the same schema as ours.
            assert stock_side.graphql_app.schema is stock
            assert type(stock) is strawberry.Schema
            assert ours_side.graphql_app.schema is our_schema
            assert stock.as_str() == our_schema.as_str()
            yield Twins(ours_side, stock_side, databases.world, admin, dsn)
    finally:
        await admin.close()


# --- asking both ------------------------------------------------------------------------------


async def until(condition: Callable[[], Awaitable[bool]], within_s: float) -> bool:
    """Whether `condition` came true within the deadline."""
    deadline = time.monotonic() + within_s
    while not await condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def app_backends(twins: Twins, side: Side) -> list[dict[str, Any]]:
    """The app's connections running a statement (or stuck in the middle of one)."""
    rows = await twins.admin.fetch(
        "SELECT pid, wait_event, left(query, 80) AS query FROM pg_stat_activity"
        " WHERE application_name = $1 AND datname = $2 AND state = 'active'",
        APP_NAME,
        side.database,
    )
    return [dict(r) for r in rows]


async def settle(twins: Twins, side: Side) -> list[dict[str, Any]]:
    """Wait until none of the app's connections runs a statement (one sent for a field whose
    answer was already given still counts), then let asyncpg's query loggers run. Returns
    the connections still active after 2 s: stuck (a statement cut off half-sent)."""

    async def idle() -> bool:
        return not await app_backends(twins, side)

    if not await until(idle, 2):
        return await app_backends(twins, side)
    for _ in range(3):
        await asyncio.sleep(0)
    return []


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    statements: list[tuple[str, str]]  # (SQL, its arguments)
    stuck: list[dict[str, Any]]  # the app's connections left mid-statement

    @property
    def data(self) -> Any:
        return self.body.get("data")

    @property
    def errors(self) -> list[tuple[str, str, str]]:
        """(path, code, message), sorted by path."""
        return sorted(
            (
                json.dumps(e.get("path")),
                (e.get("extensions") or {}).get("code", "<no code>"),
                e.get("message", ""),
            )
            for e in self.body.get("errors") or ()
        )


async def ask(
    twins: Twins,
    side: Side,
    query: str,
    variables: dict[str, Any],
    viewer: str | None,
    during: Callable[[], Awaitable[None]] | None = None,
) -> Answer:
    """The app's answer, the statements it sent for it, and its connections left stuck."""
    assert await settle(twins, side) == [], "the app was busy before the request"
    side.statements.reset()
    headers = bearer(twins.world.users[viewer]) if viewer else {}
    request = asyncio.ensure_future(
        side.client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
    )
    try:
        if during is not None:
            await during()
    finally:
        response = await asyncio.wait_for(request, 20)
    stuck = await settle(twins, side)
    return Answer(response.status_code, response.json(), list(side.statements.sent), stuck)


def assert_same(ours: Answer, stock: Answer, what: str) -> None:
    assert stock.status == 200, (what, stock.body)
    assert {code for _, code, _ in stock.errors} <= EXPECTED_CODES, (what, stock.body)
    assert ours.status == 200, (what, ours.status, ours.body)
    assert ours.errors == stock.errors, (what, ours.body, stock.body)
    assert ours.data == stock.data, (what, ours.body, stock.body)
    # The reference app shares our pool (db/pool.py): graphql-core cancels the siblings of
    # a field whose null reaches the root, and a statement cut off must not jam a connection.
    assert stock.stuck == [], (what, "the stock app's connections were left stuck", stock.stuck)
    assert ours.stuck == [], (what, "connections left in the middle of a statement", ours.stuck)


def assert_read_once(ours: Answer, stock: Answer, what: str) -> None:
    """No statement sent again with the same arguments, unless the stock executor sends it
    as often. (How many statements a query takes may vary with timing, as the loads made in
    one event-loop turn are batched together; a statement sent twice with the same
    arguments in one operation is the operation, or part of it, run again.)"""
    assert ours.stuck == [], (what, "connections left in the middle of a statement", ours.stuck)
    sent, reference = Counter(ours.statements), Counter(stock.statements)
    again = {
        f"{sql} {args}": count for (sql, args), count in sent.items()
        if count > max(1, reference[(sql, args)])
    }  # fmt: skip
    assert not again, (what, "sent again", again)


# --- the cases --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    viewer: str | None
    query: str
    variables: tuple[str, ...] = ()  # names in World.ids, each sent as the variable it names


CASES: dict[str, Case] = {
    # At the root, beside a sibling whose count statement is still running.
    "root, beside a count": Case(
        "member",
        "query ($other: ID!) { campaigns { totalCount } user(id: $other) { name } }",
        ("other",),
    ),
    # At the root, beside siblings that take several loader rounds.
    "root, beside loader rounds": Case(
        "member",
        """query ($other: ID!) {
          user(id: $other) { name email }
          campaigns(first: 10) { totalCount nodes { name status merchant { name category } } }
          merchants { nodes { name } }
          me { name accounts { institution } rewards { totalCount } }
        }""",
        ("other",),
    ),
    "root, a missing campaign and a paused one": Case(
        "member",
        """query ($missing: ID!, $paused: ID!, $active: ID!) {
          a: campaign(id: $missing) { name }
          b: campaign(id: $paused) { name merchant { name } }
          c: campaign(id: $active) { name merchant { name } }
        }""",
        ("missing", "paused", "active"),
    ),
    "root, anonymous": Case(None, "{ merchants { totalCount } }"),
    # Inside an object: a field rule (email) on an object the caller may see.
    "inside an object": Case(
        "manager",
        """query ($member: ID!) {
          user(id: $member) { name email role }
          me { name email }
          campaigns { totalCount }
        }""",
        ("member",),
    ),
    # Inside list items, after a loader round: rewards whose campaign is not ACTIVE.
    "inside list items, rewards of a paused campaign": Case(
        "member",
        """{
          me { name rewards { totalCount nodes {
            amount { amount } status
            campaign { name status merchant { name } }
            transaction { description }
          } } }
        }""",
    ),
    # Inside list items: campaigns' creators, whom a member may not see.
    "inside list items, creators": Case(
        "member",
        "{ campaigns(first: 10) { nodes { name merchant { name } createdBy { name } } } }",
    ),
    # A node list with forbidden and missing IDs among allowed ones.
    "inside a node list": Case(
        "member",
        """query ($ids: [ID!]!) {
          nodes(ids: $ids) {
            __typename id
            ... on Campaign { name merchant { name } }
            ... on Transaction { description amount { amount } }
            ... on Merchant { name }
          }
        }""",
        ("ids",),
    ),
    # A null in a non-null position: `dailyAnalytics: [DailyAnalytics!]!` is STAFF only, so
    # the campaign is null (a nullable root field), its siblings unharmed...
    "non-null, up to a nullable object": Case(
        "member",
        """query ($active: ID!) {
          campaign(id: $active) { name dailyAnalytics { day } }
          merchants { nodes { name } }
        }""",
        ("active",),
    ),
    # ...each node of a list nulled on its own (`nodes` items are nullable)...
    "non-null, up to list items": Case(
        "member",
        """query ($pair: [ID!]!) {
          nodes(ids: $pair) { id ... on Campaign { name abTests { name } } }
          me { name }
        }""",
        ("pair",),
    ),
    # ...and up to the root when every field above is non-null (`data` is null).
    "non-null, up to the root": Case(
        "member", "{ campaigns(first: 1) { totalCount nodes { name dailyAnalytics { day } } } }"
    ),
    # `transactions` is not the manager's to read: the user is null, its siblings are not.
    "non-null, a manager reading a member's transactions": Case(
        "manager",
        """query ($member: ID!) {
          user(id: $member) { name transactions { totalCount } }
          campaigns { nodes { name createdBy { name } } }
        }""",
        ("member",),
    ),
    # Errors deep in one branch while other branches take their own loader rounds.
    "late errors beside deep siblings": Case(
        "member",
        """{
          me { rewards { nodes { campaign { name merchant { name } } } } }
          campaigns { nodes { name merchant { name } } }
          merchants { totalCount nodes { name } }
        }""",
    ),
}


def variables_of(case: Case, world: World) -> dict[str, Any]:
    ids = world.ids
    lists = {
        "ids": [
            ids["active"], ids["paused"], ids["other"], ids["own_transaction"],
            ids["other_transaction"], ids["shop"], ids["missing"], ids["member"],
        ],
        "pair": [ids["active"], ids["active2"]],
    }  # fmt: skip
    return {name: lists[name] if name in lists else ids[name] for name in case.variables}


async def both(twins: Twins, name: str) -> tuple[Answer, Answer]:
    case = CASES[name]
    variables = variables_of(case, twins.world)
    ours = await ask(twins, twins.ours, case.query, variables, case.viewer)
    stock = await ask(twins, twins.stock, case.query, variables, case.viewer)
    return ours, stock


@pytest.mark.parametrize("name", list(CASES))
async def test_an_error_gives_the_stock_executors_answer(twins: Twins, name: str) -> None:
    ours, stock = await both(twins, name)
    assert stock.errors, (name, "the case must have an error", stock.body)
    assert_same(ours, stock, name)


@pytest.mark.parametrize("name", list(CASES))
async def test_an_error_does_not_read_the_database_again(twins: Twins, name: str) -> None:
    ours, stock = await both(twins, name)
    assert_read_once(ours, stock, name)


async def test_a_forbidden_user_beside_a_count(twins: Twins) -> None:
    """The answer itself, not only the stock executor's: the count is there, the user is
    null, and there is exactly one error, FORBIDDEN, at ["user"]."""
    ours, _ = await both(twins, "root, beside a count")
    assert ours.data == {
        "campaigns": {"totalCount": twins.world.active_campaigns},
        "user": None,
    }, ours.body
    [error] = ours.body["errors"]
    assert error["path"] == ["user"]
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert error["message"] == "You may not see this User"


async def test_an_error_while_a_sibling_waits_on_a_lock(twins: Twins) -> None:
    """The sibling's statements are surely still in flight when the error happens: the
    campaigns table is locked, so they wait in PostgreSQL, until the forbidden user's answer
    has had its chance to finish; then the lock is released and the answer must be whole."""
    name = "root, beside loader rounds"
    case = CASES[name]
    variables = variables_of(case, twins.world)
    stock = await ask(twins, twins.stock, case.query, variables, case.viewer)
    locker = await asyncpg.connect(with_database(twins.admin_dsn, twins.ours.database))
    blocked = asyncio.Event()

    async def hold_then_release() -> None:
        async def waiting_on_the_lock() -> bool:
            active = await app_backends(twins, twins.ours)
            # Every statement of the app not waiting on the lock has finished.
            return bool(active) and all(b["wait_event"] == "relation" for b in active)

        try:
            if await until(waiting_on_the_lock, 10):
                blocked.set()
        finally:
            await tx.rollback()

    tx = locker.transaction()
    await tx.start()
    try:
        await locker.execute("LOCK TABLE campaigns IN ACCESS EXCLUSIVE MODE")
        ours = await ask(twins, twins.ours, case.query, variables, case.viewer, hold_then_release)
    finally:
        await locker.close()
    assert blocked.is_set()
    assert_same(ours, stock, name)
    assert_read_once(ours, stock, name)
