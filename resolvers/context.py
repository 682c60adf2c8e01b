"""The per-request context: built once per GraphQL request (or per socket event)."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg
import strawberry
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketState

from db.users import UserRow
from resolvers.auth import Credential, Tokens
from resolvers.loaders import Loaders, build_loaders

if TYPE_CHECKING:
    from resolvers.live import Hub

REQUEST_ID_HEADER = "x-request-id"
# Fresh request ids: 32 hex digits, a random prefix per process and a counter (unique
# without a uuid4's urandom call per request; request ids are not secrets).
_ID_PREFIX = secrets.token_hex(8)
_ID_COUNTER = itertools.count(1)
# The id of the request being served, for log lines; "-" outside any request.
current_request_id: ContextVar[str] = ContextVar("current_request_id", default="-")


@dataclass
class Context:
    """What every resolver may use: the caller, the pool, this request's loaders and id."""

    request: Request | WebSocket
    response: Response | None
    pool: asyncpg.Pool
    request_id: str
    loaders: Loaders = field(init=False)
    viewer_id: int | None = None
    # What the bearer token proved; `resolvers.auth.authenticate` turns it into `viewer`.
    credential: Credential = field(default_factory=Credential)
    viewer: UserRow | None = None
    tokens: Tokens | None = None
    # The signed-in viewer's session (from the token, or opened by `login`), for `logout`.
    session_id: str | None = None
    # The caller's X-Request-ID, if sane: for correlating with the caller's own logs only.
    client_request_id: str | None = None
    # The Authorization value the credential came from: a socket verifies it again for each
    # operation and each event (resolvers/live.py), so an expired token stops there.
    bearer: str | None = None
    # The worker's subscribers (resolvers/live.py); None outside the server (some tests).
    hub: Hub | None = None
    # A socket's `connection_init` payload (Strawberry sets it; schema/websocket.py reads it).
    connection_params: dict[str, Any] | None = None
    # Each operation's summary once it ran (schema/logs.py), for the request's log line.
    operations: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.loaders = build_loaders(self.pool)

    def renew(self) -> None:
        """Start afresh, as a new request of the same caller: new loaders (nothing cached),
        the token verified again and the viewer read again when next asked. A socket does
        this for each operation and each subscription event."""
        self.loaders = build_loaders(self.pool)
        self.viewer = None
        self.viewer_id = None
        self.session_id = None
        self.request_id = new_request_id()
        self.credential = Credential.from_header(self.bearer, self.tokens)

    def for_operation(self) -> Context:
        """A context of its own for one operation on a socket (this one is the socket's)."""
        fresh = Context(
            request=self.request,
            response=None,
            pool=self.pool,
            request_id=new_request_id(),
            tokens=self.tokens,
            client_request_id=self.client_request_id,
            bearer=self.bearer,
            hub=self.hub,
        )
        fresh.credential = Credential.from_header(self.bearer, self.tokens)
        return fresh

    async def close_socket(self, code: int, reason: str) -> None:
        """End the socket this operation runs on (a subscription whose viewer was cut off)."""
        socket = self.request
        if (
            isinstance(socket, WebSocket)
            and socket.application_state != WebSocketState.DISCONNECTED
        ):
            await socket.close(code=code, reason=reason[:120])

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection inside one transaction: all of a mutation's writes or none."""
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        async with self.pool.acquire() as conn:
            yield conn


Info: TypeAlias = strawberry.Info[Context, None]


CLIENT_REQUEST_ID_MAX = 128


def new_request_id() -> str:
    """The server's own id for a request: what logs, errors and the audit log carry. Never
    the caller's, which anyone can set to anything (another request's id, say)."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"


def client_request_id_of(request: Request | WebSocket) -> str | None:
    """The caller's X-Request-ID when it is printable ASCII of at most 128 characters."""
    given = request.headers.get(REQUEST_ID_HEADER, "")
    if 0 < len(given) <= CLIENT_REQUEST_ID_MAX and given.isascii() and given.isprintable():
        return given
    return None


async def build_context(
    request: Request | WebSocket,
    response: Response | None,
    pool: asyncpg.Pool,
    tokens: Tokens | None = None,
) -> Context:
    bearer = request.headers.get("authorization")
    return Context(
        request=request,
        response=response,
        pool=pool,
        request_id=getattr(request.state, "request_id", None) or new_request_id(),
        client_request_id=client_request_id_of(request),
        credential=Credential.from_header(bearer, tokens),
        tokens=tokens,
        bearer=bearer,
        hub=getattr(request.state, "hub", None),
    )
