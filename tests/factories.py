"""Rows for tests, inserted with plain SQL so tests do not depend on the code they test."""

from __future__ import annotations

import base64
import functools
from datetime import datetime
from typing import Any

import asyncpg

from db.passwords import hash_password

PASSWORD = "correct horse battery staple"


@functools.cache
def password_hash() -> str:
    return hash_password(PASSWORD)


def gid(type_name: str, pk: int) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


async def merchant(conn: asyncpg.Connection, name: str = "Shop", category: str = "Retail") -> int:
    return int(
        await conn.fetchval(
            "INSERT INTO merchants (name, category) VALUES ($1, $2) RETURNING id", name, category
        )
    )


async def user(
    conn: asyncpg.Connection,
    email: str = "someone@example.com",
    *,
    name: str = "Some One",
    role: str = "MEMBER",
    status: str = "ACTIVE",
) -> int:
    return int(
        await conn.fetchval(
            "INSERT INTO users (email, name, role, status, password_hash)"
            " VALUES ($1, $2, $3, $4, $5)"
            " RETURNING id",
            email,
            name,
            role,
            status,
            password_hash(),
        )
    )


async def campaign(
    conn: asyncpg.Connection,
    merchant_id: int,
    *,
    name: str = "Campaign",
    status: str = "DRAFT",
    created_by: int | None = None,
    budget_cents: int = 100_000,
    spent_cents: int = 0,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    reward_type: str = "CASHBACK_PERCENT",
    reward_value: int = 500,
) -> int:
    return int(
        await conn.fetchval(
            """
        INSERT INTO campaigns (merchant_id, created_by, name, status, reward_type, reward_value,
                               budget_cents, spent_cents, starts_at, ends_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id
        """,
            merchant_id,
            created_by,
            name,
            status,
            reward_type,
            reward_value,
            budget_cents,
            spent_cents,
            starts_at,
            ends_at,
        )
    )


async def audit_rows(
    conn: asyncpg.Connection, target_id: int | None = None
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT actor_id, action, target_type, target_id, before, after, request_id,"
        " client_request_id FROM audit_logs WHERE $1::bigint IS NULL OR target_id = $1 ORDER BY id",
        target_id,
    )
    return [dict(r) for r in rows]
