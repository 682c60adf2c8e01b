"""Runtime settings: key -> JSON value, shared by every server process through the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg


@dataclass(frozen=True)
class SettingRow:
    key: str
    value: Any
    updated_by: int | None
    updated_at: datetime


BY_KEYS = "SELECT key, value, updated_by, updated_at FROM settings WHERE key = ANY($1::text[])"


async def by_keys(conn: asyncpg.Connection, keys: list[str]) -> list[SettingRow | None]:
    found = {r["key"]: SettingRow(**dict(r)) for r in await conn.fetch(BY_KEYS, keys)}
    return [found.get(k) for k in keys]
