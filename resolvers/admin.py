"""The admin surface: health, user and audit-log lists, and runtime settings."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from typing import Any

from db import audit as audit_db
from db import migrate
from db import settings as settings_db
from db import users as users_db
from db.audit import AuditFilter, AuditRow
from db.page_batch import RenderedLists
from db.pagination import Page
from db.settings import SettingRow
from db.users import UserFilter, UserRow
from resolvers import audit
from resolvers.context import Context
from resolvers.errors import ErrorCode, Problem
from resolvers.outcome import Outcome
from resolvers.pagination import DATETIME, INT, CursorKind, capped_request, read_page
from resolvers.settings import KNOWN, SettingSpec, check_value

STARTED = time.monotonic()
HEALTH_TIMEOUT_S = 1.0
MAX_SETTINGS_PER_UPDATE = 50


def server_version() -> str:
    try:
        return metadata.version("campaign-graphql")
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True)
class Health:
    database_reachable: bool
    latency_ms: float | None
    pool_size: int
    pool_in_use: int
    migration_version: int | None
    expected_migration_version: int
    server_version: str
    uptime_seconds: float


async def health(ctx: Context) -> Health:
    started = time.perf_counter()
    version: int | None = None
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_S), ctx.connection() as conn:
            version = await migrate.current_version(conn)
        latency: float | None = round((time.perf_counter() - started) * 1000, 2)
    except Exception:  # any failure means "unreachable", which is what this reports
        latency = None
    size = ctx.pool.get_size()
    return Health(
        database_reachable=latency is not None,
        latency_ms=latency,
        pool_size=size,
        pool_in_use=size - ctx.pool.get_idle_size(),
        migration_version=version,
        expected_migration_version=migrate.latest_version(),
        server_version=server_version(),
        uptime_seconds=round(time.monotonic() - STARTED, 3),
    )


# --- users and audit logs -------------------------------------------------------------------

USER_CURSOR = CursorKind("users", (DATETIME, INT))
AUDIT_CURSOR = CursorKind("auditLogs", (DATETIME, INT))


def user_cursor(row: UserRow) -> str:
    return USER_CURSOR.encode((row.created_at, row.id))


def audit_cursor(row: AuditRow) -> str:
    return AUDIT_CURSOR.encode((row.created_at, row.id))


async def list_users(
    ctx: Context,
    *,
    first: int | None,
    after: str | None,
    flt: UserFilter,
    how: str | RenderedLists | None = None,
) -> Any:
    """A page of users: UserRows, or what PostgreSQL writes (`how`, db/users.py)."""
    request = await capped_request(ctx, USER_CURSOR, first=first, after=after)
    return await read_page(
        ctx,
        request,
        lambda conn, r: users_db.page(conn, r, flt, how),
        ctx.loaders.user_by_id if how is None else None,
    )


async def count_users(ctx: Context, flt: UserFilter) -> int:
    async with ctx.connection() as conn:
        return await users_db.total(conn, flt)


async def list_audit_logs(
    ctx: Context, *, first: int | None, after: str | None, flt: AuditFilter
) -> Page[AuditRow]:
    request = await capped_request(ctx, AUDIT_CURSOR, first=first, after=after)
    return await read_page(ctx, request, lambda conn, r: audit_db.page(conn, r, flt))


async def count_audit_logs(ctx: Context, flt: AuditFilter) -> int:
    async with ctx.connection() as conn:
        return await audit_db.total(conn, flt)


# --- settings -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    spec: SettingSpec
    value: Any
    row: SettingRow | None


async def list_settings(ctx: Context) -> list[Setting]:
    specs = list(KNOWN.values())
    rows = await ctx.loaders.setting_by_key.load_many([s.key for s in specs])
    return [Setting(s, r.value if r else s.default, r) for s, r in zip(specs, rows, strict=True)]


async def update_settings(ctx: Context, changes: list[tuple[str, Any]]) -> Outcome[list[Setting]]:
    """Validate every change, then write all of them (or none) with one audit row."""
    problems: list[Problem] = []
    if not changes:
        problems.append(Problem(("settings",), "Give at least one setting", ErrorCode.BLANK))
    if len(changes) > MAX_SETTINGS_PER_UPDATE:
        problems.append(
            Problem(
                ("settings",),
                f"At most {MAX_SETTINGS_PER_UPDATE} settings per update",
                ErrorCode.INVALID,
            )
        )
    seen: set[str] = set()
    for i, (key, value) in enumerate(changes[:MAX_SETTINGS_PER_UPDATE]):
        spec = KNOWN.get(key)
        if spec is None:
            known = ", ".join(sorted(KNOWN))
            problems.append(
                Problem(
                    ("settings", str(i), "key"),
                    f"Unknown setting {key!r}; known settings: {known}",
                    ErrorCode.UNKNOWN_SETTING,
                )
            )
        elif key in seen:
            problems.append(
                Problem(("settings", str(i), "key"), f"{key} is given twice", ErrorCode.INVALID)
            )
        elif (why := check_value(spec, value)) is not None:
            problems.append(Problem(("settings", str(i), "value"), why, ErrorCode.INVALID))
        seen.add(key)
    if problems:
        return Outcome(None, problems)
    keys = [key for key, _ in changes]
    async with ctx.transaction() as conn:
        before = await settings_db.lock_keys(conn, keys)
        after = [await settings_db.upsert(conn, k, v, ctx.viewer_id) for k, v in changes]
        await audit.record(
            conn,
            ctx,
            "settings.update",
            "Setting",
            None,
            {k: (r.value if r else KNOWN[k].default) for k, r in zip(keys, before, strict=True)},
            {r.key: r.value for r in after},
        )
    for row in after:
        ctx.loaders.setting_by_key.clear(row.key).prime(row.key, row)
    return Outcome([Setting(KNOWN[r.key], r.value, r) for r in after])


def updated_at(setting: Setting) -> datetime | None:
    return setting.row.updated_at if setting.row else None
