"""User type."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import strawberry

from db import render as sql
from db.accounts import MAX_ACCOUNTS_PER_USER
from db.transactions import MAX_SPENDING_GROUPS
from db.transactions import TransactionFilter as DbTransactionFilter
from db.users import Role as RoleEnum
from db.users import UserRow
from db.users import UserStatus as UserStatusEnum
from resolvers import auth
from resolvers import members as logic
from resolvers.context import Info
from resolvers.ids import to_global_id
from resolvers.visibility import Keyed, Missing
from schema import render
from schema.common import After, Before, Connection, First, Last, Node, described_enum
from schema.members import (
    Account,
    MerchantAffinity,
    Reward,
    RewardFilter,
    RewardsSummary,
    SpendingBucket,
    SpendingGroup,
    Transaction,
    TransactionFilter,
)


def _paging(first: int | None, after: str | None, last: int | None, before: str | None) -> Any:
    """A connection's Relay arguments, as keywords for `resolvers.members`' readers."""
    return {"first": first, "after": after, "last": last, "before": before}


Role = RoleEnum
described_enum(
    Role,
    name="Role",
    description="What a user may do.",
    values={
        "ADMIN": "Runs the platform: everything.",
        "MANAGER": "Runs campaigns, merchants, analytics and A/B tests.",
        "MEMBER": "Earns rewards; sees their own data and active campaigns.",
    },
)
UserStatus = UserStatusEnum
described_enum(
    UserStatus,
    name="UserStatus",
    description="Whether a user may sign in.",
    values={"ACTIVE": "May sign in.", "DISABLED": "Refused; existing tokens stop working."},
)


@strawberry.type(description="A person using the platform: admin, manager or member.")
class User(Node):
    name: str = strawberry.field(description="Display name.")
    email: str | None = strawberry.field(
        description="Sign-in email. Only the user themself and admins may read it; anyone else "
        "gets null and a FORBIDDEN error."
    )
    role: Role = strawberry.field(description="ADMIN, MANAGER or MEMBER.")
    status: UserStatus = strawberry.field(description="ACTIVE or DISABLED.")
    created_at: datetime = strawberry.field(description="When the user was created.")
    pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: UserRow) -> User:
        return cls(
            id=strawberry.ID(to_global_id("User", row.id)),
            pk=row.id,
            name=row.name,
            email=row.email,
            role=row.role,
            status=row.status,
            created_at=row.created_at,
        )

    @classmethod
    async def by_pk(cls, info: Info, pk: int | None) -> User | None:
        """The user with this key (a reference held by another object), through the loader;
        None for no key or no such user."""
        if pk is None:
            return None
        row = await info.context.loaders.user_by_id.load(pk)
        return cls.from_row(row) if row else None

    @strawberry.field(
        description="Linked bank and card accounts, oldest first: at most the first "
        f"{MAX_ACCOUNTS_PER_USER}."
    )
    async def accounts(self, info: Info) -> list[Account]:
        rows = await info.context.loaders.accounts_by_user_id.load(self.pk)
        return [Account.from_row(r) for r in rows]

    @strawberry.field(
        description="Purchases, newest first (keyset-paginated on occurredAt, id). Page size: "
        "`first`/`last` default 20, at most the `max_page_size` setting (default 100)."
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
        return await Connection.read(
            info,
            Transaction,
            lambda render: logic.list_transactions(
                ctx, self.pk, **_paging(first, after, last, before), flt=flt, render=render
            ),
            Transaction.from_row,
            logic.transaction_cursor_of,
            lambda: logic.count_transactions(ctx, self.pk, flt),
        )

    @strawberry.field(
        description="Rewards, newest first. Page size: `first`/`last` default 20, at most the "
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
        return await Connection.read(
            info,
            Reward,
            lambda render: logic.list_rewards(
                ctx,
                self.pk,
                **_paging(first, after, last, before),
                statuses=statuses,
                render=render,
            ),  # fmt: skip
            Reward.from_row,
            logic.reward_cursor_of,
            lambda: logic.count_rewards(ctx, self.pk, statuses),
        )

    @strawberry.field(description="Rewards totalled by status (all time).")
    async def rewards_summary(self, info: Info) -> RewardsSummary:
        rows = await info.context.loaders.rewards_summary_by_user_id.load(self.pk)
        return RewardsSummary.from_rows(self.pk, rows)

    @strawberry.field(
        description="Spending between two days (both inclusive, UTC), grouped, largest first: "
        f"at most the {MAX_SPENDING_GROUPS} largest groups (`share` counts every group)."
    )
    async def spending(
        self,
        info: Info,
        from_: Annotated[
            date, strawberry.argument(name="from", description="First day of the period.")
        ],
        to: Annotated[date, strawberry.argument(description="Last day; not before `from`.")],
        group_by: Annotated[
            SpendingGroup, strawberry.argument(description="CATEGORY, MERCHANT or MONTH.")
        ],
    ) -> list[SpendingBucket]:
        buckets = await logic.spending(info.context, self.pk, from_, to, group_by)
        return [SpendingBucket.from_row(self.pk, b) for b in buckets]

    @strawberry.field(description="The member's top merchants by affinity score.")
    async def merchant_affinities(
        self,
        info: Info,
        first: Annotated[
            int | None,
            strawberry.argument(
                description=f"How many (default {logic.DEFAULT_AFFINITIES}, "
                f"at most {logic.MAX_AFFINITIES})."
            ),
        ] = None,
    ) -> list[MerchantAffinity]:
        limit = logic.affinity_limit(first)
        rows = await info.context.loaders.affinities_by_user_limit.load((self.pk, limit))
        return [MerchantAffinity.from_row(r) for r in rows]


@strawberry.type
class UserQuery:
    @strawberry.field(
        description="One user by ID; null when none has it. Members may see only themselves: "
        "anyone else, or an unknown ID, is null with a FORBIDDEN error."
    )
    async def user(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The user's ID.")],
    ) -> User | None:
        row = await logic.user(info.context, id)
        # The Guard answers Missing as null or FORBIDDEN (schema/permissions.py).
        return User.from_row(row) if row else Missing(User)  # type: ignore[return-value]

    @strawberry.field(description="The signed-in user.")
    async def me(self, info: Info) -> User:
        return User.from_row(await auth.authenticate(info.context))


# `email` has its own rule (a check per object): not written.
render.renderable(
    User,
    table="users",
    fact_of=Keyed,
    fact="id",
    id=sql.global_id("User", "id"),
    name=sql.value("name"),
    role=render.enum("role", Role),
    status=render.enum("status", UserStatus),
    created_at=sql.timestamp("created_at"),
)
