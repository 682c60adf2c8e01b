"""PostgreSQL stops mid-run and comes back: health flips to 503 and back, GraphQL fails fast
with SERVICE_UNAVAILABLE in between, and the server recovers by itself with no data lost.

This uses its own embedded PostgreSQL (.data/test-pg-fault), so stopping it leaves the shared
test server alone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from db import migrate
from db.embedded import ROOT, EmbeddedPostgres, ensure_database
from db.pool import PoolSettings
from server import create_app
from tests import factories as f
from tests.conftest import JWT_SECRET, _WithLifespanState, admin_with_session, bearer

DB_NAME = "cg_fault"
# Tight bounds so the test shows that nothing waits past them.
POOL = PoolSettings(min_size=2, max_size=4, statement_timeout_ms=1000, acquire_timeout_s=1.0)
HEALTH_BUDGET_S = 1.0
GRAPHQL_BUDGET_S = POOL.acquire_timeout_s + POOL.statement_timeout_ms / 1000

CAMPAIGNS = "{ campaigns(first: 50) { totalCount nodes { name status } } }"
CREATE = """
mutation ($input: CreateCampaignInput!) {
  createCampaign(input: $input) { campaign { name } userErrors { code } }
}
"""
LAUNCH = """
mutation ($id: ID!) { launchCampaign(input: {id: $id}) { campaign { status } userErrors { code } } }
"""


@pytest.fixture(scope="module")
async def fault_pg() -> AsyncIterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(ROOT / ".data" / "test-pg-fault")
    await ensure_database(server.dsn(), DB_NAME)
    conn = await asyncpg.connect(server.dsn(DB_NAME))
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        await migrate.migrate(conn)
    finally:
        await conn.close()
    yield server
    try:
        probe = await asyncpg.connect(server.dsn(DB_NAME), timeout=2)
    except (OSError, asyncpg.PostgresError):
        await asyncio.to_thread(server.start)  # a failed test must not leave it stopped
    else:
        await probe.close()


@pytest.fixture
async def fault_client(fault_pg: EmbeddedPostgres) -> AsyncIterator[httpx.AsyncClient]:
    # One admin sends the concurrent requests: no per-caller cap (test_attack_inputs.py).
    application = create_app(
        fault_pg.dsn(DB_NAME),
        pool_settings=POOL,
        apply_migrations=False,
        jwt_secret=JWT_SECRET,
        max_in_flight_per_viewer=0,
    )
    conn = await asyncpg.connect(fault_pg.dsn(DB_NAME))
    try:
        admin = await admin_with_session(conn, "fault-admin@example.com")
    finally:
        await conn.close()
    async with application.router.lifespan_context(application) as state:
        app: Any = _WithLifespanState(application, dict(state or {}))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", headers=bearer(admin)
        ) as client:
            yield client


async def timed(call: Any) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = await call
    return response, time.perf_counter() - started


async def gql(client: httpx.AsyncClient, query: str, variables: Any = None) -> Any:
    return await client.post("/graphql", json={"query": query, "variables": variables or {}})


async def wait_for_health(client: httpx.AsyncClient, status: int, within_s: float) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < within_s:
        if (await client.get("/health")).status_code == status:
            return time.perf_counter() - started
        await asyncio.sleep(0.1)
    raise AssertionError(f"/health did not answer {status} within {within_s}s")


async def test_database_stop_and_restart(
    fault_pg: EmbeddedPostgres, fault_client: httpx.AsyncClient
) -> None:
    # Given: data written through the API before the fault.
    conn = await asyncpg.connect(fault_pg.dsn(DB_NAME))
    try:
        await conn.execute("TRUNCATE campaigns, merchants, audit_logs RESTART IDENTITY CASCADE")
        m = await f.merchant(conn, "Fault Shop")
        draft = await f.campaign(conn, m, name="To launch later")
    finally:
        await conn.close()
    written = [f"Before stop {i}" for i in range(5)]
    for name in written:
        body = (
            await gql(
                fault_client,
                CREATE,
                {
                    "input": {
                        "merchantId": f.gid("Merchant", m),
                        "name": name,
                        "rewardType": "FIXED_AMOUNT",
                        "rewardValue": "1",
                        "budget": "10",
                    }
                },
            )
        ).json()
        assert body["data"]["createCampaign"]["userErrors"] == []
    assert (await fault_client.get("/health")).status_code == 200
    assert (await fault_client.get("/readyz")).status_code == 200

    # When: PostgreSQL stops.
    await asyncio.to_thread(fault_pg.stop)
    try:
        # Then: health and readiness answer 503 within a second...
        for path in ("/health", "/readyz", "/api/phase4/health"):
            response, elapsed = await timed(fault_client.get(path))
            assert response.status_code == 503, (path, response.text)
            assert elapsed < HEALTH_BUDGET_S + 0.2, (path, elapsed)
        assert (await fault_client.get("/healthz")).status_code == 200  # liveness: still alive

        # ...and GraphQL reads and writes fail fast with SERVICE_UNAVAILABLE, none hanging.
        outage = [
            gql(fault_client, CAMPAIGNS),
            gql(fault_client, LAUNCH, {"id": f.gid("Campaign", draft)}),
            gql(fault_client, CAMPAIGNS),
        ]
        results = await asyncio.gather(*(timed(call) for call in outage))
        for response, elapsed in results:
            assert elapsed < GRAPHQL_BUDGET_S + 0.5, elapsed
            assert response.status_code == 200
            body = response.json()
            codes = {e["extensions"]["code"] for e in body["errors"]}
            assert codes == {"SERVICE_UNAVAILABLE"}, body
            assert "retry" in body["errors"][0]["message"]
    finally:
        # When: PostgreSQL comes back.
        await asyncio.to_thread(fault_pg.start)

    # Then: the same server recovers by itself: no restart.
    await wait_for_health(fault_client, 200, within_s=10)
    assert (await fault_client.get("/readyz")).status_code == 200
    body = (await gql(fault_client, CAMPAIGNS)).json()
    assert "errors" not in body, body
    names = {n["name"] for n in body["data"]["campaigns"]["nodes"]}
    assert set(written) <= names  # nothing written before the stop was lost
    assert body["data"]["campaigns"]["totalCount"] == len(written) + 1

    launched = (await gql(fault_client, LAUNCH, {"id": f.gid("Campaign", draft)})).json()
    assert launched["data"]["launchCampaign"] == {
        "campaign": {"status": "ACTIVE"},
        "userErrors": [],
    }
    # The refused launch during the outage wrote nothing; the later one wrote one audit row.
    conn = await asyncpg.connect(fault_pg.dsn(DB_NAME))
    try:
        actions = await conn.fetch(
            "SELECT action FROM audit_logs WHERE target_id = $1 ORDER BY id", draft
        )
    finally:
        await conn.close()
    assert [r["action"] for r in actions] == ["campaign.launch"]


async def test_statement_and_acquire_timeouts_bound_a_request(
    db_dsn: str, conn: asyncpg.Connection
) -> None:
    """A statement stuck on a lock is cancelled at the statement timeout; a request that
    cannot get a pooled connection gives up at the acquire timeout. Both: SERVICE_UNAVAILABLE."""
    m = await f.merchant(conn)
    c = await f.campaign(conn, m)
    tight = PoolSettings(min_size=1, max_size=1, statement_timeout_ms=800, acquire_timeout_s=0.3)
    application = create_app(
        db_dsn,
        pool_settings=tight,
        apply_migrations=False,
        jwt_secret=JWT_SECRET,
        max_in_flight_per_viewer=0,  # one admin, two requests at once, a pool of one
    )
    admin = await f.user(conn, "timeout-admin@example.com", role="ADMIN")
    locker = await asyncpg.connect(db_dsn)
    tx = locker.transaction()
    await tx.start()
    await locker.execute("SELECT 1 FROM campaigns WHERE id = $1 FOR UPDATE", c)
    try:
        async with application.router.lifespan_context(application) as state:
            app: Any = _WithLifespanState(application, dict(state or {}))
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://test", headers=bearer(admin)
            ) as client:
                stuck = asyncio.create_task(
                    timed(gql(client, LAUNCH, {"id": f.gid("Campaign", c)}))
                )
                await asyncio.sleep(0.2)  # the launch now holds the only connection
                starved, starved_s = await timed(gql(client, CAMPAIGNS))
                blocked, blocked_s = await stuck
    finally:
        await tx.rollback()
        await locker.close()

    for response in (starved, blocked):
        codes = {e["extensions"]["code"] for e in response.json()["errors"]}
        assert codes == {"SERVICE_UNAVAILABLE"}, response.json()
    # One wait for the pool, not two: the operation runs once.
    assert starved_s < 2 * tight.acquire_timeout_s, starved_s
    assert 0.7 < blocked_s < tight.statement_timeout_ms / 1000 + 0.7, blocked_s
    assert await conn.fetchval("SELECT status FROM campaigns WHERE id = $1", c) == "DRAFT"
    assert await conn.fetchval("SELECT count(*) FROM audit_logs") == 0
