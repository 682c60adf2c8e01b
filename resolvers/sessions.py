"""Sessions: opened by `login`, kept alive by `refreshToken`, ended by `logout` or revocation.

A session gives its client two tokens: a short-lived access token (a JWT naming the session,
ACCESS_TOKEN_TTL_MINUTES) and an opaque refresh token (256 random bits; only its SHA-256 is
stored). Each refresh spends the refresh token and returns a new pair; a spent refresh token
presented again means someone copied it, and ends the whole session for both holders.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from db import sessions as db
from db import users as users_db
from db.sessions import RevokedReason
from db.users import UserRow, UserStatus
from resolvers import auth, signin
from resolvers.auth import IssuedToken
from resolvers.context import Context
from resolvers.errors import ErrorCode
from resolvers.outcome import Outcome

# Open sessions kept per user: signing in once more ends the oldest (its device signs in again).
SESSIONS_PER_USER = 20
# Spent refresh tokens remembered per session, to recognise a copied one presented again.
SPENT_KEPT = 20
BAD_REFRESH_TOKEN = "This refresh token is unknown, already used or its session has ended"
REUSED = "This refresh token was already used, so it may have been copied: its session is ended"


@dataclass(frozen=True)
class SignedIn:
    """What a client gets when a session opens or refreshes."""

    user: UserRow
    token: IssuedToken
    refresh_token: IssuedToken


def hash_of(token: str) -> str:
    """Refresh tokens are 256 random bits, so a plain SHA-256 is enough to store them safely."""
    return hashlib.sha256(token.encode()).hexdigest()


def _tokens(ctx: Context) -> auth.Tokens:
    if ctx.tokens is None:
        raise RuntimeError("the server was started without a token signer")
    return ctx.tokens


async def open_session(ctx: Context, user: UserRow, password_hash: str) -> SignedIn | None:
    """A new session for `user` (after a successful login with `password_hash`); this request
    now acts as them. None when the user was disabled, or their password changed, since it
    was read: a login racing a reset or a disable must not outlive it."""
    tokens = _tokens(ctx)
    now = datetime.now(UTC).replace(microsecond=0)
    expires_at = now + signin.POLICY.refresh_ttl
    session_id = auth.new_session_id()
    refresh = secrets.token_urlsafe(32)
    async with ctx.transaction() as conn:
        await db.prune(conn)
        await db.trim(conn, user.id, SESSIONS_PER_USER - 1)
        opened = await db.create(
            conn,
            session_id=session_id,
            user_id=user.id,
            expires_at=expires_at,
            refresh_hash=hash_of(refresh),
            password_hash=password_hash,
        )
    if not opened:
        return None
    auth.sign_in(ctx, user, session_id)
    return SignedIn(
        user,
        tokens.issue(user.id, session_id, now, not_after=expires_at),
        IssuedToken(refresh, expires_at),
    )


async def refresh(ctx: Context, refresh_token: str) -> Outcome[SignedIn]:
    """Spend `refresh_token` for a new pair in the same session."""
    tokens = _tokens(ctx)
    await signin.attempt(ctx, None)
    new_refresh = secrets.token_urlsafe(32)
    async with ctx.transaction() as conn:
        found = await db.presented(conn, hash_of(refresh_token))
        if found is None or found.ended:
            return _refused(BAD_REFRESH_TOKEN)
        if found.used:
            await db.revoke(
                conn, found.session_id, found.user_id, RevokedReason.REFRESH_TOKEN_REUSED
            )
            return _refused(REUSED)
        user = (await users_db.by_ids(conn, [found.user_id]))[0]
        # A disabled user's sessions are revoked with the change; this is the belt to that.
        if user is None or user.status is not UserStatus.ACTIVE:
            return _refused(BAD_REFRESH_TOKEN)
        rotated = await db.rotate(conn, hash_of(refresh_token), hash_of(new_refresh))
        if not rotated:  # its row is locked above (db.sessions.presented): cannot happen
            raise RuntimeError("a refresh token was spent twice under its row lock")
        await db.forget_spent(conn, found.session_id, SPENT_KEPT)
    await signin.succeeded(ctx, None)
    auth.sign_in(ctx, user, found.session_id)
    now = datetime.now(UTC)
    return Outcome(
        SignedIn(
            user,
            tokens.issue(user.id, found.session_id, now, not_after=found.expires_at),
            IssuedToken(new_refresh, found.expires_at),
        )
    )


def _refused(message: str) -> Outcome[SignedIn]:
    return Outcome.refuse("refreshToken", message, ErrorCode.INVALID_REFRESH_TOKEN)


async def logout(ctx: Context, all_sessions: bool) -> int:
    """End the viewer's current session, or all of them; returns how many ended."""
    viewer = await auth.authenticate(ctx)
    async with ctx.transaction() as conn:
        if all_sessions:
            return await db.revoke_all(conn, viewer.id, RevokedReason.LOGOUT_ALL)
        if ctx.session_id is None:  # signed in by completePasswordReset: no session to end
            return 0
        return await db.revoke(conn, ctx.session_id, viewer.id, RevokedReason.LOGOUT)


async def revoke_all(conn: asyncpg.Connection, user_id: int, reason: RevokedReason) -> int:
    """End every session of the user, on `conn` (in the transaction of the change)."""
    return await db.revoke_all(conn, user_id, reason)
