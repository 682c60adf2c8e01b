"""CPU per request of the GraphQL layer alone: no HTTP, no load generator, one process.

    .venv/bin/python bench/inprocess.py [--queries Q1,Q2a] [--n 300] [--stock]

Runs each benchmark query through `schema.execute` (extensions, dataloaders and real SQL on
the bench database included; HTTP, JSON and uvicorn excluded) and prints process CPU time
per request. Far less noisy than wrk on a shared 2-core machine, so it is what we used to
compare executor changes (`--stock` runs Strawberry's own executor for the comparison).
Needs the bench database (`bench/run.py` seeds it).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.queries import QUERIES  # noqa: E402
from db.embedded import EmbeddedPostgres  # noqa: E402
from db.pool import create_pool  # noqa: E402
from resolvers.context import Context  # noqa: E402
from schema import schema  # noqa: E402


async def main(args: argparse.Namespace) -> None:
    if args.stock:
        from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

        schema.execution_context_class = StrawberryGraphQLCoreExecutionContext
    dsn = EmbeddedPostgres(ROOT / ".data" / "bench-pg", stop_at_exit=False).dsn("campaign_bench")
    pool = await create_pool(dsn)
    request = SimpleNamespace(headers={}, state=SimpleNamespace(request_id="bench"))
    try:
        for q in QUERIES:
            if q.name not in args.queries.split(","):
                continue

            async def once(i: int, q=q) -> None:  # type: ignore[no-untyped-def]
                ctx = Context(request=request, response=None, pool=pool, request_id="bench")  # type: ignore[arg-type]
                result = await schema.execute(q.ours, q.ours_vars(i), context_value=ctx)
                assert not result.errors, result.errors

            for i in range(20):  # warm caches and the pool
                await once(i)
            cpu, wall = time.process_time(), time.perf_counter()
            for i in range(args.n):
                await once(i)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            print(
                f"{q.name}: {cpu / args.n * 1e3:.2f} ms CPU/request, "
                f"{wall / args.n * 1e3:.2f} ms wall/request over {args.n} sequential requests "
                f"({'stock' if args.stock else 'fast'} executor)"
            )
    finally:
        await pool.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", default="Q1,Q2a")
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--stock", action="store_true")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.run(main(args))
    except ImportError:
        asyncio.run(main(args))
