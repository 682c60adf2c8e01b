"""Campaign analytics over a period, and the merchant-affinity summary."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from db import affinity as affinity_db
from db.affinity import AffinitySummaryRow
from db.analytics import DailyRow, SummaryRow
from resolvers.context import Context
from resolvers.errors import BadUserInput
from resolvers.periods import period

MAX_TOP_MERCHANTS = 100
DEFAULT_TOP_MERCHANTS = 10


async def daily(
    ctx: Context, campaign_pk: int, day_from: date | None, day_to: date | None
) -> list[DailyRow]:
    start, end = period(day_from, day_to)
    rows: list[DailyRow] = await ctx.loaders.daily_analytics_by_campaign_period.load(
        (campaign_pk, start, end)
    )
    return rows


@dataclass(frozen=True)
class Summary:
    day_from: date
    day_to: date
    totals: SummaryRow

    @property
    def ctr(self) -> float | None:
        """Clicks per impression; None without impressions."""
        t = self.totals
        return t.clicks / t.impressions if t.impressions else None

    @property
    def conversion_rate(self) -> float | None:
        """Conversions per click; None without clicks."""
        t = self.totals
        return t.conversions / t.clicks if t.clicks else None

    @property
    def roas(self) -> float | None:
        """Revenue per unit of spend; None without spend."""
        t = self.totals
        return t.revenue_cents / t.spend_cents if t.spend_cents else None


async def summary(
    ctx: Context, campaign_pk: int, day_from: date | None, day_to: date | None
) -> Summary:
    start, end = period(day_from, day_to)
    totals: SummaryRow = await ctx.loaders.analytics_summary_by_campaign_period.load(
        (campaign_pk, start, end)
    )
    return Summary(start, end, totals)


async def affinity_summary(ctx: Context, top: int | None) -> AffinitySummaryRow:
    limit = DEFAULT_TOP_MERCHANTS if top is None else top
    if not 0 <= limit <= MAX_TOP_MERCHANTS:
        raise BadUserInput(
            f"`topMerchants` must be between 0 and {MAX_TOP_MERCHANTS} (got {limit})",
            "topMerchants",
        )
    async with ctx.connection() as conn:
        return await affinity_db.summary(conn, limit)
