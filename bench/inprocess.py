"""CPU per request of the GraphQL layer alone: no HTTP, no load generator, one process.

    .venv/bin/python bench/inprocess.py [--queries Q1,Q2,Q3] [--n 300] [--rounds 5]
        [--modes compiled,fast,stock] [--profile]

Runs each benchmark query through `schema.execute` (extensions, dataloaders and real SQL on
the bench database included; HTTP, JSON and uvicorn excluded) and prints process CPU time
per request. Each request is authenticated like over HTTP: the context carries the viewer's
verified token (an ADMIN for Q1/Q2, the member for Q3), and the viewer is loaded per request.
Far less noisy than wrk on a shared 2-core machine, so it is what we used to compare executor
changes: `--modes` runs the executors in turn within each round (same process, same warm
caches) and reports each one's best round.
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

import asyncpg  # noqa: E402
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext  # noqa: E402

from bench.queries import Dataset, build  # noqa: E402
from db.embedded import EmbeddedPostgres  # noqa: E402
from db.pool import create_pool  # noqa: E402
from resolvers.auth import Credential  # noqa: E402
from resolvers.context import Context  # noqa: E402
from schema import compiled, schema  # noqa: E402
from schema.fast_execution import FastExecutionContext  # noqa: E402


async def main(args: argparse.Namespace) -> None:
    dsn = EmbeddedPostgres(ROOT / ".data" / "bench-pg", stop_at_exit=False).dsn("campaign_bench")
    conn = await asyncpg.connect(dsn)
    try:
        dataset = await Dataset.load(conn)
    finally:
        await conn.close()
    pool = await create_pool(dsn)
    modes = args.modes.split(",")

    def set_mode(mode: str) -> None:
        if mode not in ("compiled", "fast", "stock"):
            raise SystemExit(f"unknown mode {mode!r}")
        compiled.ENABLED = mode == "compiled"
        schema.execution_context_class = (
            StrawberryGraphQLCoreExecutionContext if mode == "stock" else FastExecutionContext
        )

    request = SimpleNamespace(headers={}, state=SimpleNamespace(request_id="bench"))
    try:
        for q in build(dataset):
            if q.name not in args.queries.split(","):
                continue

            async def once(i: int, q=q) -> None:  # type: ignore[no-untyped-def]
                ctx = Context(
                    request=request,  # type: ignore[arg-type]
                    response=None,
                    pool=pool,
                    request_id="bench",
                    credential=Credential(user_id=q.viewer(i)),
                )
                result = await schema.execute(q.ours, q.ours_vars(i), context_value=ctx)
                assert not result.errors, result.errors

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
                + f" ms CPU/request (min of {args.rounds} rounds x {args.n} requests);"
                f" compiled runs {dict(compiled.RUNS)}"
            )
    finally:
        await pool.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", default="Q1,Q2,Q3")
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument(
        "--modes",
        default="compiled",
        help="comma-separated, run in turn each round: compiled (the server's executor), "
        "fast (without schema/compiled.py), stock (Strawberry's own executor)",
    )
    parser.add_argument("--rounds", type=int, default=1, help="report the best round per mode")
    parser.add_argument(
        "--profile", action="store_true", help="pyinstrument; text to bench/results/profile-Q*.txt"
    )
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.run(main(args))
    except ImportError:
        asyncio.run(main(args))
