"""Prometheus metrics: every metric the server exports, defined once, and how a scrape reads
them (`exposition`). In db/ because every layer counts (the pool and its statements too) and
db/ imports nothing of the others.

Several uvicorn workers: `server.py serve --workers N` points PROMETHEUS_MULTIPROC_DIR at an
empty directory before the workers start; each then keeps its values in files there
(prometheus-client's multiprocess mode) and a scrape of any one worker sums them all. Gauges
of things a worker holds (pool connections, subscriptions, sockets) are summed over live
workers only (`livesum`): a worker that stops takes its own out (`worker_stopped`).

METRICS=off turns every update into nothing and /metrics into a 404 (the benchmark's
baseline). Names and labels are in the README ("Metrics and tracing").
"""

from __future__ import annotations

import asyncio
import os
import re
import weakref
from collections.abc import Mapping
from typing import Any, Protocol

# prometheus-client creates a file there for each metric without labels as it is defined.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

from prometheus_client import (  # noqa: E402
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)


def enabled_in(env: Mapping[str, str]) -> bool:
    return env.get("METRICS", "on").strip().lower() not in ("off", "0", "false", "no")


ENABLED = enabled_in(os.environ)
# `*_created` timestamps double the series and multiprocess mode has none: off everywhere.
disable_created_metrics()  # type: ignore[no-untyped-call]
# Read when prometheus-client was first imported, which is what decides where values live.
MULTIPROCESS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
CONTENT_TYPE = CONTENT_TYPE_LATEST

# Seconds: a Q1-sized operation takes about a millisecond, the time budget is 10 s.
_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_SQL = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)

OPERATIONS = Counter(
    "graphql_operations",
    "GraphQL operations ended, over HTTP and WebSocket; outcome: ok (no errors), partial "
    "(data and errors) or failed (errors, no data)",
    ["operation_name", "operation_type", "outcome"],
)
OPERATION_SECONDS = Histogram(
    "graphql_operation_duration_seconds",
    "Time from parsing an operation to its result (a subscription: to its end)",
    ["operation_name", "operation_type"],
    buckets=_LATENCY,
)
ERRORS = Counter("graphql_errors", "Errors in GraphQL responses, by extensions.code", ["code"])
ADMISSION_REFUSALS = Counter(
    "graphql_admission_refusals",
    "Operations refused before they ran: caller_cap (429, too many of one caller's at once) "
    "or busy (503, no turn within the admission timeout)",
    ["reason"],
)
EXECUTOR_FALLBACKS = Counter(
    "graphql_executor_fallbacks",
    "Times the executor left a shortcut: middleware (an extension sees every field, so "
    "leaves are not read inline), planned_per_request (a document with @skip/@include: "
    "plans not kept), not_written (a page PostgreSQL cannot write as JSON: objects instead)",
    ["reason"],
)
SUBSCRIPTIONS = Gauge(
    "graphql_subscriptions_active",
    "Subscriptions open on WebSocket",
    multiprocess_mode="livesum",
)
SOCKETS = Gauge("graphql_websockets_open", "WebSockets open", multiprocess_mode="livesum")
HTTP_REQUESTS = Counter(
    "http_requests", "HTTP requests answered, by route and status", ["route", "status"]
)
LOGIN_FAILURES = Counter(
    "auth_login_failures",
    "Sign-ins refused: invalid_credentials or account_disabled",
    ["reason"],
)
LOGIN_THROTTLED = Counter(
    "auth_login_throttled", "Sign-ins refused with LOGIN_THROTTLED before the password was read"
)
POOL_CONNECTIONS = Gauge(
    "db_pool_connections",
    "Pooled PostgreSQL connections: idle, in_use, max",
    ["state"],
    multiprocess_mode="livesum",
)
POOL_WAIT_SECONDS = Histogram(
    "db_pool_wait_seconds",
    "Time a request waited for a pooled connection, when none was free",
    buckets=_SQL,
)
STATEMENTS = Counter("db_statements", "SQL statements sent on pooled connections", ["outcome"])
STATEMENT_SECONDS = Histogram(
    "db_statement_duration_seconds", "SQL statement time, as the client saw it", buckets=_SQL
)

# Label values a client's text can choose (operation names) are bounded per worker.
MAX_OPERATION_NAMES = int(os.environ.get("METRICS_MAX_OPERATION_NAMES", "200"))
OTHER = "other"
_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,99}\Z")
_names: set[str] = set()


def operation_label(name: str | None, document_hash: str | None) -> str:
    """The operation_name label: the operation's name, `anonymous:<8 hex>` (its document's
    hash) without one, `other` past MAX_OPERATION_NAMES distinct values in this worker, `-`
    when no document was read."""
    if name is None:
        label = f"anonymous:{document_hash[:8]}" if document_hash else "-"
    elif _NAME.match(name):
        label = name
    else:
        return OTHER  # not a GraphQL name (only a request error can carry one)
    if label in _names:
        return label
    if len(_names) >= MAX_OPERATION_NAMES:
        return OTHER
    _names.add(label)
    return label


class Children:
    """A labelled metric's children, found by their label values without `labels()`'s cost
    (a few µs a call, on every request). Only for labels whose values are bounded."""

    __slots__ = ("_found", "_metric")

    def __init__(self, metric: Any) -> None:
        self._metric = metric
        self._found: dict[tuple[str, ...], Any] = {}

    def __call__(self, *values: str) -> Any:
        child = self._found.get(values)
        if child is None:
            child = self._found[values] = self._metric.labels(*values)
        return child


def error_answered(extensions: Mapping[str, Any] | None) -> None:
    """Count an error sent to a client, by its `extensions.code`."""
    if ENABLED:
        errors(str((extensions or {}).get("code", NO_CODE))).inc()


NO_CODE = "NONE"
operations = Children(OPERATIONS)
operation_seconds = Children(OPERATION_SECONDS)
errors = Children(ERRORS)
http_requests = Children(HTTP_REQUESTS)
statements = Children(STATEMENTS)
fallbacks = Children(EXECUTOR_FALLBACKS)


class Pool(Protocol):
    def connection_counts(self) -> tuple[int, int, int]: ...


# This worker's pools: their connections are read when the gauges are brought up to date
# (`count_pools`), not on every acquire and release.
_pools: weakref.WeakSet[Any] = weakref.WeakSet()
POOL_GAUGE_INTERVAL_S = 1.0


def watch_pool(pool: Pool) -> None:
    _pools.add(pool)
    count_pools()


def count_pools() -> None:
    """Set db_pool_connections from this worker's open pools."""
    idle = in_use = most = 0
    for pool in list(_pools):
        i, u, m = pool.connection_counts()
        idle, in_use, most = idle + i, in_use + u, most + m
    POOL_CONNECTIONS.labels("idle").set(idle)
    POOL_CONNECTIONS.labels("in_use").set(in_use)
    POOL_CONNECTIONS.labels("max").set(most)


async def keep_pool_gauges() -> None:
    """Bring the pool gauges up to date every POOL_GAUGE_INTERVAL_S (a task per worker: a
    scrape of another worker reads this one's values from its file)."""
    while True:
        count_pools()
        await asyncio.sleep(POOL_GAUGE_INTERVAL_S)


def exposition() -> bytes:
    """The text a scrape gets: every worker's values when there are several."""
    if MULTIPROCESS_DIR is None:
        return generate_latest(REGISTRY)
    _forget_dead_workers(MULTIPROCESS_DIR)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


_LIVE_GAUGE = re.compile(r"gauge_live\w*?_(\d+)\.db\Z")


def _forget_dead_workers(path: str) -> None:
    """Take the live gauges of workers that are gone out of the sum: a worker that was killed
    or crashed never ran its `worker_stopped`."""
    for name in os.listdir(path):
        found = _LIVE_GAUGE.match(name)
        if found is None:
            continue
        pid = int(found.group(1))
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]
        except PermissionError:
            pass  # alive, someone else's


def worker_stopped(pid: int) -> None:
    """A worker's live gauges leave the sum once it stops."""
    if MULTIPROCESS_DIR is not None:
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def clear_directory(path: str) -> None:
    """Empty a multiprocess directory before the workers start: what an earlier run left
    would be summed into this one's counters."""
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        if name.endswith(".db"):
            os.remove(os.path.join(path, name))
