"""Masking: clients see coded errors; everything unexpected becomes INTERNAL_SERVER_ERROR.

The full exception (with traceback) goes to the log with the request id; the response
carries only the request id, never a traceback, SQL, or a table or constraint name.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from typing import Any

import asyncpg
from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionContext

from resolvers.context import Context
from resolvers.env import is_production

log = logging.getLogger("campaign_graphql.errors")

# Failures of the database as a service (down, restarting, overloaded, too slow) rather than
# of the request: the client may retry, so they get their own code.
UNAVAILABLE = (
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.QueryCanceledError,
    # Class 57: the server is shutting down or restarting (admin or crash shutdown).
    asyncpg.OperatorInterventionError,
    asyncpg.InterfaceError,
    # asyncpg's protocol refusing a connection the server ended in the middle of an
    # operation ("cannot switch to state 12; another operation is in progress"): the
    # connection is dead, and db/pool.py closes it when it is released.
    asyncpg.InternalClientError,
    ConnectionError,
    OSError,
    asyncio.TimeoutError,
)


# Strawberry's refusals of the request itself (no query, an operation type this transport
# does not run, no operation to run): the caller's mistake, shown with its message.
REQUEST_ERRORS = (MissingQueryError, InvalidOperationTypeError, CannotGetOperationTypeError)


# Text PostgreSQL cannot store (a NUL character, say) in an argument that reaches SQL without
# a userError check (a search filter, a login email): the client's input, not our fault.
UNSTORABLE_TEXT = (
    asyncpg.CharacterNotInRepertoireError,
    asyncpg.UntranslatableCharacterError,
)


# With APP_ENV=production, error messages carry no "Did you mean 'campaigns'?": suggestions
# spell out the schema's field, argument and enum names to callers who may not introspect it.
SUGGESTIONS = not is_production(os.environ)
# graphql-core appends each suggestion to the end of a sentence as " Did you mean ...?"; the
# names it suggests cannot contain "?".
_SUGGESTION = re.compile(r" ?Did you mean [^?]*\?")


def hide_suggestions(errors: list[GraphQLError]) -> None:
    """Strip graphql-core's suggestions from the messages (in production)."""
    if SUGGESTIONS:
        return
    for error in errors:
        if "Did you mean" in error.message:
            error.message = _SUGGESTION.sub("", error.message)


def classify(error: GraphQLError) -> str | None:
    """'unavailable', 'bad_input', 'internal', or None for an error shown as it is."""
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        return None
    if isinstance(original, REQUEST_ERRORS):
        return "bad_request"
    if isinstance(original, UNAVAILABLE):
        return "unavailable"
    if isinstance(original, UNSTORABLE_TEXT):
        return "bad_input"
    return "internal"


def _request_id(execution_context: object) -> str | None:
    ctx = getattr(execution_context, "context", None)
    return ctx.request_id if isinstance(ctx, Context) else None


def log_errors(errors: list[GraphQLError], execution_context: object) -> None:
    request_id = _request_id(execution_context)
    ctx = getattr(execution_context, "context", None)
    client_id = ctx.client_request_id if isinstance(ctx, Context) else None
    for error in errors:
        # Parse errors from ParserCache's hook bypass the masking extension; code them here.
        _with_code(error)
        kind = classify(error)
        if kind in (None, "bad_input", "bad_request"):
            continue
        original = error.original_error
        log.error(
            "request %s (client's id %r): %s at %s: %r",
            request_id,
            client_id,
            kind,
            ".".join(str(p) for p in error.path or ()),
            original,
            exc_info=(type(original), original, original.__traceback__) if original else None,
        )


def mask_internal_errors(ctx: ExecutionContext) -> None:
    """The operation hook (schema/execution/hooks.py) that replaces unexpected errors with a
    coded, detail-free error carrying the request id."""
    mask_streamed_errors(ctx, ctx.result)


def mask_streamed_errors(ctx: ExecutionContext, result: Any) -> None:
    """The same for one result: each one a socket sends (hooks.py's `each_result`)."""
    errors = getattr(result, "errors", None)
    if errors:
        request_id = _request_id(ctx)
        result.errors = [_mask(e, request_id) for e in errors]


def _mask(error: GraphQLError, request_id: str | None) -> GraphQLError:
    kind = classify(error)
    if kind is None:
        return _with_code(error)
    if kind == "unavailable":
        message = "The database is unavailable; retry shortly"
        code = "SERVICE_UNAVAILABLE"
    elif kind == "bad_request":
        message = error.message or "This operation cannot run here"
        code = "BAD_REQUEST"
    elif kind == "bad_input":
        message = "An argument holds characters that cannot be stored (such as NUL)"
        code = "BAD_USER_INPUT"
    else:
        message = f"Internal server error (request id {request_id})"
        code = "INTERNAL_SERVER_ERROR"
    return GraphQLError(
        message,
        nodes=error.nodes,
        path=error.path,
        extensions={"code": code, "requestId": request_id},
    )


def _with_code(error: GraphQLError) -> GraphQLError:
    """Give parse and validation errors (which graphql-core leaves uncoded) a code."""
    if (error.extensions or {}).get("code") or error.path is not None:
        return error
    code = (
        "GRAPHQL_PARSE_FAILED"
        if isinstance(error, GraphQLSyntaxError)
        else ("GRAPHQL_VALIDATION_FAILED")
    )
    error.extensions = {**(error.extensions or {}), "code": code}
    return error
