"""Users: admins, managers and members."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

import asyncpg


class Role(enum.Enum):
    ADMIN = "ADMIN"
    MANAGER = "MANAGER"
    MEMBER = "MEMBER"


class UserStatus(enum.Enum):
    ACTIVE = "ACTIVE"
    DISABLED = "DISABLED"


@dataclass(frozen=True)
class UserRow:
    id: int
    email: str
    name: str
    role: Role
    status: UserStatus
    created_at: datetime
    updated_at: datetime


COLUMNS = "id, email, name, role, status, created_at, updated_at"


def _row(r: asyncpg.Record) -> UserRow:
    return UserRow(
        id=r["id"],
        email=r["email"],
        name=r["name"],
        role=Role(r["role"]),
        status=UserStatus(r["status"]),
        created_at=r["created_at"],
        updated_at=r["updated_at"],
    )


BY_IDS = f"SELECT {COLUMNS} FROM users WHERE id = ANY($1::bigint[])"


async def by_ids(conn: asyncpg.Connection, ids: list[int]) -> list[UserRow | None]:
    found = {r["id"]: _row(r) for r in await conn.fetch(BY_IDS, ids)}
    return [found.get(i) for i in ids]


INSERT = f"""
INSERT INTO users (email, name, role, password_hash) VALUES ($1, $2, $3, $4)
RETURNING {COLUMNS}
"""


async def insert(
    conn: asyncpg.Connection, *, email: str, name: str, role: Role, password_hash: str
) -> UserRow:
    return _row(await conn.fetchrow(INSERT, email, name, role.value, password_hash))
