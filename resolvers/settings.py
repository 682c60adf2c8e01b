"""Known runtime settings, their types, ranges and defaults."""

from __future__ import annotations

from dataclasses import dataclass

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

KNOWN: dict[str, SettingSpec] = {s.key: s for s in (MAX_PAGE_SIZE,)}


async def int_setting(ctx: Context, spec: SettingSpec) -> int:
    """The setting's stored value, or its default when unset or out of range."""
    row = await ctx.loaders.setting_by_key.load(spec.key)
    value = row.value if row is not None else spec.default
    if isinstance(value, bool) or not isinstance(value, int):
        return spec.default
    return min(max(value, spec.minimum), spec.maximum)
