"""Who is calling and what they may do: access tokens, the viewer, roles and object rules.

This is the one policy module. `schema/permissions.py` maps every schema field to one of the
rules below; nothing else in the code decides who may see or change what.
"""

from __future__ import annotations

import os
import secrets
import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import jwt

from db.campaigns import CampaignFilter, CampaignStatus
from db.users import Role, UserRow, UserStatus
from resolvers.errors import Forbidden, Unauthenticated
from resolvers.visibility import MEMBER_CAMPAIGN_STATUSES, STAFF_ROLES

if TYPE_CHECKING:
    from resolvers.context import Context

ALGORITHM = "HS256"
ISSUER = "campaign-graphql"
DEFAULT_TTL_MINUTES = 15
# RFC 7518 3.2: an HS256 key must be at least as long as the hash output.
MIN_SECRET_BYTES = 32
SIGN_IN_HINT = "Sign in: send `Authorization: Bearer <token>` with a token from `login`"
SESSION_ENDED = "This session has ended (signed out, or revoked); sign in again"
# Verified tokens remembered per process (Tokens.verify): a client sends the same token on
# every request for its lifetime, and checking its signature and claims costs ~50 µs.
VERIFIED_TOKENS_KEPT = 4096
EXPIRED = "The access token has expired; get a new one with `refreshToken`, or sign in again"
INVALID = "The access token is invalid"


# --- tokens ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime


class Tokens:
    """Signs and verifies access tokens (JWT, HS256) with one secret shared by all processes.

    `clock` (seconds since the epoch) decides when a token verified earlier has expired.
    """

    def __init__(
        self,
        secret: str,
        ttl: timedelta = timedelta(minutes=DEFAULT_TTL_MINUTES),
        clock: Callable[[], float] = time.time,
    ):
        if len(secret.encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes long")
        if ttl <= timedelta(0):
            raise ValueError("ACCESS_TOKEN_TTL_MINUTES must be positive")
        self._secret = secret
        self.ttl = ttl
        self._clock = clock
        # token -> (user id, session id, exp claim) for tokens that passed every check below;
        # the oldest entry goes when full. Only what a token proves is kept, never whether its
        # session is still open: `authenticate` reads that per request, so a revoked session
        # or a disabled user is refused at once.
        self._verified: dict[str, tuple[int, str, int]] = {}

    @classmethod
    def from_env(cls, secret: str | None = None) -> Tokens:
        """`secret` or JWT_SECRET; lifetime from ACCESS_TOKEN_TTL_MINUTES (default 15)."""
        secret = secret or os.environ.get("JWT_SECRET")
        if not secret:
            raise RuntimeError(
                "JWT_SECRET is not set: give every server process the same random secret "
                f"of at least {MIN_SECRET_BYTES} bytes"
            )
        minutes = os.environ.get("ACCESS_TOKEN_TTL_MINUTES", str(DEFAULT_TTL_MINUTES))
        try:
            ttl = timedelta(minutes=int(minutes))
        except ValueError as exc:
            raise RuntimeError(f"ACCESS_TOKEN_TTL_MINUTES must be an integer: {minutes!r}") from exc
        return cls(secret, ttl)

    def issue(
        self,
        user_id: int,
        session_id: str,
        now: datetime | None = None,
        not_after: datetime | None = None,
    ) -> IssuedToken:
        """An access token for `user_id` in session `session_id`, valid for `ttl` (but never
        past `not_after`, the session's end)."""
        now = (now or datetime.now(UTC)).replace(microsecond=0)
        expires_at = now + self.ttl
        if not_after is not None:
            expires_at = min(expires_at, not_after.replace(microsecond=0))
        claims = {
            "sub": str(user_id),
            "sid": session_id,
            "iss": ISSUER,
            "iat": now,
            "exp": expires_at,
        }
        return IssuedToken(jwt.encode(claims, self._secret, algorithm=ALGORITHM), expires_at)

    def verify(self, token: str) -> tuple[int, str]:
        """The user id and session id the token was issued for; raises Unauthenticated when
        it is not valid. Whether the session is still open is `authenticate`'s question.

        A token's signature and claims are checked once; its expiry on every call.
        """
        known = self._verified.get(token)
        if known is not None:
            user_id, session_id, expires = known
            if self._clock() < expires:  # PyJWT's rule: expired when exp <= now
                return user_id, session_id
            raise Unauthenticated(EXPIRED)
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],  # never taken from the token: refuses `alg: none`
                issuer=ISSUER,
                options={"require": ["sub", "sid", "iss", "iat", "exp"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated(EXPIRED) from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated(INVALID) from exc
        subject, session_id = claims["sub"], claims["sid"]
        if not isinstance(subject, str) or not subject.isdigit() or len(subject) > 18:
            raise Unauthenticated(INVALID)
        if not isinstance(session_id, str) or not _is_uuid(session_id):
            raise Unauthenticated(INVALID)
        if len(self._verified) >= VERIFIED_TOKENS_KEPT:
            del self._verified[next(iter(self._verified))]
        self._verified[token] = (int(subject), session_id, int(claims["exp"]))
        return int(subject), session_id


def _is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


def new_session_id() -> str:
    return str(uuid.uuid4())


def dev_secret(path: Path) -> str:
    """The embedded dev mode's secret: created once in `.data/`, kept between runs."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secret + "\n")
    return secret


# --- the viewer -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Credential:
    """What the request's Authorization header proved: a user and session, or why it proved
    nothing."""

    user_id: int | None = None
    refused: str | None = None
    session_id: str | None = None

    @classmethod
    def from_header(cls, header: str | None, tokens: Tokens | None) -> Credential:
        if not header:
            return cls()
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return cls(refused="The Authorization header must be `Bearer <token>`")
        if tokens is None:
            return cls(refused="This server issues no tokens")
        try:
            user_id, session_id = tokens.verify(token.strip())
        except Unauthenticated as exc:
            return cls(refused=exc.message)
        return cls(user_id=user_id, session_id=session_id)


async def authenticate(ctx: Context) -> UserRow:
    """The signed-in, ACTIVE user making this request, or Unauthenticated.

    The user is read with their session through the per-request `viewer_by_session` loader:
    one statement, which finds nothing once the session is revoked (logout, password or role
    change, account disabled) or over, so such a token stops working at once. The row then
    primes `user_by_id` for other fields that need this user.
    """
    if ctx.viewer is not None:
        return ctx.viewer
    credential = ctx.credential
    if credential.refused:
        raise Unauthenticated(credential.refused)
    if credential.user_id is None or credential.session_id is None:
        raise Unauthenticated(SIGN_IN_HINT)
    user: UserRow | None = await ctx.loaders.viewer_by_session.load(credential.session_id)
    if user is None or user.id != credential.user_id:
        raise Unauthenticated(SESSION_ENDED)
    if user.status is not UserStatus.ACTIVE:
        raise Unauthenticated("This account is disabled")
    ctx.loaders.user_by_id.prime(user.id, user)
    sign_in(ctx, user, credential.session_id)
    return user


async def viewer_or_none(ctx: Context) -> UserRow | None:
    try:
        return await authenticate(ctx)
    except Unauthenticated:
        return None


def sign_in(ctx: Context, user: UserRow, session_id: str | None) -> None:
    """From here on this request acts as `user` (after a token check, login or reset), in
    session `session_id` (None after a reset, which opens no session)."""
    ctx.viewer = user
    ctx.viewer_id = user.id
    ctx.session_id = session_id


# --- rules ----------------------------------------------------------------------------------

ALL_ROLES = frozenset(Role)


@dataclass(frozen=True)
class Rule:
    """Who may use a field: anyone, or signed-in users with one of `roles` (or the owner)."""

    name: str
    roles: frozenset[Role] = ALL_ROLES
    anonymous: bool = False
    owner: bool = False

    def allows(self, viewer: UserRow, owner_id: int | None = None) -> bool:
        if viewer.role in self.roles:
            return True
        return self.owner and owner_id is not None and owner_id == viewer.id

    async def enforce(self, ctx: Context, owner_id: int | None = None) -> None:
        """Raise Unauthenticated or Forbidden unless the caller passes this rule."""
        if self.anonymous:
            return
        self.check(await authenticate(ctx), owner_id)

    def check(self, viewer: UserRow, owner_id: int | None = None) -> None:
        """Raise Forbidden unless the signed-in `viewer` passes this rule."""
        if not self.allows(viewer, owner_id):
            raise Forbidden(f"Your role ({viewer.role.value}) may not use this: {self.name}")


ANYONE = Rule("anyone, signed in or not", anonymous=True)
SIGNED_IN = Rule("any signed-in user")
STAFF = Rule("managers and admins only", frozenset({Role.MANAGER, Role.ADMIN}))
ADMIN = Rule("admins only", frozenset({Role.ADMIN}))
SELF_OR_ADMIN = Rule("the user themself and admins only", frozenset({Role.ADMIN}), owner=True)


# --- list scopes: the rows a list may hold for a viewer ---------------------------------------


def campaign_statuses_for(
    viewer: UserRow, requested: Collection[CampaignStatus] | None
) -> tuple[CampaignStatus, ...] | None:
    """The statuses a campaign list may hold for this viewer (None: any).

    A member asking for statuses they may not see gets an empty list, not an error: the
    filter narrows what they may see.
    """
    if viewer.role in STAFF_ROLES:
        return tuple(requested) if requested else None
    if not requested:
        return MEMBER_CAMPAIGN_STATUSES
    return tuple(s for s in requested if s in MEMBER_CAMPAIGN_STATUSES)


async def scope_campaigns(ctx: Context, flt: CampaignFilter) -> CampaignFilter:
    """Narrow a campaign list's filter to what the viewer may see."""
    viewer = await authenticate(ctx)
    return replace(flt, statuses=campaign_statuses_for(viewer, flt.statuses))
