"""CPU per request of the GraphQL layer alone: no HTTP, no load generator, one process.

    .venv/bin/python bench/inprocess.py [--queries Q1,Q2,Q3] [--n 300] [--rounds 5]
        [--modes ours,rows,unrendered,stock] [--profile]
    .venv/bin/python bench/inprocess.py --asgi [--queries Q1] [--n 2000]

Runs each benchmark query through `schema.execute` (extensions, dataloaders and real SQL on
the bench database included; HTTP, JSON and uvicorn excluded) and prints process CPU time
per request. Each request is authenticated like over HTTP: the context carries the viewer's
verified token (an ADMIN for Q1/Q2, the member for Q3), and the viewer is loaded per request.
Far less noisy than wrk on a shared 2-core machine, so it is what we used to compare executor
changes: `--modes` runs the executors in turn within each round (same process, same warm
caches) and reports each one's best round.

`--asgi` sends each request through the whole ASGI app instead (`server.create_app`: the
middleware, the /graphql view, the JWT check, orjson in and out) with an `Authorization`
header, as uvicorn would hand it over: everything but the socket and uvicorn's HTTP parsing.
Needs the bench database (`bench/run.py` seeds it).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext  # noqa: E402

from bench.queries import Dataset, build  # noqa: E402
from db.embedded import EmbeddedPostgres  # noqa: E402
from db.pool import create_pool  # noqa: E402
from resolvers.auth import Credential  # noqa: E402
from resolvers.context import Context  # noqa: E402
from schema import render, schema  # noqa: E402
from schema.execution import Executor, rendering  # noqa: E402

# Signs the tokens of `bearer_headers` and the apps that check them.
SECRET = "bench-secret-that-is-long-enough-for-hs256!"


async def bench_database() -> tuple[str, Dataset]:
    """The bench database's DSN and what it holds; the collector tuned as the server's."""
    from server import tune_gc

    dsn = EmbeddedPostgres(ROOT / ".data" / "bench-pg", stop_at_exit=False).dsn("campaign_bench")
    conn = await asyncpg.connect(dsn)
    try:
        dataset = await Dataset.load(conn)
    finally:
        await conn.close()
    tune_gc()  # as the server does after start-up
    return dsn, dataset


async def main(args: argparse.Namespace) -> None:
    dsn, dataset = await bench_database()
    if args.asgi:
        await through_asgi(args, dsn, dataset)
        return
    pool = await create_pool(dsn)
    modes = args.modes.split(",")

    def set_mode(mode: str) -> None:
        if mode not in ("ours", "rows", "unrendered", "stock"):
            raise SystemExit(f"unknown mode {mode!r}")
        wanted = (mode in ("ours", "rows"), mode == "ours")
        if (render.ENABLED, render.LISTS) != wanted:
            render.ENABLED, render.LISTS = wanted
            rendering._plans.clear()  # plans keep what they render
        schema.execution_context_class = (
            StrawberryGraphQLCoreExecutionContext if mode == "stock" else Executor
        )

    request = SimpleNamespace(headers={}, state=SimpleNamespace(request_id="bench"))
    try:
        for q in build(dataset):
            if q.name not in args.queries.split(","):
                continue
            sids = await open_sessions(dsn, {q.viewer(i) for i in range(args.n + 20)})

            async def once(i: int, q=q, sids=sids) -> None:  # type: ignore[no-untyped-def]
                ctx = Context(
                    request=request,  # type: ignore[arg-type]
                    response=None,
                    pool=pool,
                    request_id="bench",
                    credential=Credential(user_id=q.viewer(i), session_id=sids[q.viewer(i)]),
                )
                result = await schema.execute(q.ours, q.ours_vars(i), context_value=ctx)
                unexpected = [
                    e
                    for e in result.errors or ()
                    if (e.extensions or {}).get("code") != q.expected_error
                ]
                assert not unexpected and result.data is not None, result.errors

            for mode in modes:  # warm caches and the pool
                set_mode(mode)
                for i in range(20):
                    await once(i)
            best: dict[str, float] = {}
            for _round in range(args.rounds):
                for mode in modes:
                    set_mode(mode)
                    profiler = None
                    if args.profile:
                        from pyinstrument import Profiler

                        profiler = Profiler(interval=0.0002, async_mode="disabled")
                        profiler.start()
                    cpu = time.process_time()
                    for i in range(args.n):
                        await once(i)
                    cpu = (time.process_time() - cpu) / args.n
                    best[mode] = min(best.get(mode, cpu), cpu)
                    if profiler is not None:
                        profiler.stop()
                        out = ROOT / "bench" / "results" / f"profile-{q.name}-{mode}.txt"
                        out.write_text(profiler.output_text(unicode=False, show_all=False))
                        print(f"profile: {out.relative_to(ROOT)}")
            print(
                f"{q.name}: "
                + ", ".join(f"{m} {best[m] * 1e3:.2f}" for m in modes)
                + f" ms CPU/request (min of {args.rounds} rounds x {args.n} requests)"
            )
    finally:
        await pool.close()


async def open_sessions(dsn: str, viewers: set[int]) -> dict[int, str]:
    """A session for each viewer, opened in the database: access tokens (and the viewer
    read) name one, as after `login`."""
    from datetime import UTC, datetime, timedelta

    from db import sessions

    conn = await asyncpg.connect(dsn)
    try:
        ends = datetime.now(UTC) + timedelta(days=1)
        return {v: await sessions.open_without_refresh(conn, v, ends) for v in viewers}
    finally:
        await conn.close()


async def asgi_request(app: Any, state: Any, q: Any, headers: Any, i: int) -> None:
    """Request `i` of query `q` through the ASGI app, as uvicorn would hand it over."""
    import orjson

    body = orjson.dumps({"query": q.ours, "variables": q.ours_vars(i)})
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": "POST",
        "root_path": "",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "headers": [*headers[q.viewer(i)], (b"content-length", str(len(body)).encode())],
        "state": dict(state),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    assert sent[0]["status"] == 200, sent
    answer = orjson.loads(sent[1]["body"])
    codes = {e["extensions"]["code"] for e in answer.get("errors", [])}
    assert codes <= {q.expected_error} - {None}, answer.get("errors")


async def bearer_headers(dsn: str, q: Any, n: int) -> dict[int, Any]:
    """Each viewer's request headers, with a token of theirs signed with SECRET."""
    from datetime import timedelta

    from resolvers.auth import Tokens

    tokens = Tokens(SECRET, ttl=timedelta(hours=12))  # longer than any run
    viewers = {q.viewer(i) for i in range(n + 20)}
    sids = await open_sessions(dsn, viewers)
    return {
        viewer: [
            (b"host", b"127.0.0.1:8000"),
            (b"content-type", b"application/json"),
            (b"authorization", f"Bearer {tokens.issue(viewer, sids[viewer]).token}".encode()),
        ]
        for viewer in viewers
    }


async def warmed_queries(
    args: argparse.Namespace, dsn: str, dataset: Dataset
) -> AsyncIterator[tuple[Any, Any, Any, dict[int, Any]]]:
    """(app, lifespan state, query, headers) for each query asked for, through one app, after
    20 requests of the query to warm it up."""
    from server import create_app

    app = create_app(dsn, apply_migrations=False, jwt_secret=SECRET)
    async with app.router.lifespan_context(app) as state:
        for q in build(dataset):
            if q.name not in args.queries.split(","):
                continue
            headers = await bearer_headers(dsn, q, args.n)
            for i in range(20):
                await asgi_request(app, state, q, headers, i)
            yield app, state, q, headers


async def through_asgi(args: argparse.Namespace, dsn: str, dataset: Dataset) -> None:
    """Each query's requests through the whole ASGI app, as uvicorn would pass them on."""
    async for app, state, q, headers in warmed_queries(args, dsn, dataset):
        cpu, wall = time.process_time(), time.perf_counter()
        for i in range(args.n):
            await asgi_request(app, state, q, headers, i)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(
            f"{q.name}: {cpu / args.n * 1e3:.3f} ms CPU/request, "
            f"{wall / args.n * 1e3:.3f} ms wall/request over {args.n} sequential requests "
            "(whole ASGI app)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", default="Q1,Q2,Q3")
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument(
        "--modes",
        default="ours",
        help="comma-separated, run in turn each round: ours (the server's executor), "
        "rows (PostgreSQL writes each object's JSON but no list whole, schema/render.py), "
        "unrendered (PostgreSQL writes no JSON), stock (Strawberry's own executor)",
    )
    parser.add_argument("--rounds", type=int, default=1, help="report the best round per mode")
    parser.add_argument(
        "--asgi", action="store_true", help="through the whole ASGI app (HTTP layer included)"
    )
    parser.add_argument(
        "--profile", action="store_true", help="pyinstrument; text to bench/results/profile-Q*.txt"
    )
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.run(main(args))
    except ImportError:
        asyncio.run(main(args))
