"""The per-request context: built once per GraphQL request (or per socket event)."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TypeAlias

import asyncpg
import strawberry
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from db.users import UserRow
from resolvers.auth import Credential, Tokens
from resolvers.loaders import Loaders, build_loaders

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

    def __post_init__(self) -> None:
        self.loaders = build_loaders(self.pool)

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
    return Context(
        request=request,
        response=response,
        pool=pool,
        request_id=getattr(request.state, "request_id", None) or new_request_id(),
        client_request_id=client_request_id_of(request),
        credential=Credential.from_header(request.headers.get("authorization"), tokens),
        tokens=tokens,
    )
