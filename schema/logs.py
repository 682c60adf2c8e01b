"""Log lines: the format (text, or `LOG_FORMAT=json`: one JSON object per line), and one
summary line per GraphQL operation over HTTP with its time split.

Every record carries the server's request id (RequestIdLogFilter in schema/http.py). The
operation hooks (schema/execution/hooks.py) time each phase of an operation and, when it ends,
`summarize` keeps its name, type and error codes on the request's context; the HTTP view then
logs one line per request (logger `campaign_graphql.access`): its operations, duration, HTTP
status and the viewer's id, never an email, a token or a password. An operation slower than
`SLOW_OPERATION_MS` is logged at WARNING with its parse, validate and execute times, and the
time its SQL statements took. With tracing on, every record carries its trace id too.
"""

from __future__ import annotations

import logging
import os
import re
import time
import traceback
from datetime import UTC, datetime
from typing import Any

import orjson
from strawberry.types import ExecutionContext

from resolvers.context import Context
from resolvers.env import positive_int
from schema import telemetry

SLOW_OPERATION_MS = positive_int(os.environ, "SLOW_OPERATION_MS", 1000)
access_log = logging.getLogger("campaign_graphql.access")
slow_log = logging.getLogger("campaign_graphql.slow")

# Attributes of every LogRecord: what is not among them was passed with `extra=` (uvicorn's
# `color_message`, the message with terminal colours, is left out too).
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "color_message",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC), level, logger, message, request id, and the
    fields given with `extra=`; an exception's traceback as `exception`."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = "".join(traceback.format_exception(*record.exc_info))
        return orjson.dumps(line, default=str).decode()


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def json_format() -> bool:
    return os.environ.get("LOG_FORMAT", "text").strip().lower() == "json"


# --- the operation hooks: phase times and a summary -------------------------------------------

_STARTED = "_log_started"  # attributes kept on Strawberry's execution context
_VALIDATING = "_log_validating"
_EXECUTING = "_log_executing"


def before_parse(ctx: ExecutionContext) -> None:
    setattr(ctx, _STARTED, time.perf_counter())


def before_validate(ctx: ExecutionContext) -> None:
    setattr(ctx, _VALIDATING, time.perf_counter())


def before_execute(ctx: ExecutionContext) -> None:
    setattr(ctx, _EXECUTING, time.perf_counter())


def summarize(ctx: ExecutionContext) -> None:
    """The operation hook that runs last: the operation's name, type, error codes and time,
    kept on the request's context for its log line; a slow one is logged at once."""
    ended = time.perf_counter()
    started = getattr(ctx, _STARTED, None)
    if started is None:
        return  # refused before parsing began (nothing to time)
    validating = getattr(ctx, _VALIDATING, None)
    executing = getattr(ctx, _EXECUTING, None)
    summary = {
        "operation_name": ctx.operation_name,
        "operation_type": telemetry.operation_type(ctx),
        "error_codes": telemetry.error_codes(ctx.result),
        "duration_ms": round((ended - started) * 1e3, 3),
    }
    request = ctx.context
    if isinstance(request, Context):
        request.operations.append(summary)
    if (ended - started) * 1e3 >= SLOW_OPERATION_MS:
        sql = telemetry.sql_seconds(ctx)
        split = {
            "parse_ms": _ms(started, validating or executing or ended),
            "validate_ms": _ms(validating, executing or ended) if validating else 0.0,
            "execute_ms": _ms(executing, ended) if executing else 0.0,
            # The operation's statements, in any phase (None: METRICS=off and untraced).
            "sql_ms": None if sql is None else round(sql * 1e3, 3),
        }
        slow_log.warning("slow operation", extra={**summary, **split})


def _ms(start: float, end: float) -> float:
    return round((end - start) * 1e3, 3)


# W3C trace context: version 00, trace id, parent id, flags (an all-zero id is invalid).
_TRACEPARENT = re.compile(r"00-(?!0{32})([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}\Z")


def request_line(
    context: Context | None, status: int, duration_s: float, traceparent: str | None = None
) -> None:
    """The one summary line of an HTTP GraphQL request. Its trace id is the request's trace's
    when tracing is on (the log filter's), else the caller's from `traceparent`, if any, so a
    caller's trace finds the line even when this server does not trace."""
    operations = context.operations if context is not None else []
    extra: dict[str, Any] = {
        "status": status,
        "duration_ms": round(duration_s * 1e3, 3),
        "viewer_id": context.viewer_id if context is not None else None,
        "operations": operations,
        "error_codes": sorted({c for op in operations for c in op["error_codes"]}),
    }
    if traceparent is not None:
        given = _TRACEPARENT.match(traceparent.strip())
        if given is not None:
            extra["trace_id"] = given.group(1)
    access_log.info("graphql request", extra=extra)
