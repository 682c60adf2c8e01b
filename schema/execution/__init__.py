"""The execution engine: how one GraphQL operation becomes a response.

    HTTP POST /graphql ─ schema/http.py (GraphQLLane, GraphQLApp.answer: admission control,
      │                  per-caller cap, time budget, size cap, status codes)
    WebSocket ─────────── Strawberry's protocol handlers (schema/websocket.py: auth from
      │                  connection_init, caps, text frames)
      ▼
    Schema.execute / Schema.stream  (this package: the one entry point; tests call it too)
      │  refuses a document with several operations and no operationName; a socket's
      │  operation gets a context of its own (`for_operation`)
      ▼
    Strawberry's pipeline, with ONE extension running the operation hooks (hooks.py) for
      │  every operation on every path: the limits (raw limits, parse and validate once,
      │  schema/documents.py, shape and cost), text caps, the sign-in limit, error masking;
      │  APQ, metrics and tracing plug in here
      ▼
    Executor (executor.py): graphql-core's executor, spec-exact: errors located where they
      │  happen, nulls propagated, partial data. Two shortcuts that never change an answer:
      │  plain leaves read inline, and selections PostgreSQL can write planned once per
      │  document (rendering.py) and handed to their resolver
      ▼
    resolvers (schema/*.py fields -> resolvers/*.py): access rules in the Guard field
      │  extension (schema/permissions.py) on objects, or on the facts of rows PostgreSQL
      │  wrote; per-request dataloaders (resolvers/loaders.py)
      ▼
    db/*.py: one SQL statement per batch (db/coalesce.py shares one across requests in the
             same event-loop turn), or one that writes a whole page as JSON, joined rows'
             rules checked in SQL (db/page_batch.py); on the pool (db/pool.py), which
             closes a connection whose use was cancelled or broke

The hooks are listed in schema/__init__.py (HOOKS). Every name of graphql-core or Strawberry
the engine uses without their publishing it is in adapter.py. Nothing in the engine runs an
operation twice or falls back to another executor: there is one executor.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.schema.schema import DEFAULT_ALLOWED_OPERATION_TYPES
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from db import metrics
from schema import limits
from schema.errors import hide_suggestions, log_errors
from schema.execution.executor import Executor

__all__ = ["Executor", "Schema"]


class Schema(strawberry.Schema):
    """Strawberry's schema with our executor (give `execution_context_class=Executor`)."""

    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        refusal = _unchosen(query, operation_name)
        if refusal is not None:
            return ExecutionResult(data=None, errors=[refusal])
        # A subscription is a stream (`stream`, over a socket); executed once it would fail
        # inside graphql-core. Strawberry allows it over HTTP for its stream transports.
        allowed = set(allowed_operation_types or DEFAULT_ALLOWED_OPERATION_TYPES)
        allowed.discard(OperationType.SUBSCRIPTION)
        return await super().execute(
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            allowed,
            operation_extensions,
        )

    async def stream(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        operation_extensions: dict[str, Any] | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
    ) -> AsyncGenerator[Any, None]:
        """An operation over a socket: each one runs with a context of its own, made from
        the socket's (`context_value.for_operation()`, when it has that method)."""
        refusal = _unchosen(query, operation_name)
        if refusal is not None:
            return _refused(refusal)
        for_operation = getattr(context_value, "for_operation", None)
        if for_operation is not None:
            context_value = for_operation()
        return _refusals_reported(
            await super().stream(
                query,
                variable_values,
                context_value,
                root_value,
                operation_name,
                operation_extensions,
                allowed_operation_types,
            )
        )

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        hide_suggestions(errors)
        log_errors(errors, execution_context)


def _unchosen(query: str | None, operation_name: str | None) -> GraphQLError | None:
    """The refusal of a document with several operations and no operationName (counted: no
    operation runs, so no hook sees it). Strawberry would run the first of them (its
    execution context names it when the request does not); the spec requires a refusal."""
    if query is None or operation_name is not None:
        return None
    refusal = limits.unchosen_operation(query, limits.LIMITS)
    if refusal is not None:
        metrics.error_answered(refusal.extensions)
    return refusal


async def _refused(error: GraphQLError) -> AsyncGenerator[PreExecutionError, None]:
    yield PreExecutionError(data=None, errors=[error])


async def _refusals_reported(source: AsyncGenerator[Any, None]) -> AsyncGenerator[Any, None]:
    """The stream's results; a hook's refusal while parsing (document size, tokens, fields),
    which Strawberry's stream lets escape, as the first and only result."""
    first = True
    try:
        async for result in source:
            first = False
            yield result
    except GraphQLError as error:
        if not first:
            raise
        yield PreExecutionError(data=None, errors=[error])
    finally:
        await source.aclose()
