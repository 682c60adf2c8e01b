"""Users: admins, managers and members."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from db.page_batch import RenderedLists, RenderedPage, RenderedRows, RootPages
from db.pagination import Keyset, Page, PageRequest, contains_pattern, count


class Role(enum.Enum):
    ADMIN = "ADMIN"
    MANAGER = "MANAGER"
    MEMBER = "MEMBER"


class UserStatus(enum.Enum):
    ACTIVE = "ACTIVE"
    DISABLED = "DISABLED"


@dataclass(slots=True)  # not frozen: built per row on hot paths, ~2x cheaper
class UserRow:
    id: int
    email: str
    name: str
    role: Role
    status: UserStatus
    created_at: datetime
    updated_at: datetime


COLUMNS = "id, email, name, role, status, created_at, updated_at"


# Enum members by stored value (the CHECK constraints admit no others).
_ROLES = {r.value: r for r in Role}
_STATUSES = {s.value: s for s in UserStatus}


def _row(r: asyncpg.Record) -> UserRow:
    return UserRow(
        r["id"],
        r["email"],
        r["name"],
        _ROLES[r["role"]],
        _STATUSES[r["status"]],
        r["created_at"],
        r["updated_at"],
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


@dataclass(frozen=True)
class Credentials:
    """What signing in needs: the user and their password hash (never leaves the server)."""

    user: UserRow
    password_hash: str


BY_EMAIL = f"SELECT {COLUMNS}, password_hash FROM users WHERE email = $1"


async def credentials_by_email(conn: asyncpg.Connection, email: str) -> Credentials | None:
    r = await conn.fetchrow(BY_EMAIL, email)
    return Credentials(_row(r), r["password_hash"]) if r else None


INSERT_IF_NEW = f"""
INSERT INTO users (email, name, role, password_hash) VALUES ($1, $2, $3, $4)
ON CONFLICT (email) DO NOTHING
RETURNING {COLUMNS}
"""


async def insert_if_new(
    conn: asyncpg.Connection, *, email: str, name: str, role: Role, password_hash: str
) -> UserRow | None:
    """The new user, or None when the email (case-insensitively) is taken."""
    r = await conn.fetchrow(INSERT_IF_NEW, email, name, role.value, password_hash)
    return _row(r) if r else None


LOCK = f"SELECT {COLUMNS} FROM users WHERE id = $1 FOR UPDATE"


async def lock(conn: asyncpg.Connection, user_id: int) -> UserRow | None:
    r = await conn.fetchrow(LOCK, user_id)
    return _row(r) if r else None


UPDATE_PROFILE = f"""
UPDATE users SET name = $2, role = $3, updated_at = now() WHERE id = $1
RETURNING {COLUMNS}
"""


async def update_profile(
    conn: asyncpg.Connection, user_id: int, *, name: str, role: Role
) -> UserRow | None:
    r = await conn.fetchrow(UPDATE_PROFILE, user_id, name, role.value)
    return _row(r) if r else None


SET_STATUS = f"""
UPDATE users SET status = $2, updated_at = now() WHERE id = $1
RETURNING {COLUMNS}
"""


async def set_status(conn: asyncpg.Connection, user_id: int, status: UserStatus) -> UserRow | None:
    r = await conn.fetchrow(SET_STATUS, user_id, status.value)
    return _row(r) if r else None


SET_PASSWORD = f"""
UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1
RETURNING {COLUMNS}
"""


async def set_password(
    conn: asyncpg.Connection, user_id: int, password_hash: str
) -> UserRow | None:
    r = await conn.fetchrow(SET_PASSWORD, user_id, password_hash)
    return _row(r) if r else None


@dataclass(frozen=True)
class UserFilter:
    search: str | None = None
    role: Role | None = None
    status: UserStatus | None = None

    def sql(self) -> tuple[list[str], list[Any]]:
        where: list[str] = []
        args: list[Any] = []
        if self.search:
            args.append(contains_pattern(self.search))
            where.append(f"(email ILIKE ${len(args)} OR name ILIKE ${len(args)})")
        if self.role is not None:
            args.append(self.role.value)
            where.append(f"role = ${len(args)}")
        if self.status is not None:
            args.append(self.status.value)
            where.append(f"status = ${len(args)}")
        return where, args


# Oldest first, so that pages stay stable while users are added.
KEYSET = Keyset(("created_at", "id"), descending=False)


@dataclass(slots=True)
class RenderedUser:
    """A page's row whose JSON PostgreSQL wrote (`json`; "" when the page's lists were
    written whole): the cursor's key besides."""

    id: int
    created_at: datetime
    json: str


RENDERED = RenderedRows(("id", "created_at"), RenderedUser, fact="id")
PAGES = RootPages("users", COLUMNS, KEYSET, _row, RENDERED)


async def page(
    conn: asyncpg.Connection,
    request: PageRequest,
    flt: UserFilter,
    how: str | RenderedLists | None = None,
) -> Page[UserRow] | Page[RenderedUser] | RenderedPage:
    """A page of users, oldest first: UserRows; with `how`, what PostgreSQL writes
    (db/page_batch.py: `fetch_root_page`)."""
    where, args = flt.sql()
    return await PAGES.read(conn, request, where, args, how)


async def total(conn: asyncpg.Connection, flt: UserFilter) -> int:
    where, args = flt.sql()
    return await count(conn, table="users", where=where, args=args)
