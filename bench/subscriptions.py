"""Subscriptions under load: many subscribers on one worker, events fanned out by PostgreSQL.

    .venv/bin/python bench/subscriptions.py [--subscribers 1000] [--changes 30]

Starts an embedded PostgreSQL in `.data/bench-pg` (the one bench/run.py uses) with a
database of its own, `subscriptions_bench` (made afresh each run), and our server with ONE
worker (`server.py serve --workers 1`, APP_ENV=production) pinned to CPU 0; this process,
the clients, runs on CPU 1. It then:

1. opens `--subscribers` WebSockets (graphql-transport-ws, `connection_init` with a
   manager's token), each subscribed to `campaignStatusChanged(id:)` of one campaign, and
   reads the worker's resident memory before and after: memory per idle subscription;
2. launches and pauses that campaign `--changes` times over HTTP, one change at a time, and
   for each change measures the time from the mutation's response to each subscriber's
   event: the last subscriber's latency (p50, p99 over the changes) and every delivery's;
3. checks every subscriber got every event, in version order.

The clients' own event loop reads all the frames, on one core: at 1,000 sockets it is part
of what is measured (the figures are an upper bound on the server's latency).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import httpx  # noqa: E402
import websockets  # noqa: E402

from db.embedded import EmbeddedPostgres  # noqa: E402
from resolvers.auth import Tokens  # noqa: E402
from tests.conftest import with_database  # noqa: E402

SUBSCRIBE = (
    "subscription ($id: ID) { campaignStatusChanged(id: $id) {"
    " previousStatus status version campaign { name } } }"
)
CHANGE = (
    "mutation ($id: ID!) { %s(input: {id: $id}) { campaign { version } userErrors { message } } }"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def gid(type_name: str, pk: int) -> str:
    import base64

    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


async def prepare(admin_dsn: str) -> str:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute("DROP DATABASE IF EXISTS subscriptions_bench WITH (FORCE)")
        await conn.execute("CREATE DATABASE subscriptions_bench")
    finally:
        await conn.close()
    return with_database(admin_dsn, "subscriptions_bench")


async def seed(dsn: str) -> tuple[int, str, int]:
    """A manager with a session, a merchant and a DRAFT campaign (after the server migrated)."""
    conn = await asyncpg.connect(dsn)
    try:
        manager = await conn.fetchval(
            "INSERT INTO users (email, name, role, password_hash)"
            " VALUES ('bench-manager@example.com', 'Bench Manager', 'MANAGER', 'x') RETURNING id"
        )
        session = await conn.fetchval(
            "INSERT INTO sessions (id, user_id, expires_at) VALUES (gen_random_uuid(), $1, $2)"
            " RETURNING id::text",
            manager,
            datetime.now(UTC) + timedelta(days=1),
        )
        merchant = await conn.fetchval(
            "INSERT INTO merchants (name, category) VALUES ('Bench Shop', 'Retail') RETURNING id"
        )
        campaign = await conn.fetchval(
            "INSERT INTO campaigns (merchant_id, created_by, name, reward_type, reward_value,"
            " budget_cents) VALUES ($1, $2, 'Fan-out', 'CASHBACK_PERCENT', 500, 100000000)"
            " RETURNING id",
            merchant,
            manager,
        )
        return manager, session, campaign
    finally:
        await conn.close()


class Subscriber:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.events: list[tuple[float, dict[str, Any]]] = []

    async def read(self) -> None:
        async for frame in self.ws:
            message = json.loads(frame)
            if message.get("type") == "next" and message.get("id") == "s":
                self.events.append((time.perf_counter(), message["payload"]))


async def open_subscriber(url: str, token: str, campaign: str) -> Subscriber:
    ws = await websockets.connect(url, subprotocols=["graphql-transport-ws"], max_queue=None)
    await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": token}}))
    assert json.loads(await ws.recv())["type"] == "connection_ack"
    await ws.send(
        json.dumps(
            {
                "id": "s",
                "type": "subscribe",
                "payload": {"query": SUBSCRIBE, "variables": {"id": campaign}},
            }
        )
    )
    # A query after it on the same socket answers once the subscribe message was handled.
    await ws.send(
        json.dumps({"id": "p", "type": "subscribe", "payload": {"query": "{ __typename }"}})
    )
    while json.loads(await ws.recv()).get("type") != "complete":
        pass
    return Subscriber(ws)


async def main(args: argparse.Namespace) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})
    pg = EmbeddedPostgres(ROOT / ".data" / "bench-pg", stop_at_exit=False)
    dsn = await prepare(pg.dsn("postgres"))
    port = free_port()
    secret = secrets.token_urlsafe(48)
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "JWT_SECRET": secret,
        "APP_ENV": "production",
        "LOG_LEVEL": "warning",
        "WS_MAX_SOCKETS_PER_WORKER": str(args.subscribers + 100),
        "HTTP_MAX_CONNECTIONS": str(args.subscribers + 200),
        "MAX_IN_FLIGHT_PER_VIEWER": "0",
    }
    cmd = [sys.executable, "server.py", "serve", "--port", str(port), "--workers", "1"]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", "0", *cmd]
    server = subprocess.Popen(cmd, cwd=ROOT, env=env)  # noqa: ASYNC220 (started once)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            for _ in range(150):
                try:
                    if (await http.get("/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
            manager, session, campaign_pk = await seed(dsn)
            token = "Bearer " + Tokens(secret, ttl=timedelta(hours=2)).issue(manager, session).token
            campaign = gid("Campaign", campaign_pk)
            url = f"ws://127.0.0.1:{port}/graphql"

            # Warm the worker (first socket, first event) before measuring memory.
            warm = await open_subscriber(url, token, campaign)
            await warm.ws.close()
            await asyncio.sleep(0.5)
            before = rss_mb(server.pid)
            subscribers: list[Subscriber] = []
            opened = time.perf_counter()
            for start in range(0, args.subscribers, 50):
                batch = min(50, args.subscribers - start)
                subscribers += await asyncio.gather(
                    *(open_subscriber(url, token, campaign) for _ in range(batch))
                )
            opened = time.perf_counter() - opened
            await asyncio.sleep(1.0)
            after = rss_mb(server.pid)
            readers = [asyncio.create_task(s.read()) for s in subscribers]
            print(
                f"{len(subscribers)} subscribers opened in {opened:.1f} s; worker RSS "
                f"{before:.1f} -> {after:.1f} MB: "
                f"{(after - before) * 1024 / len(subscribers):.1f} KB "
                "per idle subscription (socket, protocol handler, context, subscription)",
                flush=True,
            )

            last: list[float] = []
            every: list[float] = []
            versions: list[int] = []
            for i in range(args.changes):
                mutation = "launchCampaign" if i % 2 == 0 else "pauseCampaign"
                counts = [len(s.events) for s in subscribers]
                response = await http.post(
                    "/graphql",
                    json={"query": CHANGE % mutation, "variables": {"id": campaign}},
                    headers={"Authorization": token},
                )
                answered = time.perf_counter()
                payload = response.json()["data"][mutation]
                assert payload["userErrors"] == [], payload
                versions.append(payload["campaign"]["version"])
                deadline = answered + 30
                while any(len(s.events) <= c for s, c in zip(subscribers, counts, strict=True)):
                    if time.perf_counter() > deadline:
                        raise SystemExit(f"change {i}: not every subscriber got its event in 30 s")
                    await asyncio.sleep(0.001)
                arrivals = [
                    s.events[c][0] - answered for s, c in zip(subscribers, counts, strict=True)
                ]
                last.append(max(arrivals))
                every.extend(arrivals)
                await asyncio.sleep(0.05)
            for s in subscribers:
                got = [e["data"]["campaignStatusChanged"]["version"] for _, e in s.events]
                assert got == versions, (got, versions)
            print(
                f"{args.changes} changes x {len(subscribers)} subscribers: every event delivered, "
                "in version order"
            )
            print(
                "latency from the mutation's response to the LAST subscriber's event: "
                f"p50 {percentile(last, 50) * 1e3:.1f} ms, p99 {percentile(last, 99) * 1e3:.1f} ms"
            )
            print(
                f"latency of every delivery ({len(every)}): "
                f"p50 {percentile(every, 50) * 1e3:.1f} ms,"
                f" p99 {percentile(every, 99) * 1e3:.1f} ms"
            )
            for task in readers:
                task.cancel()
            await asyncio.gather(*(s.ws.close() for s in subscribers), return_exceptions=True)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=30)
    asyncio.run(main(parser.parse_args()))
