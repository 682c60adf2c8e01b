"""Known runtime settings, their types, ranges and defaults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from resolvers.context import Context


@dataclass(frozen=True)
class SettingSpec:
    key: str
    description: str
    default: int
    minimum: int
    maximum: int


MAX_PAGE_SIZE = SettingSpec(
    "max_page_size",
    "Largest `first`/`last` a connection accepts.",
    default=100,
    minimum=1,
    maximum=1000,
)

PASSWORD_RESET_EXPIRY_MINUTES = SettingSpec(
    "password_reset_expiry_minutes",
    "Minutes a password reset token from `resetUserPassword` stays valid.",
    default=60,
    minimum=5,
    maximum=7 * 24 * 60,
)

KNOWN: dict[str, SettingSpec] = {s.key: s for s in (MAX_PAGE_SIZE, PASSWORD_RESET_EXPIRY_MINUTES)}


async def int_setting(ctx: Context, spec: SettingSpec) -> int:
    """The setting's stored value, or its default when unset or out of range."""
    row = await ctx.loaders.setting_by_key.load(spec.key)
    value = row.value if row is not None else spec.default
    if isinstance(value, bool) or not isinstance(value, int):
        return spec.default
    return min(max(value, spec.minimum), spec.maximum)


def check_value(spec: SettingSpec, value: Any) -> str | None:
    """Why `value` is not acceptable for `spec`, or None when it is."""
    if isinstance(value, bool) or not isinstance(value, int):
        return f"{spec.key} must be an integer"
    if not spec.minimum <= value <= spec.maximum:
        return f"{spec.key} must be between {spec.minimum} and {spec.maximum} (got {value})"
    return None
