"""Runtime settings: key -> JSON value, shared by every server process through the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg


@dataclass(slots=True)  # not frozen: built per row on hot paths, ~2x cheaper
class SettingRow:
    key: str
    value: Any
    updated_by: int | None
    updated_at: datetime


BY_KEYS = "SELECT key, value, updated_by, updated_at FROM settings WHERE key = ANY($1::text[])"


async def by_keys(conn: asyncpg.Connection, keys: list[str]) -> list[SettingRow | None]:
    found = {r["key"]: SettingRow(**dict(r)) for r in await conn.fetch(BY_KEYS, keys)}
    return [found.get(k) for k in keys]


UPSERT = """
INSERT INTO settings (key, value, updated_by, updated_at) VALUES ($1, $2, $3, now())
ON CONFLICT (key) DO UPDATE
    SET value = EXCLUDED.value, updated_by = EXCLUDED.updated_by, updated_at = now()
RETURNING key, value, updated_by, updated_at
"""


async def upsert(
    conn: asyncpg.Connection, key: str, value: Any, updated_by: int | None
) -> SettingRow:
    return SettingRow(**dict(await conn.fetchrow(UPSERT, key, value, updated_by)))


LOCK_KEYS = f"{BY_KEYS} FOR UPDATE"


async def lock_keys(conn: asyncpg.Connection, keys: list[str]) -> list[SettingRow | None]:
    """The current rows of `keys`, locked until the transaction ends (for before/after audit)."""
    found = {r["key"]: SettingRow(**dict(r)) for r in await conn.fetch(LOCK_KEYS, keys)}
    return [found.get(k) for k in keys]
