"""What metrics and tracing cost: our server with both off, with metrics on (the default), and
with metrics and tracing on, side by side in one run.

    .venv/bin/python bench/observability.py --duration 8 --connections 10,100 --rounds 3

Uses the benchmark database and pinning of bench/run.py (run `bench/setup.sh` once for wrk).
Three servers of one worker each run at once, all on the server CPU and idle but for the one
under load; each round runs wrk against the three in turn (the order rotates every round),
and the figure kept per variant is the median of its rounds. Tracing exports every span
(the SDK's default sampler) over OTLP/HTTP to a sink in this process, on wrk's CPU, which
answers each export at once. Prints req/s and CPU per request for each, and each variant's
throughput relative to the first (`--variants`: both off by default). Raw numbers go to
bench/results/observability-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from bench.queries import build  # noqa: E402
from bench.run import (  # noqa: E402
    PG_CPUS,
    SERVER_CPUS,
    WRK_CPUS,
    Bearer,
    body,
    cpu_set,
    descendants,
    pin,
    pin_postgres,
    prepare_database,
    start,
    stop,
    wait_ready,
    wrk,
)

VARIANTS: dict[str, dict[str, str]] = {
    "both off": {"METRICS": "off", "OTEL_TRACES_EXPORTER": "none"},
    "metrics on": {"OTEL_TRACES_EXPORTER": "none"},
    "metrics+tracing": {"OTEL_TRACES_EXPORTER": "otlp"},
}


class _Sink(BaseHTTPRequestHandler):
    """An OTLP/HTTP collector that keeps nothing: every export is answered 200 at once."""

    spans_bytes = 0

    def do_POST(self) -> None:
        _Sink.spans_bytes += len(self.rfile.read(int(self.headers.get("content-length", 0))))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--connections", default="10,100")
    parser.add_argument("--queries", default="Q1,Q2,Q3")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help="the servers, in order (the first is the base of the ratios); a name may repeat: "
        "`--variants 'metrics on,both off,both off'` shows what two identical servers differ by",
    )
    parser.add_argument("--ports", default="18411,18412,18413,18414")
    args = parser.parse_args()

    os.sched_setaffinity(0, cpu_set(WRK_CPUS))  # the sink's thread runs beside wrk
    ports = [int(p) for p in args.ports.split(",")]
    chosen = [v.strip() for v in args.variants.split(",")]
    unknown = set(chosen) - set(VARIANTS)
    if unknown or len(chosen) > len(ports) - 1:
        parser.error(f"variants: at most {len(ports) - 1} of {', '.join(VARIANTS)}")
    # name shown -> the variant's environment ("both off #2" for a second "both off")
    servers = {
        f"{v} #{chosen[:i].count(v) + 1}" if chosen.count(v) > 1 else v: VARIANTS[v]
        for i, v in enumerate(chosen)
    }
    sink = ThreadingHTTPServer(("127.0.0.1", ports[3]), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()

    dsn, dataset, postmaster, started_pg = asyncio.run(prepare_database(False))
    pg_affinity = os.sched_getaffinity(postmaster)  # restored at the end if left running
    pin_postgres(postmaster, cpu_set(PG_CPUS))
    secret = secrets.token_urlsafe(48)
    bearer = Bearer(secret, dsn)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    logs = BENCH / "results" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    print(
        f"{len(servers)} servers of 1 worker on CPU {SERVER_CPUS}; wrk, the OTLP sink and"
        f" PostgreSQL on CPU {WRK_CPUS}/{PG_CPUS}; {os.cpu_count()} cores; median of"
        f" {args.rounds} rounds of {args.duration} s"
    )
    procs: dict[str, Any] = {}
    urls: dict[str, str] = {}
    rows: list[dict[str, Any]] = []
    try:
        for (name, extra), port in zip(servers.items(), ports, strict=False):
            env = {
                "DATABASE_URL": dsn,
                "JWT_SECRET": secret,
                "APP_ENV": "production",
                "METRICS_TOKEN": secrets.token_urlsafe(24),
                "LOG_LEVEL": "warning",
                "MAX_IN_FLIGHT_PER_VIEWER": "0",
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{ports[3]}",
                "OTEL_SERVICE_NAME": "campaign-graphql-bench",
                **extra,
            }
            cmd = [sys.executable, "server.py", "serve", "--port", str(port), "--workers", "1"]
            log = logs / f"observability-{name.replace(' ', '-').replace('+', '-')}.log"
            procs[name] = start(cmd, env, log)
            urls[name] = f"http://127.0.0.1:{port}/graphql"
        for name, url in urls.items():
            wait_ready(url, procs[name])
        for q in build(dataset):
            if q.name not in args.queries.split(","):
                continue
            print(f"\n{q.name} ({q.title})")
            for c in (int(x) for x in args.connections.split(",")):
                bodies = [(bearer(q.viewer(i)), body(q.ours, q.ours_vars(i))) for i in range(200)]
                runs: dict[str, list[dict[str, Any]]] = {name: [] for name in servers}
                names = list(servers)
                for name in names:  # warm-up, not recorded
                    wrk(urls[name], bodies, c, 2, procs[name].pid, postmaster, q.expected_error)
                for r in range(args.rounds):
                    order = names[r % len(names) :] + names[: r % len(names)]
                    for name in order:
                        runs[name].append(
                            wrk(
                                urls[name],
                                bodies,
                                c,
                                args.duration,
                                procs[name].pid,
                                postmaster,
                                q.expected_error,
                            )
                        )
                row: dict[str, Any] = {"query": q.name, "connections": c, "runs": runs}
                base = statistics.median(s["rps"] for s in runs[names[0]])
                for name in names:
                    rps = statistics.median(s["rps"] for s in runs[name])
                    cpu = statistics.median(s["cpu_ms_per_req"] for s in runs[name])
                    errors = sum(s["errors"] for s in runs[name])
                    row[name] = {"rps": rps, "cpu_ms_per_req": cpu, "errors": errors}
                    print(
                        f"  c={c:<4d} {name:16s} {rps:8.0f} req/s  {cpu:6.3f} ms CPU/req"
                        f"  {rps / base:6.1%} of {names[0]}  errors {errors}"
                    )
                rows.append(row)
    finally:
        for proc in procs.values():
            stop(proc)
        sink.shutdown()
        if not started_pg:  # someone else's server: give its affinity back
            pin([postmaster, *descendants(postmaster)], pg_affinity)
    out = BENCH / "results" / f"observability-{stamp}.json"
    out.write_text(
        json.dumps(
            {"date": stamp, "cores": os.cpu_count(), "rounds": args.rounds, "rows": rows},
            indent=2,
        )
        + "\n"
    )
    print(f"\nOTLP bytes received by the sink: {_Sink.spans_bytes}")
    print(f"raw numbers: {out.relative_to(ROOT)}")
    if started_pg:
        print("stopping the PostgreSQL this run started")


if __name__ == "__main__":
    main()
