"""Campaign type, queries, and mutations for edits and the lifecycle."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

import strawberry

from db import campaigns as db
from db import render as sql
from db.abtests import MAX_TESTS_PER_CAMPAIGN
from db.campaigns import CampaignFilter as DbCampaignFilter
from db.campaigns import CampaignRow, Transition
from resolvers import analytics as analytics_logic
from resolvers import auth
from resolvers import campaigns as logic
from resolvers import members as member_logic
from resolvers.context import Info
from resolvers.ids import argument_pk, to_global_id
from resolvers.outcome import Outcome
from resolvers.periods import period
from resolvers.visibility import Missing, WithStatus
from schema import render
from schema.abtests import AbTest
from schema.analytics import AnalyticsSummary, DailyAnalytics, From, To
from schema.common import (
    After,
    Before,
    Connection,
    First,
    Input,
    Last,
    Money,
    Node,
    UserError,
    described_enum,
)
from schema.members import Reward, RewardFilter
from schema.merchants import Merchant
from schema.users import User

CampaignStatus = db.CampaignStatus
described_enum(
    CampaignStatus,
    name="CampaignStatus",
    description="Lifecycle: DRAFT -launch-> ACTIVE -pause-> PAUSED -launch-> ACTIVE; "
    "ACTIVE or PAUSED -complete-> COMPLETED.",
    values={
        "DRAFT": "Being prepared; may be edited or deleted.",
        "ACTIVE": "Earning rewards for members.",
        "PAUSED": "Temporarily not earning; may be launched again.",
        "COMPLETED": "Finished for good.",
    },
)
RewardType = db.RewardType
described_enum(
    RewardType,
    name="RewardType",
    description="How a qualifying purchase is rewarded.",
    values={
        "CASHBACK_PERCENT": "`rewardValue` percent of the purchase amount.",
        "FIXED_AMOUNT": "`rewardValue` in the campaign's currency per purchase.",
    },
)


@strawberry.type(description="A cashback campaign run by a merchant.")
class Campaign(Node):
    name: str = strawberry.field(description="Display name.")
    description: str = strawberry.field(description="Longer text shown to members.")
    status: CampaignStatus = strawberry.field(description="Where it is in its lifecycle.")
    reward_type: RewardType = strawberry.field(description="How rewards are computed.")
    reward_value: Decimal = strawberry.field(
        description="Percent (CASHBACK_PERCENT, 0-100) or amount (FIXED_AMOUNT)."
    )
    budget: Money = strawberry.field(description="Most the campaign may pay out.")
    spent: Money = strawberry.field(description="Paid out so far.")
    starts_at: datetime | None = strawberry.field(description="When rewards start, if set.")
    ends_at: datetime | None = strawberry.field(description="When rewards stop, if set.")
    version: int = strawberry.field(
        description="Increases with every change; pass as `expectedVersion` to refuse "
        "overwriting someone else's change."
    )
    launched_at: datetime | None = strawberry.field(description="First launch time.")
    paused_at: datetime | None = strawberry.field(description="Time of the current pause.")
    completed_at: datetime | None = strawberry.field(description="When it was completed.")
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it last changed.")
    pk: strawberry.Private[int]
    merchant_pk: strawberry.Private[int]
    created_by_pk: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: CampaignRow) -> Campaign:
        return cls(
            id=strawberry.ID(to_global_id("Campaign", row.id)),
            pk=row.id,
            merchant_pk=row.merchant_id,
            created_by_pk=row.created_by,
            name=row.name,
            description=row.description,
            status=row.status,
            reward_type=row.reward_type,
            reward_value=Decimal(row.reward_value).scaleb(-2),
            budget=Money.of(row.budget_cents, row.currency),
            spent=Money.of(row.spent_cents, row.currency),
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            version=row.version,
            launched_at=row.launched_at,
            paused_at=row.paused_at,
            completed_at=row.completed_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @strawberry.field(
        description="The merchant funding this campaign.",
    )
    async def merchant(self, info: Info) -> Merchant:
        row = await info.context.loaders.merchant_by_id.load(self.merchant_pk)
        if row is None:  # a foreign key keeps it: a broken database, reported as internal
            raise LookupError(f"campaign {self.pk}: merchant {self.merchant_pk} is missing")
        return Merchant.from_row(row)

    @strawberry.field(
        description="Who created it; null if that user was removed.",
    )
    async def created_by(self, info: Info) -> User | None:
        return await User.by_pk(info, self.created_by_pk)

    @strawberry.field(
        description="One row per day that has data in the period, oldest first.",
    )
    async def daily_analytics(
        self, info: Info, from_: From = None, to: To = None
    ) -> list[DailyAnalytics]:
        rows = await analytics_logic.daily(info.context, self.pk, from_, to)
        return [DailyAnalytics.from_row(r, self.budget.currency) for r in rows]

    @strawberry.field(description="Totals over the period, with CTR, conversion rate and ROAS.")
    async def analytics_summary(
        self, info: Info, from_: From = None, to: To = None
    ) -> AnalyticsSummary:
        summary = await analytics_logic.summary(info.context, self.pk, from_, to)
        return AnalyticsSummary.of(summary, self.budget.currency)

    @strawberry.field(
        description="The campaign's A/B tests, oldest first: at most the first "
        f"{MAX_TESTS_PER_CAMPAIGN}.",
    )
    async def ab_tests(self, info: Info) -> list[AbTest]:
        rows = await info.context.loaders.ab_tests_by_campaign_id.load(self.pk)
        return [AbTest.from_row(r) for r in rows]

    @strawberry.field(
        description="The rewards the campaign paid, newest first. Admins only: a reward is a "
        "member's financial data. Page size: `first`/`last` default 20, at most the "
        "`max_page_size` setting (default 100)."
    )
    async def rewards(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        filter: Annotated[
            RewardFilter | None, strawberry.argument(description="Which rewards.")
        ] = None,
    ) -> Connection[Reward]:
        ctx = info.context
        statuses = tuple(filter.status) if filter and filter.status else None
        cursor = member_logic.campaign_reward_cursor(self.pk)
        return await Connection.read(
            info,
            Reward,
            lambda render: member_logic.list_rewards(
                ctx,
                self.pk,
                first=first,
                after=after,
                last=last,
                before=before,
                statuses=statuses,
                render=render,
                of_campaign=True,
            ),  # fmt: skip
            Reward.from_row,
            lambda row: cursor.encode((row.earned_at, row.id)),
            lambda: member_logic.count_rewards(ctx, self.pk, statuses, of_campaign=True),
        )


@strawberry.input(description="Which campaigns to list; conditions combine with AND.")
class CampaignFilter:
    status: list[CampaignStatus] | None = strawberry.field(
        default=None, description="Any of these statuses."
    )
    merchant_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only this merchant's campaigns."
    )
    search: str | None = strawberry.field(
        default=None, description="Case-insensitive substring of the name."
    )

    def to_db(self) -> DbCampaignFilter:
        merchant_pk = (
            argument_pk(self.merchant_id, "Merchant", "filter.merchantId")
            if self.merchant_id is not None
            else None
        )
        return DbCampaignFilter(
            statuses=tuple(self.status) if self.status else None,
            merchant_id=merchant_pk,
            search=self.search or None,
        )


@strawberry.type
class CampaignQuery:
    @strawberry.field(
        description="One campaign by ID; null when none has it. A member may see ACTIVE "
        "campaigns only: any other, or an unknown ID, is null with a FORBIDDEN error."
    )
    async def campaign(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The campaign's ID.")],
    ) -> Campaign | None:
        found = await render.one(
            info,
            Campaign,
            argument_pk(id, "Campaign", "id"),
            info.context.loaders.campaign_by_id.load,
        )
        # The Guard answers Missing as null or FORBIDDEN, and checks a Rendered's fact
        # (schema/permissions.py).
        if found is None:
            return Missing(Campaign)  # type: ignore[return-value]
        if isinstance(found, render.Rendered):
            return found  # type: ignore[return-value]
        return Campaign.from_row(found)

    @strawberry.field(
        description="Campaigns, newest first. Page size: `first`/`last` default 20, at most "
        "the `max_page_size` setting (default 100)."
    )
    async def campaigns(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        filter: Annotated[
            CampaignFilter | None, strawberry.argument(description="Which campaigns.")
        ] = None,
    ) -> Connection[Campaign]:
        ctx = info.context
        flt = await auth.scope_campaigns(ctx, filter.to_db() if filter else DbCampaignFilter())
        return await Connection.read(
            info,
            Campaign,
            lambda how: logic.list_campaigns(
                ctx, first=first, after=after, last=last, before=before, flt=flt, how=how
            ),
            Campaign.from_row,
            logic.cursor_of,
            lambda: logic.count_campaigns(ctx, flt),
        )


@strawberry.input(description="A new campaign; it starts as DRAFT.")
class CreateCampaignInput:
    merchant_id: strawberry.ID = strawberry.field(description="The funding merchant.")
    name: str = strawberry.field(description="Display name, 1-200 characters.")
    description: str = strawberry.field(default="", description="Up to 5000 characters.")
    reward_type: RewardType = strawberry.field(description="How rewards are computed.")
    reward_value: Decimal = strawberry.field(
        description="Percent (0-100) or amount, at most 2 decimal places."
    )
    budget: Decimal = strawberry.field(description="Non-negative, at most 2 decimal places.")
    currency: str = strawberry.field(default="USD", description="ISO 4217 code.")
    starts_at: datetime | None = strawberry.field(default=None, description="Optional start.")
    ends_at: datetime | None = strawberry.field(
        default=None, description="Optional end; must be after `startsAt`."
    )


@strawberry.input(description="Changes to a campaign; omitted fields stay as they are.")
class UpdateCampaignInput:
    id: strawberry.ID = strawberry.field(description="The campaign to change.")
    expected_version: int | None = strawberry.field(
        default=None, description="Refuse with VERSION_CONFLICT unless this is the current version."
    )
    merchant_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="New merchant."
    )
    name: str | None = strawberry.field(default=strawberry.UNSET, description="New name.")
    description: str | None = strawberry.field(
        default=strawberry.UNSET, description="New description."
    )
    reward_type: RewardType | None = strawberry.field(
        default=strawberry.UNSET, description="New reward type."
    )
    reward_value: Decimal | None = strawberry.field(
        default=strawberry.UNSET, description="New reward value."
    )
    budget: Decimal | None = strawberry.field(default=strawberry.UNSET, description="New budget.")
    currency: str | None = strawberry.field(default=strawberry.UNSET, description="New currency.")
    starts_at: datetime | None = strawberry.field(
        default=strawberry.UNSET, description="New start; null clears it."
    )
    ends_at: datetime | None = strawberry.field(
        default=strawberry.UNSET, description="New end; null clears it."
    )


@strawberry.input(description="Which campaign to act on.")
class CampaignActionInput:
    id: strawberry.ID = strawberry.field(description="The campaign.")
    expected_version: int | None = strawberry.field(
        default=None, description="Refuse with VERSION_CONFLICT unless this is the current version."
    )


@strawberry.type(description="Result of a campaign mutation.")
class CampaignPayload:
    campaign: Campaign | None = strawberry.field(
        description="The campaign as it is after the change (for delete: as it was); null "
        "when refused."
    )
    user_errors: list[UserError] = strawberry.field(description="Why nothing changed, if so.")


def _payload(outcome: Outcome[CampaignRow]) -> CampaignPayload:
    return CampaignPayload(
        campaign=Campaign.from_row(outcome.value) if outcome.value else None,
        user_errors=UserError.all(outcome.problems),
    )


def _nullable_fields_given(input: UpdateCampaignInput) -> logic.CampaignInput:
    """Only startsAt/endsAt may be cleared with null; null elsewhere means 'unchanged'."""

    def keep(value: object) -> object:
        return strawberry.UNSET if value is None else value

    return logic.CampaignInput(
        merchant_id=keep(input.merchant_id),
        name=keep(input.name),
        description=keep(input.description),
        reward_type=keep(input.reward_type),
        reward_value=keep(input.reward_value),
        budget=keep(input.budget),
        currency=keep(input.currency),
        starts_at=input.starts_at,
        ends_at=input.ends_at,
    )


async def _transition(info: Info, t: Transition, input: CampaignActionInput) -> CampaignPayload:
    return _payload(await logic.apply(info.context, t, input.id, input.expected_version))


@strawberry.type
class CampaignMutation:
    @strawberry.mutation(description="Create a DRAFT campaign.")
    async def create_campaign(
        self, info: Info, input: Input[CreateCampaignInput]
    ) -> CampaignPayload:
        given = logic.CampaignInput(
            merchant_id=input.merchant_id,
            name=input.name,
            description=input.description,
            reward_type=input.reward_type,
            reward_value=input.reward_value,
            budget=input.budget,
            currency=input.currency,
            starts_at=input.starts_at,
            ends_at=input.ends_at,
        )
        return _payload(await logic.create(info.context, given))

    @strawberry.mutation(description="Edit a campaign that is not COMPLETED.")
    async def update_campaign(
        self, info: Info, input: Input[UpdateCampaignInput]
    ) -> CampaignPayload:
        return _payload(
            await logic.update(
                info.context, input.id, input.expected_version, _nullable_fields_given(input)
            )
        )

    @strawberry.mutation(description="Delete a DRAFT campaign; other statuses are refused.")
    async def delete_campaign(
        self, info: Info, input: Input[CampaignActionInput]
    ) -> CampaignPayload:
        return _payload(await logic.delete(info.context, input.id, input.expected_version))

    @strawberry.mutation(
        description="DRAFT or PAUSED -> ACTIVE. Refused when the end date has passed or the "
        "budget is spent."
    )
    async def launch_campaign(
        self, info: Info, input: Input[CampaignActionInput]
    ) -> CampaignPayload:
        return await _transition(info, db.LAUNCH, input)

    @strawberry.mutation(description="ACTIVE -> PAUSED.")
    async def pause_campaign(
        self, info: Info, input: Input[CampaignActionInput]
    ) -> CampaignPayload:
        return await _transition(info, db.PAUSE, input)

    @strawberry.mutation(description="ACTIVE or PAUSED -> COMPLETED (final).")
    async def complete_campaign(
        self, info: Info, input: Input[CampaignActionInput]
    ) -> CampaignPayload:
        return await _transition(info, db.COMPLETE, input)


def _period_sql(arguments: dict[str, Any]) -> str:
    """`dailyAnalytics(from:, to:)`'s days, as its resolver reads them (refused the same)."""
    start, end = period(arguments.get("from"), arguments.get("to"))
    return f"{{inner}}.day BETWEEN '{start.isoformat()}'::date AND '{end.isoformat()}'::date"


render.reads_one("Query.campaign")
render.renderable(
    Campaign,
    table="campaigns",
    fact_of=WithStatus.of,
    fact="status",
    id=sql.global_id("Campaign", "id"),
    name=sql.value("name"),
    description=sql.value("description"),
    status=render.enum("status", CampaignStatus),
    reward_type=render.enum("reward_type", RewardType),
    reward_value=sql.cents_as_decimal("reward_value"),
    budget=render.money("budget_cents"),
    spent=render.money("spent_cents"),
    starts_at=sql.timestamp("starts_at"),
    ends_at=sql.timestamp("ends_at"),
    version=sql.value("version"),
    launched_at=sql.timestamp("launched_at"),
    paused_at=sql.timestamp("paused_at"),
    completed_at=sql.timestamp("completed_at"),
    created_at=sql.timestamp("created_at"),
    updated_at=sql.timestamp("updated_at"),
    merchant=render.Join("merchants", "{inner}.id = {outer}.merchant_id"),
    created_by=render.Join("users", "{inner}.id = {outer}.created_by"),
    daily_analytics=render.Many(
        "campaign_analytics_daily",
        "{inner}.campaign_id = {outer}.id",
        "{inner}.day",
        arguments=_period_sql,
    ),
    ab_tests=render.Many(
        "ab_tests", "{inner}.campaign_id = {outer}.id", "{inner}.id", MAX_TESTS_PER_CAMPAIGN
    ),
)
