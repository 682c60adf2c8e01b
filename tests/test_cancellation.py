"""Requests cancelled at any point, and PostgreSQL going away under load, leave the server
whole: no response is a 500 or INTERNAL_SERVER_ERROR, no connection is left busy or stuck
in the middle of a statement, nothing is left dangling (a task pending or failed unseen),
and every request after the fault gets the right answer.

(a) Requests cancelled at random moments, many at once, on fresh apps (asyncio tasks
cancelled, as a request's time budget or a shutdown cancels them; uvicorn does not cancel a
request whose client hangs up, so client timeouts against `server.py serve` would not reach
the same code), and statements that the executor itself stops waiting for.
(b) PostgreSQL stopped and started under load (its own embedded server, .data/test-pg-chaos),
and the app's connections terminated under load (pg_terminate_backend).

The requests are a mix of queries with several loader rounds (connections, their nodes'
merchants and creators, A/B tests and variants, analytics, a member's accounts,
transactions and rewards), asked by an admin, a manager and members, over HTTP through the
ASGI app. Their right answers are taken first, one by one. Randomness is seeded
(CHAOS_SEED overrides the seed, to explore).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import os
import random
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest

from db import migrate
from db.embedded import ROOT, EmbeddedPostgres, ensure_database
from db.pool import PoolSettings
from server import create_app
from tests.conftest import JWT_SECRET, _WithLifespanState, bearer, open_test_session

APP_NAME = "campaign-graphql"  # the pool's application_name (db/pool.py)
SEED = int(os.environ.get("CHAOS_SEED", "20261206"))

CAMPAIGNS = """
{ campaigns(first: 20) { totalCount nodes {
    id name status merchant { name category } createdBy { name }
    abTests { name variants { name impressions conversions } }
} } }
"""
MEMBER = """
{ me {
    name accounts { institution kind }
    transactions(first: 15) { totalCount nodes { amount { amount } merchant { name } } }
    rewards(first: 10) { totalCount nodes { amount { amount } status } }
} }
"""
MERCHANTS = "{ merchants { totalCount nodes { name category } } }"
ACTIVE_FOR_A_MEMBER = """
{ campaigns(first: 10) { totalCount nodes { name merchant { name } } }
  merchants(first: 5) { nodes { name } } }
"""
ANALYTICS = """
{ campaigns(first: 5) { nodes { name
    dailyAnalytics { day impressions clicks }
    analyticsSummary { impressions conversions }
} } }
"""
NODES = """
query ($ids: [ID!]!) { nodes(ids: $ids) {
    id ... on Campaign { name merchant { name } createdBy { name } }
    ... on Merchant { name }
} }
"""


@dataclass(frozen=True)
class Ask:
    """One kind of request: a query, its variables, and who asks."""

    query: str
    viewer: int
    variables: tuple[tuple[str, Any], ...] = ()

    def body(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "variables": {k: list(v) if isinstance(v, tuple) else v for k, v in self.variables},
        }


@dataclass
class Demo:
    dsn: str
    database: str
    asks: list[Ask]


# A small world, written in a few statements: users, merchants, campaigns of every status
# with A/B tests and a week of analytics, and each member's accounts, transactions and
# rewards.
WORLD = """
INSERT INTO users (email, name, role, password_hash)
SELECT 'chaos-' || r || '@example.com', initcap(r), upper(r), 'x'
FROM unnest(ARRAY['admin', 'manager']) AS r;
INSERT INTO users (email, name, role, password_hash)
SELECT 'chaos-member' || i || '@example.com', 'Member ' || i, 'MEMBER', 'x'
FROM generate_series(1, 4) AS i;
INSERT INTO merchants (name, category)
SELECT 'Shop ' || i, (ARRAY['Dining', 'Fuel', 'Travel'])[1 + i % 3] FROM generate_series(1, 6) i;
INSERT INTO campaigns (merchant_id, created_by, name, status, reward_type, reward_value,
                       budget_cents)
SELECT (SELECT min(id) FROM merchants) + i % 6,
       (SELECT id FROM users WHERE email = 'chaos-manager@example.com'),
       'Campaign ' || i, (ARRAY['ACTIVE', 'ACTIVE', 'PAUSED', 'DRAFT'])[1 + i % 4],
       'CASHBACK_PERCENT', 500, 100000
FROM generate_series(1, 24) AS i;
INSERT INTO ab_tests (campaign_id, name, status)
SELECT id, 'Test of ' || name, 'RUNNING' FROM campaigns WHERE id % 3 = 0;
INSERT INTO ab_test_variants (ab_test_id, name, is_control, traffic_share, impressions,
                              conversions)
SELECT t.id, v, v = 'A', 0.5, 1000, CASE v WHEN 'A' THEN 10 ELSE 30 END
FROM ab_tests t, unnest(ARRAY['A', 'B']) AS v;
INSERT INTO campaign_analytics_daily (campaign_id, day, impressions, clicks, conversions,
                                      spend_cents, revenue_cents)
SELECT c.id, current_date - d, 100 + d, 10 + d, d, 500, 900
FROM campaigns c, generate_series(1, 7) AS d;
INSERT INTO accounts (user_id, kind, institution, last_four, balance_cents)
SELECT id, k, 'Bank', '1234', 1000 FROM users, unnest(ARRAY['CHECKING', 'CREDIT_CARD']) k
WHERE role = 'MEMBER';
INSERT INTO transactions (account_id, user_id, merchant_id, amount_cents, category,
                          occurred_at, description)
SELECT a.id, a.user_id, (SELECT min(id) FROM merchants) + i % 6, 100 * i, 'Dining',
       timestamptz '2026-03-01' + i * interval '1 day', 'purchase ' || i
FROM accounts a, generate_series(1, 10) AS i;
INSERT INTO rewards (user_id, campaign_id, transaction_id, amount_cents, status, earned_at)
SELECT t.user_id, (SELECT min(id) FROM campaigns WHERE status = 'ACTIVE'), t.id, 5, 'EARNED',
       t.occurred_at
FROM transactions t WHERE t.id % 2 = 0;
"""


async def demo_asks(conn: asyncpg.Connection) -> list[Ask]:
    """Write the world, open a session for each viewer (conftest's `bearer` names it), and
    return the request mix."""
    await conn.execute(WORLD)
    ids = {r["email"]: r["id"] for r in await conn.fetch("SELECT id, email FROM users")}
    admin, manager = ids["chaos-admin@example.com"], ids["chaos-manager@example.com"]
    members = sorted(i for e, i in ids.items() if e.startswith("chaos-member"))
    for user in (admin, manager, *members):
        await open_test_session(conn, user)
    campaign_ids = [
        r["id"] for r in await conn.fetch("SELECT id FROM campaigns ORDER BY id LIMIT 4")
    ]
    merchant_id = await conn.fetchval("SELECT min(id) FROM merchants")
    node_ids = [_gid("Campaign", c) for c in campaign_ids] + [_gid("Merchant", merchant_id)]
    asks = [
        Ask(CAMPAIGNS, admin),
        Ask(CAMPAIGNS, manager),
        Ask(MERCHANTS, manager),
        Ask(ANALYTICS, manager),
        Ask(NODES, manager, (("ids", tuple(node_ids)),)),
    ]
    for member in members:
        asks += [Ask(MEMBER, member), Ask(ACTIVE_FOR_A_MEMBER, member)]
    return asks


def _gid(type_name: str, pk: int) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


def database_of(dsn: str) -> str:
    return urlsplit(dsn).path.lstrip("/")


async def seeded(dsn: str) -> Demo:
    conn = await asyncpg.connect(dsn)
    try:
        return Demo(dsn, database_of(dsn), await demo_asks(conn))
    finally:
        await conn.close()


@pytest.fixture
async def demo(db_dsn: str) -> Demo:
    return await seeded(db_dsn)


@contextlib.asynccontextmanager
async def serving(dsn: str, pool: PoolSettings | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """A fresh app (a new worker: its pool starts cold) and a client for it. Its pool must
    close within 10 s: one that cannot has lost a connection that is never given back."""
    app = create_app(
        dsn,
        pool_settings=pool,
        apply_migrations=False,
        jwt_secret=JWT_SECRET,
        max_in_flight_per_viewer=0,
    )
    lifespan = app.router.lifespan_context(app)
    state = dict(await lifespan.__aenter__() or {})
    failed = True
    try:
        transport = httpx.ASGITransport(app=_WithLifespanState(app, state))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client
        failed = False
    finally:
        try:
            async with asyncio.timeout(10):
                await lifespan.__aexit__(None, None, None)
        except TimeoutError:
            state["pool"].terminate()
            if not failed:
                raise AssertionError("the pool did not close within 10 s") from None


async def post(client: httpx.AsyncClient, ask: Ask) -> httpx.Response:
    return await client.post("/graphql", json=ask.body(), headers=bearer(ask.viewer))


def outcome(response: httpx.Response) -> str:
    """'ok', or what went wrong: the status, or the error codes."""
    if not response.headers.get("content-type", "").startswith("application/json"):
        return f"HTTP {response.status_code} {response.headers.get('content-type')}"
    body = response.json()
    codes = sorted({(e.get("extensions") or {}).get("code", "?") for e in body.get("errors", [])})
    if response.status_code != 200:
        return f"HTTP {response.status_code} {codes}"
    return "ok" if not codes else ",".join(codes)


async def right_answers(client: httpx.AsyncClient, asks: list[Ask]) -> dict[Ask, Any]:
    """Each request's answer, asked alone: the reference. None has an error."""
    answers = {}
    for ask in asks:
        response = await post(client, ask)
        body = response.json()
        assert response.status_code == 200 and "errors" not in body, (ask, body)
        answers[ask] = body
    return answers


async def until(condition: Callable[[], Awaitable[bool]], within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while not await condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def busy_backends(admin: asyncpg.Connection, database: str) -> list[dict[str, Any]]:
    """The app's connections that are not idle: running a statement, or stuck in the middle
    of one ('active', waiting for the client that cut it off)."""
    rows = await admin.fetch(
        "SELECT pid, state, wait_event, left(query, 80) AS query FROM pg_stat_activity"
        " WHERE application_name = $1 AND datname = $2 AND state <> 'idle'",
        APP_NAME,
        database,
    )
    return [dict(r) for r in rows]


async def assert_pool_settles(admin: asyncpg.Connection, database: str, when: str) -> None:
    """Within a few seconds of the last answer, none of the app's connections is busy."""

    async def idle() -> bool:
        return not await busy_backends(admin, database)

    if not await until(idle, 3):
        stuck = await busy_backends(admin, database)
        raise AssertionError(f"{when}: connections left busy: {stuck}")


async def assert_every_request_right(
    client: httpx.AsyncClient, answers: dict[Ask, Any], when: str, *, one_by_one: bool = True
) -> None:
    """Each kind of request, all at once (and then one by one), gets its right answer."""
    asks = list(answers)
    responses = await asyncio.gather(*(post(client, ask) for ask in asks))
    if one_by_one:
        for ask in list(asks):
            asks.append(ask)
            responses.append(await post(client, ask))
    wrong = [
        (outcome(response), ask.query[:40], response.text[:300])
        for ask, response in zip(asks, responses, strict=True)
        if response.status_code != 200 or response.json() != answers[ask]
    ]
    assert not wrong, (when, f"{len(wrong)} of {len(asks)} wrong", wrong[:5])


def unexpected(outcomes: Counter[str]) -> dict[str, int]:
    """What must never be answered: a 500, a non-JSON answer, INTERNAL_SERVER_ERROR."""
    return {
        k: n
        for k, n in outcomes.items()
        if "INTERNAL" in k or k.startswith("HTTP 500") or "json" not in k and k.startswith("HTTP")
    }


@pytest.fixture(autouse=True)
async def orphans() -> AsyncIterator[list[str]]:
    """What a cancelled request or a lost connection must not leave behind, collected over
    the whole test: tasks destroyed while still pending, task exceptions never retrieved
    (the event loop's exception handler), exceptions raised where nobody could catch them
    (reported when their object is collected). A coroutine created and never started is no
    harm (it holds nothing; graphql-core leaves some behind when cancelled): not counted."""
    found: list[str] = []
    loop = asyncio.get_running_loop()
    previous_hook, previous_handler = sys.unraisablehook, loop.get_exception_handler()

    def unraisable(u: Any) -> None:
        text = f"{u.exc_type.__name__}: {u.exc_value}"
        if not (u.exc_type is RuntimeWarning and text.endswith("was never awaited")):
            found.append(text[:300])

    sys.unraisablehook = unraisable
    loop.set_exception_handler(lambda _loop, context: found.append(str(context)[:300]))
    try:
        yield found
        gc.collect()  # what was dropped is reported now, not in some later test
        await asyncio.sleep(0)
    finally:
        sys.unraisablehook = previous_hook
        loop.set_exception_handler(previous_handler)
    assert not found, found[:5]


# --- (a) requests cancelled at random points ---------------------------------------------------

ROUNDS = 30
BURST = 50


async def test_cancelled_requests_leave_the_server_whole(demo: Demo, orphans: list[str]) -> None:
    """Rounds of 50 requests at once on a fresh app (a new worker: its pool opens connections
    as they are needed), half of them cancelled at a random moment: waiting for a turn or a
    connection, while a connection opens or a statement is prepared, while rows come back,
    while the answer is put together. The others must be answered as if nothing had
    happened; then no connection may be left busy, nothing left dangling, and the same app
    must answer every kind of request rightly.

    What this catches on a bad day is rare per round (a coroutine left suspended on the
    pool's queue starves the pool for good; a connection cut off mid-statement), hence the
    many rounds; the draw is seeded (CHAOS_SEED)."""
    async with serving(demo.dsn) as client:
        answers = await right_answers(client, demo.asks)
    rng = random.Random(SEED)
    seen: Counter[str] = Counter()
    cancelled = 0
    admin = await asyncpg.connect(demo.dsn)
    try:
        for round_number in range(ROUNDS):
            when = f"round {round_number} (CHAOS_SEED={SEED})"
            async with serving(demo.dsn) as client:
                burst = [rng.choice(demo.asks) for _ in range(BURST)]
                tasks = [asyncio.create_task(post(client, ask)) for ask in burst]
                loop = asyncio.get_running_loop()
                for task in tasks:
                    if rng.random() < 0.5:
                        loop.call_later(rng.uniform(0, 0.3), task.cancel)
                results = await asyncio.gather(*tasks, return_exceptions=True)
                wrong = []
                for ask, result in zip(burst, results, strict=True):
                    if isinstance(result, asyncio.CancelledError):
                        cancelled += 1
                        continue
                    assert not isinstance(result, BaseException), repr(result)
                    what = outcome(result)
                    seen[what] += 1
                    if what != "ok" or result.json() != answers[ask]:
                        wrong.append((what, ask.query[:40], result.text[:300]))
                # Not even SERVICE_UNAVAILABLE: the database is up, and one client
                # giving up is no reason to fail another.
                assert not wrong, (when, wrong[:5])
                await assert_pool_settles(admin, demo.database, when)
                gc.collect()  # what was dropped is reported now, not at some later time
                await asyncio.sleep(0)
                assert not orphans, (when, orphans[:5])
                await assert_every_request_right(client, answers, when, one_by_one=False)
        # The draw did cancel requests, and let others finish.
        assert cancelled > ROUNDS * BURST // 5 and seen["ok"] > ROUNDS * BURST // 5, (
            cancelled,
            dict(seen),
        )
    finally:
        await admin.close()


# Statements that the executor itself stops waiting for: a field error whose null reaches
# the root ends the operation while its siblings' statements are still running.
CUT_OFF = [
    "{ campaigns(first: 1) { totalCount nodes { name dailyAnalytics { day } } } }",
    "query ($id: ID!) { campaigns { totalCount } user(id: $id) { name } }",
]


async def test_statements_cut_off_by_an_error_leave_no_connection_stuck(demo: Demo) -> None:
    """On a fresh app (statements not yet prepared on its connections), a member's query
    that ends early with an error: once it is answered no connection may be busy, and
    every later request must be answered rightly."""
    async with serving(demo.dsn) as client:
        answers = await right_answers(client, demo.asks)
    member = next(ask.viewer for ask in demo.asks if ask.query == MEMBER)
    admin_id = next(ask.viewer for ask in demo.asks if ask.query == CAMPAIGNS)
    variables = {"id": _gid("User", admin_id)}
    admin = await asyncpg.connect(demo.dsn)
    try:
        for attempt in range(3):
            for query in CUT_OFF:
                when = f"attempt {attempt}: {query}"
                async with serving(demo.dsn) as client:
                    response = await client.post(
                        "/graphql",
                        json={"query": query, "variables": variables},
                        headers=bearer(member),
                    )
                    await assert_pool_settles(admin, demo.database, when)
                    await assert_every_request_right(client, answers, when)
                    # (The answer itself: tests/test_execution_errors.py.)
                    assert outcome(response) == "FORBIDDEN", (when, response.text)
    finally:
        await admin.close()


# --- (b) PostgreSQL going away under load -----------------------------------------------------

CHAOS_DB = "cg_chaos"
# Tight bounds, so that an outage is answered quickly and the test stays short.
FAULT_POOL = PoolSettings(min_size=2, max_size=6, statement_timeout_ms=2000, acquire_timeout_s=1)


@dataclass
class Load:
    """Clients asking without pause, each answer noted with when it was asked and answered."""

    client: httpx.AsyncClient
    asks: list[Ask]
    answers: dict[Ask, Any]
    log: list[tuple[float, float, str, bool]]  # (asked, answered, outcome, right data)
    stop: asyncio.Event

    async def ask_forever(self, rng: random.Random) -> None:
        loop = asyncio.get_running_loop()
        while not self.stop.is_set():
            ask = rng.choice(self.asks)
            asked = loop.time()
            response = await post(self.client, ask)
            what = outcome(response)
            right = what == "ok" and response.json() == self.answers[ask]
            self.log.append((asked, loop.time(), what, right))

    def answered_since(self, moment: float) -> int:
        return sum(1 for asked, _, _, _ in self.log if asked >= moment)

    async def until_answered_since(self, moment: float, count: int, within_s: float) -> None:
        async def enough() -> bool:
            return self.answered_since(moment) >= count

        assert await until(enough, within_s), (count, self.log[-5:])


@contextlib.asynccontextmanager
async def under_load(
    client: httpx.AsyncClient, asks: list[Ask], answers: dict[Ask, Any], clients: int = 8
) -> AsyncIterator[Load]:
    load = Load(client, asks, answers, [], asyncio.Event())
    rng = random.Random(SEED)
    workers = [
        asyncio.create_task(load.ask_forever(random.Random(rng.random()))) for _ in range(clients)
    ]
    try:
        yield load
    finally:
        load.stop.set()
        await asyncio.wait_for(asyncio.gather(*workers), 30)


def assert_fault_answers(load: Load, back: float) -> None:
    """During the fault: the right data or SERVICE_UNAVAILABLE, nothing else; once the
    database is back (requests asked from `back` on): the right data, every one."""
    during = Counter(what for asked, _, what, right in load.log if asked < back and not right)
    assert not unexpected(during), dict(during)
    assert set(during) <= {"SERVICE_UNAVAILABLE", "HTTP 503 ['SERVICE_UNAVAILABLE']"}, dict(during)
    after = [(what, right) for asked, _, what, right in load.log if asked >= back]
    assert after and all(right for _, right in after), Counter(what for what, _ in after)


@pytest.fixture(scope="module")
async def chaos_pg() -> AsyncIterator[EmbeddedPostgres]:
    """A PostgreSQL of this module's own (.data/test-pg-chaos), which a test stops."""
    server = EmbeddedPostgres(ROOT / ".data" / "test-pg-chaos")
    await ensure_database(server.dsn(), CHAOS_DB)
    yield server
    try:
        probe = await asyncpg.connect(server.dsn(CHAOS_DB), timeout=2)
    except (OSError, asyncpg.PostgresError):
        await asyncio.to_thread(server.start)  # a failed test must not leave it stopped
    else:
        await probe.close()


@pytest.fixture
async def chaos_demo(chaos_pg: EmbeddedPostgres) -> Demo:
    dsn = chaos_pg.dsn(CHAOS_DB)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        await migrate.migrate(conn)
    finally:
        await conn.close()
    return await seeded(dsn)


async def test_postgresql_stopped_under_load(chaos_pg: EmbeddedPostgres, chaos_demo: Demo) -> None:
    """Eight clients ask without pause; PostgreSQL stops, stays down while they keep asking,
    and starts again. Down, every answer is SERVICE_UNAVAILABLE; never a 500 or
    INTERNAL_SERVER_ERROR; once /health says the database is back, every answer is right."""
    async with serving(chaos_demo.dsn, FAULT_POOL) as client:
        answers = await right_answers(client, chaos_demo.asks)
        loop = asyncio.get_running_loop()
        async with under_load(client, chaos_demo.asks, answers) as load:
            await load.until_answered_since(loop.time(), 20, within_s=10)
            await asyncio.to_thread(chaos_pg.stop)
            down = loop.time()
            try:
                await load.until_answered_since(down, 30, within_s=15)
            finally:
                up = loop.time()
                await asyncio.to_thread(chaos_pg.start)

            async def healthy() -> bool:
                return (await client.get("/health")).status_code == 200

            assert await until(healthy, 15), "the app did not find the database again"
            back = loop.time()
            await load.until_answered_since(back, 40, within_s=15)
        outage = Counter(what for asked, done, what, _ in load.log if asked >= down and done < up)
        assert outage and set(outage) <= {
            "SERVICE_UNAVAILABLE",
            "HTTP 503 ['SERVICE_UNAVAILABLE']",
        }, dict(outage)
        assert_fault_answers(load, back)
        admin = await asyncpg.connect(chaos_demo.dsn)
        try:
            await assert_pool_settles(admin, chaos_demo.database, "after the restart")
        finally:
            await admin.close()
        await assert_every_request_right(client, answers, "after the restart")


async def test_connections_terminated_under_load(demo: Demo) -> None:
    """Eight clients ask without pause while the app's connections are terminated again and
    again (pg_terminate_backend, as an admin or a failover does): answers are right or
    SERVICE_UNAVAILABLE meanwhile, never a 500 or INTERNAL_SERVER_ERROR, and right again
    once the terminations stop."""
    admin = await asyncpg.connect(demo.dsn)
    try:
        async with serving(demo.dsn, FAULT_POOL) as client:
            answers = await right_answers(client, demo.asks)
            loop = asyncio.get_running_loop()
            async with under_load(client, demo.asks, answers) as load:
                terminated: list[int] = []
                for _ in range(8):
                    await load.until_answered_since(loop.time(), 5, within_s=10)
                    terminated += [
                        r["pid"]
                        for r in await admin.fetch(
                            "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity"
                            " WHERE application_name = $1 AND datname = $2",
                            APP_NAME,
                            demo.database,
                        )
                    ]
                # The terminations are over once the backends are gone and the app has read
                # their sockets' end: a pooled connection whose end the app had not read yet
                # answers its next request SERVICE_UNAVAILABLE, which is still the fault.
                while await admin.fetchval(  # noqa: ASYNC110 (polling PostgreSQL, not a flag)
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1::int[])",
                    terminated,
                ):
                    await asyncio.sleep(0.01)
                await asyncio.sleep(0.1)
                back = loop.time()
                await load.until_answered_since(back, 40, within_s=15)
            assert len(terminated) >= 8
            assert_fault_answers(load, back)
            await assert_pool_settles(admin, demo.database, "after the terminations")
            await assert_every_request_right(client, answers, "after the terminations")
    finally:
        await admin.close()
