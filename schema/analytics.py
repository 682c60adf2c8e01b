"""Campaign analytics and the merchant-affinity summary."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import strawberry

from db import render as sql
from db.analytics import DailyRow
from resolvers import analytics as logic
from resolvers.context import Info
from resolvers.periods import DEFAULT_DAYS, MAX_DAYS
from schema import render
from schema.common import Money
from schema.merchants import Merchant

PERIOD = (
    f"Both days inclusive; `from` defaults to {DEFAULT_DAYS} days before `to`, `to` to today "
    f"(UTC). At most {MAX_DAYS} days; `to` before `from` is refused."
)
From = Annotated[date | None, strawberry.argument(name="from", description="First day. " + PERIOD)]
To = Annotated[date | None, strawberry.argument(description="Last day. " + PERIOD)]


@strawberry.type(description="One day of a campaign's performance.")
class DailyAnalytics:
    day: date = strawberry.field(description="The day (UTC).")
    impressions: int = strawberry.field(description="Times the offer was shown.")
    clicks: int = strawberry.field(description="Times it was clicked.")
    conversions: int = strawberry.field(description="Qualifying purchases.")
    # Money objects are made only when asked for: a week of 50 campaigns is 350 rows.
    spend_cents: strawberry.Private[int]
    revenue_cents: strawberry.Private[int]
    currency: strawberry.Private[str]

    @strawberry.field(description="What the campaign cost that day.")
    def spend(self) -> Money:
        return Money.of(self.spend_cents, self.currency)

    @strawberry.field(description="Purchase value it brought that day.")
    def revenue(self) -> Money:
        return Money.of(self.revenue_cents, self.currency)

    @classmethod
    def from_row(cls, row: DailyRow, currency: str) -> DailyAnalytics:
        return cls(
            day=row.day,
            impressions=row.impressions,
            clicks=row.clicks,
            conversions=row.conversions,
            spend_cents=row.spend_cents,
            revenue_cents=row.revenue_cents,
            currency=currency,
        )


@strawberry.type(description="A campaign's totals over a period, with derived ratios.")
class AnalyticsSummary:
    from_: date = strawberry.field(name="from", description="First day of the period.")
    to: date = strawberry.field(description="Last day of the period.")
    days: int = strawberry.field(description="Days in the period that have data.")
    impressions: int = strawberry.field(description="Total impressions.")
    clicks: int = strawberry.field(description="Total clicks.")
    conversions: int = strawberry.field(description="Total conversions.")
    spend: Money = strawberry.field(description="Total spend.")
    revenue: Money = strawberry.field(description="Total revenue.")
    ctr: float | None = strawberry.field(
        description="clicks / impressions; null when there were no impressions."
    )
    conversion_rate: float | None = strawberry.field(
        description="conversions / clicks; null when there were no clicks."
    )
    roas: float | None = strawberry.field(
        description="Return on ad spend, revenue / spend; null when nothing was spent."
    )

    @classmethod
    def of(cls, s: logic.Summary, currency: str) -> AnalyticsSummary:
        t = s.totals
        return cls(
            from_=s.day_from,
            to=s.day_to,
            days=t.days,
            impressions=t.impressions,
            clicks=t.clicks,
            conversions=t.conversions,
            spend=Money.of(t.spend_cents, currency),
            revenue=Money.of(t.revenue_cents, currency),
            ctr=s.ctr,
            conversion_rate=s.conversion_rate,
            roas=s.roas,
        )


@strawberry.type(description="A merchant and the mean affinity score members have for it.")
class MerchantScore:
    mean_score: float = strawberry.field(description="Mean score over the merchant's members.")
    users: int = strawberry.field(description="Members with an affinity for the merchant.")
    merchant_pk: strawberry.Private[int]

    @strawberry.field(description="The merchant.")
    async def merchant(self, info: Info) -> Merchant | None:
        row = await info.context.loaders.merchant_by_id.load(self.merchant_pk)
        return Merchant.from_row(row) if row else None


@strawberry.type(description="Platform-wide member-merchant affinity (old /api/optimize/...).")
class AffinitySummary:
    users: int = strawberry.field(description="Members with at least one affinity.")
    merchants: int = strawberry.field(description="Merchants with at least one affinity.")
    mean_score: float | None = strawberry.field(
        description="Mean of all scores; null when there are none."
    )
    top_merchants: list[MerchantScore] = strawberry.field(
        description="Merchants with the highest mean score, best first: as many as "
        f"`topMerchants` asks (at most {logic.MAX_TOP_MERCHANTS})."
    )


@strawberry.type
class AnalyticsQuery:
    @strawberry.field(description="Summary of member-merchant affinities across the platform.")
    async def affinity_summary(
        self,
        info: Info,
        top_merchants: Annotated[
            int | None,
            strawberry.argument(
                description=f"How many top merchants (default {logic.DEFAULT_TOP_MERCHANTS}, "
                f"at most {logic.MAX_TOP_MERCHANTS})."
            ),
        ] = None,
    ) -> AffinitySummary:
        row = await logic.affinity_summary(info.context, top_merchants)
        return AffinitySummary(
            users=row.users,
            merchants=row.merchants,
            mean_score=row.mean_score,
            top_merchants=[
                MerchantScore(mean_score=m.mean_score, users=m.users, merchant_pk=m.merchant_id)
                for m in row.top_merchants
            ],
        )


# Spend and revenue (resolvers of their own) are not written.
render.renderable(
    DailyAnalytics,
    table="campaign_analytics_daily",
    day=sql.value("day"),
    impressions=sql.value("impressions"),
    clicks=sql.value("clicks"),
    conversions=sql.value("conversions"),
)
