"""A real `server.py serve --workers 2` on a PostgreSQL of its own (`.data/test-pg-live`),
which a test may stop and start: the subscriptions and GraphiQL tests use it from outside."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import asyncpg
import httpx
import pytest

from db.embedded import ROOT, EmbeddedPostgres
from tests import factories as f
from tests.conftest import JWT_SECRET, bearer, open_test_session
from tests.test_real_server import free_port

TRANSITION = (
    "mutation ($id: ID!) { %s(input: {id: $id}) { campaign { version } userErrors { message } } }"
)
LAUNCH = TRANSITION % "launchCampaign"
PAUSE = TRANSITION % "pauseCampaign"
COMPLETE = TRANSITION % "completeCampaign"


@dataclass
class Live:
    url: str  # ws://…/graphql
    http: httpx.AsyncClient
    pg: EmbeddedPostgres
    dsn: str
    admin: int
    manager: int
    member: int
    merchant: int

    def token(self, user_id: int) -> str:
        return bearer(user_id)["Authorization"]

    async def change(self, mutation: str, campaign: int, as_user: int | None = None) -> int:
        response = await self.http.post(
            "/graphql",
            json={"query": mutation, "variables": {"id": f.gid("Campaign", campaign)}},
            headers=bearer(as_user or self.manager),
        )
        body = response.json()
        payload = next(iter(body["data"].values()))
        assert payload["userErrors"] == [], body
        return int(payload["campaign"]["version"])

    async def campaign(self, name: str, status: str = "DRAFT") -> int:
        conn = await asyncpg.connect(self.dsn)
        try:
            return await f.campaign(conn, self.merchant, name=name, status=status)
        finally:
            await conn.close()


def _wait_healthy(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[0].decode()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("the server did not start")


@pytest.fixture(scope="session")
def live_pg() -> Iterator[EmbeddedPostgres]:
    pg = EmbeddedPostgres(ROOT / ".data" / "test-pg-live")
    yield pg


@pytest.fixture(scope="module")
async def live(live_pg: EmbeddedPostgres) -> AsyncIterator[Live]:
    dsn = live_pg.dsn("postgres")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("DROP DATABASE IF EXISTS live_test")
        await conn.execute("CREATE DATABASE live_test")
    finally:
        await conn.close()
    dsn = live_pg.dsn("live_test")
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "JWT_SECRET": JWT_SECRET,
        "LOG_LEVEL": "warning",
        "WS_INIT_TIMEOUT_S": "1",
        "WS_MAX_OPERATIONS_PER_SOCKET": "3",
        "MAX_IN_FLIGHT_PER_VIEWER": "0",
        # A page from http://localhost:<port> calls http://127.0.0.1:<port>: another origin.
        "CORS_ORIGINS": f"http://localhost:{port}",
    }
    proc = subprocess.Popen(
        [sys.executable, "server.py", "serve", "--port", str(port), "--workers", "2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        await asyncio.to_thread(_wait_healthy, port, proc)
        conn = await asyncpg.connect(dsn)
        try:
            ids = {}
            for email, role in (
                ("admin@live.test", "ADMIN"),
                ("manager@live.test", "MANAGER"),
                ("member@live.test", "MEMBER"),
            ):
                ids[role] = await f.user(conn, email, name=role.title(), role=role)
                await open_test_session(conn, ids[role])
            merchant = await f.merchant(conn, "Live Shop")
        finally:
            await conn.close()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            yield Live(
                f"ws://127.0.0.1:{port}/graphql",
                http,
                live_pg,
                dsn,
                ids["ADMIN"],
                ids["MANAGER"],
                ids["MEMBER"],
                merchant,
            )
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            output = proc.communicate(timeout=30)[0].decode()
        except subprocess.TimeoutExpired:
            proc.kill()
            output = proc.communicate()[0].decode()
    # asyncpg's pool logs each failed reconnection during the restart with its traceback;
    # any other traceback is ours.
    ours = output.replace(
        "Failed to restore the pool connection floor; retrying\nTraceback", "(asyncpg)"
    )
    assert "Traceback" not in ours, output
