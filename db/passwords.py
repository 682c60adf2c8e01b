"""Password hashing with argon2id (argon2-cffi's recommended parameters).

Each hash or check takes tens of milliseconds of CPU (and 64 MiB), by design. The async
functions run it in a worker thread (argon2-cffi releases the GIL), so the event loop keeps
serving other requests, at most PASSWORD_HASH_CONCURRENCY (default 2) at a time per process,
so a burst of sign-ins cannot take every core or a gigabyte of memory.
"""

from __future__ import annotations

import asyncio
import os

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

DEFAULT_CONCURRENCY = 2

_hasher = PasswordHasher()


def _concurrency() -> int:
    raw = os.environ.get("PASSWORD_HASH_CONCURRENCY", "").strip()
    value = int(raw) if raw else DEFAULT_CONCURRENCY
    if value < 1:
        raise ValueError(f"PASSWORD_HASH_CONCURRENCY must be a positive integer (got {raw})")
    return value


_slots = asyncio.Semaphore(_concurrency())


def hash_password(password: str) -> str:
    """Blocking: for scripts and seeding; request handlers use `hash_off_loop`."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Blocking: request handlers use `verify_off_loop`."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def hash_off_loop(password: str) -> str:
    async with _slots:
        return await asyncio.to_thread(_hasher.hash, password)


async def verify_off_loop(password_hash: str, password: str) -> bool:
    async with _slots:
        return await asyncio.to_thread(verify_password, password_hash, password)
