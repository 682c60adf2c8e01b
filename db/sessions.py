"""Sessions and their refresh tokens (only hashes are stored), and the viewer read."""

from __future__ import annotations

import enum
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from db.users import COLUMNS as USER_COLUMNS
from db.users import UserRow
from db.users import _row as user_row


class RevokedReason(enum.Enum):
    LOGOUT = "LOGOUT"
    LOGOUT_ALL = "LOGOUT_ALL"
    REFRESH_TOKEN_REUSED = "REFRESH_TOKEN_REUSED"
    PASSWORD_CHANGED = "PASSWORD_CHANGED"
    ROLE_CHANGED = "ROLE_CHANGED"
    DISABLED = "DISABLED"


# The session row and its first refresh token in one statement, so neither exists alone; only
# while the user is ACTIVE and (when given, for `login`) still has the password hash that was
# checked. FOR SHARE orders it with a password reset, a role change or disabling, which lock
# the user's row before they revoke sessions: either this session is committed first, and
# they revoke it, or this statement waits for them and then sees the new row.
CREATE = """
WITH session AS (
    INSERT INTO sessions (id, user_id, expires_at)
    SELECT $1, u.id, $3 FROM users u
    WHERE u.id = $2 AND u.status = 'ACTIVE' AND ($5::text IS NULL OR u.password_hash = $5)
    FOR SHARE
    RETURNING id
)
INSERT INTO refresh_tokens (token_hash, session_id) SELECT $4, id FROM session
"""


async def create(
    conn: asyncpg.Connection,
    *,
    session_id: str,
    user_id: int,
    expires_at: datetime,
    refresh_hash: str,
    password_hash: str | None = None,
) -> bool:
    """Whether the session was opened (False: the user is not ACTIVE, or their password
    changed since `password_hash` was read)."""
    status = await conn.execute(
        CREATE, session_id, user_id, expires_at, refresh_hash, password_hash
    )
    return bool(status == "INSERT 0 1")


async def open_without_refresh(conn: asyncpg.Connection, user_id: int, expires_at: datetime) -> str:
    """A session whose refresh token nobody holds (a random hash): for access tokens minted
    outside `login`, like the dev server's printed admin token and the benchmarks'."""
    session_id = str(uuid.uuid4())
    opened = await create(
        conn,
        session_id=session_id,
        user_id=user_id,
        expires_at=expires_at,
        refresh_hash=secrets.token_hex(32),
    )
    if not opened:
        raise ValueError(f"user {user_id} is not ACTIVE: no session opened")
    return session_id


# The user's newest sessions stay; older ones go (their access tokens stop working), so
# signing in again and again cannot grow the table without bound.
TRIM = """
DELETE FROM sessions WHERE id IN (
    SELECT id FROM sessions WHERE user_id = $1 ORDER BY created_at DESC, id OFFSET $2
)
"""


async def trim(conn: asyncpg.Connection, user_id: int, keep: int) -> None:
    """Delete all but the user's `keep` newest sessions."""
    await conn.execute(TRIM, user_id, keep)


PRUNE = "DELETE FROM sessions WHERE expires_at < now()"


async def prune(conn: asyncpg.Connection) -> None:
    """Delete ended sessions (their refresh tokens go with them): the tables stay bounded."""
    await conn.execute(PRUNE)


# Users by session id, for sessions still open: the one statement behind every signed-in
# request (through the `viewer_by_session` loader).
VIEWERS = f"""
SELECT s.id::text AS session_id, {", ".join(f"u.{c.strip()}" for c in USER_COLUMNS.split(","))}
FROM sessions s JOIN users u ON u.id = s.user_id
WHERE s.id = ANY($1::uuid[]) AND s.revoked_at IS NULL AND s.expires_at > now()
"""


async def viewers(conn: asyncpg.Connection, session_ids: list[str]) -> list[UserRow | None]:
    """The user of each open session, in key order; None for an ended or unknown one."""
    found = {r["session_id"]: user_row(r) for r in await conn.fetch(VIEWERS, session_ids)}
    return [found.get(s) for s in session_ids]


@dataclass(frozen=True)
class Presented:
    """What a presented refresh token belongs to."""

    session_id: str
    user_id: int
    expires_at: datetime
    ended: bool  # revoked or expired
    used: bool  # already rotated: presenting it again means it was copied


# Locks the token's row and its session's, so two uses of one refresh token are decided one
# after the other: the second waits, then reads the token as spent (a locked row is re-read at
# its newest version; an unlocked joined row would be read as it was when the statement began).
PRESENTED = """
SELECT r.session_id::text AS session_id, s.user_id, s.expires_at, r.used_at IS NOT NULL AS used,
       s.revoked_at IS NOT NULL OR s.expires_at <= now() AS ended
FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id
WHERE r.token_hash = $1
FOR UPDATE OF r, s
"""


async def presented(conn: asyncpg.Connection, token_hash: str) -> Presented | None:
    r = await conn.fetchrow(PRESENTED, token_hash)
    if r is None:
        return None
    return Presented(r["session_id"], r["user_id"], r["expires_at"], r["ended"], r["used"])


ROTATE = """
WITH used AS (
    UPDATE refresh_tokens SET used_at = now()
    WHERE token_hash = $1 AND used_at IS NULL
    RETURNING session_id
)
INSERT INTO refresh_tokens (token_hash, session_id) SELECT $2, session_id FROM used
"""


async def rotate(conn: asyncpg.Connection, old_hash: str, new_hash: str) -> bool:
    """Mark `old_hash` used and give its session `new_hash`; False if it was used already."""
    return str(await conn.execute(ROTATE, old_hash, new_hash)) == "INSERT 0 1"


# Spent refresh tokens are kept to recognise one presented again; the newest few are enough
# (an older one presented again is refused as unknown, without ending the session).
FORGET_SPENT = """
DELETE FROM refresh_tokens WHERE token_hash IN (
    SELECT token_hash FROM refresh_tokens
    WHERE session_id = $1 AND used_at IS NOT NULL
    ORDER BY used_at DESC OFFSET $2
)
"""


async def forget_spent(conn: asyncpg.Connection, session_id: str, keep: int) -> None:
    """Delete all but the session's `keep` most recently spent refresh tokens."""
    await conn.execute(FORGET_SPENT, session_id, keep)


REVOKE = """
UPDATE sessions SET revoked_at = now(), revoked_reason = $3
WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL
"""


async def revoke(
    conn: asyncpg.Connection, session_id: str, user_id: int, reason: RevokedReason
) -> int:
    """End one session of the user; returns how many ended (0 or 1)."""
    status = await conn.execute(REVOKE, session_id, user_id, reason.value)
    return int(str(status).split()[-1])


REVOKE_ALL = """
UPDATE sessions SET revoked_at = now(), revoked_reason = $2
WHERE user_id = $1 AND revoked_at IS NULL
"""


async def revoke_all(conn: asyncpg.Connection, user_id: int, reason: RevokedReason) -> int:
    """End every open session of the user; returns how many ended."""
    status = await conn.execute(REVOKE_ALL, user_id, reason.value)
    return int(str(status).split()[-1])
