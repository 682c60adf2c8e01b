"""Throttling sign-ins: failed attempts per account and per client address, in PostgreSQL.

`login`, `completePasswordReset` and `refreshToken` call `attempt` before any password work:
it counts the attempt (so concurrent attempts cannot pass the limit together) and raises
LOGIN_THROTTLED, for right and wrong passwords alike, while a limit is reached. A success
calls `succeeded`, which forgives the account's failures and gives the address its attempt
back. The counters live in PostgreSQL, so every server process sees the same ones.
"""

from __future__ import annotations

import math
import os
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from db import metrics
from db import sign_in_throttle as db
from db.sign_in_throttle import Scope
from resolvers.context import Context
from resolvers.env import positive_int
from resolvers.errors import LoginThrottled

UNKNOWN_ADDRESS = "unknown"


@dataclass(frozen=True)
class SignInPolicy:
    """The throttle's limits, their environment variables and defaults (see the README)."""

    account_failures: int = 5  # LOGIN_THROTTLE_ACCOUNT_FAILURES
    address_failures: int = 50  # LOGIN_THROTTLE_ADDRESS_FAILURES
    window_minutes: int = 15  # LOGIN_THROTTLE_WINDOW_MINUTES
    refresh_ttl_days: int = 14  # REFRESH_TOKEN_TTL_DAYS: a session's absolute lifetime

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SignInPolicy:
        env = os.environ if env is None else env
        d = cls()
        return cls(
            account_failures=positive_int(
                env, "LOGIN_THROTTLE_ACCOUNT_FAILURES", d.account_failures
            ),
            address_failures=positive_int(
                env, "LOGIN_THROTTLE_ADDRESS_FAILURES", d.address_failures
            ),
            window_minutes=positive_int(env, "LOGIN_THROTTLE_WINDOW_MINUTES", d.window_minutes),
            refresh_ttl_days=positive_int(env, "REFRESH_TOKEN_TTL_DAYS", d.refresh_ttl_days),
        )

    @property
    def refresh_ttl(self) -> timedelta:
        return timedelta(days=self.refresh_ttl_days)


# Read on every attempt, so tests may replace it.
POLICY = SignInPolicy.from_env()


def client_address(ctx: Context) -> str:
    """The address of the TCP peer (behind a proxy: the proxy's; see the README)."""
    client = ctx.request.client
    return client.host if client is not None and client.host else UNKNOWN_ADDRESS


def account_key(email: str) -> str:
    """Emails compare case-insensitively (the column is citext), so the key is lower case,
    without accents: PostgreSQL lowers "İ" to "i" where Python gives "i" and a combining dot,
    and every spelling that finds the same account must share its count (merging a few more
    spellings only throttles sooner). PostgreSQL text holds no NUL, so one becomes U+FFFD."""
    decomposed = unicodedata.normalize("NFKD", email.strip().lower())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return bare.replace("\x00", "\ufffd")


async def attempt(ctx: Context, account: str | None) -> None:
    """Count a sign-in attempt for the client address (and the account, if any); raise
    LOGIN_THROTTLED if either has reached its limit in the current window."""
    policy = POLICY
    window = policy.window_minutes * 60
    keys = [(Scope.ADDRESS, client_address(ctx))]
    if account is not None:
        keys.append((Scope.ACCOUNT, account))
    async with ctx.connection() as conn:
        counts = await db.reserve(conn, keys, window)
    limit = {Scope.ACCOUNT: policy.account_failures, Scope.ADDRESS: policy.address_failures}
    over = [c for c in counts if c.failures > limit[c.scope]]
    if not over:
        return
    if metrics.ENABLED:
        metrics.LOGIN_THROTTLED.inc()
    now = datetime.now(UTC)
    retry = max(
        math.ceil((c.window_start + timedelta(seconds=window) - now).total_seconds()) for c in over
    )
    which = " and ".join(
        "this account" if c.scope is Scope.ACCOUNT else "this address" for c in over
    )
    raise LoginThrottled(
        f"Too many failed sign-ins for {which}; retry in {max(retry, 1)} seconds",
        max(retry, 1),
    )


async def succeeded(ctx: Context, account: str | None) -> None:
    async with ctx.connection() as conn:
        await db.release(conn, account, client_address(ctx))
