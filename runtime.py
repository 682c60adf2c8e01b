"""How the process runs: production settings checked at start, and the HTTP body size limit.

`APP_ENV=production` turns GraphiQL and introspection off and requires `DATABASE_URL` and a
real `JWT_SECRET`; `CORS_ORIGINS` (comma-separated) lists the browser origins allowed to call.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PRODUCTION = "production"
MIN_JWT_SECRET_LENGTH = 32


@dataclass(frozen=True)
class RuntimeSettings:
    """What the environment says about this deployment."""

    production: bool
    cors_origins: tuple[str, ...]

    @property
    def graphiql(self) -> bool:
        return not self.production

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RuntimeSettings:
        env = os.environ if env is None else env
        origins = tuple(o.strip() for o in env.get("CORS_ORIGINS", "").split(",") if o.strip())
        return cls(
            production=env.get("APP_ENV", "").strip().lower() == PRODUCTION,
            cors_origins=origins,
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
