"""campaign-graphql: the Starlette app (REST health shim + /graphql) and its command line.

python server.py [serve] [--host H] [--port P] [--workers N]
python server.py migrate | seed | export-schema
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import asyncpg
import orjson
from cross_web import HTTPException
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

from db import migrate as migrations
from db.pool import PoolSettings, create_pool
from resolvers.context import Context, build_context, request_id_of
from schema import schema

NAME = "campaign-graphql"
VERSION = "0.1.0"
GRAPHQL_PATH = "/graphql"
DEFAULT_DB_NAME = "campaign_graphql"
HEALTH_TIMEOUT_S = 1.0
GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"

log = logging.getLogger("campaign_graphql")


# --- /graphql -------------------------------------------------------------------------------


def _wants_graphql_response_json(request: Request) -> bool:
    """True when the client prefers the GraphQL-over-HTTP media type to legacy JSON."""
    accept = request.headers.get("accept", "")
    for part in accept.split(","):
        media = part.split(";")[0].strip().lower()
        if media == GRAPHQL_RESPONSE_JSON:
            return True
        if media in ("application/json", "*/*", "application/*"):
            return False
    return False


def _error_body(message: str, code: str) -> bytes:
    return json.dumps({"errors": [{"message": message, "extensions": {"code": code}}]}).encode()


class GraphQLApp(GraphQL[Context, None]):
    """Strawberry's ASGI app with our context and GraphQL-over-HTTP status codes.

    Request errors (malformed body, parse or validation failure) have no `data` entry: a
    client that accepts application/graphql-response+json gets them with a 4xx status, a
    legacy application/json client with 200. Malformed HTTP requests are always 4xx, and
    always GraphQL-shaped.

    At most `max_in_flight` HTTP operations execute at once; the rest wait their turn in
    arrival order (asyncio.Semaphore is FIFO). Without this, 500 clients each running a
    query of several dataloader rounds all advance together, each round queued behind
    everyone else's, and none finishes: 0 of 500 Q2a requests completed in 10 s.
    """

    max_in_flight = 10  # create_app sets it to the pool size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        if not hasattr(self, "_turns"):
            self._turns = asyncio.Semaphore(self.max_in_flight)
        try:
            async with self._turns:
                response = await self.run(request)
        except HTTPException as exc:
            media = (
                GRAPHQL_RESPONSE_JSON
                if _wants_graphql_response_json(request)
                else "application/json"
            )
            response = Response(
                _error_body(exc.reason, "BAD_REQUEST"),
                status_code=exc.status_code,
                media_type=media,
            )
        await response(scope, receive, send)

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        return await build_context(
            request, response if isinstance(response, Response) else None, request.state.pool
        )

    def decode_json(self, data: str | bytes) -> object:
        try:
            return orjson.loads(data)
        except (ValueError, RecursionError) as exc:  # includes invalid UTF-8 and deep nesting
            raise HTTPException(400, "Unable to parse request body as JSON") from exc

    def encode_json(self, data: object) -> bytes:
        # orjson: 570 µs -> 34 µs for a Q2-shaped (~3,000 field) response (bench/README.md).
        return orjson.dumps(data)

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        processed = await super().process_result(request, result)
        if result.data is None and result.errors and all(e.path is None for e in result.errors):
            # Nothing executed: a request error in the GraphQL-over-HTTP sense.
            processed.pop("data", None)
        return processed

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Any
    ) -> Response:
        response = super().create_response(response_data, sub_response)
        request: Request | None = getattr(sub_response, "_request", None)
        if request is not None and _wants_graphql_response_json(request):
            response.headers["content-type"] = GRAPHQL_RESPONSE_JSON
            if isinstance(response_data, Mapping) and "data" not in response_data:
                response.status_code = 400
        return response

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub = await super().get_sub_response(request)
        sub._request = request  # type: ignore[attr-defined]  # read back in create_response
        return sub


# --- request ids ----------------------------------------------------------------------------


class RequestIdMiddleware:
    """Give every request an id (the caller's X-Request-ID or a new one) and echo it back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(
            Request(scope) if scope["type"] == "http" else WebSocket(scope, receive, send)
        )
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_id)


# --- REST shim ------------------------------------------------------------------------------


async def index(request: Request) -> JSONResponse:
    return JSONResponse({"name": NAME, "version": VERSION, "graphql": GRAPHQL_PATH})


async def _database_check(pool: asyncpg.Pool) -> tuple[bool, float | None, int | None]:
    """(reachable, round-trip ms, migration version), bounded by HEALTH_TIMEOUT_S."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_S):
            async with pool.acquire() as conn:
                version = await migrations.current_version(conn)
    except Exception:  # any failure here means "not healthy", and is reported as such
        return False, None, None
    return True, round((time.perf_counter() - started) * 1000, 2), version


async def health(request: Request) -> JSONResponse:
    ok, latency_ms, _ = await _database_check(request.state.pool)
    body = {
        "status": "ok" if ok else "unavailable",
        "database": "ok" if ok else "unreachable",
        "latencyMs": latency_ms,
    }
    return JSONResponse(body, status_code=200 if ok else 503)


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    ok, _, version = await _database_check(request.state.pool)
    latest = migrations.latest_version()
    ready = ok and version == latest
    body = {
        "status": "ready" if ready else "not ready",
        "database": "ok" if ok else "unreachable",
        "migrationVersion": version,
        "expectedMigrationVersion": latest,
    }
    return JSONResponse(body, status_code=200 if ready else 503)


# --- the app --------------------------------------------------------------------------------


def create_app(
    dsn: str | None = None,
    *,
    pool_settings: PoolSettings | None = None,
    apply_migrations: bool = True,
    on_connect: Any = None,
) -> Starlette:
    """Build the ASGI app; the pool opens (and migrations run) in the lifespan.

    `dsn` defaults to DATABASE_URL. Tests pass their own database and a query counter.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        target = dsn or os.environ.get("DATABASE_URL")
        if not target:
            raise RuntimeError("DATABASE_URL is not set (use `python server.py serve`)")
        if apply_migrations:
            conn = await asyncpg.connect(target)
            try:
                await migrations.migrate(conn)
            finally:
                await conn.close()
        pool = await create_pool(
            target, pool_settings or PoolSettings.from_env(), on_connect=on_connect
        )
        try:
            yield {"pool": pool}
        finally:
            await pool.close()

    graphql_app = GraphQLApp(schema, graphql_ide="graphiql", allow_queries_via_get=True)
    graphql_app.max_in_flight = int(
        os.environ.get("MAX_IN_FLIGHT", (pool_settings or PoolSettings.from_env()).max_size)
    )
    app = Starlette(
        routes=[
            Route("/", index),
            Route("/health", health),
            Route("/api/phase4/health", health),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route(GRAPHQL_PATH, graphql_app, methods=["GET", "POST"]),
            WebSocketRoute(GRAPHQL_PATH, graphql_app),
        ],
        lifespan=lifespan,
    )
    app.add_middleware(RequestIdMiddleware)
    return app


# Cyclic GC: a Q2-sized response allocates ~100k objects, so with the default gen0 threshold
# (700) the collector runs dozens of times per request and, with many requests in flight,
# each run walks all their live objects: CPU per request grew from 12 ms at 10 connections
# to 21 ms at 100. Freezing the startup objects (schema, modules) and collecting less often
# cut that to 13 ms (bench/README.md). Nearly all request garbage is freed by refcounting.
GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc() -> None:
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def app_from_env() -> Starlette:
    """The uvicorn factory (`server:app_from_env`): each worker builds its own app and pool."""
    tune_gc()
    return create_app(apply_migrations=False)


# --- command line ---------------------------------------------------------------------------


async def _prepare_database(*, seed_demo: bool) -> str:
    """DATABASE_URL if set; else the embedded server (started here). Migrates it; seeds demo data
    into an empty embedded database. Returns the DSN."""
    from db import seed

    url = os.environ.get("DATABASE_URL")
    if not url:
        from db.embedded import EmbeddedPostgres, ensure_database

        embedded = EmbeddedPostgres()
        await ensure_database(embedded.dsn(), DEFAULT_DB_NAME)
        url = embedded.dsn(DEFAULT_DB_NAME)
    conn = await asyncpg.connect(url)
    try:
        applied = await migrations.migrate(conn)
        if applied:
            print(f"applied migrations {applied}")
        if seed_demo and await seed.is_empty(conn):
            await seed.seed_demo(conn)
            print("seeded demo data")
    finally:
        await conn.close()
    return url


def _serve(args: argparse.Namespace) -> None:
    import uvicorn

    embedded = not os.environ.get("DATABASE_URL")
    url = asyncio.run(_prepare_database(seed_demo=embedded))
    os.environ["DATABASE_URL"] = url  # the workers (and their pools) read it
    if embedded:
        from db.seed import DEMO_USERS

        print(f"\nGraphiQL: http://{args.host}:{args.port}{GRAPHQL_PATH}")
        print("Demo users (email / password / role):")
        for user in DEMO_USERS:
            print(f"  {user.email} / {user.password} / {user.role.value}")
        print()
    uvicorn.run(
        "server:app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=os.environ.get("LOG_LEVEL", "info").lower(),
    )


def _migrate(args: argparse.Namespace) -> None:
    url = asyncio.run(_prepare_database(seed_demo=False))
    print(f"database at migration version {migrations.latest_version()}: {url.split('@')[-1]}")


def _seed(args: argparse.Namespace) -> None:
    asyncio.run(_prepare_database(seed_demo=True))


def _export_schema(args: argparse.Namespace) -> None:
    sys.stdout.write(schema.as_str() + "\n")


def default_workers() -> int:
    """WORKERS if set; in production one worker per core (one Python process uses one core,
    and each worker has its own pool of DB_POOL_MAX connections); else 1."""
    if "WORKERS" in os.environ:
        return int(os.environ["WORKERS"])
    if os.environ.get("APP_ENV") == "production":
        return os.cpu_count() or 1
    return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=NAME, description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command")

    serve = commands.add_parser(
        "serve",
        help="run the HTTP server (default)",
        description="Serve GraphQL and the health routes. Without DATABASE_URL, starts the "
        "embedded PostgreSQL in .data/ and seeds demo data on first start.",
    )
    serve.add_argument(
        "--host",
        default=os.environ.get("HOST", "127.0.0.1"),
        help="bind address (env HOST, default 127.0.0.1)",
    )
    serve.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("PORT", "8000")),
        help="TCP port (env PORT, default 8000)",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=default_workers(),
        help="worker processes (env WORKERS; default: the number of cores with "
        "APP_ENV=production, else 1)",
    )
    serve.set_defaults(func=_serve)

    commands.add_parser(
        "migrate",
        help="apply pending migrations",
        description="Apply pending SQL migrations to DATABASE_URL (or the embedded database).",
    ).set_defaults(func=_migrate)
    commands.add_parser(
        "seed",
        help="load demo data into an empty database",
        description="Migrate, then load the deterministic demo data if the database is empty.",
    ).set_defaults(func=_seed)
    commands.add_parser(
        "export-schema",
        help="print the GraphQL schema (SDL)",
        description="Print the schema in SDL; `make schema` writes it to schema.graphql.",
    ).set_defaults(func=_export_schema)
    return parser


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    argv = sys.argv[1:] if argv is None else argv
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["serve", *argv]  # `serve` is the default command
    args = build_parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
