"""OpenTelemetry tracing: whether it is on, the tracer, and the spans of the database layer
(SQL statements; loader batches are in resolvers/loaders.py, HTTP requests and operations in
schema/telemetry.py).

Off unless the standard variables ask for it (`configure_from_env`): then no span is made and
each place that would make one costs one `if`. On, spans go to the OTLP/HTTP exporter, which
reads OTEL_EXPORTER_OTLP_* itself, through the SDK's batch processor (OTEL_BSP_*); the sampler
is OTEL_TRACES_SAMPLER's, the service name OTEL_SERVICE_NAME's (campaign-graphql by default).

A statement's span is made by the connection that sent it (`ObservedConnection`), in the
context of the code that sent it, with the statement's own start and end: the text with its
$n placeholders, never the values.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Mapping
from contextvars import ContextVar
from typing import Any

import asyncpg
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.trace import Status, StatusCode, Tracer

from db import metrics

log = logging.getLogger("campaign_graphql.tracing")

SERVICE_NAME = "campaign-graphql"
_tracer: Tracer | None = None
_provider: TracerProvider | None = None
# The running operation's SQL seconds so far (schema/telemetry.py sets it per operation). A
# statement that several requests' batches share (db/coalesce.py) counts for the first one.
statement_seconds: ContextVar[list[float] | None] = ContextVar("statement_seconds", default=None)


def tracer() -> Tracer | None:
    """The tracer, or None when tracing is off."""
    return _tracer


def use(provider: TracerProvider | None) -> None:
    """Trace with `provider` from now on (None: stop tracing). Tests give the SDK's in-memory
    exporter this way."""
    global _tracer, _provider
    _provider = provider
    _tracer = None if provider is None else provider.get_tracer("campaign_graphql")


def exporter_from_env(env: Mapping[str, str]) -> str | None:
    """Which exporter the environment asks for: "otlp", "console" or None (tracing off).

    Off by default; on with an OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT or
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) or OTEL_TRACES_EXPORTER=otlp|console; off again with
    OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    named = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if named == "none":
        return None
    if named in ("otlp", "console"):
        return named
    if named:
        raise ValueError(
            f"OTEL_TRACES_EXPORTER={named!r} is not supported here; use otlp, console or none"
        )
    if env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        return "otlp"
    return None


def configure_from_env(env: Mapping[str, str] = os.environ) -> bool:
    """Turn tracing on in this process if the environment asks for it (each uvicorn worker
    calls this). True when on."""
    exporter_name = exporter_from_env(env)
    if exporter_name is None:
        return False
    exporter: Any
    if exporter_name == "console":
        exporter = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    attributes = {} if env.get("OTEL_SERVICE_NAME") else {"service.name": SERVICE_NAME}
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)  # for any other instrumentation in the process
    use(provider)
    log.info("tracing on: spans exported with %s", exporter_name)
    return True


def shutdown() -> None:
    """Send the spans still buffered (a worker that stops)."""
    if _provider is not None:
        _provider.shutdown()


def observes_statements() -> bool:
    """Whether pooled connections report their statements (metrics or tracing is on)."""
    return metrics.ENABLED or _tracer is not None


class ObservedConnection(asyncpg.Connection):  # type: ignore[misc]  # asyncpg is untyped
    """A connection that counts, times and traces each statement it sends.

    Through its two entry points: `_execute` (every fetch, fetchrow, fetchval and execute with
    arguments) and `execute` without arguments (transaction control, scripts); `executemany`
    and COPY, used by the seeding tools, are not observed. asyncpg's own query loggers would
    see the same statements, but cost ~13 µs a statement against ~2 µs here (bench/README.md,
    "Metrics and tracing"); asyncpg's look at unknown types, within another statement, is
    not a statement of its own here.
    """

    async def _execute(self, query: str, args: Any, *rest: Any, **kwargs: Any) -> Any:
        return await _observed(query, super()._execute(query, args, *rest, **kwargs))

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> Any:  # noqa: ASYNC109  (asyncpg API)
        if args:
            return await super().execute(query, *args, timeout=timeout)  # through `_execute`
        return await _observed(query, super().execute(query, timeout=timeout))


async def _observed(query: str, statement: Awaitable[Any]) -> Any:
    """`statement`'s result, the statement counted, timed and traced (it starts when awaited)."""
    started = time.perf_counter()
    start_ns = time.time_ns() if _tracer is not None else 0
    try:
        result = await statement
    except BaseException as exc:
        _statement(query, started, start_ns, exc)
        raise
    _statement(query, started, start_ns, None)
    return result


def _statement(query: str, started: float, start_ns: int, failed: BaseException | None) -> None:
    elapsed = time.perf_counter() - started
    seconds = statement_seconds.get()
    if seconds is not None:
        seconds[0] += elapsed
    if metrics.ENABLED:
        metrics.statements("ok" if failed is None else "error").inc()
        metrics.STATEMENT_SECONDS.observe(elapsed)
    if _tracer is None or not start_ns:
        return
    span = _tracer.start_span(
        query.lstrip().split(None, 1)[0].upper() if query.strip() else "SQL",
        kind=trace.SpanKind.CLIENT,
        start_time=start_ns,
        attributes={"db.system.name": "postgresql", "db.query.text": query},
    )
    if failed is not None:
        span.set_status(Status(StatusCode.ERROR))
        span.set_attribute("error.type", type(failed).__name__)
    span.end()
