"""Issue 12, inputs, resources and production, replayed as an attacker: each test sends what
the issue's tour sent (or, for a crash or a cancelled read, makes it happen) and asserts the
server now refuses it with a code, or stays up, where before it stalled or answered
INTERNAL_SERVER_ERROR or a bare HTTP 500.

The generated tests read the schema: every String argument must have a length cap
(`schema/inputs.py`), and every ID, cursor, money and date argument is sent a list of nasty
values, none of which may give INTERNAL_SERVER_ERROR.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from graphql import (
    GraphQLInputObjectType,
    get_named_type,
)

from db import migrate
from db.embedded import ROOT, EmbeddedPostgres, ensure_database
from db.pool import PoolSettings
from schema import errors as schema_errors
from schema import inputs
from server import create_app
from tests import factories as f
from tests import member_factories as mf
from tests.conftest import (
    JWT_SECRET,
    Api,
    Cast,
    StatementCounter,
    _WithLifespanState,
    admin_with_session,
    bearer,
)
from tests.schema_positions import (
    GRAPHQL,
    Position,
    all_coordinates,
    document_for,
    positions,
    variable_for,
)
from tests.streams import Stream

CREATE = """
mutation ($input: CreateCampaignInput!) {
  createCampaign(input: $input) { campaign { name } userErrors { field code message } }
}
"""
CAMPAIGNS = "{ campaigns(first: 50) { totalCount nodes { name status merchant { name } } } }"
TRANSITION = "mutation ($id: ID!) { %s(input: {id: $id}) { userErrors { code } } }"
SEARCH = "query ($s: String) { campaigns(filter: {search: $s}) { totalCount } }"


def codes(body: dict[str, Any]) -> set[str]:
    return {e["extensions"]["code"] for e in body.get("errors") or ()}


def gid(raw: str) -> str:
    return base64.b64encode(raw.encode()).decode()


# --- a 900 KB search ------------------------------------------------------------------------


async def test_a_900_kb_search_is_refused_before_any_sql(
    cast: Cast, statements: StatementCounter
) -> None:
    statements.reset()
    started = time.perf_counter()
    body = await cast.member.gql(SEARCH, {"s": "x" * 900_000})
    elapsed = time.perf_counter() - started

    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "filter.search"}
    assert error["message"] == (
        f"`filter.search` of `campaigns` is 900000 characters long; the limit is "
        f"{inputs.FILTER_MAX}"
    )
    assert statements.count == 0  # not even the viewer's row was read
    assert elapsed < 1.0, elapsed


async def test_an_over_long_search_literal_is_refused_too(cast: Cast) -> None:
    query = '{ merchants(filter: {search: "%s"}) { totalCount } }' % ("y" * 201)
    [error] = (await cast.member.gql(query))["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "filter.search"}


# --- every text argument has a cap: generated from the schema --------------------------------


def test_every_string_argument_has_a_length_cap() -> None:
    missing = sorted(all_coordinates("String") - set(inputs.STRING_CAPS))
    assert not missing, "add to STRING_CAPS in schema/inputs.py:\n" + "\n".join(
        f'    "{c}": FILTER_MAX,  # or another cap' for c in missing
    )
    assert not set(inputs.STRING_CAPS) - all_coordinates("String"), "caps for no argument"
    # Only a mutation's own input fields may leave the cap to the mutation's userErrors.
    mutation_inputs: set[str] = set()
    pending = [
        get_named_type(a.type)
        for field in GRAPHQL.mutation_type.fields.values()
        for a in field.args.values()
    ]
    while pending:
        type_ = pending.pop()
        if isinstance(type_, GraphQLInputObjectType) and type_.name not in mutation_inputs:
            mutation_inputs.add(type_.name)
            pending.extend(get_named_type(f.type) for f in type_.fields.values())
    for coordinate, cap in inputs.STRING_CAPS.items():
        if cap is None:
            assert coordinate.split(".")[0] in mutation_inputs, coordinate


CAPPED = [
    p
    for p in positions()
    if p.scalar == "String" and inputs.STRING_CAPS.get(p.coordinate) is not None
]


def test_every_capped_argument_can_be_reached() -> None:
    reached = {p.coordinate for p in CAPPED}
    capped = {c for c, cap in inputs.STRING_CAPS.items() if cap is not None}
    assert capped <= reached, sorted(capped - reached)


@pytest.mark.parametrize("position", CAPPED, ids=lambda p: p.coordinate)
async def test_text_over_its_cap_is_refused_naming_the_argument(
    anon: Api, position: Position, statements: StatementCounter
) -> None:
    cap = inputs.STRING_CAPS[position.coordinate]
    assert cap is not None
    document = document_for(position, str(position.arg_type))
    statements.reset()
    over = await anon.gql(document, {"v": variable_for(position, "z" * (cap + 1))})
    [error] = over["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": position.path}
    assert f"is {cap + 1} characters long; the limit is {cap}" in error["message"]
    assert statements.count == 0
    at_cap = await anon.gql(document, {"v": variable_for(position, "z" * cap)})
    assert all("characters long" not in e["message"] for e in at_cap.get("errors") or ())


# --- IDs, cursors, money and dates out of range: generated from the schema --------------------


def cursor(*values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode()


NODE_TYPES = ("Campaign", "Merchant", "User", "AbTest", "Account", "Reward", "Transaction")
NASTY_IDS = [
    *(gid(f"{t}:{2**63}") for t in NODE_TYPES),
    *(gid(f"{t}:9999999999999999999") for t in NODE_TYPES),
    gid("Campaign:\u00b2"),  # '²': str.isdigit() says yes, int() says no
    gid("Campaign:-1"),
    gid("Campaign:"),
    gid(":1"),
    "",
    "not base64!",
    "x" * 101,
]
NASTY_DECIMALS: list[Any] = [
    "1e999999999",
    "-1e999999999",
    "NaN",
    "sNaN",
    "Infinity",
    "-Infinity",
    "1e-999999999",
    "10000000000000.01",
    "9" * 60,
    1e308,
]
NASTY_DATETIMES = [
    "9999-12-31T23:00:00-05:00",  # year 10000 in UTC
    "0001-01-01T00:00:00+05:00",  # year 0 in UTC
    "10000-01-01T00:00:00Z",
    "-infinity",
    "infinity",
    "9999-12-31T23:59:59.999999",
    "0001-01-01T00:00:00",
]
NASTY_DATES = ["0001-01-01", "9999-12-31", "10000-01-01", "-infinity", "0000-01-01", "2026-02-30"]


def nasty_cursors(user_id: int) -> list[str]:
    names = [
        "campaigns",
        "merchants",
        "abTests",
        "users",
        "auditLogs",
        f"transactions:{user_id}",
        f"rewards:{user_id}",
    ]
    out = ["", "!!", cursor(), base64.urlsafe_b64encode(b"{}").decode()]
    for name in names:
        out += [
            cursor(name, 2**63),
            cursor(name, "9999-12-31T23:59:59-14:00", 1),
            cursor(name, "0001-01-01T00:00:00+14:00", 1),
            cursor(name, "shop", -(2**63) - 1),
        ]
    return out


@dataclass
class World:
    """Objects that the arguments' other fields point at, so each nasty value is the only
    thing wrong with its request."""

    merchant: int
    campaign: int
    member: int

    def base(self, input_type: str) -> dict[str, Any]:
        campaign = {"id": f.gid("Campaign", self.campaign)}
        user = {"userId": f.gid("User", self.member)}
        return {
            "CreateCampaignInput": {
                "merchantId": f.gid("Merchant", self.merchant),
                "name": "Nasty",
                "rewardType": "FIXED_AMOUNT",
                "rewardValue": "1",
                "budget": "10",
            },
            "UpdateCampaignInput": campaign,
            "CampaignActionInput": campaign,
            "ResetUserPasswordInput": user,
            "SetUserStatusInput": {**user, "status": "ACTIVE"},
            "UpdateMerchantInput": {"id": f.gid("Merchant", self.merchant)},
            "UpdateUserInput": {"id": f.gid("User", self.member)},
        }.get(input_type, {})


@pytest.fixture
async def world(api: Api, conn: asyncpg.Connection) -> World:
    m = await f.merchant(conn, "Nasty Shop")
    c = await f.campaign(conn, m, name="Nasty", status="ACTIVE")
    member = await f.user(conn, "nasty-member@example.com")
    account = await mf.account(conn, api.user_id or 0)
    await mf.transaction(
        conn, account, api.user_id or 0, m, amount_cents=100, occurred_at=datetime.now(UTC)
    )
    return World(m, c, member)


def _is_cursor(p: Position) -> bool:
    return p.scalar == "String" and p.argument in ("after", "before") and not p.inner


KINDS = {
    "ID": lambda p: p.scalar == "ID",
    "cursor": _is_cursor,
    "Decimal": lambda p: p.scalar == "Decimal",
    "DateTime": lambda p: p.scalar == "DateTime",
    "Date": lambda p: p.scalar == "Date",
}


def test_the_generated_positions_cover_every_id_money_date_and_cursor() -> None:
    reached = {p.coordinate for p in positions()}
    for scalar in ("ID", "Decimal", "DateTime", "Date"):
        assert all_coordinates(scalar) <= reached, (scalar, all_coordinates(scalar) - reached)
    cursors = {p.coordinate for p in positions() if _is_cursor(p)}
    assert cursors == {c for c in inputs.STRING_CAPS if c.endswith(("(after:)", "(before:)"))}


@pytest.mark.parametrize("kind", list(KINDS))
async def test_nasty_values_are_coded_errors_never_internal(
    api: Api, world: World, kind: str
) -> None:
    """Every position of the kind, every nasty value, as an admin (who may call everything):
    a coded error or an answer, never INTERNAL_SERVER_ERROR or an uncoded error."""
    values: list[Any] = {
        "ID": NASTY_IDS,
        "cursor": nasty_cursors(api.user_id or 0),
        "Decimal": NASTY_DECIMALS,
        "DateTime": NASTY_DATETIMES,
        "Date": NASTY_DATES,
    }[kind]
    chosen = [p for p in positions() if KINDS[kind](p)]
    assert chosen
    failures = []
    for position in chosen:
        document = document_for(position, str(position.arg_type))
        base = world.base(get_named_type(position.arg_type).name)
        for value in values:
            if position.operation == "subscription":
                # Over a socket in the server; here in-process, as a socket runs it.
                variables = {"v": variable_for(position, value, base)}
                stream = await Stream.open(api, document, variables)
                await stream.close()
                if stream.refused in ("None", "INTERNAL_SERVER_ERROR"):
                    failures.append((position.coordinate, value, "stream", stream.refused))
                continue
            response = await api.client.post(
                "/graphql",
                json={"query": document, "variables": {"v": variable_for(position, value, base)}},
                headers=api.headers,
            )
            body = response.json() if response.status_code < 500 else {}
            found = [e.get("extensions", {}).get("code") for e in body.get("errors") or ()]
            if response.status_code != 200 or None in found or "INTERNAL_SERVER_ERROR" in found:
                failures.append((position.coordinate, value, response.status_code, found))
    assert not failures, failures


async def test_the_issue_s_ids_cursor_budget_and_end_date_are_coded(
    api: Api, world: World, conn: asyncpg.Connection
) -> None:
    huge = gid("Campaign:9999999999999999999")
    for query in (
        "query ($v: ID!) { campaign(id: $v) { name } }",
        "query ($v: ID!) { node(id: $v) { id } }",
    ):
        [error] = (await api.gql(query, {"v": huge}))["errors"]
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "id"}
    after = cursor("campaigns", 2**63)
    [error] = (
        await api.gql("query ($a: String) { campaigns(after: $a) { totalCount } }", {"a": after})
    )["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "after"}

    given = world.base("CreateCampaignInput")
    budget = await api.data(CREATE, {"input": {**given, "budget": "1e999999999"}})
    assert budget["createCampaign"]["userErrors"] == [
        {"field": ["budget"], "code": "INVALID", "message": "budget must be at most 10000000000000"}
    ]
    ends = await api.gql(CREATE, {"input": {**given, "endsAt": "9999-12-31T23:00:00-05:00"}})
    [error] = ends["errors"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "endsAt" in error["message"] and "outside the years 1 to 9999" in error["message"]
    assert await conn.fetchval("SELECT count(*) FROM campaigns") == 1  # only the world's


# --- one caller cannot take the pool ---------------------------------------------------------


@pytest.fixture
async def capped_app(db_dsn: str) -> AsyncIterator[Any]:
    """The app with the default per-caller cap: half of a pool of 4, so 2."""
    pool = PoolSettings(min_size=1, max_size=4, statement_timeout_ms=30_000, acquire_timeout_s=5)
    application = create_app(
        db_dsn, pool_settings=pool, apply_migrations=False, jwt_secret=JWT_SECRET
    )
    async with application.router.lifespan_context(application) as state:
        yield _WithLifespanState(application, dict(state or {}))


async def test_one_member_cannot_take_the_pool(
    capped_app: Any, db_dsn: str, conn: asyncpg.Connection
) -> None:
    """12 heavy requests from one member made everyone else wait: now the member's requests
    over the cap are refused at once, and another member is served meanwhile."""
    m = await f.merchant(conn)
    await f.campaign(conn, m, status="ACTIVE")
    greedy = bearer(await f.user(conn, "greedy@example.com"))
    other = bearer(await f.user(conn, "other@example.com"))
    transport = httpx.ASGITransport(app=capped_app)
    locker = await asyncpg.connect(db_dsn)
    tx = locker.transaction()
    await tx.start()
    await locker.execute("LOCK TABLE campaigns IN ACCESS EXCLUSIVE MODE")  # every read waits
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            query = {"query": "{ campaigns { totalCount } }"}
            greedy_calls = [
                asyncio.create_task(client.post("/graphql", json=query, headers=greedy))
                for _ in range(5)
            ]
            refused: list[httpx.Response] = []
            pending = set(greedy_calls)
            while len(refused) < 3:  # the cap is 2: three come back at once, refused
                done, pending = await asyncio.wait(
                    pending, timeout=10, return_when=asyncio.FIRST_COMPLETED
                )
                assert done, "the calls over the cap were not refused"
                refused += [t.result() for t in done]
            # The two admitted calls wait on the lock meanwhile; another member is served.
            me = await client.post("/graphql", json={"query": "{ me { id } }"}, headers=other)
            await tx.rollback()
            admitted = await asyncio.gather(*pending)
    finally:
        await locker.close()
    for response in refused:
        assert response.status_code == 429
        assert response.headers["retry-after"] == "1"
        [error] = response.json()["errors"]
        assert error["extensions"]["code"] == "TOO_MANY_REQUESTS"
    assert me.status_code == 200 and "errors" not in me.json()
    assert [r.json() for r in admitted] == [{"data": {"campaigns": {"totalCount": 1}}}] * 2


# --- a cancelled read is SERVICE_UNAVAILABLE, never a bare 500 -------------------------------


async def _until(check: Any, within_s: float = 10) -> None:
    deadline = time.monotonic() + within_s
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_a_cancelled_shared_read_is_service_unavailable_not_a_bare_500(
    api: Api, db_dsn: str, conn: asyncpg.Connection
) -> None:
    """Under pressure a read that several requests share (db/coalesce.py) can be cancelled;
    its CancelledError reached the requests waiting on it and escaped the executor as a bare
    HTTP 500 text/plain. Here the read's task is cancelled while it waits on a lock."""
    c = await f.campaign(conn, await f.merchant(conn), name="Locked")
    locker = await asyncpg.connect(db_dsn)
    tx = locker.transaction()
    await tx.start()
    await locker.execute("LOCK TABLE campaigns IN ACCESS EXCLUSIVE MODE")
    try:
        asking = asyncio.create_task(
            api.client.post(
                "/graphql",
                json={
                    "query": "query ($id: ID!) { campaign(id: $id) { name } }",
                    "variables": {"id": f.gid("Campaign", c)},
                },
                headers=api.headers,
            )
        )

        async def read_waits_on_the_lock() -> bool:
            return bool(
                await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND application_name = 'campaign-graphql'"
                )
            )

        await _until(read_waits_on_the_lock)
        shared_reads = [
            t
            for t in asyncio.all_tasks()
            if getattr(t.get_coro(), "__qualname__", "").startswith("Coalescer.")
        ]
        assert shared_reads
        for task in shared_reads:
            task.cancel()
        response = await asyncio.wait_for(asking, 10)
    finally:
        await tx.rollback()
        await locker.close()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    assert error["path"] == ["campaign"]


# --- production ------------------------------------------------------------------------------


async def test_the_audit_log_keeps_the_server_s_request_id_not_the_caller_s(
    api: Api, conn: asyncpg.Connection
) -> None:
    c = await f.campaign(conn, await f.merchant(conn))
    forged = "d5788af408e14614bc7d80e37ac8e985"  # another request's id, say
    response = await api.client.post(
        "/graphql",
        json={
            "query": TRANSITION % "launchCampaign",
            "variables": {"id": f.gid("Campaign", c)},
        },
        headers={**api.headers, "X-Request-ID": forged},
    )
    assert response.json()["data"]["launchCampaign"]["userErrors"] == []
    assert response.headers["x-request-id"] == forged  # echoed, as before
    [row] = await f.audit_rows(conn, c)
    assert row["request_id"] != forged and len(row["request_id"]) == 32
    assert row["client_request_id"] == forged

    long = "r" * 129  # over the cap: not kept at all
    await api.client.post(
        "/graphql",
        json={
            "query": TRANSITION % "pauseCampaign",
            "variables": {"id": f.gid("Campaign", c)},
        },
        headers={**api.headers, "X-Request-ID": long},
    )
    rows = await f.audit_rows(conn, c)
    assert [r["client_request_id"] for r in rows] == [forged, None]


async def test_production_suggests_no_field_names(
    anon: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    query = "{ campaignz { totalCount } }"
    suggested = (await anon.gql(query))["errors"][0]["message"]
    assert "Did you mean 'campaign' or 'campaigns'?" in suggested  # development keeps them
    monkeypatch.setattr(schema_errors, "SUGGESTIONS", False)  # as APP_ENV=production sets it
    for document in (
        query,
        "{ campaigns(filter: {statu: [ACTIVE]}) { totalCount } }",
        "query ($s: [CampaignStatus!]) { campaigns(filter: {status: $s}) { totalCount } }",
    ):
        body = await anon.gql(document, {"s": ["ACTIV"]})
        [error] = body["errors"]
        assert "Did you mean" not in error["message"], error
        assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert (await anon.gql(query))["errors"][0]["message"] == (
        "Cannot query field 'campaignz' on type 'Query'."
    )


def test_seed_refuses_a_database_url_without_the_flag(db_dsn: str) -> None:
    env = {**os.environ, "DATABASE_URL": db_dsn}
    done = subprocess.run(
        [sys.executable, "server.py", "seed"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "--with-published-passwords" in done.stderr
    assert "Traceback" not in done.stderr


async def test_seed_with_the_flag_loads_the_demo_users(db_dsn: str) -> None:
    env = {**os.environ, "DATABASE_URL": db_dsn}
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "server.py", "seed", "--with-published-passwords"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    conn = await asyncpg.connect(db_dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM users WHERE email = 'admin@example.com'")
    finally:
        await conn.close()


# --- a PostgreSQL crash ---------------------------------------------------------------------


CRASH_DB = "cg_crash"


@pytest.fixture(scope="module")
async def crash_pg() -> AsyncIterator[EmbeddedPostgres]:
    """A PostgreSQL of this module's own (.data/test-pg-crash): crashing it leaves the shared
    test server, and test_db_faults.py's, alone."""
    server = EmbeddedPostgres(ROOT / ".data" / "test-pg-crash")
    await ensure_database(server.dsn(), CRASH_DB)
    conn = await asyncpg.connect(server.dsn(CRASH_DB))
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        await migrate.migrate(conn)
    finally:
        await conn.close()
    yield server


async def test_a_postgresql_crash_is_service_unavailable_never_internal(
    crash_pg: EmbeddedPostgres,
) -> None:
    """A backend killed with SIGKILL makes PostgreSQL restart every connection (crash
    recovery); requests in flight and just after must be SERVICE_UNAVAILABLE, never
    INTERNAL_SERVER_ERROR, and the server serves again afterwards."""
    pool = PoolSettings(min_size=4, max_size=4, statement_timeout_ms=2000, acquire_timeout_s=2)
    application = create_app(
        crash_pg.dsn(CRASH_DB),
        pool_settings=pool,
        apply_migrations=False,
        jwt_secret=JWT_SECRET,
        max_in_flight_per_viewer=0,
    )
    conn = await asyncpg.connect(crash_pg.dsn(CRASH_DB))
    try:
        admin = await admin_with_session(conn, "crash-admin@example.com")
        m = await f.merchant(conn, "Crash Shop")
        await f.campaign(conn, m, name="Before the crash")
    finally:
        await conn.close()
    seen: Counter[str] = Counter()
    async with application.router.lifespan_context(application) as state:
        app: Any = _WithLifespanState(application, dict(state or {}))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", headers=bearer(admin)
        ) as client:

            async def keep_asking(until: float, request: dict[str, Any]) -> None:
                loop = asyncio.get_running_loop()
                while loop.time() < until:
                    response = await client.post("/graphql", json=request)
                    assert response.headers["content-type"].startswith("application/json")
                    seen.update(codes(response.json()) or {"ok"})

            loop = asyncio.get_running_loop()
            create = {
                "query": CREATE,
                "variables": {
                    "input": {
                        "merchantId": f.gid("Merchant", m),
                        "name": "During the crash",
                        "rewardType": "FIXED_AMOUNT",
                        "rewardValue": "1",
                        "budget": "10",
                    }
                },
            }
            bodies = [{"query": CAMPAIGNS}] * 4 + [create] * 2
            askers = [asyncio.create_task(keep_asking(loop.time() + 6, b)) for b in bodies]
            await asyncio.sleep(0.5)
            victim = await asyncpg.connect(crash_pg.dsn(CRASH_DB))
            pid = victim.get_server_pid()
            os.kill(pid, signal.SIGKILL)  # crash recovery: every backend is terminated
            await asyncio.gather(*askers)
            try:
                await victim.close(timeout=1)
            except Exception:  # noqa: BLE001  (it was killed)
                victim.terminate()
            # PostgreSQL recovers by itself; the same server serves again, no restart.
            for _ in range(100):
                after = (await client.post("/graphql", json={"query": CAMPAIGNS})).json()
                if "errors" not in after:
                    break
                await asyncio.sleep(0.2)
    print(dict(seen))
    assert "INTERNAL_SERVER_ERROR" not in seen, dict(seen)
    assert seen["SERVICE_UNAVAILABLE"] > 0, dict(seen)
    assert "errors" not in after, after


# --- slow clients ----------------------------------------------------------------------------


@pytest.fixture
async def real_server(db_dsn: str) -> AsyncIterator[int]:
    """`server.py serve` on a free loopback port, with 1-second read deadlines and room for
    100 connections."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    env = {
        **os.environ,
        "DATABASE_URL": db_dsn,
        "JWT_SECRET": JWT_SECRET,
        "LOG_LEVEL": "warning",
        "HTTP_HEADER_TIMEOUT_S": "1",
        "HTTP_BODY_TIMEOUT_S": "1",
        "HTTP_MAX_CONNECTIONS": "100",
    }
    proc = subprocess.Popen(
        [sys.executable, "server.py", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient() as client:

            async def up() -> bool:
                try:
                    return (await client.get(f"http://127.0.0.1:{port}/healthz")).is_success
                except httpx.TransportError:
                    return False

            await _until(up, 30)
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


async def _dribble(port: int, head: bytes, seconds: float) -> float | None:
    """Send `head`, then one byte at a time every 0.3 s; the seconds until the server closed
    the connection, or None when it was still open after `seconds`."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    try:
        writer.write(head)
        while time.monotonic() - started < seconds:
            writer.write(b"a")
            await writer.drain()
            try:
                if await asyncio.wait_for(reader.read(1), 0.3) == b"":
                    return time.monotonic() - started
            except TimeoutError:
                continue
        return None
    except ConnectionError:
        return time.monotonic() - started
    finally:
        writer.close()


async def test_slow_clients_are_cut_off_and_others_still_served(real_server: int) -> None:
    """Connections sending their headers, or their body, a byte at a time were all still
    open after 45 s. Now each is closed at its deadline (1 s here), while a normal client is
    served meanwhile."""
    headers = b"POST /graphql HTTP/1.1\r\nHost: x\r\nX-Slow: "
    body = (
        b"POST /graphql HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
        b"content-length: 1000\r\n\r\n"
    )
    slow = [_dribble(real_server, headers, 6) for _ in range(20)]
    slow += [_dribble(real_server, body, 6) for _ in range(20)]
    tasks = [asyncio.create_task(call) for call in slow]
    async with httpx.AsyncClient() as client:
        served = [
            (await client.get(f"http://127.0.0.1:{real_server}/healthz")).status_code
            for _ in range(5)
        ]
    closed_after = await asyncio.gather(*tasks)
    assert served == [200] * 5
    assert all(t is not None and 0.9 < t < 3 for t in closed_after), closed_after


async def test_connections_over_the_cap_are_closed_at_once(real_server: int) -> None:
    held = [await asyncio.open_connection("127.0.0.1", real_server) for _ in range(100)]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", real_server)
        started = time.monotonic()
        try:
            closed = await asyncio.wait_for(reader.read(1), 0.9)  # before any read deadline
        except ConnectionError:
            closed = b""
        assert closed == b"" and time.monotonic() - started < 0.9
        writer.close()
    finally:
        for _, w in held:
            w.close()


# --- found by the attack on the merged server ------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"null", "The request body must be a JSON object, or an array of them for a batch"),
        (b"5", "The request body must be a JSON object, or an array of them for a batch"),
        (b'"x"', "The request body must be a JSON object, or an array of them for a batch"),
        (b"true", "The request body must be a JSON object, or an array of them for a batch"),
        (
            b'{"query": "{ __typename }", "operationName": {}}',
            "The GraphQL operation's `operationName` must be a string or null, if provided.",
        ),
        (
            b'[{"query": "{ __typename }", "operationName": []}]',
            "The GraphQL operation's `operationName` must be a string or null, if provided.",
        ),
    ],
    ids=["null", "number", "string", "boolean", "operationName object", "batched list"],
)
async def test_a_body_of_the_wrong_shape_is_a_coded_400_not_a_500(
    anon: Api, body: bytes, message: str
) -> None:
    response = await anon.client.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {
        "errors": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]
    }
