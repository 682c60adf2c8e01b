"""A/B tests on campaigns: variants, result statistics, queries."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from db import abtests as db
from db import render as sql
from db.abtests import MAX_VARIANTS_PER_TEST, AbTestRow, VariantRow
from resolvers import abtests as logic
from resolvers.context import Info
from resolvers.ids import argument_pk, to_global_id
from resolvers.visibility import Keyed, Missing
from schema import render
from schema.common import After, Before, Connection, First, Last, Node, described_enum

if TYPE_CHECKING:
    from schema.campaigns import Campaign

AbTestStatus = db.AbTestStatus
described_enum(
    AbTestStatus,
    name="AbTestStatus",
    description="Where an A/B test is in its life.",
    values={
        "DRAFT": "Set up, not yet serving traffic.",
        "RUNNING": "Serving traffic to its variants.",
        "STOPPED": "Finished; its counts are final.",
    },
)


@strawberry.type(description="One arm of an A/B test.")
class AbTestVariant:
    name: str = strawberry.field(description="Name, unique within the test.")
    is_control: bool = strawberry.field(description="True for the baseline the others beat.")
    traffic_share: float = strawberry.field(description="Part of the traffic it gets, 0..1.")
    impressions: int = strawberry.field(description="Members shown this variant.")
    conversions: int = strawberry.field(description="Of those, how many converted.")
    conversion_rate: float | None = strawberry.field(
        description="conversions / impressions; null without impressions."
    )

    @classmethod
    def from_row(cls, row: VariantRow) -> AbTestVariant:
        return cls(
            name=row.name,
            is_control=row.is_control,
            traffic_share=float(row.traffic_share),
            impressions=row.impressions,
            conversions=row.conversions,
            conversion_rate=logic.conversion_rate(row),
        )


@strawberry.type(
    description="The best variant against the control: two-proportion z-test, two-sided."
)
class AbTestResult:
    control: AbTestVariant | None = strawberry.field(description="The control variant.")
    best_variant: AbTestVariant | None = strawberry.field(
        description="The non-control variant with the highest conversion rate."
    )
    lift: float | None = strawberry.field(
        description="(best rate - control rate) / control rate; null when the control's rate "
        "is zero or either is missing."
    )
    p_value: float | None = strawberry.field(
        description="Two-sided p-value of the pooled two-proportion z-test; null when undefined."
    )
    winner: AbTestVariant | None = strawberry.field(
        description="The better of control and best variant, only when pValue < 0.05."
    )


def _variant(row: VariantRow | None) -> AbTestVariant | None:
    return AbTestVariant.from_row(row) if row else None


@strawberry.type(description="An A/B test of a campaign's variants.")
class AbTest(Node):
    name: str = strawberry.field(description="Display name.")
    status: AbTestStatus = strawberry.field(description="DRAFT, RUNNING or STOPPED.")
    started_at: datetime | None = strawberry.field(description="When it started serving.")
    ended_at: datetime | None = strawberry.field(description="When it stopped.")
    created_at: datetime = strawberry.field(description="When it was created.")
    pk: strawberry.Private[int]
    campaign_pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: AbTestRow) -> AbTest:
        return cls(
            id=strawberry.ID(to_global_id("AbTest", row.id)),
            name=row.name,
            status=row.status,
            started_at=row.started_at,
            ended_at=row.ended_at,
            created_at=row.created_at,
            pk=row.id,
            campaign_pk=row.campaign_id,
        )

    @strawberry.field(description="The campaign under test.")
    async def campaign(
        self, info: Info
    ) -> Annotated[Campaign, strawberry.lazy("schema.campaigns")] | None:
        from schema.campaigns import Campaign

        row = await info.context.loaders.campaign_by_id.load(self.campaign_pk)
        return Campaign.from_row(row) if row else None

    @strawberry.field(
        description=f"The variants, control first: at most {MAX_VARIANTS_PER_TEST}.",
    )
    async def variants(self, info: Info) -> list[AbTestVariant]:
        rows = await info.context.loaders.variants_by_ab_test_id.load(self.pk)
        return [AbTestVariant.from_row(r) for r in rows]

    @strawberry.field(description="How the best variant compares with the control.")
    async def result(self, info: Info) -> AbTestResult:
        r = logic.result(await info.context.loaders.variants_by_ab_test_id.load(self.pk))
        return AbTestResult(
            control=_variant(r.control),
            best_variant=_variant(r.best),
            lift=r.lift,
            p_value=r.p_value,
            winner=_variant(r.winner),
        )


@strawberry.input(description="Which A/B tests to list; conditions combine with AND.")
class AbTestFilter:
    status: list[AbTestStatus] | None = strawberry.field(
        default=None, description="Any of these statuses."
    )
    campaign_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only this campaign's tests."
    )

    def to_db(self) -> db.AbTestFilter:
        campaign_pk = (
            argument_pk(self.campaign_id, "Campaign", "filter.campaignId")
            if self.campaign_id is not None
            else None
        )
        return db.AbTestFilter(
            statuses=tuple(self.status) if self.status else None, campaign_id=campaign_pk
        )


@strawberry.type
class AbTestQuery:
    @strawberry.field(description="One A/B test by ID; null when none has it.")
    async def ab_test(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The test's ID.")],
    ) -> AbTest | None:
        row = await logic.ab_test(info.context, id)
        # The Guard answers Missing as null or FORBIDDEN (schema/permissions.py).
        return AbTest.from_row(row) if row else Missing(AbTest)  # type: ignore[return-value]

    @strawberry.field(
        description="A/B tests, newest first. Page size: `first`/`last` default 20, at most "
        "the `max_page_size` setting (default 100)."
    )
    async def ab_tests(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        filter: Annotated[
            AbTestFilter | None, strawberry.argument(description="Which tests.")
        ] = None,
    ) -> Connection[AbTest]:
        ctx = info.context
        flt = filter.to_db() if filter else db.AbTestFilter()
        return await Connection.read(
            info,
            AbTest,
            lambda how: logic.list_ab_tests(
                ctx, first=first, after=after, last=last, before=before, flt=flt, how=how
            ),
            AbTest.from_row,
            logic.cursor_of,
            lambda: logic.count_ab_tests(ctx, flt),
        )


render.renderable(
    AbTest,
    table="ab_tests",
    fact_of=Keyed,
    fact="id",
    id=sql.global_id("AbTest", "id"),
    name=sql.value("name"),
    status=render.enum("status", AbTestStatus),
    started_at=sql.timestamp("started_at"),
    ended_at=sql.timestamp("ended_at"),
    created_at=sql.timestamp("created_at"),
    campaign=render.Join("campaigns", "{inner}.id = {outer}.campaign_id"),
    variants=render.Many(
        "ab_test_variants",
        "{inner}.ab_test_id = {outer}.id",
        "{inner}.is_control DESC, {inner}.name",
        MAX_VARIANTS_PER_TEST,
    ),
)
# Floats (trafficShare, conversionRate) are not written: PostgreSQL prints 1.0 as 1.
render.renderable(
    AbTestVariant,
    table="ab_test_variants",
    name=sql.value("name"),
    is_control=sql.value("is_control"),
    impressions=sql.value("impressions"),
    conversions=sql.value("conversions"),
)
