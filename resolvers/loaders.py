"""Per-request dataloaders: every field under a list reads through one of these.

Each batch function runs ONE statement for all keys (`= ANY($1)`) and returns results in key
order with None for misses, so a query's statement count depends on its shape, not its size.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
from aiodataloader import DataLoader

from db import campaigns, merchants, settings, users

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def batched(
    pool: asyncpg.Pool,
    fetch: Callable[[asyncpg.Connection, list[Any]], Awaitable[list[Any]]],
) -> DataLoader:
    """A DataLoader whose batch borrows one pooled connection for one statement."""

    async def load(keys: list[Any]) -> list[Any]:
        async with pool.acquire() as conn:
            return await fetch(conn, list(keys))

    return DataLoader(load)


@dataclass(frozen=True)
class Loaders:
    campaign_by_id: DataLoader
    merchant_by_id: DataLoader
    user_by_id: DataLoader
    setting_by_key: DataLoader


def build_loaders(pool: asyncpg.Pool) -> Loaders:
    return Loaders(
        campaign_by_id=batched(pool, campaigns.by_ids),
        merchant_by_id=batched(pool, merchants.by_ids),
        user_by_id=batched(pool, users.by_ids),
        setting_by_key=batched(pool, settings.by_keys),
    )
