"""What an operator sees of requests and operations: Prometheus metrics, OpenTelemetry spans,
and `GET /metrics`. The metrics are defined in db/metrics.py, tracing is set up in
db/tracing.py.

- `ObserveMiddleware`, outermost: `http_requests_total{route,status}` for every HTTP request,
  and with tracing on its SERVER span, continuing the caller's W3C `traceparent`.
- The operation hooks (schema/execution/hooks.py), for every operation on every path: a span
  per operation (a child of the request's, or a root for a socket's operation), the
  operation counters, duration histogram and error codes, and the SQL time its statements
  took (for the slow-operation log line).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import time
from contextvars import Token
from typing import Any, cast

from graphql import GraphQLError
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.types import ExecutionContext

from db import metrics, tracing
from resolvers.context import Context
from schema.execution.hooks import RAISED

METRICS_PATH = "/metrics"

# --- GET /metrics -------------------------------------------------------------------------


def metrics_token(env: Any = os.environ) -> str | None:
    return env.get("METRICS_TOKEN", "").strip() or None


async def metrics_endpoint(request: Request) -> Response:
    """The Prometheus text of every worker; with METRICS_TOKEN set, only for
    `Authorization: Bearer <METRICS_TOKEN>`."""
    token = metrics_token()
    if token is not None:
        scheme, _, given = request.headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            return Response(
                b"METRICS_TOKEN required: send Authorization: Bearer <token>\n",
                status_code=401,
                media_type="text/plain",
                headers={"www-authenticate": 'Bearer realm="metrics"'},
            )
    metrics.count_pools()  # this worker's, now (on the loop: the pools are not thread-safe)
    # Reading every worker's files is blocking I/O.
    body = await asyncio.to_thread(metrics.exposition)
    return Response(body, media_type=metrics.CONTENT_TYPE, headers={"cache-control": "no-store"})


# --- HTTP requests --------------------------------------------------------------------------


class ObserveMiddleware:
    """Count every HTTP request by route and status and, with tracing on, trace it.

    Routes are the app's own paths (`routes`); any other path is counted as `other`, so a
    client cannot grow the label set. GraphiQL's assets count as `/graphiql`.
    """

    def __init__(self, app: ASGIApp, routes: frozenset[str]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        tracer = tracing.tracer()
        if scope["type"] != "http" or (tracer is None and not metrics.ENABLED):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        route = (
            path
            if path in self.routes
            else "/graphiql"
            if path.startswith("/graphiql/")
            else "other"
        )
        status = 0

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        span: Span | None = None
        token: Token[Any] | None = None
        if tracer is not None:
            carrier = {
                name.decode("latin-1"): value.decode("latin-1")
                for name, value in scope["headers"]
                if name in (b"traceparent", b"tracestate")
            }
            method = scope["method"]
            span = tracer.start_span(
                f"{method} {route}",
                context=propagate.extract(carrier) if carrier else None,
                kind=SpanKind.SERVER,
                attributes={"http.request.method": method, "url.path": path, "http.route": route},
            )
            token = otel_context.attach(trace.set_span_in_context(span))
        failed = False
        try:
            await self.app(scope, receive, observed)
        except asyncio.CancelledError:
            raise  # the client left, or the server is stopping: not a failure of ours
        except BaseException:
            failed = True
            raise
        finally:
            # No response at all: a failure (Starlette's outer handler answers 500), or a
            # client that left before it was answered (499, as nginx logs it).
            answered = status or (500 if failed else 499)
            if metrics.ENABLED:
                metrics.http_requests(route, str(answered)).inc()
            if span is not None and token is not None:
                span.set_attribute("http.response.status_code", answered)
                request_id = scope.get("state", {}).get("request_id")
                if request_id:
                    span.set_attribute("campaign_graphql.request_id", request_id)
                if answered >= 500:
                    span.set_status(Status(StatusCode.ERROR))
                span.end()
                otel_context.detach(token)


# --- the operation hooks --------------------------------------------------------------------

_STARTED = "_telemetry_started"  # attributes kept on Strawberry's execution context
_SPAN = "_telemetry_span"
_SQL = "_telemetry_sql"
_STREAMED = "_telemetry_streamed"  # outcomes of the results a socket sent
_EXECUTED = "_telemetry_executed"
_TYPE = "_telemetry_operation_type"
_UNKNOWN = object()

_OK, _PARTIAL, _FAILED = "ok", "partial", "failed"
_WORST = {_OK: 0, _PARTIAL: 1, _FAILED: 2}


def before_execute(ctx: ExecutionContext) -> None:
    """The operation passed parsing, validation and the limits: its name is one worth a label
    (a refused document's name could be anything a client sends)."""
    setattr(ctx, _EXECUTED, True)


def before_operation(ctx: ExecutionContext) -> None:
    tracer = tracing.tracer()
    if tracer is None and not metrics.ENABLED:
        return
    setattr(ctx, _STARTED, time.perf_counter())
    seconds = [0.0]
    tracing.statement_seconds.set(seconds)
    setattr(ctx, _SQL, seconds)
    if tracer is not None:
        span = tracer.start_span("graphql operation", kind=SpanKind.INTERNAL)
        setattr(ctx, _SPAN, (span, otel_context.attach(trace.set_span_in_context(span))))


def each_result(ctx: ExecutionContext, result: Any) -> None:
    """A result a socket sends: its errors counted as it goes."""
    outcome = _outcome(result)
    seen = getattr(ctx, _STREAMED, None)
    if seen is None or _WORST[outcome] > _WORST[seen]:
        setattr(ctx, _STREAMED, outcome)
    if metrics.ENABLED:
        _count_errors(result)


def after_operation(ctx: ExecutionContext) -> None:
    started = getattr(ctx, _STARTED, None)
    if started is None:
        return
    duration = time.perf_counter() - started
    # Not reset with a token: a subscription's stream may be closed from another context.
    tracing.statement_seconds.set(None)
    streamed = getattr(ctx, _STREAMED, None)
    raised = getattr(ctx, RAISED, None)
    executed = getattr(ctx, _EXECUTED, False)
    name = ctx.operation_name
    kind = operation_type(ctx)
    if kind == "subscription" and isinstance(raised, asyncio.CancelledError | GeneratorExit):
        raised = None  # a subscription ends when its client leaves: not a failure
    # Raised (a hook's refusal, a cancellation): no result yet, and nothing was answered.
    outcome = _FAILED if raised is not None else streamed or _outcome(ctx.result)
    document_hash = (
        hashlib.sha256(ctx.query.encode()).hexdigest()
        if ctx.query is not None
        and ((executed and name is None) or getattr(ctx, _SPAN, None) is not None)
        else None
    )
    if metrics.ENABLED:
        label = metrics.operation_label(name, document_hash) if executed else "-"
        metrics.operations(label, kind or "-", outcome).inc()
        metrics.operation_seconds(label, kind or "-").observe(duration)
        if isinstance(raised, GraphQLError):  # a hook's refusal, sent as a request error
            metrics.error_answered(raised.extensions)
        elif streamed is None:  # a socket's results were counted as they went
            _count_errors(ctx.result)
    traced = getattr(ctx, _SPAN, None)
    if traced is not None:
        span, token = traced
        span.update_name(f"{kind or 'graphql'} {name or 'anonymous'}")
        attributes: dict[str, Any] = {"graphql.operation.outcome": outcome}
        if name is not None:
            attributes["graphql.operation.name"] = name
        if kind is not None:
            attributes["graphql.operation.type"] = kind
        if document_hash is not None:
            attributes["graphql.document.hash"] = document_hash
        request = ctx.context
        if isinstance(request, Context):
            attributes["campaign_graphql.request_id"] = request.request_id
        codes = error_codes(ctx.result) if raised is None else _codes_of([raised])
        if codes:
            attributes["graphql.error.codes"] = codes
        span.set_attributes(attributes)
        if outcome == _FAILED:
            span.set_status(Status(StatusCode.ERROR))
        span.end()
        if trace.get_current_span() is span:  # not when a stream is closed from elsewhere
            otel_context.detach(token)


def sql_seconds(ctx: ExecutionContext) -> float | None:
    """Seconds the operation's own SQL statements took so far (None when not measured)."""
    sql: list[float] | None = getattr(ctx, _SQL, None)
    return None if sql is None else sql[0]


def _outcome(result: Any) -> str:
    errors = getattr(result, "errors", None)
    if not errors:
        return _OK
    return _PARTIAL if getattr(result, "data", None) is not None else _FAILED


def operation_type(ctx: ExecutionContext) -> str | None:
    """The operation's type (query, mutation or subscription); None without an operation (a
    document that did not parse, or named no operation it has). Kept on `ctx`: the log line
    asks too."""
    found: Any = getattr(ctx, _TYPE, _UNKNOWN)
    if found is _UNKNOWN:
        try:
            found = ctx.operation_type.value
        except Exception:  # noqa: BLE001 (no operation: a parse or validation error)
            found = None
        setattr(ctx, _TYPE, found)
    return cast("str | None", found)


def error_codes(result: Any) -> list[str]:
    """The distinct `extensions.code`s of a result's errors, sorted."""
    return _codes_of(getattr(result, "errors", None) or ())


def _codes_of(errors: Any) -> list[str]:
    return sorted(
        {str((getattr(e, "extensions", None) or {}).get("code", metrics.NO_CODE)) for e in errors}
    )


def _count_errors(result: Any) -> None:
    for error in getattr(result, "errors", None) or ():
        metrics.error_answered(error.extensions)
