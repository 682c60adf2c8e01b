"""Load test: N concurrent clients against a real multi-worker server on loopback.

    python bench/load.py --clients 10,100,500 --duration 15 --workers 4

It starts its own embedded PostgreSQL (.data/bench-pg), a fresh database with known rows, and
`python server.py serve` on 127.0.0.1 with the given worker count. Each client runs a mix of
campaign reads, nested reads, a member read (their transactions once the schema has
`User.transactions`) and launch/pause mutations on shared campaigns, until the duration or its
request budget runs out. Printed per round: requests, errors, throughput, p50/p99 latency.

Exit status 1 on any error (transport failure, non-200, top-level error, unexpected userError)
or any lost update: every transition a client saw succeed must be exactly one audit row with
that version, and each campaign's final version and status must follow from them.
Clients sign in with `login` like any frontend: the manager's token for campaign reads and
launch/pause, the member's for their own transactions.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from db import migrate  # noqa: E402  (after the path fix above)
from db.embedded import EmbeddedPostgres, ensure_database  # noqa: E402
from db.passwords import hash_password  # noqa: E402

DB_NAME = "cg_bench"
CAMPAIGNS = 20
OK_REFUSALS = {"INVALID_TRANSITION"}  # expected when clients race on the same campaign

LIST = "{ campaigns(first: 20) { totalCount edges { cursor node { id name status } } } }"
NESTED = """
query { campaigns(first: 10, filter: {status: [ACTIVE, PAUSED]}) {
  nodes { id name version budget { amount currency } merchant { id name }
          createdBy { id name role } } } }
"""
MEMBER_TRANSACTIONS = """
query ($id: ID!) { node(id: $id) { id ... on User { name
  transactions(first: 10) { edges { node { id } } } } } }
"""
TRANSITION = """
mutation ($id: ID!) { %s(input: {id: $id}) {
  campaign { id status version } userErrors { code message } } }
"""


def gid(type_name: str, pk: int) -> str:
    import base64

    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


LOGIN = """
mutation ($email: String!) { login(input: {email: $email, password: "bench password"}) {
  token userErrors { code } } }
"""


@dataclass
class Fixture:
    dsn: str
    campaign_ids: list[int]
    member_id: int
    # Authorization headers, filled in once the server is up.
    manager: dict[str, str] = field(default_factory=dict)
    member: dict[str, str] = field(default_factory=dict)


async def prepare_database() -> Fixture:
    server = EmbeddedPostgres(ROOT / ".data" / "bench-pg")
    admin = await asyncpg.connect(server.dsn())
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    finally:
        await admin.close()
    await ensure_database(server.dsn(), DB_NAME)
    dsn = server.dsn(DB_NAME)
    conn = await asyncpg.connect(dsn)
    try:
        await migrate.migrate(conn)
        password = hash_password("bench password")
        manager = await conn.fetchval(
            "INSERT INTO users (email, name, role, password_hash)"
            " VALUES ('manager@bench.test', 'Bench Manager', 'MANAGER', $1) RETURNING id",
            password,
        )
        member = await conn.fetchval(
            "INSERT INTO users (email, name, role, password_hash)"
            " VALUES ('member@bench.test', 'Bench Member', 'MEMBER', $1) RETURNING id",
            password,
        )
        merchants = [
            await conn.fetchval(
                "INSERT INTO merchants (name, category) VALUES ($1, 'Retail') RETURNING id",
                f"Merchant {i}",
            )
            for i in range(5)
        ]
        campaign_ids = [
            await conn.fetchval(
                "INSERT INTO campaigns (merchant_id, created_by, name, status, reward_type,"
                " reward_value, budget_cents) VALUES ($1, $2, $3, $4, 'CASHBACK_PERCENT', 500,"
                " 1000000) RETURNING id",
                merchants[i % len(merchants)],
                manager,
                f"Campaign {i}",
                "ACTIVE" if i % 2 else "PAUSED",
            )
            for i in range(CAMPAIGNS)
        ]
    finally:
        await conn.close()
    return Fixture(dsn, campaign_ids, member)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spawn_server(dsn: str, workers: int, port: int) -> subprocess.Popen[bytes]:
    """`make run`-style serving (server.py serve) with the given worker count, on loopback."""
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "JWT_SECRET": os.environ.get("JWT_SECRET") or secrets.token_urlsafe(48),
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "warning"),
        # Every client signs in as the same manager or member: the per-caller cap would
        # refuse most of them, which is what it is for, and not what this test measures.
        "MAX_IN_FLIGHT_PER_VIEWER": "0",
    }
    command = ["server.py", "serve", "--host", "127.0.0.1", "--port", str(port)]
    return subprocess.Popen(
        [sys.executable, *command, "--workers", str(workers)], cwd=ROOT, env=env
    )


async def start_server(dsn: str, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = spawn_server(dsn, workers, port)
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base) as client:
        for _ in range(300):
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return process, base
            except httpx.TransportError:
                pass
            if process.poll() is not None:
                break
            await asyncio.sleep(0.1)
    process.kill()
    raise SystemExit("the server did not become ready")


@dataclass
class Round:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # (campaign pk, action, version after) of every transition a client saw succeed
    successes: list[tuple[int, str, int, str]] = field(default_factory=list)


async def sign_in(base: str, fx: Fixture) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        for email, target in (("manager@bench.test", fx.manager), ("member@bench.test", fx.member)):
            body = (
                await client.post("/graphql", json={"query": LOGIN, "variables": {"email": email}})
            ).json()
            token = ((body.get("data") or {}).get("login") or {}).get("token")
            if not token:
                raise SystemExit(f"login as {email} failed: {body}")
            target["authorization"] = f"Bearer {token}"


async def one_client(
    client: httpx.AsyncClient,
    fx: Fixture,
    deadline: float,
    budget: int,
    rnd: random.Random,
    out: Round,
) -> None:
    for _ in range(budget):
        if time.monotonic() >= deadline:
            return
        roll = rnd.random()
        mutation = None
        headers = fx.manager
        if roll < 0.4:
            payload: dict[str, Any] = {"query": LIST}
        elif roll < 0.65:
            payload = {"query": NESTED}
        elif roll < 0.8:
            payload = {"query": MEMBER_TRANSACTIONS, "variables": {"id": gid("User", fx.member_id)}}
            headers = fx.member
        else:
            mutation = rnd.choice(["launchCampaign", "pauseCampaign"])
            pk = rnd.choice(fx.campaign_ids)
            payload = {"query": TRANSITION % mutation, "variables": {"id": gid("Campaign", pk)}}
        started = time.perf_counter()
        try:
            response = await client.post("/graphql", json=payload, headers=headers)
        except httpx.HTTPError as exc:
            out.errors.append(f"transport: {exc!r}")
            continue
        out.latencies.append(time.perf_counter() - started)
        if response.status_code != 200:
            out.errors.append(f"HTTP {response.status_code}: {response.text[:200]}")
            continue
        body = response.json()
        if body.get("errors"):
            out.errors.append(f"errors: {body['errors']}")
            continue
        if mutation is not None:
            result = body["data"][mutation]
            codes = {e["code"] for e in result["userErrors"]}
            if codes - OK_REFUSALS:
                out.errors.append(f"userErrors: {result['userErrors']}")
            elif not codes:
                c = result["campaign"]
                action = "campaign.launch" if mutation == "launchCampaign" else "campaign.pause"
                out.successes.append((pk, action, c["version"], c["status"]))


async def verify(fx: Fixture, successes: list[tuple[int, str, int, str]]) -> list[str]:
    """Lost updates: client-observed successes against audit rows and final rows."""
    conn = await asyncpg.connect(fx.dsn)
    try:
        audit = await conn.fetch(
            "SELECT target_id, action, (after->>'version')::int AS version FROM audit_logs"
            " WHERE action IN ('campaign.launch', 'campaign.pause')"
        )
        rows = await conn.fetch(
            "SELECT id, status, version FROM campaigns WHERE id = ANY($1::bigint[])",
            fx.campaign_ids,
        )
    finally:
        await conn.close()
    problems = []
    seen = sorted((pk, action, version) for pk, action, version, _ in successes)
    logged = sorted((r["target_id"], r["action"], r["version"]) for r in audit)
    if seen != logged:
        problems.append(
            f"audit rows differ from acknowledged transitions: {len(seen)} acknowledged, "
            f"{len(logged)} audit rows"
        )
    for row in rows:
        mine = sorted((v, s) for pk, _, v, s in successes if pk == row["id"])
        if row["version"] != 1 + len(mine):
            problems.append(
                f"campaign {row['id']}: version {row['version']}, expected {1 + len(mine)}"
            )
        if mine and mine[-1][1] != row["status"]:
            problems.append(f"campaign {row['id']}: status {row['status']}, last {mine[-1][1]}")
    return problems


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


async def run_round(base: str, fx: Fixture, clients: int, args: argparse.Namespace) -> Round:
    out = Round()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=args.timeout) as client:
        deadline = time.monotonic() + args.duration
        started = time.perf_counter()
        await asyncio.gather(
            *(
                one_client(client, fx, deadline, args.requests, random.Random(args.seed + i), out)
                for i in range(clients)
            )
        )
        elapsed = time.perf_counter() - started
    done = len(out.latencies)
    print(
        f"clients={clients:4d} requests={done + len(out.errors):6d} errors={len(out.errors):4d} "
        f"throughput={done / elapsed:8.1f} req/s "
        f"p50={percentile(out.latencies, 0.50) * 1000:7.1f} ms "
        f"p99={percentile(out.latencies, 0.99) * 1000:7.1f} ms "
        f"transitions={len(out.successes)}",
        flush=True,
    )
    return out


async def main(args: argparse.Namespace) -> int:
    fx = await prepare_database()
    process, base = await start_server(fx.dsn, args.workers)
    await sign_in(base, fx)
    failed = False
    all_successes: list[tuple[int, str, int, str]] = []
    print(
        f"server: {base}, workers={args.workers}, python {sys.version.split()[0]}, "
        f"cpus={os.cpu_count()}, duration<={args.duration}s, requests/client<={args.requests}"
    )
    try:
        for clients in args.clients:
            result = await run_round(base, fx, clients, args)
            all_successes += result.successes
            for error in result.errors[:5]:
                print("  error:", error[:300])
            failed = failed or bool(result.errors)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(process.wait, 30)
        except subprocess.TimeoutExpired:
            process.kill()
    problems = await verify(fx, all_successes)
    for problem in problems:
        print("  lost update:", problem)
    print("lost updates: none" if not problems else f"lost updates: {len(problems)}")
    return 1 if failed or problems else 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--clients",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[10, 100, 500],
        help="concurrent clients per round, comma-separated (default 10,100,500)",
    )
    parser.add_argument(
        "--duration", type=float, default=15.0, help="seconds per round (default 15)"
    )
    parser.add_argument(
        "--requests", type=int, default=500, help="request budget per client (default 500)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("WORKERS", "4")),
        help="server worker processes (env WORKERS, default 4)",
    )
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="per-request timeout (default 30 s)"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
