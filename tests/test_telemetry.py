"""What an operator sees: each metric moves for a real request (an error, a refusal and a
WebSocket subscription included), /metrics obeys METRICS_TOKEN, spans nest from the HTTP
request down to each SQL statement with the caller's traceparent continued, and log lines
carry the trace id and the SQL part of a slow operation's time."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from db import metrics, tracing
from schema import logs
from tests import factories as f
from tests.conftest import Api, StatementCounter, session_of
from tests.test_socket_rules import AsgiSocket

ME = "query Me { me { id } }"


def value(text: bytes, name: str, **labels: Any) -> float:
    """The sum of the samples called `name` whose labels include `labels` (0 if none)."""
    wanted = {k: str(v) for k, v in labels.items()}
    total = 0.0
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            if sample.name == name and wanted.items() <= sample.labels.items():
                total += float(sample.value)
    return total


class Scrape:
    """/metrics read before and after: `moved` is how much a sample changed between."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.before = b""
        self.after = b""

    async def read(self) -> bytes:
        response = await self.api.client.get("/metrics")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/plain; version=")
        return response.content

    async def start(self) -> None:
        self.before = await self.read()

    async def stop(self) -> None:
        self.after = await self.read()

    def moved(self, name: str, **labels: Any) -> float:
        return value(self.after, name, **labels) - value(self.before, name, **labels)


@pytest.fixture
async def scrape(api: Api, monkeypatch: pytest.MonkeyPatch) -> Scrape:
    # The suite's other tests have named more operations than a worker keeps as labels.
    monkeypatch.setattr(metrics, "_names", set())
    s = Scrape(api)
    await s.start()
    return s


async def test_a_query_moves_the_operation_http_and_database_metrics(
    api: Api, conn: asyncpg.Connection, scrape: Scrape, statements: StatementCounter
) -> None:
    m = await f.merchant(conn)
    await f.campaign(conn, m)
    statements.reset()
    data = await api.data("query Campaigns { campaigns { nodes { name merchant { name } } } }")
    assert len(data["campaigns"]["nodes"]) == 1
    await scrape.stop()

    ok = {"operation_name": "Campaigns", "operation_type": "query"}
    assert scrape.moved("graphql_operations_total", **ok, outcome="ok") == 1
    assert scrape.moved("graphql_operation_duration_seconds_count", **ok) == 1
    assert scrape.moved("graphql_operation_duration_seconds_sum", **ok) > 0
    assert scrape.moved("http_requests_total", route="/graphql", status="200") == 1
    # Every statement the request sent (the test's own counter, an asyncpg query logger, sees
    # the same ones), each timed.
    sent = scrape.moved("db_statements_total", outcome="ok")
    assert sent == statements.count >= 2
    assert scrape.moved("db_statement_duration_seconds_count") == sent
    # The scrape between counted itself too.
    assert scrape.moved("http_requests_total", route="/metrics", status="200") == 1
    pool = {s: value(scrape.after, "db_pool_connections", state=s) for s in ("idle", "in_use")}
    assert pool["idle"] >= 1 and pool["in_use"] == 0
    assert value(scrape.after, "db_pool_connections", state="max") >= 10


async def test_errors_are_counted_by_code_and_outcome(
    cast: Any, scrape: Scrape, conn: asyncpg.Connection
) -> None:
    body = await cast.member.gql("query Mixed { me { id } admin { settings { key } } }")
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN" and body["data"]["me"]
    body = await cast.member.gql("query Broken { nope }")
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    await scrape.stop()

    assert scrape.moved("graphql_errors_total", code="FORBIDDEN") == 1
    assert scrape.moved("graphql_errors_total", code="GRAPHQL_VALIDATION_FAILED") == 1
    assert scrape.moved("graphql_operations_total", operation_name="Mixed", outcome="partial") == 1
    # A refused document's name is not a label: a client could send any.
    assert scrape.moved("graphql_operations_total", operation_name="-", outcome="failed") == 1
    assert scrape.moved("graphql_operations_total", operation_name="Broken") == 0


async def test_operations_refused_by_a_hook_or_the_method_are_failed_with_their_code(
    api: Api, scrape: Scrape, tight: Any
) -> None:
    tight(max_depth=2)
    deep = await api.client.post(
        "/graphql", json={"query": "query Deep { campaigns { nodes { merchant { name } } } }"}
    )
    assert deep.json()["errors"][0]["extensions"]["code"] == "DEPTH_LIMIT_EXCEEDED"
    over_get = await api.client.get(
        "/graphql",
        params={"query": "mutation { logout(input: {}) { __typename } }"},
        headers=api.headers,
    )
    assert over_get.status_code == 405
    await scrape.stop()
    assert scrape.moved("graphql_errors_total", code="DEPTH_LIMIT_EXCEEDED") == 1
    assert scrape.moved("graphql_operations_total", outcome="failed") == 2
    assert scrape.moved("graphql_operations_total", outcome="ok") == 0
    assert scrape.moved("http_requests_total", route="/graphql", status="405") == 1


async def test_refused_requests_are_counted(
    api: Api, conn: asyncpg.Connection, scrape: Scrape, tight: Any
) -> None:
    view = api.app.app.router.routes[0].app  # the GraphQLApp behind /graphql
    view.per_viewer = 1
    assert api.user_id is not None
    view._callers[f"user:{api.user_id}"] = 1  # one request of theirs in flight
    try:
        refused = await api.client.post(
            "/graphql", json={"query": "{ me { id } }"}, headers=api.headers
        )
    finally:
        view._callers.clear()
        view.per_viewer = 0
    assert refused.status_code == 429
    tight(request_timeout_s=1e-9)
    timed_out = await api.client.post(
        "/graphql", json={"query": "{ campaigns { totalCount } }"}, headers=api.headers
    )
    assert timed_out.json()["errors"][0]["extensions"]["code"] == "REQUEST_TIMEOUT"
    await scrape.stop()

    assert scrape.moved("graphql_admission_refusals_total", reason="caller_cap") == 1
    assert scrape.moved("graphql_errors_total", code="TOO_MANY_REQUESTS") == 1
    assert scrape.moved("http_requests_total", route="/graphql", status="429") == 1
    assert scrape.moved("graphql_errors_total", code="REQUEST_TIMEOUT") == 1
    assert scrape.moved("http_requests_total", route="/graphql", status="504") == 1


async def test_a_subscription_is_counted_while_it_is_open(api: Api, scrape: Scrape) -> None:
    socket = AsgiSocket(api, "graphql-transport-ws")
    await socket.open(api.headers["Authorization"])
    await socket.send(
        {
            "id": "s",
            "type": "subscribe",
            "payload": {
                "query": "subscription Audit { auditLogAppended { action } }",
            },
        }
    )
    hub = api.app.state["hub"]
    for _ in range(500):
        if hub.subscribers:
            break
        await asyncio.sleep(0.01)
    during = await scrape.read()
    await socket.send({"id": "q", "type": "subscribe", "payload": {"query": ME}})
    assert (await socket.receive())["type"] == "next"
    assert (await socket.receive()) == {"id": "q", "type": "complete"}
    await socket.close()
    await scrape.stop()

    assert (
        value(during, "graphql_subscriptions_active")
        - value(scrape.before, "graphql_subscriptions_active")
        == 1
    )
    assert (
        value(during, "graphql_websockets_open") - value(scrape.before, "graphql_websockets_open")
        == 1
    )
    assert scrape.moved("graphql_subscriptions_active") == 0  # ended with its socket
    assert scrape.moved("graphql_websockets_open") == 0
    sub = {"operation_name": "Audit", "operation_type": "subscription", "outcome": "ok"}
    assert scrape.moved("graphql_operations_total", **sub) == 1
    query = {"operation_name": "Me", "operation_type": "query", "outcome": "ok"}
    assert scrape.moved("graphql_operations_total", **query) == 1


async def test_sign_in_failures_and_throttles_are_counted(
    anon: Api, conn: asyncpg.Connection, scrape: Scrape, monkeypatch: pytest.MonkeyPatch
) -> None:
    from resolvers import signin

    await f.user(conn, "lia@example.com", role="MEMBER")
    monkeypatch.setattr(signin, "POLICY", signin.SignInPolicy(account_failures=2))
    login = """mutation ($p: String!) { login(input: {email: "lia@example.com", password: $p}) {
        userErrors { code } } }"""
    codes = []
    for _ in range(4):
        body = await anon.gql(login, {"p": "wrong"})
        codes.append(
            body["errors"][0]["extensions"]["code"]
            if "errors" in body
            else body["data"]["login"]["userErrors"][0]["code"]
        )
    assert codes == [
        "INVALID_CREDENTIALS",
        "INVALID_CREDENTIALS",
        "LOGIN_THROTTLED",
        "LOGIN_THROTTLED",
    ]
    await scrape.stop()
    assert scrape.moved("auth_login_failures_total", reason="invalid_credentials") == 2
    assert scrape.moved("auth_login_throttled_total") == 2


async def test_executor_fallbacks_are_counted_with_their_reason(
    api: Api, conn: asyncpg.Connection, scrape: Scrape
) -> None:
    await f.campaign(conn, await f.merchant(conn))
    await api.data(
        "query ($all: Boolean!) { campaigns { nodes { name @include(if: $all) } } }",
        {"all": True},
    )
    await scrape.stop()
    assert scrape.moved("graphql_executor_fallbacks_total", reason="planned_per_request") == 1
    assert scrape.moved("graphql_executor_fallbacks_total", reason="middleware") == 0


async def test_operation_names_are_bounded_labels(
    api: Api, scrape: Scrape, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(metrics, "_names", set())
    monkeypatch.setattr(metrics, "MAX_OPERATION_NAMES", 2)
    for name in ("One", "Two", "Three", "Four"):
        await api.data(f"query {name} {{ me {{ id }} }}")
    await api.data("{ me { id } }")
    await scrape.stop()
    for name in ("One", "Two"):
        assert scrape.moved("graphql_operations_total", operation_name=name) == 1
    assert scrape.moved("graphql_operations_total", operation_name="Three") == 0
    # Three, Four, and the anonymous one (anonymous:<hash>) past the bound
    assert scrape.moved("graphql_operations_total", operation_name="other") == 3


async def test_anonymous_operations_are_labelled_by_their_document_hash(
    api: Api, scrape: Scrape
) -> None:
    import hashlib

    query = "{ me { id name } }"
    await api.data(query)
    await scrape.stop()
    label = "anonymous:" + hashlib.sha256(query.encode()).hexdigest()[:8]
    assert scrape.moved("graphql_operations_total", operation_name=label, outcome="ok") == 1


async def test_metrics_token_is_required_when_set(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("METRICS_TOKEN", "s3cret-metrics-token")
    refused = await api.client.get("/metrics")
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith("Bearer")
    wrong = await api.client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    ok = await api.client.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics-token"})
    assert ok.status_code == 200 and b"graphql_operations_total" in ok.content


# --- tracing --------------------------------------------------------------------------------


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use(provider)
    try:
        yield exporter
    finally:
        tracing.use(None)
        provider.shutdown()


TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


async def test_spans_nest_from_the_request_to_each_statement(
    api: Api, conn: asyncpg.Connection, spans: InMemorySpanExporter
) -> None:
    m = await f.merchant(conn)
    await f.campaign(conn, m)
    response = await api.client.post(
        "/graphql",
        json={"query": "query Names { campaigns { nodes { name merchant { name } } } }"},
        headers={**api.headers, "traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"},
    )
    assert response.status_code == 200 and "errors" not in response.json()
    finished = spans.get_finished_spans()
    by_id = {s.context.span_id: s for s in finished}

    def parent(span: ReadableSpan) -> ReadableSpan | None:
        return by_id.get(span.parent.span_id) if span.parent else None

    [http] = [s for s in finished if s.name == "POST /graphql"]
    # The caller's trace is continued: same trace id, the caller's span as parent.
    assert format(http.context.trace_id, "032x") == TRACE_ID
    assert http.parent is not None and format(http.parent.span_id, "016x") == PARENT_ID
    assert http.attributes is not None
    assert http.attributes["http.response.status_code"] == 200
    assert http.attributes["campaign_graphql.request_id"] == response.headers["x-request-id"]

    [operation] = [s for s in finished if s.name == "query Names"]
    assert parent(operation) is http
    assert operation.attributes is not None
    assert operation.attributes["graphql.operation.name"] == "Names"
    assert operation.attributes["graphql.operation.type"] == "query"
    assert len(str(operation.attributes["graphql.document.hash"])) == 64
    assert operation.attributes["campaign_graphql.request_id"] == response.headers["x-request-id"]

    loaders = [s for s in finished if s.name.startswith("loader ")]
    assert loaders and all(parent(s) is operation for s in loaders)
    statements = [s for s in finished if s.attributes and "db.query.text" in s.attributes]
    assert statements
    for statement in statements:
        assert format(statement.context.trace_id, "032x") == TRACE_ID
        ancestor = parent(statement)
        assert ancestor is not None and (ancestor is operation or ancestor in loaders)
        assert statement.start_time is not None and statement.end_time is not None
        assert statement.start_time <= statement.end_time
    # The viewer is read by a loader: the statement's text, never its values (the session id).
    [viewers] = [s for s in loaders if s.name == "loader sessions.viewers"]
    texts = [str((s.attributes or {})["db.query.text"]) for s in statements if parent(s) is viewers]
    assert any("= ANY($1" in t for t in texts), texts
    assert not any(session_of(api.user_id or 0) in t for t in texts)


async def test_a_socket_operation_is_a_trace_of_its_own(
    api: Api, spans: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    socket = AsgiSocket(api, "graphql-transport-ws")
    await socket.open(api.headers["Authorization"])
    await socket.send({"id": "q", "type": "subscribe", "payload": {"query": ME}})
    assert (await socket.receive())["type"] == "next"
    assert (await socket.receive())["type"] == "complete"
    subscription = "subscription Audit { auditLogAppended { action } }"
    await socket.send({"id": "s", "type": "subscribe", "payload": {"query": subscription}})
    hub = api.app.state["hub"]
    for _ in range(500):
        if hub.subscribers:
            break
        await asyncio.sleep(0.01)
    await socket.close()  # ends the subscription from the socket's side
    finished = spans.get_finished_spans()
    [operation] = [s for s in finished if s.name == "query Me"]
    assert operation.parent is None
    assert operation.attributes is not None
    assert operation.attributes["graphql.operation.outcome"] == "ok"
    [audit] = [s for s in finished if s.name == "subscription Audit"]
    assert audit.parent is None and audit.end_time is not None
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


async def test_log_lines_carry_the_trace_id(
    api: Api,
    spans: InMemorySpanExporter,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from schema.http import RequestIdLogFilter

    monkeypatch.setattr(logs, "SLOW_OPERATION_MS", 0)  # every operation is "slow"
    caplog.set_level(logging.WARNING, logger="campaign_graphql.slow")
    caplog.handler.addFilter(RequestIdLogFilter())
    await api.client.post(
        "/graphql",
        json={"query": "{ me { id } }"},
        headers={**api.headers, "traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"},
    )
    # A line written during the request (not the summary, which also reads `traceparent`).
    [record] = [r for r in caplog.records if r.name == "campaign_graphql.slow"]
    assert record.__dict__["trace_id"] == TRACE_ID
    [http] = [s for s in spans.get_finished_spans() if s.name == "POST /graphql"]
    assert format(http.context.trace_id, "032x") == TRACE_ID


async def test_a_slow_operation_s_split_includes_its_sql_time(
    api: Api, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logs, "SLOW_OPERATION_MS", 0)  # every operation is "slow"
    caplog.set_level(logging.WARNING, logger="campaign_graphql.slow")
    for _ in range(2):
        await api.data("query Count { campaigns { totalCount } }")
    # The first one's statements include asyncpg's first look at the types it reads, which
    # happens within another statement: counted once.
    records = [r for r in caplog.records if r.name == "campaign_graphql.slow"]
    assert len(records) == 2
    for record in records:
        fields: Any = record.__dict__
        # Every statement of the operation, authentication's before execute included.
        assert 0 < fields["sql_ms"] <= fields["duration_ms"]


def test_tracing_is_off_unless_the_environment_asks() -> None:
    assert tracing.exporter_from_env({}) is None
    assert tracing.exporter_from_env({"OTEL_SERVICE_NAME": "x"}) is None
    endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}
    assert tracing.exporter_from_env(endpoint) == "otlp"
    assert tracing.exporter_from_env({**endpoint, "OTEL_SDK_DISABLED": "true"}) is None
    assert tracing.exporter_from_env({**endpoint, "OTEL_TRACES_EXPORTER": "none"}) is None
    assert tracing.exporter_from_env({"OTEL_TRACES_EXPORTER": "console"}) == "console"
    with pytest.raises(ValueError, match="zipkin"):
        tracing.exporter_from_env({"OTEL_TRACES_EXPORTER": "zipkin"})


async def test_an_unknown_persisted_query_is_counted(api: Api, scrape: Scrape) -> None:
    unknown = {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}
    body = (await api.client.post("/graphql", json={"extensions": unknown})).json()
    assert body["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    await scrape.stop()
    assert scrape.moved("graphql_errors_total", code="PERSISTED_QUERY_NOT_FOUND") == 1


def test_a_dead_worker_s_live_gauges_leave_the_sum(tmp_path: Any) -> None:
    import subprocess
    import sys

    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead = int(gone.stdout)
    for name in (
        f"gauge_livesum_{dead}.db",
        f"gauge_livesum_{os.getpid()}.db",
        f"counter_{dead}.db",
    ):
        (tmp_path / name).write_bytes(b"")
    metrics._forget_dead_workers(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"counter_{dead}.db",  # what it counted still counts
        f"gauge_livesum_{os.getpid()}.db",
    ]


async def test_a_wait_for_a_pooled_connection_is_timed(
    db_dsn: str, conn: asyncpg.Connection
) -> None:
    import httpx

    from db.pool import PoolSettings
    from server import create_app
    from tests.conftest import JWT_SECRET, _WithLifespanState, bearer

    admin = await f.user(conn, "pool-admin@example.com", role="ADMIN")
    one = PoolSettings(min_size=1, max_size=1, statement_timeout_ms=5000, acquire_timeout_s=5)
    application = create_app(
        db_dsn, apply_migrations=False, pool_settings=one, jwt_secret=JWT_SECRET
    )
    async with application.router.lifespan_context(application) as state:
        app: Any = _WithLifespanState(application, dict(state or {}))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            before = (await client.get("/metrics")).content
            pool = app.state["pool"]
            async with pool.acquire():  # the pool's only connection, held
                waiting = asyncio.create_task(
                    client.post("/graphql", json={"query": ME}, headers=bearer(admin))
                )
                await asyncio.sleep(0.2)
                held = (await client.get("/metrics")).content
                assert not waiting.done()
            assert (await waiting).json() == {"data": {"me": {"id": f.gid("User", admin)}}}
            after = (await client.get("/metrics")).content
    # While held: the pool's one connection in use (this worker's pools: the test's own
    # `app` fixture is not open here, other tests' pools are closed).
    assert value(held, "db_pool_connections", state="in_use") >= 1
    waits = value(after, "db_pool_wait_seconds_count") - value(before, "db_pool_wait_seconds_count")
    assert waits >= 1
    waited = value(after, "db_pool_wait_seconds_sum") - value(before, "db_pool_wait_seconds_sum")
    assert waited >= 0.15
