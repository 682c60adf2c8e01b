"""GraphQL over WebSocket: Strawberry's two protocol handlers, with our rules.

- Both protocols: `graphql-transport-ws` (the `graphql-ws` library's, Apollo's
  GraphQLWsLink, GraphiQL) and the legacy `graphql-ws` (subscriptions-transport-ws).
- Text frames only: every client library rejects binary ones.
- Authentication from the `connection_init` payload (`{"Authorization": "Bearer …"}`, as
  browsers must send it) or from the upgrade's Authorization header. A token that is refused,
  or whose session has ended, closes the socket with 4403 (graphql-transport-ws) or answers
  `connection_error` (graphql-ws); no `connection_init` within WS_INIT_TIMEOUT_S closes it with
  4408 (graphql-transport-ws).
- Each operation gets a context of its own (Context.for_operation, called by
  Schema.stream), each subscription event a renewed one (resolvers/live.py).
- Caps, with coded refusals: WS_MAX_OPERATIONS_PER_SOCKET operations at once on one socket
  (TOO_MANY_OPERATIONS), WS_MAX_SOCKETS_PER_WORKER sockets on one worker (closed with 1013,
  TOO_MANY_SOCKETS). Documents obey the same abuse limits as over HTTP (the operation hooks).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg
import orjson
from graphql import GraphQLError
from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.exceptions import (
    NonJsonMessageReceived,
    NonTextMessageReceived,
    WebSocketDisconnected,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler

from db import metrics
from resolvers.context import Context
from schema import documents, limits, persisted


@dataclass(frozen=True)
class SocketLimits:
    max_operations_per_socket: int = 20
    # Below HTTP_MAX_CONNECTIONS (1000), which counts sockets too: HTTP keeps some room.
    max_sockets_per_worker: int = 800
    init_timeout_s: float = 10.0

    @classmethod
    def from_env(cls) -> SocketLimits:
        return cls(
            int(os.environ.get("WS_MAX_OPERATIONS_PER_SOCKET", cls.max_operations_per_socket)),
            int(os.environ.get("WS_MAX_SOCKETS_PER_WORKER", cls.max_sockets_per_worker)),
            float(os.environ.get("WS_INIT_TIMEOUT_S", cls.init_timeout_s)),
        )


SOCKET_LIMITS = SocketLimits.from_env()
INIT_TIMEOUT = timedelta(seconds=SOCKET_LIMITS.init_timeout_s)
CLOSE_TRY_AGAIN_LATER = 1013


class OperationRefused(Exception):
    """A query or mutation on a socket refused by the HTTP rules (the view's
    `socket_operation`): the per-caller cap, the admission queue or the time budget."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def error(self) -> GraphQLError:
        """The error sent in the operation's place (each refusal is sent once)."""
        metrics.error_answered({"code": self.code})
        return GraphQLError(self.message, extensions={"code": self.code})


_TIMED_OUT = OperationRefused(
    "REQUEST_TIMEOUT", "The operation took longer than its time budget; ask for less"
)


def _is_query_or_mutation(query: Any, operation_name: Any) -> bool:
    """Whether the operation runs once (not a subscription). False too for a document the
    operation hooks will refuse anyway (too big, unparsable, no operation chosen)."""
    if not isinstance(query, str) or not isinstance(operation_name, str | None):
        return False
    try:
        limits.check_source_cached(query, limits.LIMITS)
    except limits.LimitExceeded:
        return False
    parsed = documents.parse_once(query)
    if parsed.document is None:
        return False
    try:
        operation = documents.operation_of(parsed.document, operation_name)
    except documents.OperationNotChosen:
        return False
    return operation.operation.value != "subscription"


MAX_ID_LENGTH = 128  # an operation id is the client's label for it, not a payload


def _message_problem(message: Any, kinds: dict[str, tuple[str, ...]]) -> str | None:
    """Why a protocol message is malformed (None: well formed). `kinds` names, per message
    type, what it must carry: "id" (a string), "payload" (an operation: an object with a
    string `query`, and `variables`/`extensions` objects and `operationName` a string when
    given)."""
    if not isinstance(message, dict):
        return "A message must be a JSON object"
    kind = message.get("type")
    if not isinstance(kind, str):
        return "A message must have a string `type`"
    needs = kinds.get(kind, ())
    if "id" in needs:
        id_ = message.get("id")
        if not isinstance(id_, str) or not 0 < len(id_) <= MAX_ID_LENGTH:
            return f"`{kind}` needs an `id`: a string of 1 to {MAX_ID_LENGTH} characters"
    if "payload" in needs:
        payload = message.get("payload")
        if not isinstance(payload, dict) or not (
            isinstance(payload.get("query"), str) or _names_a_document(payload)
        ):
            return f"`{kind}` needs a `payload` object with a string `query` or a `documentId`"
        if not isinstance(payload.get("variables"), dict | None):
            return "`variables` must be an object"
        if not isinstance(payload.get("extensions"), dict | None):
            return "`extensions` must be an object"
        if not isinstance(payload.get("operationName"), str | None):
            return "`operationName` must be a string"
    return None


def _names_a_document(payload: dict[str, Any]) -> bool:
    extensions = payload.get("extensions")
    return persisted.DOCUMENT_ID in payload or (
        isinstance(extensions, dict)
        and (persisted.DOCUMENT_ID in extensions or "persistedQuery" in extensions)
    )


async def _resolved(context: Context, payload: dict[str, Any]) -> GraphQLError | None:
    """The payload's document under PERSISTED_DOCUMENTS (its `documentId`, its persisted
    query's hash, or its trusted text) put in its `query`; the refusal, if any (counted: it
    is sent in the operation's place)."""
    if not (persisted.ONLY or _names_a_document(payload)):
        return None
    persisted.document_id_in_extensions(payload)
    try:
        found = await persisted.resolve(
            context.pool, payload.get("query"), payload.get("extensions")
        )
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        found = GraphQLError(
            "The database is unavailable; retry shortly",
            extensions={"code": "SERVICE_UNAVAILABLE"},
        )
    if isinstance(found, GraphQLError):
        metrics.error_answered(found.extensions)
        return found
    payload["query"] = found.query
    return None


_TRANSPORT_NEEDS = {"subscribe": ("id", "payload"), "complete": ("id",)}
_LEGACY_NEEDS = {"start": ("id", "payload"), "stop": ("id",)}


def _too_many_operations(cap: int) -> dict[str, Any]:
    """The refusal sent in place of an operation past the cap (counted here)."""
    metrics.error_answered({"code": "TOO_MANY_OPERATIONS"})
    return GraphQLError(
        f"This socket runs {cap} operations already; the limit is {cap} per socket",
        extensions={"code": "TOO_MANY_OPERATIONS"},
    ).formatted  # type: ignore[return-value]


class TextWebSocketAdapter(ASGIWebSocketAdapter):
    """Strawberry's adapter, sending every message as a text frame (the view's JSON encoder
    gives bytes, which Strawberry would send as binary frames), and reading messages with
    orjson itself (the view's decoder raises the HTTP view's 400, which would end the socket
    with an internal error instead of the protocol's close code)."""

    async def iter_json(self, *, ignore_parsing_errors: bool = False) -> AsyncGenerator[Any, None]:
        try:
            while self.ws.application_state != WebSocketState.DISCONNECTED:
                text = await self.ws.receive_text()
                try:
                    yield orjson.loads(text)
                except (orjson.JSONDecodeError, RecursionError) as exc:
                    if not ignore_parsing_errors:
                        raise NonJsonMessageReceived from exc
        except KeyError as exc:  # a binary frame has no "text"
            raise NonTextMessageReceived from exc
        except WebSocketDisconnect:
            pass

    async def close(self, code: int, reason: str) -> None:
        if self.ws.application_state != WebSocketState.DISCONNECTED:
            await self.ws.close(code=code, reason=reason)

    async def send_json(self, message: Any) -> None:
        if self.ws.application_state == WebSocketState.DISCONNECTED:
            # This side closed the socket (a subscription's viewer was cut off); Strawberry
            # still sends the operation's `complete`, to no one.
            return
        try:
            await self.ws.send_text(orjson.dumps(message).decode())
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws, with malformed messages refused (4400, as the protocol says),
    a coded cap on operations per socket, and queries and mutations under the HTTP rules."""

    async def handle_message(self, message: Any) -> None:
        problem = _message_problem(message, _TRANSPORT_NEEDS)
        if problem is not None:
            await self.handle_invalid_message(problem)
            return
        await super().handle_message(message)

    async def run_operation(self, operation: Any) -> None:
        if not _is_query_or_mutation(operation.query, operation.operation_name):
            await super().run_operation(operation)
            return
        try:
            async with self.view.socket_operation(self.context):  # type: ignore[attr-defined]
                await super().run_operation(operation)
        except OperationRefused as refused:
            await operation.send_initial_errors([refused.error()])

    async def handle_subscribe(self, message: Any) -> None:
        if self.connection_acknowledged and message["id"] not in self.operations:
            refused = await _resolved(self.context, message["payload"])
            if refused is not None:
                error: Any = {"id": message["id"], "type": "error", "payload": [refused.formatted]}
                await self.send_message(error)
                return
        cap = SOCKET_LIMITS.max_operations_per_socket
        if self.connection_acknowledged and len(self.operations) >= cap:
            refusal: Any = {
                "id": message["id"],
                "type": "error",
                "payload": [_too_many_operations(cap)],
            }
            await self.send_message(refusal)
            return
        await super().handle_subscribe(message)


class _AnyOperation:
    """The schema as the legacy handler sees it: its `subscribe` runs queries and mutations
    too, as subscriptions-transport-ws clients send every operation with `start`."""

    def __init__(self, schema: Any) -> None:
        self._schema = schema

    async def subscribe(self, **kwargs: Any) -> Any:
        return await self._schema.stream(**kwargs)


class LegacyWSHandler(BaseGraphQLWSHandler[Context, None]):
    """graphql-ws (subscriptions-transport-ws), running every operation type, with a coded
    cap on operations per socket."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.schema = _AnyOperation(self.schema)  # type: ignore[assignment]
        self._deadlines: dict[str, asyncio.Timeout] = {}  # operations under a time budget
        self._refused: set[str] = set()  # operations already answered with a refusal
        self._initialised = False

    async def handle(self) -> None:
        # The protocol has no init timeout of its own: the same as graphql-transport-ws's.
        deadline = asyncio.create_task(self._init_deadline())
        try:
            await super().handle()
        finally:
            deadline.cancel()

    async def _init_deadline(self) -> None:
        await asyncio.sleep(SOCKET_LIMITS.init_timeout_s)
        if not self.connection_acknowledged:
            await self.websocket.close(4408, "Connection initialisation timeout")

    async def handle_message(self, message: Any) -> None:
        problem = _message_problem(message, _LEGACY_NEEDS)
        if problem is not None:
            id_ = message.get("id") if isinstance(message, dict) else None
            if isinstance(id_, str) and 0 < len(id_) <= MAX_ID_LENGTH:
                refusal: Any = {"type": "error", "id": id_, "payload": {"message": problem}}
                await self.send_message(refusal)
            else:
                await self.websocket.close(4400, problem)
            return
        await super().handle_message(message)

    async def handle_connection_init(self, message: Any) -> None:
        if self._initialised:
            # One identity per socket, and one keep-alive task.
            await self.websocket.close(4429, "Too many initialisation requests")
            return
        self._initialised = True
        payload = message.get("payload")
        if payload is not None and not isinstance(payload, dict):
            await self.send_message({"type": "connection_error"})
            await self.websocket.close(4400, "Invalid connection init payload")
            return
        self.context.connection_params = payload
        try:
            await self.view.on_ws_connect(self.context)
        except ConnectionRejectionError as exc:
            error: Any = {"type": "connection_error", "payload": exc.payload}
            await self.send_message(error)
            await self.websocket.close(4403, "Forbidden")
            return
        await self.send_message({"type": "connection_ack"})
        self.connection_acknowledged = True
        if self.keep_alive:
            self.keep_alive_task = asyncio.create_task(self.handle_keep_alive())

    async def handle_async_results(
        self,
        operation_id: str,
        query: str,
        operation_name: str | None,
        variables: dict[str, object] | None,
    ) -> None:
        if not _is_query_or_mutation(query, operation_name):
            await super().handle_async_results(operation_id, query, operation_name, variables)
            return
        try:
            async with self.view.socket_operation(self.context) as deadline:  # type: ignore[attr-defined]
                self._deadlines[operation_id] = deadline
                await super().handle_async_results(operation_id, query, operation_name, variables)
        except OperationRefused as refused:
            if operation_id not in self._refused:
                await self._send_refusal(operation_id, refused)
        finally:
            self._deadlines.pop(operation_id, None)
            self._refused.discard(operation_id)

    async def send_message(self, message: Any) -> None:
        # Past its time budget an operation is cancelled, and Strawberry answers a cancelled
        # operation with `complete`: the client gets the coded refusal in its place.
        deadline = self._deadlines.get(message.get("id")) if message["type"] == "complete" else None
        if deadline is not None and deadline.expired():
            self._refused.add(message["id"])
            await self._send_refusal(message["id"], _TIMED_OUT)
            return
        await super().send_message(message)

    async def _send_refusal(self, operation_id: str, refused: OperationRefused) -> None:
        message: Any = {"type": "error", "id": operation_id, "payload": refused.error().formatted}
        await super().send_message(message)

    async def handle_start(self, message: Any) -> None:
        if self.connection_acknowledged:
            refused = await _resolved(self.context, message["payload"])
            if refused is not None:
                error: Any = {"type": "error", "id": message["id"], "payload": refused.formatted}
                await self.send_message(error)
                return
        cap = SOCKET_LIMITS.max_operations_per_socket
        if (
            self.connection_acknowledged
            and message["id"] not in self.tasks
            and len(self.tasks) >= cap
        ):
            refusal: Any = {
                "type": "error",
                "id": message["id"],
                "payload": _too_many_operations(cap),
            }
            await self.send_message(refusal)
            return
        await super().handle_start(message)
