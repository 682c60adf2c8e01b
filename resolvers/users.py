"""Signing in, password resets and user management (each change audited in its transaction)."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from db import audit as audit_db
from db import metrics, password_resets
from db import users as db
from db.passwords import hash_off_loop, hash_password, verify_off_loop
from db.sessions import RevokedReason
from db.users import Role, UserRow, UserStatus
from resolvers import audit, auth, sessions, signin
from resolvers.context import Context
from resolvers.errors import ErrorCode
from resolvers.ids import InvalidGlobalId, from_global_id
from resolvers.outcome import Outcome
from resolvers.settings import PASSWORD_RESET_EXPIRY_MINUTES, int_setting
from resolvers.validation import Checker

PASSWORD_MIN = 12
PASSWORD_MAX = 256
EMAIL_MAX = 254
NAME_MAX = 200
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
BAD_CREDENTIALS = "The email or password is wrong"
BAD_RESET_TOKEN = "This password reset token is unknown, already used or expired"
# Verified when no user has the email, so a miss costs as long as a wrong password.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def check_password(check: Checker, field: str, password: str) -> None:
    if len(password) < PASSWORD_MIN or not password.strip():
        check.fail(
            field, f"{field} must be at least {PASSWORD_MIN} characters", ErrorCode.WEAK_PASSWORD
        )
    elif len(password) > PASSWORD_MAX:
        check.fail(field, f"{field} must be at most {PASSWORD_MAX} characters", ErrorCode.TOO_LONG)


def check_email(check: Checker, field: str, email: str) -> str:
    cleaned = check.text(field, email, max_length=EMAIL_MAX)
    if cleaned and len(cleaned) <= EMAIL_MAX and not _EMAIL.fullmatch(cleaned):
        check.fail(
            field, f"{field} must be an email address like name@example.com", ErrorCode.INVALID
        )
    return cleaned


def _user_pk(check: Checker, field: str, global_id: str) -> int | None:
    try:
        return from_global_id(global_id, "User")
    except InvalidGlobalId:
        check.fail(field, f"{field} is not a valid User ID", ErrorCode.INVALID_ID)
        return None


def _not_found(field: str) -> Outcome[Any]:
    return Outcome.refuse(field, "No user has this ID", ErrorCode.NOT_FOUND)


# --- signing in -----------------------------------------------------------------------------


async def login(ctx: Context, email: str, password: str) -> Outcome[sessions.SignedIn]:
    """Check the password (off the event loop, after the throttle) and open a session."""
    if ctx.tokens is None:
        raise RuntimeError("the server was started without a token signer")
    account = signin.account_key(email)
    await signin.attempt(ctx, account)
    found = None
    if "\x00" not in email:  # no stored email holds NUL; PostgreSQL would refuse the query
        async with ctx.connection() as conn:
            found = await db.credentials_by_email(conn, email.strip())
    valid = await verify_off_loop(found.password_hash if found else _DUMMY_HASH, password)
    if found is None or not valid:
        if metrics.ENABLED:
            metrics.LOGIN_FAILURES.labels("invalid_credentials").inc()
        return Outcome.refuse(None, BAD_CREDENTIALS, ErrorCode.INVALID_CREDENTIALS)
    # The password was right: not a guess, whatever the account's status.
    await signin.succeeded(ctx, account)
    if found.user.status is not UserStatus.ACTIVE:
        if metrics.ENABLED:
            metrics.LOGIN_FAILURES.labels("account_disabled").inc()
        return Outcome.refuse(None, "This account is disabled", ErrorCode.ACCOUNT_DISABLED)
    signed_in = await sessions.open_session(ctx, found.user, found.password_hash)
    if signed_in is None:  # disabled, or the password changed, while it was being checked
        return Outcome.refuse(None, BAD_CREDENTIALS, ErrorCode.INVALID_CREDENTIALS)
    return Outcome(signed_in)


# --- password resets ------------------------------------------------------------------------


def token_hash(token: str) -> str:
    """Reset tokens are 256 random bits, so a plain SHA-256 is enough to store them safely."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class ResetToken:
    user: UserRow
    token: str
    expires_at: datetime


async def reset_password(ctx: Context, user_id: str) -> Outcome[ResetToken]:
    check = Checker()
    pk = _user_pk(check, "userId", user_id)
    if pk is None:
        return Outcome(None, check.problems)
    minutes = await int_setting(ctx, PASSWORD_RESET_EXPIRY_MINUTES)
    token = secrets.token_urlsafe(32)
    expires_at = datetime.now(UTC) + timedelta(minutes=minutes)
    async with ctx.transaction() as conn:
        user = await db.lock(conn, pk)
        if user is None:
            return _not_found("userId")
        await password_resets.replace(
            conn,
            user_id=pk,
            token_hash=token_hash(token),
            expires_at=expires_at,
            created_by=ctx.viewer_id,
        )
        await audit.record(
            conn,
            ctx,
            "user.password_reset.create",
            "User",
            pk,
            None,
            {"expires_at": expires_at.isoformat()},
        )
    return Outcome(ResetToken(user, token, expires_at))


async def complete_password_reset(ctx: Context, token: str, password: str) -> Outcome[UserRow]:
    """The token is checked (by its hash, in SQL, throttled per address) before the new
    password is hashed; a DISABLED user's token is refused. Every session the user had ends."""
    check = Checker()
    check_password(check, "newPassword", password)
    if check.problems:
        return Outcome(None, check.problems)
    await signin.attempt(ctx, None)
    hashed = token_hash(token)
    async with ctx.connection() as conn:
        usable = await password_resets.usable(conn, hashed)
    if not usable:
        return Outcome.refuse("token", BAD_RESET_TOKEN, ErrorCode.INVALID_TOKEN)
    new_hash = await hash_off_loop(password)
    async with ctx.transaction() as conn:
        # Checked again as it is spent: the token may have been used, or its user disabled,
        # while the password was being hashed.
        user_id = await password_resets.consume(conn, hashed)
        if user_id is None:
            return Outcome.refuse("token", BAD_RESET_TOKEN, ErrorCode.INVALID_TOKEN)
        user = await db.set_password(conn, user_id, new_hash)
        assert user is not None  # the token's row references the user (ON DELETE CASCADE)
        await sessions.revoke_all(conn, user_id, RevokedReason.PASSWORD_CHANGED)
        # The token holder acts as the (ACTIVE) user from here on, like after `login`, and is
        # the audit row's actor; no session is opened, so no token outlives this request.
        auth.sign_in(ctx, user, None)
        await audit.record(conn, ctx, "user.password_reset.complete", "User", user_id, None, None)
    await signin.succeeded(ctx, None)
    return Outcome(user)


# --- user management ------------------------------------------------------------------------


@dataclass(frozen=True)
class NewUser:
    email: str
    name: str
    role: Role
    password: str


async def create_user_on(
    conn: asyncpg.Connection,
    given: NewUser,
    *,
    actor_id: int | None,
    request_id: str | None,
    client_request_id: str | None = None,
) -> Outcome[UserRow]:
    """Validate and insert a user with its audit row, on `conn` (which the caller owns).

    Shared by the `createUser` mutation and `python server.py create-user`.
    """
    check = Checker()
    email = check_email(check, "email", given.email)
    name = check.text("name", given.name, max_length=NAME_MAX)
    check_password(check, "password", given.password)
    if check.problems:
        return Outcome(None, check.problems)
    password_hash = await hash_off_loop(given.password)
    async with conn.transaction():
        row = await db.insert_if_new(
            conn, email=email, name=name, role=given.role, password_hash=password_hash
        )
        if row is None:
            return Outcome.refuse("email", "Another user has this email", ErrorCode.EMAIL_TAKEN)
        await audit_db.record(
            conn,
            actor_id=actor_id,
            action="user.create",
            target_type="User",
            target_id=row.id,
            before=None,
            after=audit.snapshot(row),
            request_id=request_id,
            client_request_id=client_request_id,
        )
    return Outcome(row)


async def create_user(ctx: Context, given: NewUser) -> Outcome[UserRow]:
    async with ctx.connection() as conn:
        return await create_user_on(
            conn,
            given,
            actor_id=ctx.viewer_id,
            request_id=ctx.request_id,
            client_request_id=ctx.client_request_id,
        )


async def update_user(
    ctx: Context, user_id: str, name: str | None, role: Role | None
) -> Outcome[UserRow]:
    check = Checker()
    pk = _user_pk(check, "id", user_id)
    cleaned_name = check.text("name", name, max_length=NAME_MAX) if name is not None else None
    if pk == ctx.viewer_id and role is not None and role is not Role.ADMIN:
        check.fail("role", "You may not demote yourself", ErrorCode.SELF_LOCKOUT)
    if pk is None or check.problems:
        return Outcome(None, check.problems)
    async with ctx.transaction() as conn:
        current = await db.lock(conn, pk)
        if current is None:
            return _not_found("id")
        new_name, new_role = cleaned_name or current.name, role or current.role
        if (new_name, new_role) == (current.name, current.role):
            return Outcome(current)  # nothing changes, so nothing to audit
        row = await db.update_profile(conn, pk, name=new_name, role=new_role)
        assert row is not None  # locked above
        if new_role is not current.role:
            # Tokens carry no role, but a session is trust granted to the old one: sign in again.
            await sessions.revoke_all(conn, pk, RevokedReason.ROLE_CHANGED)
        fields = ("name", "role")
        await audit.record(
            conn,
            ctx,
            "user.update",
            "User",
            pk,
            audit.snapshot(current, fields),
            audit.snapshot(row, fields),
        )
    return Outcome(row)


async def set_status(ctx: Context, user_id: str, status: UserStatus) -> Outcome[UserRow]:
    check = Checker()
    pk = _user_pk(check, "userId", user_id)
    if pk is not None and pk == ctx.viewer_id and status is not UserStatus.ACTIVE:
        check.fail("status", "You may not disable yourself", ErrorCode.SELF_LOCKOUT)
    if pk is None or check.problems:
        return Outcome(None, check.problems)
    async with ctx.transaction() as conn:
        current = await db.lock(conn, pk)
        if current is None:
            return _not_found("userId")
        row = await db.set_status(conn, pk, status)
        assert row is not None  # locked above
        if status is UserStatus.DISABLED:
            # Re-enabling later revives none of these: the user signs in again.
            await sessions.revoke_all(conn, pk, RevokedReason.DISABLED)
            await password_resets.revoke_unused(conn, pk)
        await audit.record(
            conn,
            ctx,
            "user.set_status",
            "User",
            pk,
            {"status": current.status.value},
            {"status": row.status.value},
        )
    return Outcome(row)
