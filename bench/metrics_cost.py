"""What metrics cost a request, by accounting: the CPU of each piece of metrics work one
request does, timed on its own (timeit, best of several repeats), added up per query and set
against what the whole request costs in-process.

    .venv/bin/python bench/metrics_cost.py [--queries Q1,Q2,Q3] [--n 300]

Why not only req/s side by side (bench/observability.py, which this complements): on this
shared 2-core machine two identical servers differ by ±5% in req/s, and two apps in one
process by as much in CPU per request, so a cost of 1–2% cannot be seen that way. Each piece
here is timed to a fraction of a µs, and the pieces are what the code does for every request:

- the HTTP middleware: counting the request and watching its response start;
- the operation hooks: before the operation, before execution, after it (counter,
  histogram, the operation's name, type and outcome);
- per SQL statement: `ObservedConnection`'s wrapper around asyncpg's `_execute`, the counter
  and the histogram. The statements per request are counted from a real request.

Pool gauges are set once a second, not per request. Needs the bench database (bench/run.py
seeds it).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import timeit
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from bench.inprocess import asgi_request, bench_database, warmed_queries  # noqa: E402
from db import metrics, tracing  # noqa: E402
from schema import telemetry  # noqa: E402


def best_us(fn: Any, number: int = 20000, repeat: int = 7) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def run(coro_fn: Any) -> Any:
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro_fn())
    finally:
        loop.close()


def middleware_us() -> float:
    """The middleware around an app that answers at once, less that app alone."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    observed = telemetry.ObserveMiddleware(app, frozenset({"/graphql"}))
    scope = {"type": "http", "path": "/graphql", "method": "POST", "headers": []}

    async def receive() -> Any:
        return {}

    async def send(message: Any) -> None:
        pass

    def timed(target: Any) -> float:
        async def many() -> float:
            started = time.perf_counter()
            for _ in range(20000):
                await target(scope, receive, send)
            return (time.perf_counter() - started) / 20000 * 1e6

        return min(run(many) for _ in range(7))

    return timed(observed) - timed(app)


def hooks_us(ctx: Any) -> float:
    def once() -> None:
        for name in ("_telemetry_streamed", "_telemetry_executed"):
            ctx.__dict__.pop(name, None)
        telemetry.before_operation(ctx)
        telemetry.before_execute(ctx)
        telemetry.after_operation(ctx)

    return best_us(once)


def statement_us() -> float:
    """The wrapper, counter and histogram of one statement: `ObservedConnection._execute`
    over an asyncpg `_execute` that returns at once, less that `_execute` alone."""

    async def answered(self: Any, query: str, args: Any, *rest: Any, **kwargs: Any) -> Any:
        return None

    real = asyncpg.Connection._execute
    asyncpg.Connection._execute = answered  # type: ignore[method-assign]
    try:
        connection = object.__new__(tracing.ObservedConnection)
        connection._aborted = True  # what asyncpg's __del__ reads: "closed", nothing to warn

        def timed(target: Any) -> float:
            async def many() -> float:
                started = time.perf_counter()
                for _ in range(20000):
                    await target(connection, "SELECT 1", ())
                return (time.perf_counter() - started) / 20000 * 1e6

            return min(run(many) for _ in range(7))

        return timed(tracing.ObservedConnection._execute) - timed(answered)
    finally:
        asyncpg.Connection._execute = real  # type: ignore[method-assign]


async def measure(args: argparse.Namespace) -> list[tuple[Any, float, float, Any]]:
    """Per query: (the query, CPU µs per request, statements per request, the execution
    context of one of its operations)."""
    dsn, dataset = await bench_database()
    metrics.ENABLED = True
    from schema import HOOKS

    captured: list[Any] = []
    results = []
    async for app, state, q, headers in warmed_queries(args, dsn, dataset):
        sent = metrics.statements("ok")
        before = sent._value.get()
        cpu = time.process_time()
        for i in range(args.n):
            await asgi_request(app, state, q, headers, i)
        per_request = (time.process_time() - cpu) / args.n * 1e6
        statements = (sent._value.get() - before) / args.n
        # One more request, its execution context kept for timing the hooks on.
        HOOKS.after_operation.append(captured.append)  # type: ignore[attr-defined]
        try:
            await asgi_request(app, state, q, headers, 0)
        finally:
            HOOKS.after_operation.remove(captured.append)  # type: ignore[attr-defined]
        results.append((q, per_request, statements, captured.pop()))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", default="Q1,Q2,Q3")
    parser.add_argument("--n", type=int, default=300)
    args = parser.parse_args()
    results = asyncio.run(measure(args))
    middleware = middleware_us()
    statement = statement_us()
    for q, per_request, statements, ctx in results:
        hooks = hooks_us(ctx)
        total = middleware + hooks + statements * statement
        print(
            f"{q.name}: a request costs {per_request:.0f} µs of CPU in-process; metrics "
            f"{total:.1f} µs = {total / per_request:.2%} (middleware {middleware:.1f}, hooks "
            f"{hooks:.1f}, {statements:.1f} statements × {statement:.1f})"
        )


if __name__ == "__main__":
    main()
