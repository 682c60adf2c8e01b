"""The /graphql HTTP view and request ids: Strawberry's ASGI app with GraphQL-over-HTTP status
codes, admission control and coded HTTP refusals, plus the X-Request-ID middleware."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import asyncpg
import orjson

# Strawberry's HTTP views raise cross_web's HTTPException (cross-web is Strawberry's own package).
from cross_web import HTTPException
from graphql import GraphQLError
from opentelemetry import trace
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET, UnsetType

from db import metrics, tracing
from db.pool import take_turn
from resolvers.auth import Credential, authenticate
from resolvers.context import (
    Context,
    build_context,
    client_request_id_of,
    current_request_id,
    new_request_id,
)
from resolvers.errors import BadUserInput, Unauthenticated
from schema import documents, graphiql, limits, logs, persisted, signin_limit
from schema.websocket import (
    CLOSE_TRY_AGAIN_LATER,
    INIT_TIMEOUT,
    SOCKET_LIMITS,
    LegacyWSHandler,
    OperationRefused,
    TextWebSocketAdapter,
    TransportWSHandler,
)

log = logging.getLogger("campaign_graphql.http")

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
POST_OPERATION_TYPES = frozenset(OperationType.from_http("POST"))


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


class RequestRefused(HTTPException):
    """An HTTP-level refusal with its own `extensions.code` (BAD_REQUEST unless given)."""

    def __init__(self, status_code: int, reason: str, code: str = "BAD_REQUEST") -> None:
        super().__init__(status_code, reason)
        self.code = code


class GraphQLApp(GraphQL[Context, None]):
    """Strawberry's ASGI app with our context and GraphQL-over-HTTP status codes.

    Request errors (malformed body, parse or validation failure) have no `data` entry: a
    client that accepts application/graphql-response+json gets them with a 4xx status, a
    legacy application/json client with 200. Malformed HTTP requests are always 4xx, and
    always GraphQL-shaped.

    At most `max_in_flight` HTTP operations execute at once; the rest wait their turn in
    arrival order (asyncio.Semaphore is FIFO), for at most `admission_timeout_s`, after which
    they get 503 SERVICE_UNAVAILABLE. Without this, 500 clients each running a query of
    several dataloader rounds all advance together, each round queued behind everyone
    else's, and none finishes: 0 of 500 Q2a requests completed in 10 s.
    """

    def admit(self, max_in_flight: int, timeout_s: float, per_viewer: int = 0) -> None:
        """`per_viewer`: at most this many of the `max_in_flight` for one caller (the signed-in
        user, else the client address); more are refused at once with 429. 0: no such cap."""
        self._turns = asyncio.Semaphore(max_in_flight)
        self.admission_timeout_s = timeout_s
        self.per_viewer = per_viewer
        # caller -> operations of theirs admitted or waiting. Per worker, as the pool it
        # protects is; nothing another process needs.
        self._callers: dict[str, int] = {}

    def _caller(self, request: Request) -> str:
        """Who the request counts against: the user its bearer token proves, else its client
        address (uvicorn takes it from X-Forwarded-For behind a trusted proxy)."""
        credential = Credential.from_header(
            request.headers.get("authorization"), getattr(request.state, "tokens", None)
        )
        return _caller_of(credential, request.scope)

    @contextlib.asynccontextmanager
    async def socket_operation(self, socket: Context) -> AsyncIterator[asyncio.Timeout]:
        """A query or mutation on a socket (schema/websocket.py), under the rules an HTTP
        request obeys: the per-caller cap, the admission queue and the time budget (past it
        the operation is cancelled). A refusal raises OperationRefused with its code."""
        caller = _caller_of(socket.credential, socket.request.scope) if self.per_viewer else None
        budget = limits.LIMITS.request_timeout_s
        refusal = OperationRefused(
            "REQUEST_TIMEOUT",
            f"The operation took longer than its time budget of {budget:g} s; ask for less",
        )
        try:
            async with self._admitted(caller):
                deadline = asyncio.timeout(budget)
                try:
                    async with deadline:
                        yield deadline
                except TimeoutError:
                    if not deadline.expired():
                        raise
                    raise refusal from None
                if deadline.expired():  # its cancellation was caught below (graphql-ws's)
                    raise refusal
        except RequestRefused as exc:  # the per-caller cap or the admission queue
            raise OperationRefused(exc.code, exc.reason) from None

    websocket_adapter_class = TextWebSocketAdapter
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler

    def __init__(
        self, schema: Any, *, graphql_ide: Any = "graphiql", allow_queries_via_get: bool = True
    ) -> None:
        super().__init__(
            schema,
            graphql_ide=graphql_ide,
            allow_queries_via_get=allow_queries_via_get,
            # graphql-ws's `ka` messages, for the legacy protocol's clients
            keep_alive=True,
            keep_alive_interval=15,
            connection_init_wait_timeout=INIT_TIMEOUT,
            max_subscriptions_per_connection=None,  # the handlers' own coded cap instead
        )
        self.sockets = 0  # open on this worker

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._socket(scope, receive, send)
            return
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            operation = await self._plain_operation(request)
        except ClientDisconnect:
            # The client left, or was cut off by the body deadline (runtime.TimedHttpProtocol),
            # before its body was in: there is no request to answer and no one to answer.
            return
        response = await self.answer(request, operation)
        await response(scope, receive, send)

    async def answer(self, request: Request, operation: GraphQLRequestData | None) -> Response:
        """The response to an HTTP request: `operation` is its plain JSON operation, if it has
        one (`_plain_operation`); None sends it through Strawberry's generic `run`."""
        started = time.perf_counter()
        response = await self._answer(request, operation)
        if logs.access_log.isEnabledFor(logging.INFO):
            context = getattr(request.state, "graphql_context", None)
            logs.request_line(
                context,
                response.status_code,
                time.perf_counter() - started,
                request.headers.get("traceparent"),
            )
        headers = response.headers
        if "cache-control" not in headers:
            # What a viewer sees is theirs (rules, roles): no shared cache may keep it, and no
            # browser cache either (a token that has ended must not still show data).
            headers["cache-control"] = "private, no-store"
        headers["vary"] = ", ".join(v for v in (headers.get("vary"), "Authorization, Accept") if v)
        return response

    async def _answer(self, request: Request, operation: GraphQLRequestData | None) -> Response:
        caller = self._caller(request) if self.per_viewer else None
        try:
            async with self._admitted(caller):
                try:
                    response = await self._within_budget(request, operation)
                except asyncio.CancelledError:
                    task = asyncio.current_task()
                    if task is not None and task.cancelling():
                        raise  # this request is being cancelled (shutdown): let it end
                    # A cancellation that reached this request from shared work (a statement,
                    # a pool wait) is an outage of that work, not a reason for a bare 500.
                    log.exception("cancellation escaped the executor")
                    raise RequestRefused(
                        503, "The database is unavailable; retry shortly", "SERVICE_UNAVAILABLE"
                    ) from None
            return _within_size(response)
        except HTTPException as exc:
            media = (
                GRAPHQL_RESPONSE_JSON
                if _wants_graphql_response_json(request)
                else "application/json"
            )
            headers = {405: {"allow": "POST"}, 429: {"retry-after": "1"}, 503: {"retry-after": "1"}}
            code = getattr(exc, "code", "BAD_REQUEST")
            if metrics.ENABLED:
                metrics.errors(code).inc()
            return Response(
                _error_body(exc.reason, code),
                status_code=exc.status_code,
                media_type=media,
                headers=headers.get(exc.status_code),
            )
        except Exception:
            # A bug, not the request: logged whole, answered as JSON with the request id
            # (uvicorn's own answer would be a bare text/plain 500).
            request_id = current_request_id.get()
            log.exception("unexpected error outside the executor")
            if metrics.ENABLED:
                metrics.errors("INTERNAL_SERVER_ERROR").inc()
            return Response(
                json.dumps(
                    {
                        "errors": [
                            {
                                "message": f"Internal server error (request id {request_id})",
                                "extensions": {
                                    "code": "INTERNAL_SERVER_ERROR",
                                    "requestId": request_id,
                                },
                            }
                        ]
                    }
                ).encode(),
                status_code=500,
                media_type="application/json",
            )

    @contextlib.asynccontextmanager
    async def _admitted(self, caller: str | None) -> AsyncIterator[None]:
        """An operation's turn, for HTTP and sockets alike: counted against its caller (at
        most `per_viewer` at once: 429) and let in by the admission queue (at most
        `admission_timeout_s` of waiting: 503). A refusal raises RequestRefused."""
        if caller is not None:
            self._count_in(caller)
        try:
            try:
                await take_turn(self._turns, self.admission_timeout_s)
            except TimeoutError:
                if metrics.ENABLED:
                    metrics.ADMISSION_REFUSALS.labels("busy").inc()
                raise RequestRefused(
                    503, "The server is busy; retry shortly", "SERVICE_UNAVAILABLE"
                ) from None
            try:
                yield
            finally:
                self._turns.release()
        finally:
            if caller is not None:
                self._count_out(caller)

    def _count_in(self, caller: str) -> None:
        count = self._callers.get(caller, 0)
        if count >= self.per_viewer:
            if metrics.ENABLED:
                metrics.ADMISSION_REFUSALS.labels("caller_cap").inc()
            raise RequestRefused(
                429,
                f"Too many operations in flight for one caller (limit {self.per_viewer}); "
                "retry shortly",
                "TOO_MANY_REQUESTS",
            )
        self._callers[caller] = count + 1

    def _count_out(self, caller: str) -> None:
        count = self._callers.get(caller, 0) - 1
        if count > 0:
            self._callers[caller] = count
        else:
            self._callers.pop(caller, None)

    async def _within_budget(
        self, request: Request, operation: GraphQLRequestData | None
    ) -> Response:
        """The response, within the request's time budget. Past it the operations are
        cancelled (asyncpg cancels a running statement, and a connection goes back to the
        pool only once it is idle again: db/pool.py) and the client gets REQUEST_TIMEOUT."""
        budget = limits.LIMITS.request_timeout_s
        deadline = asyncio.timeout(budget)
        try:
            async with deadline:
                if operation is None:
                    return await self.run(request)
                return await self._run_plain(request, operation)
        except TimeoutError:
            if not deadline.expired():
                raise  # not ours
            raise RequestRefused(
                504,
                f"The request took longer than its time budget of {budget:g} s; ask for less",
                "REQUEST_TIMEOUT",
            ) from None

    # --- the plain request: one operation POSTed as a JSON object ---------------------------
    # Nearly every request is this one. It skips Strawberry's generic `run` (request adapter,
    # content-type parsing with email.message, stream transports, batches, runtime Protocol
    # checks) and calls the same hooks in the same order, so the response is the same
    # (tests/test_http_plain_path.py compares the two). Everything else goes through `run`.

    async def _plain_operation(self, request: Request) -> GraphQLRequestData | None:
        """The request's one operation if it is a plain JSON POST, else None (for `run`).

        Reads the body (Starlette keeps it for `run` when this returns None).
        """
        if (
            request.scope["method"] != "POST"
            or self._stream_transport_map
            or self.schema.config.enable_experimental_incremental_execution
        ):
            return None
        content_type = request.headers.get("content-type", "")
        # Exactly what Strawberry's parser accepts as JSON (it is case-sensitive), no more.
        if content_type.partition(";")[0].strip() != "application/json":
            return None
        try:
            data = orjson.loads(await request.body())
        except (ValueError, RecursionError):
            return None  # `run` refuses it with its 400
        if not isinstance(data, dict):
            return None  # a batch, or refused by `run`
        query = data.get("query")
        variables = data.get("variables")
        operation_name = data.get("operationName")
        extensions = data.get("extensions")
        if (
            not isinstance(query, str)
            or not isinstance(variables, dict | None)
            or not isinstance(operation_name, str | None)
            or not isinstance(extensions, dict | None)
            or (extensions is not None and "persistedQuery" in extensions)
            or persisted.DOCUMENT_ID in data
            or persisted.ONLY
        ):
            return None  # persisted documents go through `run` (execute_single)
        return GraphQLRequestData(query, variables, operation_name, extensions)

    async def _run_plain(self, request: Request, operation: GraphQLRequestData) -> Response:
        """`run` for a plain JSON POST: the same hooks, without the generic machinery."""
        sub_response = await self.get_sub_response(request)
        context = await self.get_context(request, response=sub_response)
        try:
            result = await self.schema.execute(
                operation.query,
                root_value=None,  # GraphQL[Context, None]: this app has no root value
                variable_values=operation.variables,
                context_value=context,
                operation_name=operation.operation_name,
                allowed_operation_types=POST_OPERATION_TYPES,
                operation_extensions=operation.extensions,
            )
        except CannotGetOperationTypeError as exc:
            raise HTTPException(400, exc.as_http_error_reason()) from exc
        except InvalidOperationTypeError as exc:
            raise HTTPException(400, _refused_type(exc, "POST")) from exc
        except MissingQueryError as exc:
            raise HTTPException(400, "No GraphQL query found in the request") from exc
        response_data = await self.process_result(request, result)
        if result.errors:
            self._handle_errors(result.errors, response_data)
        return self.create_response(response_data, sub_response)

    async def execute_single(
        self,
        request: Request,
        request_adapter: Any,
        sub_response: Any,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        try:
            found = await persisted.resolve(
                context.pool, request_data.query, request_data.extensions
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            found = _unavailable()
        if isinstance(found, GraphQLError):  # answered without an operation to run
            metrics.error_answered(found.extensions)
            return ExecutionResult(data=None, errors=[found])
        request_data = dataclasses.replace(request_data, query=found.query)
        result = await self._execute_single(
            request, request_adapter, sub_response, context, root_value, request_data
        )
        if found.store is not None and found.query is not None and result.data is not None:
            try:
                await persisted.store(context.pool, found.store, found.query)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                # The answer stands; the client sends the query again next time.
                log.warning("persisted documents: %s not stored: %s", found.store, exc)
        return result

    async def _execute_single(self, *args: Any) -> ExecutionResult:
        try:
            return await super().execute_single(*args)
        except HTTPException as exc:
            cause = exc.__cause__
            if isinstance(cause, InvalidOperationTypeError):
                if cause.operation_type is OperationType.SUBSCRIPTION:
                    raise HTTPException(400, _refused_type(cause, "")) from cause
                # A mutation over GET: the method is wrong, not the request (GraphQL over HTTP).
                raise HTTPException(405, exc.reason) from cause
            raise

    async def _socket(self, scope: Scope, receive: Receive, send: Send) -> None:
        cap = SOCKET_LIMITS.max_sockets_per_worker
        if self.sockets >= cap:
            socket = WebSocket(scope, receive, send)
            await socket.accept(subprotocol=await self.pick_websocket_subprotocol(socket))
            await socket.close(
                CLOSE_TRY_AGAIN_LATER,
                f"TOO_MANY_SOCKETS: this worker holds {cap} sockets; retry shortly",
            )
            return
        self.sockets += 1
        if metrics.ENABLED:
            metrics.SOCKETS.inc()
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.sockets -= 1
            if metrics.ENABLED:
                metrics.SOCKETS.dec()

    def should_render_graphql_ide(self, request: Any) -> bool:
        # A GET that names a persisted query (`extensions`, no `query`) is an operation.
        return super().should_render_graphql_ide(request) and (
            request.query_params.get("extensions") is None
        )

    async def render_graphql_ide(self, request: Request) -> Response:
        return graphiql.page()  # ours, offline, with subscriptions over the socket

    async def on_ws_connect(self, context: Context) -> UnsetType:
        """A socket's `connection_init`: its credential is the payload's Authorization entry
        when it has one, else the upgrade's header. A credential that is refused, or whose
        session has ended, refuses the socket (4403); none at all gives an anonymous socket,
        on which only fields open to anyone answer."""
        params = context.connection_params or {}
        given = params.get("Authorization", params.get("authorization"))
        if given is not None:
            if not isinstance(given, str):
                raise ConnectionRejectionError(
                    {"message": "Authorization must be a string", "code": "UNAUTHENTICATED"}
                )
            context.bearer = given
        context.renew()
        if context.bearer:
            try:
                await authenticate(context)
            except Unauthenticated as exc:
                raise ConnectionRejectionError(
                    {"message": exc.message, "code": "UNAUTHENTICATED"}
                ) from None
            if context.hub is not None:
                context.hub.watch(context)  # closed when its session ends
        unset: UnsetType = UNSET
        return unset  # an ack without a payload

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        context = await build_context(
            request,
            response if isinstance(response, Response) else None,
            request.state.pool,
            request.state.tokens,
        )
        request.state.graphql_context = context  # for the request's log line
        return context

    def _validate_batch_request(self, request_data: list[Any], protocol: Any) -> None:
        # Replaces Strawberry's check: a coded refusal naming the cap, and every entry must be
        # an object (Strawberry would fail on `[1, 2]` with an AttributeError). Then the batch's
        # fields and cost are summed against one budget, before any operation is validated.
        cap = limits.LIMITS.max_batch
        if len(request_data) > cap:
            raise RequestRefused(
                400,
                f"The batch has {len(request_data)} operations; the limit is {cap} per request",
                "BATCH_LIMIT_EXCEEDED",
            )
        if not request_data:
            raise RequestRefused(400, "The batch is empty")
        for item in request_data:
            # A batch's operations carry their text: its limits (sign-ins, cost) are counted
            # across the batch before anything runs (trusted texts run under
            # PERSISTED_DOCUMENTS=only).
            if not isinstance(item, dict) or not isinstance(item.get("query"), str):
                raise RequestRefused(400, "Each batched operation must be an object with its query")
            if not isinstance(item.get("variables"), dict | None):
                raise RequestRefused(400, "A batched operation's `variables` must be an object")
            _check_operation_name(item)
        try:
            limits.check_batch(
                self.schema._schema,  # type: ignore[attr-defined]  # graphql-core's, behind ours
                (
                    (
                        item["query"],
                        item.get("variables") or {},
                        item.get("operationName"),
                    )
                    for item in request_data
                ),
                limits.LIMITS,
            )
        except (limits.LimitExceeded, documents.OperationNotChosen, BadUserInput) as exc:
            raise RequestRefused(400, exc.message, (exc.extensions or {})["code"]) from None
        sign_ins = sum(
            signin_limit.count_in_source(item["query"], item.get("operationName"))
            for item in request_data
        )
        if sign_ins > signin_limit.MAX_SIGN_INS:
            refusal = signin_limit.refusal(sign_ins)
            raise RequestRefused(400, refusal.message, signin_limit.CODE)

    def parse_json(self, data: str | bytes) -> Any:
        """A POST body: an operation (a JSON object) or a batch (an array), with a string
        `operationName` if any; Strawberry's parser fails with a 500 on anything else."""
        parsed = super().parse_json(data)
        if not isinstance(parsed, dict | list):
            raise HTTPException(
                400, "The request body must be a JSON object, or an array of them for a batch"
            )
        if isinstance(parsed, dict):
            _check_operation_name(parsed)
            persisted.document_id_in_extensions(parsed)
        else:
            for item in parsed:
                if isinstance(item, dict):
                    persisted.document_id_in_extensions(item)
        return parsed

    def parse_query_params(self, params: Any) -> dict[str, Any]:
        parsed = super().parse_query_params(params)
        persisted.document_id_in_extensions(parsed)
        return parsed

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


def _unavailable() -> GraphQLError:
    return GraphQLError(
        "The database is unavailable; retry shortly", extensions={"code": "SERVICE_UNAVAILABLE"}
    )


def _caller_of(credential: Credential, scope: Scope) -> str:
    if credential.user_id is not None:
        return f"user:{credential.user_id}"
    client = scope.get("client")
    return f"address:{client[0] if client else '-'}"


def _refused_type(exc: InvalidOperationTypeError, method: str) -> str:
    if exc.operation_type is OperationType.SUBSCRIPTION:
        return (
            "Subscriptions are served over WebSocket at /graphql (graphql-transport-ws or "
            "graphql-ws), not over HTTP"
        )
    return exc.as_http_error_reason(method)


def _within_size(response: Response) -> Response:
    """`response`, or RESPONSE_TOO_LARGE in its place when its body is over the cap. The body
    is whole at this point (pages PostgreSQL wrote included), so nothing of it has been sent.
    The cost limit keeps most queries far below the cap; this is the backstop for what the
    cost model does not see, such as long texts."""
    cap = limits.LIMITS.max_response_bytes
    size = len(getattr(response, "body", b""))
    if size <= cap:
        return response
    return Response(
        _error_body(
            f"The response would be {size} bytes; the limit is {cap} bytes; ask for less",
            "RESPONSE_TOO_LARGE",
        ),
        status_code=400,
        media_type=response.headers.get("content-type", "application/json"),
    )


# --- request ids ----------------------------------------------------------------------------


class RequestIdMiddleware:
    """Give every request the server's own id (logs, errors and the audit log carry it), and
    answer with X-Request-ID: the caller's own, when it sent a sane one, else the server's."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = client_request_id_of(
            Request(scope) if scope["type"] == "http" else WebSocket(scope, receive, send)
        )
        request_id = new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id

        token = current_request_id.set(request_id)  # for log lines (see RequestIdLogFilter)
        try:
            await self.app(scope, receive, _sending_id(send, given or request_id))
        finally:
            current_request_id.reset(token)


def _sending_id(send: Send, request_id: str) -> Send:
    """`send` with the X-Request-ID header added to the response's start."""
    echoed = (b"x-request-id", request_id.encode())

    async def send_with_id(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), echoed]}
        await send(message)

    return send_with_id


# --- the front door for POST /graphql -------------------------------------------------------


class GraphQLLane:
    """Takes a JSON POST to /graphql straight to the GraphQL view; everything else goes on
    down the app's stack (`app`) untouched.

    Nearly every request is that POST, and on its way to the view Starlette's stack (the
    body-size limit, the request id, the exception middleware, the router and its route)
    cost 12 % of a one-campaign query's CPU through the ASGI app (bench/README.md, round 5).
    This does the same for it in one place: the body is read with the same limit (a body
    over it, or anything else unusual, is handed down the stack with what was read of it,
    and refused there), the request id is set and echoed the same way, and the view answers
    as it would.
    Outermost of our middleware; Starlette's ServerErrorMiddleware is still around it.
    """

    def __init__(
        self, app: ASGIApp, graphql: GraphQLApp, path: str, max_body_bytes: int, cors: bool
    ) -> None:
        self.app = app
        self.graphql = graphql
        self.path = path
        self.max_body_bytes = max_body_bytes
        self.cors = cors  # CORSMiddleware is configured: requests with an Origin go down

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit() or int(value) > self.max_body_bytes:
                    await self.app(scope, receive, send)
                    return
            elif name == b"origin" and self.cors:
                await self.app(scope, receive, send)
                return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break  # a disconnect: the stack meets it as it would
            size += len(message.get("body", b""))
            if size > self.max_body_bytes or not message.get("more_body", False):
                break
        if message["type"] != "http.request" or size > self.max_body_bytes:
            await self.app(scope, _replaying(messages, receive), send)
            return
        request = Request(scope, receive)
        request._body = b"".join(m.get("body", b"") for m in messages)  # what .body() returns
        operation = await self.graphql._plain_operation(request)
        if operation is None:
            await self.app(scope, _replaying(messages, receive), send)
            return
        request_id = new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        token = current_request_id.set(request_id)
        try:
            response = await self.graphql.answer(request, operation)
        finally:
            current_request_id.reset(token)
        await response(
            scope, receive, _sending_id(send, client_request_id_of(request) or request_id)
        )


def _replaying(messages: list[Message], receive: Receive) -> Receive:
    """`receive` that first hands out `messages` (already received) again."""
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


class RequestIdLogFilter(logging.Filter):
    """Put the current request's id on every log record (`-` outside requests) and, with
    tracing on, the id of the trace it is part of (`trace_id`, 32 hex digits)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id.get()
        if tracing.tracer() is not None:
            span_context = trace.get_current_span().get_span_context()
            if span_context.is_valid:
                record.trace_id = format(span_context.trace_id, "032x")
        return True


def _check_operation_name(item: Mapping[str, Any]) -> None:
    if not isinstance(item.get("operationName"), str | None):
        raise HTTPException(
            400, "The GraphQL operation's `operationName` must be a string or null, if provided."
        )
