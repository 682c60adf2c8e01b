"""The append-only audit log: written in the transaction of the change it records."""

from __future__ import annotations

from typing import Any

import asyncpg

INSERT = """
INSERT INTO audit_logs (actor_id, action, target_type, target_id, before, after, request_id)
VALUES ($1, $2, $3, $4, $5, $6, $7)
"""


async def record(
    conn: asyncpg.Connection,
    *,
    actor_id: int | None,
    action: str,
    target_type: str,
    target_id: int | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    request_id: str | None,
) -> None:
    await conn.execute(INSERT, actor_id, action, target_type, target_id, before, after, request_id)
