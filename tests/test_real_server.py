"""The real thing: uvicorn on a socket, and the health routes with the database stopped."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from db.embedded import ROOT, EmbeddedPostgres
from db.pool import PoolSettings
from server import create_app
from tests import factories as f
from tests.conftest import JWT_SECRET, Api, _WithLifespanState, open_test_session

LOGIN = (
    'mutation ($p: String!) { login(input: {email: "ops@example.com", password: $p}) { token } }'
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_uvicorn_serves_graphql_over_a_socket(db_dsn: str, conn: Any) -> None:
    await f.user(conn, "ops@example.com", role="ADMIN")
    m = await f.merchant(conn, "Socket Shop")
    await f.campaign(conn, m, name="Over the wire")
    port = free_port()
    env = {**os.environ, "DATABASE_URL": db_dsn, "LOG_LEVEL": "warning", "JWT_SECRET": JWT_SECRET}
    proc = subprocess.Popen(
        [sys.executable, "server.py", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            deadline = time.monotonic() + 20
            while True:
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "server did not start"
                await asyncio.sleep(0.2)
            login = await client.post(
                "/graphql", json={"query": LOGIN, "variables": {"p": f.PASSWORD}}
            )
            token = login.json()["data"]["login"]["token"]
            response = await client.post(
                "/graphql",
                json={"query": "{ campaigns { edges { node { name merchant { name } } } } }"},
                headers={"authorization": f"Bearer {token}"},
            )
        assert response.json() == {
            "data": {
                "campaigns": {
                    "edges": [
                        {"node": {"name": "Over the wire", "merchant": {"name": "Socket Shop"}}}
                    ]
                }
            }
        }
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=20)[0].decode()
    assert proc.returncode == 0, output
    # With DATABASE_URL set the server seeds nothing.
    assert await conn.fetchval("SELECT count(*) FROM users") == 1


@pytest.fixture
async def fragile_api() -> AsyncIterator[tuple[Api, EmbeddedPostgres]]:
    """An app on a PostgreSQL of its own, which the test may stop and start."""
    server = EmbeddedPostgres(ROOT / ".data" / "test-pg-down")
    app = create_app(
        server.dsn("postgres"),
        pool_settings=PoolSettings(min_size=1, max_size=2, acquire_timeout_s=1),
        jwt_secret=JWT_SECRET,
    )
    async with app.router.lifespan_context(app) as state:
        conn = await asyncpg.connect(server.dsn("postgres"))
        admin = await conn.fetchval(
            "INSERT INTO users (email, name, role, password_hash)"
            " VALUES ('fault-admin@example.com', 'Admin', 'ADMIN', 'x')"
            " ON CONFLICT (email) DO UPDATE SET name = excluded.name RETURNING id"
        )
        await open_test_session(conn, admin)
        await conn.close()
        wrapped = _WithLifespanState(app, dict(state or {}))
        transport = httpx.ASGITransport(app=wrapped)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield Api(client, wrapped).as_user(admin), server


async def test_health_is_503_while_the_database_is_stopped_and_recovers(
    fragile_api: tuple[Api, EmbeddedPostgres],
) -> None:
    api, server = fragile_api
    assert (await api.client.get("/health")).status_code == 200

    server.stop()
    try:
        for path in ("/health", "/api/phase4/health", "/readyz"):
            started = time.monotonic()
            response = await api.client.get(path)
            assert response.status_code == 503, path
            assert time.monotonic() - started < 1.5, path
        assert (await api.client.get("/health")).json()["database"] == "unreachable"
        assert (await api.client.get("/healthz")).status_code == 200
        body = await api.gql("{ campaigns { totalCount } }")
        [error] = body["errors"]
        assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    finally:
        server.start()

    assert (await api.client.get("/health")).status_code == 200
    assert (await api.data("{ campaigns { totalCount } }")) == {"campaigns": {"totalCount": 0}}
