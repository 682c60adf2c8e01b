"""How the process runs: production settings checked at start, the HTTP body size limit, and
read deadlines and a connection cap for slow clients.

`APP_ENV=production` turns GraphiQL and introspection off and requires `DATABASE_URL`, a
real `JWT_SECRET` and `METRICS_TOKEN` (or `METRICS=off`); `CORS_ORIGINS` (comma-separated)
lists the browser origins allowed to call.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from db import metrics
from resolvers.env import is_production

MIN_JWT_SECRET_LENGTH = 32


# Request headers a browser app may send cross-origin: ours, and what tracing and error
# reporting (W3C trace context, Sentry) and Apollo Client add (client awareness, CSRF guard).
CORS_ALLOW_HEADERS = (
    "authorization",
    "content-type",
    "x-request-id",
    "traceparent",
    "tracestate",
    "baggage",
    "sentry-trace",
    "apollographql-client-name",
    "apollographql-client-version",
    "apollo-require-preflight",
)


@dataclass(frozen=True)
class RuntimeSettings:
    """What the environment says about this deployment."""

    production: bool
    cors_origins: tuple[str, ...]
    cors_allow_headers: tuple[str, ...] = ()

    @property
    def graphiql(self) -> bool:
        return not self.production

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RuntimeSettings:
        env = os.environ if env is None else env
        origins = tuple(o.strip() for o in env.get("CORS_ORIGINS", "").split(",") if o.strip())
        headers = env.get("CORS_ALLOW_HEADERS")
        return cls(
            production=is_production(env),
            cors_origins=origins,
            cors_allow_headers=CORS_ALLOW_HEADERS
            if headers is None
            else tuple(h.strip().lower() for h in headers.split(",") if h.strip()),
        )


def production_problems(env: Mapping[str, str] | None = None) -> list[str]:
    """Why this environment may not serve in production (empty when it may, or when not
    in production)."""
    env = os.environ if env is None else env
    if not RuntimeSettings.from_env(env).production:
        return []
    problems = []
    if not env.get("DATABASE_URL", "").strip():
        problems.append("DATABASE_URL must be set (the embedded database is for development)")
    secret = env.get("JWT_SECRET", "")
    if len(secret) < MIN_JWT_SECRET_LENGTH:
        problems.append(
            f"JWT_SECRET must be set to at least {MIN_JWT_SECRET_LENGTH} characters "
            f"(got {len(secret)})"
        )
    if metrics.enabled_in(env) and not env.get("METRICS_TOKEN", "").strip():
        problems.append(
            "METRICS_TOKEN must be set, or METRICS=off (/metrics shows operation names and "
            "traffic to anyone who reaches the port)"
        )
    return problems


def refuse_unless_ready_for_production(env: Mapping[str, str] | None = None) -> None:
    """Exit with one clear line, not a traceback, when production requirements are missing."""
    problems = production_problems(env)
    if problems:
        raise SystemExit(
            "campaign-graphql: refusing to start with APP_ENV=production: " + "; ".join(problems)
        )


class _BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    """Refuse an HTTP request body larger than `max_bytes` with 413, before it is read whole.

    A declared Content-Length over the limit is refused at once; a chunked body is counted as
    it arrives and refused when it passes the limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {
                "errors": [
                    {
                        "message": f"The request body exceeds the limit of {self.max_bytes} bytes",
                        "extensions": {"code": "PAYLOAD_TOO_LARGE"},
                    }
                ]
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


# --- slow clients ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectionLimits:
    """How long a client may take to send a request, and how many connections a worker keeps
    open (each environment variable's default in parentheses)."""

    header_timeout_s: float = 10.0  # HTTP_HEADER_TIMEOUT_S: first byte to the end of headers
    body_timeout_s: float = 30.0  # HTTP_BODY_TIMEOUT_S: end of headers to the end of the body
    max_connections: int = 1000  # HTTP_MAX_CONNECTIONS: open connections per worker

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ConnectionLimits:
        env = os.environ if env is None else env
        d = cls()
        limits = cls(
            header_timeout_s=float(env.get("HTTP_HEADER_TIMEOUT_S") or d.header_timeout_s),
            body_timeout_s=float(env.get("HTTP_BODY_TIMEOUT_S") or d.body_timeout_s),
            max_connections=int(env.get("HTTP_MAX_CONNECTIONS") or d.max_connections),
        )
        if min(limits.header_timeout_s, limits.body_timeout_s, limits.max_connections) <= 0:
            raise ValueError(f"HTTP_* connection limits must be positive: {limits}")
        return limits


CONNECTION_LIMITS = ConnectionLimits.from_env()


class TimedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with read deadlines and a cap on open connections.

    uvicorn times out only idle keep-alive connections, and only after a response: a client
    that connects and sends nothing, or sends its headers or body a byte every few seconds,
    holds a connection (and, once its headers are in, a request task) forever; 600 of them
    were all still open after 45 s. Here a request's headers must arrive within
    `header_timeout_s` of its first byte (or of the connection, for the first request) and
    its body within `body_timeout_s` of its headers, else the connection is closed (the
    application, if it was reading the body, sees a disconnect). A worker with
    `max_connections` open connections closes new ones at once.
    """

    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > CONNECTION_LIMITS.max_connections:
            transport.close()  # connection_lost takes it out of `connections`
            return
        self._arm(CONNECTION_LIMITS.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._deadline is None and (self.cycle is None or self.cycle.response_complete):
            # The first bytes of the next request on a kept-alive connection.
            self._arm(CONNECTION_LIMITS.header_timeout_s)
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._arm(CONNECTION_LIMITS.body_timeout_s)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        self._disarm()  # the socket now belongs to the WebSocket protocol and its own timeouts
        super().handle_websocket_upgrade()

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()
