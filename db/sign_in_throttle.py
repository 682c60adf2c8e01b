"""Sign-in attempts per account and per client address, counted in fixed windows.

An attempt is counted before the password is checked (`reserve`), so concurrent attempts
cannot slip past the limit together; a success gives its count back (`release`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

import asyncpg


class Scope(enum.Enum):
    ACCOUNT = "ACCOUNT"
    ADDRESS = "ADDRESS"


@dataclass(frozen=True)
class Count:
    scope: Scope
    failures: int  # including the attempt just reserved
    window_start: datetime


# A window older than $3 seconds starts over at this attempt. Keys arrive sorted, so two
# statements lock the same rows in the same order.
RESERVE = """
INSERT INTO sign_in_throttle AS t (scope, key, window_start, failures)
SELECT scope, key, now(), 1 FROM unnest($1::text[], $2::text[]) AS k (scope, key)
ORDER BY scope, key
ON CONFLICT (scope, key) DO UPDATE SET
    window_start = CASE WHEN t.window_start <= now() - make_interval(secs => $3)
                        THEN now() ELSE t.window_start END,
    failures = CASE WHEN t.window_start <= now() - make_interval(secs => $3)
                    THEN 1 ELSE least(t.failures + 1, 1000000) END
RETURNING scope, failures, window_start
"""

PRUNE = "DELETE FROM sign_in_throttle WHERE window_start <= now() - make_interval(secs => $1)"


async def reserve(
    conn: asyncpg.Connection, keys: list[tuple[Scope, str]], window_seconds: int
) -> list[Count]:
    """Count one attempt against each key; returns each key's count in its window."""
    keys = sorted(set(keys), key=lambda k: (k[0].value, k[1]))
    await conn.execute(PRUNE, float(window_seconds))
    rows = await conn.fetch(
        RESERVE, [s.value for s, _ in keys], [k for _, k in keys], float(window_seconds)
    )
    return [Count(Scope(r["scope"]), r["failures"], r["window_start"]) for r in rows]


# A success: the account's failures are forgiven; the address gets this attempt back only.
RELEASE = """
WITH account AS (
    DELETE FROM sign_in_throttle WHERE scope = 'ACCOUNT' AND key = $1
)
UPDATE sign_in_throttle SET failures = greatest(failures - 1, 0)
WHERE scope = 'ADDRESS' AND key = $2
"""


async def release(conn: asyncpg.Connection, account: str | None, address: str) -> None:
    await conn.execute(RELEASE, account, address)
