"""Merchant type, queries and mutations."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from db import render as sql
from db.campaigns import CampaignFilter as DbCampaignFilter
from db.merchants import MerchantRow
from resolvers import auth
from resolvers import campaigns as campaign_logic
from resolvers import merchants as logic
from resolvers.context import Info
from resolvers.ids import to_global_id
from resolvers.outcome import Outcome
from resolvers.visibility import Keyed
from schema import render
from schema.common import After, Before, Connection, First, Input, Last, Node, UserError

if TYPE_CHECKING:
    from schema.campaigns import Campaign


@strawberry.type(description="A business that funds cashback campaigns.")
class Merchant(Node):
    name: str = strawberry.field(description="Display name.")
    category: str = strawberry.field(description="Business category, e.g. Groceries.")
    created_at: datetime = strawberry.field(description="When the merchant was added.")
    updated_at: datetime = strawberry.field(description="When the merchant last changed.")
    pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: MerchantRow) -> Merchant:
        return cls(
            id=strawberry.ID(to_global_id("Merchant", row.id)),
            name=row.name,
            category=row.category,
            created_at=row.created_at,
            updated_at=row.updated_at,
            pk=row.id,
        )

    @strawberry.field(
        description="The merchant's campaigns that you may see (a member: ACTIVE ones), newest "
        "first. Page size: `first`/`last` default 20, at most the `max_page_size` setting "
        "(default 100)."
    )
    async def campaigns(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[Annotated[Campaign, strawberry.lazy("schema.campaigns")]]:
        from schema.campaigns import Campaign  # it imports Merchant

        ctx = info.context
        flt = await auth.scope_campaigns(ctx, DbCampaignFilter())
        cursor = campaign_logic.merchant_cursor(self.pk)
        return await Connection.read(
            info,
            Campaign,
            lambda how: campaign_logic.list_merchant_campaigns(
                ctx, self.pk, first=first, after=after, last=last, before=before, flt=flt, how=how
            ),
            Campaign.from_row,
            lambda row: cursor.encode((row.id,)),
            lambda: campaign_logic.count_merchant_campaigns(ctx, self.pk, flt),
        )


render.renderable(
    Merchant,
    table="merchants",
    fact_of=Keyed,
    fact="id",
    id=sql.global_id("Merchant", "id"),
    name=sql.value("name"),
    category=sql.value("category"),
    created_at=sql.timestamp("created_at"),
    updated_at=sql.timestamp("updated_at"),
)


@strawberry.input(description="Which merchants to list.")
class MerchantFilter:
    search: str | None = strawberry.field(
        default=None, description="Case-insensitive substring of the name."
    )


@strawberry.input(description="A new merchant.")
class CreateMerchantInput:
    name: str = strawberry.field(description="Display name, 1-200 characters.")
    category: str = strawberry.field(description="Business category, 1-100 characters.")


@strawberry.input(description="Changes to a merchant; omitted fields stay as they are.")
class UpdateMerchantInput:
    id: strawberry.ID = strawberry.field(description="The merchant to change.")
    name: str | None = strawberry.field(default=strawberry.UNSET, description="New name.")
    category: str | None = strawberry.field(default=strawberry.UNSET, description="New category.")


@strawberry.type(description="Result of createMerchant / updateMerchant.")
class MerchantPayload:
    merchant: Merchant | None = strawberry.field(description="The merchant as it is now.")
    user_errors: list[UserError] = strawberry.field(description="Why nothing changed, if so.")


def _payload(outcome: Outcome[MerchantRow]) -> MerchantPayload:
    return MerchantPayload(
        merchant=Merchant.from_row(outcome.value) if outcome.value else None,
        user_errors=UserError.all(outcome.problems),
    )


@strawberry.type
class MerchantQuery:
    @strawberry.field(
        description="Merchants by name. Page size: `first`/`last` default 20, at most the "
        "`max_page_size` setting (default 100)."
    )
    async def merchants(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        filter: Annotated[
            MerchantFilter | None, strawberry.argument(description="Which merchants.")
        ] = None,
    ) -> Connection[Merchant]:
        search = filter.search if filter else None
        ctx = info.context
        return await Connection.read(
            info,
            Merchant,
            lambda how: logic.list_merchants(
                ctx, first=first, after=after, last=last, before=before, search=search, how=how
            ),
            Merchant.from_row,
            logic.cursor_of,
            lambda: logic.count_merchants(ctx, search),
        )


@strawberry.type
class MerchantMutation:
    @strawberry.mutation(description="Add a merchant.")
    async def create_merchant(
        self, info: Info, input: Input[CreateMerchantInput]
    ) -> MerchantPayload:
        return _payload(await logic.create(info.context, input.name, input.category))

    @strawberry.mutation(description="Rename or recategorise a merchant.")
    async def update_merchant(
        self, info: Info, input: Input[UpdateMerchantInput]
    ) -> MerchantPayload:
        return _payload(await logic.update(info.context, input.id, input.name, input.category))
