"""Audit rows for changes, written on the connection (and so in the transaction) of the change."""

from __future__ import annotations

import dataclasses
import enum
from datetime import datetime
from typing import Any

import asyncpg

from db import audit
from resolvers.context import Context


def snapshot(row: Any, fields: tuple[str, ...] | None = None) -> dict[str, Any]:
    """A JSON-safe dict of a row dataclass (optionally only `fields`)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(row):
        if fields is not None and f.name not in fields:
            continue
        value = getattr(row, f.name)
        if isinstance(value, enum.Enum):
            value = value.value
        elif isinstance(value, datetime):
            value = value.isoformat()
        out[f.name] = value
    return out


async def record(
    conn: asyncpg.Connection,
    ctx: Context,
    action: str,
    target_type: str,
    target_id: int | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    await audit.record(
        conn,
        actor_id=ctx.viewer_id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        before=before,
        after=after,
        request_id=ctx.request_id,
        client_request_id=ctx.client_request_id,
    )
