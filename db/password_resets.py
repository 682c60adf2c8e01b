"""Single-use password reset tokens: only a hash of each token is stored."""

from __future__ import annotations

from datetime import datetime

import asyncpg

REVOKE_UNUSED = """
UPDATE password_reset_tokens SET used_at = now() WHERE user_id = $1 AND used_at IS NULL
"""

INSERT = """
INSERT INTO password_reset_tokens (user_id, token_hash, expires_at, created_by)
VALUES ($1, $2, $3, $4)
"""


async def revoke_unused(conn: asyncpg.Connection, user_id: int) -> None:
    """The user's unused token (if any) stops working."""
    await conn.execute(REVOKE_UNUSED, user_id)


async def replace(
    conn: asyncpg.Connection,
    *,
    user_id: int,
    token_hash: str,
    expires_at: datetime,
    created_by: int | None,
) -> None:
    """Store a new token for the user; any earlier unused one stops working."""
    await conn.execute(REVOKE_UNUSED, user_id)
    await conn.execute(INSERT, user_id, token_hash, expires_at, created_by)


USABLE = """
SELECT EXISTS (
    SELECT FROM password_reset_tokens t JOIN users u ON u.id = t.user_id
    WHERE t.token_hash = $1 AND t.used_at IS NULL AND t.expires_at > now()
      AND u.status = 'ACTIVE'
)
"""


async def usable(conn: asyncpg.Connection, token_hash: str) -> bool:
    """Whether the token is unused, unexpired and its user ACTIVE (nothing changes)."""
    return bool(await conn.fetchval(USABLE, token_hash))


CONSUME = """
UPDATE password_reset_tokens t SET used_at = now()
FROM users u
WHERE t.token_hash = $1 AND t.used_at IS NULL AND t.expires_at > now()
  AND u.id = t.user_id AND u.status = 'ACTIVE'
RETURNING t.user_id
"""


async def consume(conn: asyncpg.Connection, token_hash: str) -> int | None:
    """Mark the token used and return its user, or None if unknown, used, expired or its
    user is DISABLED.

    One conditional UPDATE, so two concurrent uses of one token cannot both succeed.
    """
    user_id = await conn.fetchval(CONSUME, token_hash)
    return int(user_id) if user_id is not None else None
