"""campaign-graphql: the Starlette app (REST health shim + /graphql) and its command line.

python server.py [serve] [--host H] [--port P] [--workers N]
python server.py migrate | seed | export-schema
python server.py create-user --email E --name N --role ADMIN --password-stdin
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import gc
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg

# Strawberry's HTTP views raise cross_web's HTTPException (cross-web is Strawberry's own package).
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

import runtime
from db import metrics, tracing
from db import migrate as migrations
from db.events import Listener
from db.pool import PoolSettings, create_pool
from resolvers.auth import Tokens, dev_secret
from resolvers.live import Hub
from schema import graphiql, limits, logs, persisted, schema, telemetry
from schema.http import GraphQLApp, GraphQLLane, RequestIdLogFilter, RequestIdMiddleware

NAME = "campaign-graphql"
VERSION = "0.1.0"
GRAPHQL_PATH = "/graphql"
DEFAULT_DB_NAME = "campaign_graphql"
HEALTH_TIMEOUT_S = 1.0
DEV_SECRET_FILE = Path(__file__).resolve().parent / ".data" / "jwt-secret"

log = logging.getLogger("campaign_graphql")


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


# Operations executing at once per pooled connection (MAX_IN_FLIGHT's default). Concurrent
# requests' reads share statements (db/coalesce.py), so more of them in flight means fewer
# statements each: one campaign by id at 100 connections went from 2,904 req/s (0.31 ms CPU per
# request) with 10 in flight to 4,776 (0.21 ms) with 100, and 50 campaigns at 500 connections
# still answered every request (bench/README.md). The pool still bounds the connections.
IN_FLIGHT_PER_CONNECTION = 10


def create_app(
    dsn: str | None = None,
    *,
    pool_settings: PoolSettings | None = None,
    apply_migrations: bool = True,
    on_connect: Any = None,
    jwt_secret: str | None = None,
    max_in_flight_per_viewer: int | None = None,
) -> Starlette:
    """Build the ASGI app; the pool opens (and migrations run) in the lifespan.

    `dsn` defaults to DATABASE_URL, `jwt_secret` to JWT_SECRET and `max_in_flight_per_viewer`
    to MAX_IN_FLIGHT_PER_VIEWER (0: no cap). Tests pass their own database, secret and a query
    counter.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        target = dsn or os.environ.get("DATABASE_URL")
        if not target:
            raise RuntimeError("DATABASE_URL is not set (use `python server.py serve`)")
        tokens = Tokens.from_env(jwt_secret)
        if apply_migrations:
            conn = await asyncpg.connect(target)
            try:
                await migrations.migrate(conn)
            finally:
                await conn.close()
        pool = await create_pool(
            target, pool_settings or PoolSettings.from_env(), on_connect=on_connect
        )
        # Subscriptions: this worker's subscribers, fed by its own LISTEN connection.
        hub = Hub(pool)
        listener = Listener(target, hub.received)
        hub.start()
        listener.start()
        gauges = asyncio.create_task(metrics.keep_pool_gauges()) if metrics.ENABLED else None
        try:
            yield {"pool": pool, "tokens": tokens, "hub": hub, "listener": listener}
        finally:
            try:
                if gauges is not None:
                    gauges.cancel()
                await listener.stop()
                await hub.stop()
                await pool.close()
            finally:
                tracing.shutdown()
                metrics.worker_stopped(os.getpid())

    settings = runtime.RuntimeSettings.from_env()
    graphql_app = GraphQLApp(
        schema,
        graphql_ide="graphiql" if settings.graphiql else None,
        allow_queries_via_get=True,
    )
    bounds = pool_settings or PoolSettings.from_env()
    graphql_app.admit(
        int(os.environ.get("MAX_IN_FLIGHT", IN_FLIGHT_PER_CONNECTION * bounds.max_size)),
        bounds.acquire_timeout_s,
        # One caller may hold at most half the pool: the rest is always left to others.
        int(os.environ.get("MAX_IN_FLIGHT_PER_VIEWER", max(1, bounds.max_size // 2)))
        if max_in_flight_per_viewer is None
        else max_in_flight_per_viewer,
    )
    routes = [
        # First: the router tries routes in order, and nearly every request is for these.
        Route(GRAPHQL_PATH, graphql_app, methods=["GET", "POST"]),
        WebSocketRoute(GRAPHQL_PATH, graphql_app),
        Route("/", index),
        Route("/health", health),
        Route("/api/phase4/health", health),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        *([Route(telemetry.METRICS_PATH, telemetry.metrics_endpoint)] if metrics.ENABLED else []),
        *([graphiql.assets_route()] if settings.graphiql else []),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(RequestIdMiddleware)
    # An oversized body is refused before anything else reads it.
    app.add_middleware(runtime.BodySizeLimit, max_bytes=limits.LIMITS.max_body_bytes)
    if settings.cors_origins:
        # Outside every refusal (413 included), so a browser app can read each one.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=list(settings.cors_allow_headers),
            expose_headers=["x-request-id", "retry-after"],
            max_age=600,
        )
    # Outermost: JSON POSTs to /graphql go straight to the view (same limit, same request id).
    app.add_middleware(
        GraphQLLane,
        graphql=graphql_app,
        path=GRAPHQL_PATH,
        max_body_bytes=limits.LIMITS.max_body_bytes,
        cors=bool(settings.cors_origins),
    )
    # Around everything ours: every request is counted, and traced from its first byte.
    app.add_middleware(
        telemetry.ObserveMiddleware,
        routes=frozenset(r.path for r in routes if isinstance(r, Route)),
    )
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
    runtime.refuse_unless_ready_for_production()
    persisted.refuse_an_unknown_mode()
    configure_logging()
    tracing.configure_from_env()
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
            print(f"applied migrations {applied}", flush=True)
        if seed_demo and await seed.is_empty(conn):
            await seed.seed_demo(conn)
            print("seeded demo data")
    finally:
        await conn.close()
    return url


async def _demo_admin_token(url: str, tokens: Tokens) -> str | None:
    """A ready access token for the demo admin (in a session of its own), if the database
    has that user."""
    from datetime import UTC, datetime

    from db import sessions
    from db.seed import DEMO_USERS
    from db.users import Role
    from resolvers.signin import POLICY

    email = next(u.email for u in DEMO_USERS if u.role is Role.ADMIN)
    conn = await asyncpg.connect(url)
    try:
        user_id = await conn.fetchval(
            "SELECT id FROM users WHERE email = $1 AND status = 'ACTIVE'", email
        )
        if user_id is None:
            return None
        session_id = await sessions.open_without_refresh(
            conn, user_id, datetime.now(UTC) + POLICY.refresh_ttl
        )
    finally:
        await conn.close()
    return tokens.issue(user_id, session_id).token


def _serve(args: argparse.Namespace) -> None:
    import uvicorn
    from uvicorn.config import LOG_LEVELS

    runtime.refuse_unless_ready_for_production()
    embedded = not os.environ.get("DATABASE_URL")
    # uvicorn re-raises SIGTERM after its graceful shutdown; exiting through SystemExit instead
    # lets atexit handlers run, which stop the embedded PostgreSQL.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    url = asyncio.run(_prepare_database(seed_demo=embedded))
    os.environ["DATABASE_URL"] = url  # the workers (and their pools) read it
    if embedded and not os.environ.get("JWT_SECRET"):
        # Dev default only: a secret kept in .data/ so tokens survive restarts.
        os.environ["JWT_SECRET"] = dev_secret(DEV_SECRET_FILE)
    try:  # fail now, with a message, rather than in every worker
        tokens = Tokens.from_env()
    except (RuntimeError, ValueError) as exc:
        sys.exit(f"error: {exc}")
    if embedded:
        from db.seed import DEMO_USERS

        print(f"\nGraphiQL: http://{args.host}:{args.port}{GRAPHQL_PATH}")
        print("Demo users (email / password / role):")
        for user in DEMO_USERS:
            print(f"  {user.email} / {user.password} / {user.role.value}")
        token = asyncio.run(_demo_admin_token(url, tokens))
        if token:
            print(f"Admin token (valid {int(tokens.ttl.total_seconds() // 60)} minutes); paste in")
            print("GraphiQL's Headers pane:")
            print(f'  {{"Authorization": "Bearer {token}"}}')
        print()
    if args.workers > 1 and metrics.ENABLED:
        # Each worker keeps its metric values in files there, and a scrape of any one sums
        # them (db/metrics.py). Set before the workers start: they read it on import.
        directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
        if not directory:
            directory = tempfile.mkdtemp(prefix="campaign-graphql-metrics-")
            atexit.register(shutil.rmtree, directory, ignore_errors=True)
        metrics.clear_directory(directory)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    log_level = os.environ.get("LOG_LEVEL", "info").lower()
    uvicorn.run(
        "server:app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        # SIGTERM: stop accepting, let in-flight requests finish (at most this long), close
        # the pool in the lifespan.
        timeout_graceful_shutdown=int(os.environ.get("GRACEFUL_SHUTDOWN_S", "30")),
        # Longer than the idle timeout of common load balancers (60 s), so the server is not
        # the side that closes an idle keep-alive connection just as a request goes out on it.
        timeout_keep_alive=int(os.environ.get("HTTP_KEEP_ALIVE_S", "65")),
        # Read deadlines and a connection cap (runtime.TimedHttpProtocol): uvicorn has neither.
        http="runtime:TimedHttpProtocol",
        ws="websockets-sansio",
        # A socket's message is a request body: the same cap.
        ws_max_size=limits.LIMITS.max_body_bytes,
        log_level=log_level,
        # JSON lines: uvicorn's loggers go through ours (configure_logging) instead of its
        # own text formatters.
        log_config=None if logs.json_format() else uvicorn.config.LOGGING_CONFIG,
        # uvicorn builds each access line's arguments (the quoted path among them) before the
        # logger's level drops it: off when the level would drop it anyway.
        access_log=LOG_LEVELS.get(log_level, logging.INFO) <= logging.INFO,
    )


def _migrate(args: argparse.Namespace) -> None:
    url = asyncio.run(_prepare_database(seed_demo=False))
    print(f"database at migration version {migrations.latest_version()}: {url.split('@')[-1]}")


PUBLISHED_PASSWORDS_FLAG = "--with-published-passwords"


def _seed(args: argparse.Namespace) -> None:
    if os.environ.get("DATABASE_URL") and not args.with_published_passwords:
        # The demo users' and generated users' passwords are in this repository and README:
        # in a real database they are accounts anyone can sign in to, an ADMIN among them.
        sys.exit(
            "seed: refusing to load users whose passwords are published (the demo users, or "
            "generated users) into DATABASE_URL; pass "
            f"{PUBLISHED_PASSWORDS_FLAG} if this database is a throwaway one for demos or "
            "benchmarks"
        )
    sizes = (args.users, args.merchants, args.transactions_per_user, args.campaigns)
    if all(size is None for size in sizes):
        asyncio.run(_prepare_database(seed_demo=True))
        return
    asyncio.run(_generate(args))


async def _generate(args: argparse.Namespace) -> None:
    """Load a generated data set of the asked size (db/generate.py) into an empty database."""
    from db import generate, seed

    try:
        sizes = generate.Sizes(
            users=args.users if args.users is not None else 1000,
            merchants=args.merchants if args.merchants is not None else 200,
            transactions_per_user=(
                args.transactions_per_user if args.transactions_per_user is not None else 50
            ),
            campaigns=args.campaigns if args.campaigns is not None else 50,
        )
    except ValueError as exc:
        raise SystemExit(f"seed: {exc}") from exc
    url = await _prepare_database(seed_demo=False)
    conn = await asyncpg.connect(url)
    try:
        if not await seed.is_empty(conn):
            raise SystemExit("seed: the database already has users; generate into an empty one")
        started = time.perf_counter()
        await generate.generate(conn, sizes, seed=args.seed)
        size = await conn.fetchval("SELECT pg_size_pretty(pg_database_size(current_database()))")
    finally:
        await conn.close()
    print(f"generated {sizes} with seed {args.seed} in {time.perf_counter() - started:.1f}s;")
    print(f"database size {size}")


async def _create_user(email: str, name: str, role: str, password: str) -> int:
    from db.users import Role
    from resolvers.users import NewUser, create_user_on

    url = await _prepare_database(seed_demo=False)
    pool = await create_pool(url, PoolSettings(min_size=1, max_size=1))  # sets the json codecs
    try:
        async with pool.acquire() as conn:
            outcome = await create_user_on(
                conn,
                NewUser(email=email, name=name, role=Role(role), password=password),
                actor_id=None,
                request_id="cli:create-user",
            )
    finally:
        await pool.close()
    if outcome.value is None:
        for problem in outcome.problems:
            field = ".".join(problem.field or ("input",))
            print(f"error: {field}: {problem.message} ({problem.code.value})", file=sys.stderr)
        return 1
    user = outcome.value
    print(f"created {user.role.value} user {user.email} (id {user.id}) in {url.split('@')[-1]}")
    return 0


def _create_user_command(args: argparse.Namespace) -> None:
    if not args.password_stdin:
        sys.exit("error: pass --password-stdin and the password on standard input")
    password = sys.stdin.readline().rstrip("\r\n")
    sys.exit(asyncio.run(_create_user(args.email, args.name, args.role, password)))


async def _import_documents(path: str, pairs: list[tuple[str, str]], client: str | None) -> int:
    from db.persisted import import_trusted
    from schema.persisted import sha256_of

    url = await _prepare_database(seed_demo=False)
    conn = await asyncpg.connect(url)
    try:
        new, conflicts = await import_trusted(
            conn, [(i, text, sha256_of(text)) for i, text in pairs], client
        )
    finally:
        await conn.close()
    if conflicts:
        print(
            f"error: {len(conflicts)} ids already name another document (nothing imported): "
            + ", ".join(conflicts[:10]),
            file=sys.stderr,
        )
        return 1
    print(f"{len(pairs)} documents in {path}: {new} new, {len(pairs) - new} known already")
    return 0


def _documents_command(args: argparse.Namespace) -> None:
    from schema.persisted import parse_manifest

    try:
        pairs = parse_manifest(json.loads(Path(args.file).read_text()))
    except (OSError, ValueError) as exc:  # json.JSONDecodeError is a ValueError
        sys.exit(f"error: {args.file}: {exc}")
    sys.exit(asyncio.run(_import_documents(args.file, pairs, args.client)))


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
    seed = commands.add_parser(
        "seed",
        help="load demo data into an empty database",
        description="Migrate, then load the deterministic demo data if the database is empty. "
        "With any size flag, generate a data set of that size instead (unset sizes default to "
        "1000 users, 200 merchants, 50 transactions per user, 50 campaigns).",
    )
    seed.add_argument("--users", type=int, help="users to generate")
    seed.add_argument("--merchants", type=int, help="merchants to generate")
    seed.add_argument(
        "--transactions-per-user", type=int, help="transactions per member to generate"
    )
    seed.add_argument("--campaigns", type=int, help="campaigns to generate")
    seed.add_argument(
        "--seed", type=int, default=1, help="random seed: same seed and day, same data"
    )
    seed.add_argument(
        PUBLISHED_PASSWORDS_FLAG,
        action="store_true",
        help="allow seeding DATABASE_URL (refused without it: the users seeded have passwords "
        "published in the README and the code); the embedded database needs no flag",
    )
    seed.set_defaults(func=_seed)
    commands.add_parser(
        "export-schema",
        help="print the GraphQL schema (SDL)",
        description="Print the schema in SDL; `make schema` writes it to schema.graphql.",
    ).set_defaults(func=_export_schema)

    create_user = commands.add_parser(
        "create-user",
        help="create a user (e.g. the first admin)",
        description="Create a user in DATABASE_URL (or the embedded database), migrating it "
        "first. The password is read from the first line of standard input.",
    )
    create_user.add_argument("--email", required=True, help="sign-in email")
    create_user.add_argument("--name", required=True, help="display name")
    create_user.add_argument(
        "--role", required=True, choices=["ADMIN", "MANAGER", "MEMBER"], help="the user's role"
    )
    create_user.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input (it never appears in the process list)",
    )
    create_user.set_defaults(func=_create_user_command)

    documents = commands.add_parser(
        "documents",
        help="trusted documents: import a client's manifest",
        description="Trusted documents (README: Persisted queries and trusted documents).",
    )
    actions = documents.add_subparsers(dest="action", required=True)
    importing = actions.add_parser(
        "import",
        help="import a manifest into DATABASE_URL (or the embedded database)",
        description="Import the operations of a client build: Relay's `persist` output, "
        "Apollo's persisted-query manifest or GraphQL Codegen's persisted-documents.json. "
        "An id that already names another document refuses the whole import.",
    )
    importing.add_argument("file", help="the manifest (JSON)")
    importing.add_argument("--client", help="which client it came from (kept with each document)")
    importing.set_defaults(func=_documents_command)
    return parser


def configure_logging() -> None:
    """Log lines to stderr, each with the request id: text, or one JSON object per line with
    LOG_FORMAT=json (schema/logs.py). Run in every process (uvicorn's workers too)."""
    handler = logging.StreamHandler()
    handler.setFormatter(
        logs.JsonFormatter() if logs.json_format() else logging.Formatter(logs.TEXT_FORMAT)
    )
    handler.addFilter(RequestIdLogFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())


def main(argv: list[str] | None = None) -> None:
    configure_logging()
    argv = sys.argv[1:] if argv is None else argv
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["serve", *argv]  # `serve` is the default command
    args = build_parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
