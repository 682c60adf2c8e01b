"""What hangs off a User: accounts, transactions, rewards, spending, merchant affinities."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from db import render as sql
from db.accounts import AccountKind as AccountKindEnum
from db.accounts import AccountRow
from db.affinity import AffinityRow
from db.rewards import RewardRow, RewardsSummaryRow
from db.rewards import RewardStatus as RewardStatusEnum
from db.transactions import SpendingBucket as SpendingBucketRow
from db.transactions import SpendingGroup as SpendingGroupEnum
from db.transactions import TransactionFilter as DbTransactionFilter
from db.transactions import TransactionRow
from resolvers import members as member_logic
from resolvers.context import Info
from resolvers.ids import argument_pk, to_global_id
from resolvers.visibility import Owned
from schema import render
from schema.common import After, Before, Connection, First, Last, Money, Node, described_enum
from schema.merchants import Merchant

if TYPE_CHECKING:
    from schema.campaigns import Campaign

AccountKind = AccountKindEnum
described_enum(
    AccountKind,
    name="AccountKind",
    description="What sort of account a member linked.",
    values={
        "CHECKING": "A checking (current) account.",
        "SAVINGS": "A savings account.",
        "CREDIT_CARD": "A credit card.",
    },
)
RewardStatus = RewardStatusEnum
described_enum(
    RewardStatus,
    name="RewardStatus",
    description="Where a reward is in its life.",
    values={
        "PENDING": "Awarded, waiting for the purchase to settle.",
        "EARNED": "Settled: the member may redeem it.",
        "REDEEMED": "Paid out to the member.",
        "EXPIRED": "No longer redeemable.",
    },
)
SpendingGroup = SpendingGroupEnum
described_enum(
    SpendingGroup,
    name="SpendingGroup",
    description="How `User.spending` groups transactions.",
    values={
        "CATEGORY": "One bucket per merchant category.",
        "MERCHANT": "One bucket per merchant.",
        "MONTH": "One bucket per calendar month (UTC).",
    },
)


async def _merchant(info: Info, merchant_pk: int | None) -> Merchant | None:
    if merchant_pk is None:
        return None
    row = await info.context.loaders.merchant_by_id.load(merchant_pk)
    return Merchant.from_row(row) if row else None


@strawberry.input(description="Which transactions to list; conditions combine with AND.")
class TransactionFilter:
    from_: date | None = strawberry.field(
        default=None, name="from", description="On or after this day (UTC)."
    )
    to: date | None = strawberry.field(default=None, description="On or before this day (UTC).")
    category: str | None = strawberry.field(default=None, description="Exactly this category.")
    merchant_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only purchases at this merchant."
    )

    def to_db(self) -> DbTransactionFilter:
        merchant_pk = (
            argument_pk(self.merchant_id, "Merchant", "filter.merchantId")
            if self.merchant_id is not None
            else None
        )
        return DbTransactionFilter(
            occurred_from=self.from_,
            occurred_to=self.to,
            category=self.category,
            merchant_id=merchant_pk,
        )


@strawberry.type(description="A bank or card account a member linked.")
class Account(Node):
    kind: AccountKind = strawberry.field(description="CHECKING, SAVINGS or CREDIT_CARD.")
    institution: str = strawberry.field(description="The bank or card issuer.")
    last_four: str = strawberry.field(description="Last four digits of the account number.")
    currency: str = strawberry.field(description="ISO 4217 currency code.")
    balance: Money = strawberry.field(description="Balance when last synchronised.")
    created_at: datetime = strawberry.field(description="When the account was linked.")
    owner_pk: strawberry.Private[int]
    pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: AccountRow) -> Account:
        return cls(
            id=strawberry.ID(to_global_id("Account", row.id)),
            owner_pk=row.user_id,
            kind=row.kind,
            institution=row.institution,
            last_four=row.last_four,
            currency=row.currency,
            balance=Money.of(row.balance_cents, row.currency),
            created_at=row.created_at,
            pk=row.id,
        )

    @strawberry.field(
        description="The account's purchases, newest first (keyset-paginated on occurredAt, "
        "id). Page size: `first`/`last` default 20, at most the `max_page_size` setting "
        "(default 100)."
    )
    async def transactions(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        filter: Annotated[
            TransactionFilter | None, strawberry.argument(description="Which transactions.")
        ] = None,
    ) -> Connection[Transaction]:
        ctx = info.context
        flt = filter.to_db() if filter else DbTransactionFilter()
        cursor = member_logic.account_transaction_cursor(self.pk)
        return await Connection.read(
            info,
            Transaction,
            lambda render: member_logic.list_transactions(
                ctx,
                self.pk,
                first=first,
                after=after,
                last=last,
                before=before,
                flt=flt,
                render=render,
                of_account=True,
            ),  # fmt: skip
            Transaction.from_row,
            lambda row: cursor.encode((row.occurred_at, row.id)),
            lambda: member_logic.count_transactions(ctx, self.pk, flt, of_account=True),
        )


@strawberry.type(description="A card purchase.")
class Transaction(Node):
    amount: Money = strawberry.field(description="What the member paid.")
    category: str = strawberry.field(description="Merchant category at the time of purchase.")
    occurred_at: datetime = strawberry.field(description="When the purchase happened.")
    description: str = strawberry.field(description="Statement text.")
    pk: strawberry.Private[int]
    account_pk: strawberry.Private[int]
    merchant_pk: strawberry.Private[int | None]
    owner_pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: TransactionRow) -> Transaction:
        return cls(
            id=strawberry.ID(to_global_id("Transaction", row.id)),
            pk=row.id,
            owner_pk=row.user_id,
            amount=Money.of(row.amount_cents, row.currency),
            category=row.category,
            occurred_at=row.occurred_at,
            description=row.description,
            account_pk=row.account_id,
            merchant_pk=row.merchant_id,
        )

    @strawberry.field(description="The account charged.")
    async def account(self, info: Info) -> Account:
        row = await info.context.loaders.account_by_id.load(self.account_pk)
        if row is None:  # a foreign key keeps it: a broken database, reported as internal
            raise LookupError(f"transaction's account {self.account_pk} is missing")
        return Account.from_row(row)

    @strawberry.field(description="Where the purchase was made; null if the merchant was removed.")
    async def merchant(self, info: Info) -> Merchant | None:
        return await _merchant(info, self.merchant_pk)

    @strawberry.field(description="The reward the purchase earned; null when it earned none.")
    async def reward(self, info: Info) -> Reward | None:
        row = await info.context.loaders.reward_by_transaction_id.load(self.pk)
        return None if row is None else Reward.from_row(row)


# What PostgreSQL writes for the plain fields of Transaction and Reward (schema/render.py):
# from_row's values, serialized.
_MONEY = render.money("amount_cents")
render.renderable(
    Transaction,
    table="transactions",
    fact_of=Owned,
    fact="user_id",
    id=sql.global_id("Transaction", "id"),
    amount=_MONEY,
    category=sql.value("category"),
    occurred_at=sql.timestamp("occurred_at"),
    description=sql.value("description"),
    merchant=render.Join("merchants", "{inner}.id = {outer}.merchant_id"),
    reward=render.Join("rewards", "{inner}.transaction_id = {outer}.id"),
)


@strawberry.type(description="A reward a member earned from a campaign for a purchase.")
class Reward(Node):
    amount: Money = strawberry.field(description="The reward.")
    status: RewardStatus = strawberry.field(description="PENDING, EARNED, REDEEMED or EXPIRED.")
    earned_at: datetime = strawberry.field(description="When it was awarded.")
    campaign_pk: strawberry.Private[int]
    transaction_pk: strawberry.Private[int]
    owner_pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: RewardRow) -> Reward:
        return cls(
            id=strawberry.ID(to_global_id("Reward", row.id)),
            owner_pk=row.user_id,
            amount=Money.of(row.amount_cents, row.currency),
            status=row.status,
            earned_at=row.earned_at,
            campaign_pk=row.campaign_id,
            transaction_pk=row.transaction_id,
        )

    @strawberry.field(description="The campaign that paid it.")
    async def campaign(
        self, info: Info
    ) -> Annotated[Campaign, strawberry.lazy("schema.campaigns")] | None:
        from schema.campaigns import Campaign

        row = await info.context.loaders.campaign_by_id.load(self.campaign_pk)
        return Campaign.from_row(row) if row else None

    @strawberry.field(description="The purchase it rewards.")
    async def transaction(self, info: Info) -> Transaction | None:
        row = await info.context.loaders.transaction_by_id.load(self.transaction_pk)
        return Transaction.from_row(row) if row else None


render.renderable(
    Reward,
    table="rewards",
    fact_of=Owned,
    fact="user_id",
    id=sql.global_id("Reward", "id"),
    amount=_MONEY,
    status=render.enum("status", RewardStatus),
    earned_at=sql.timestamp("earned_at"),
    campaign=render.Join("campaigns", "{inner}.id = {outer}.campaign_id"),
    transaction=render.Join("transactions", "{inner}.id = {outer}.transaction_id"),
)


@strawberry.type(description="A member's rewards totalled by status.")
class RewardsSummary:
    earned: Money = strawberry.field(description="Settled, not yet redeemed.")
    pending: Money = strawberry.field(description="Waiting for the purchase to settle.")
    redeemed: Money = strawberry.field(description="Already paid out.")
    owner_pk: strawberry.Private[int]

    @classmethod
    def from_rows(cls, owner_pk: int, rows: list[RewardsSummaryRow]) -> RewardsSummary:
        # Rewards are paid in the campaign's currency; members have one in practice.
        row = rows[0] if rows else RewardsSummaryRow("USD", 0, 0, 0)
        return cls(
            owner_pk=owner_pk,
            earned=Money.of(row.earned_cents, row.currency),
            pending=Money.of(row.pending_cents, row.currency),
            redeemed=Money.of(row.redeemed_cents, row.currency),
        )


@strawberry.type(description="One group of a member's spending in a period.")
class SpendingBucket:
    key: str = strawberry.field(
        description="The category name, the merchant's ID, or the month as YYYY-MM."
    )
    total: Money = strawberry.field(description="Sum of the group's transactions.")
    count: int = strawberry.field(description="Number of transactions in the group.")
    share: float = strawberry.field(
        description="The group's part of the period's total spending, 0..1."
    )
    month: date | None = strawberry.field(description="First day of the month (MONTH only).")
    merchant_pk: strawberry.Private[int | None]
    owner_pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, owner_pk: int, row: SpendingBucketRow) -> SpendingBucket:
        key = row.key
        if row.merchant_id is not None:
            key = to_global_id("Merchant", row.merchant_id)
        return cls(
            key=key,
            total=Money.of(row.total_cents, row.currency),
            count=row.count,
            share=row.share,
            month=row.month,
            merchant_pk=row.merchant_id,
            owner_pk=owner_pk,
        )

    @strawberry.field(description="The merchant (MERCHANT grouping only).")
    async def merchant(self, info: Info) -> Merchant | None:
        return await _merchant(info, self.merchant_pk)


@strawberry.type(description="How strongly a member favours a merchant.")
class MerchantAffinity:
    score: float = strawberry.field(description="0..1; 1 is the member's top merchant by spend.")
    transaction_count: int = strawberry.field(description="Purchases at the merchant.")
    total_spend: Money = strawberry.field(description="Spent at the merchant (USD).")
    last_transaction_at: datetime | None = strawberry.field(description="Latest purchase there.")
    merchant_pk: strawberry.Private[int]
    owner_pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: AffinityRow) -> MerchantAffinity:
        return cls(
            owner_pk=row.user_id,
            score=row.score,
            transaction_count=row.transaction_count,
            total_spend=Money.of(row.total_spend_cents, "USD"),
            last_transaction_at=row.last_transaction_at,
            merchant_pk=row.merchant_id,
        )

    @strawberry.field(description="The merchant.")
    async def merchant(self, info: Info) -> Merchant | None:
        return await _merchant(info, self.merchant_pk)


@strawberry.input(description="Which rewards to list.")
class RewardFilter:
    status: list[RewardStatus] | None = strawberry.field(
        default=None, description="Any of these statuses."
    )
