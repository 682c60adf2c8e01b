"""User type."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from db.users import Role as RoleEnum
from db.users import UserRow
from db.users import UserStatus as UserStatusEnum
from resolvers import auth
from resolvers.context import Info
from resolvers.errors import BadUserInput
from resolvers.ids import InvalidGlobalId, from_global_id, to_global_id
from schema.common import Node, described_enum

Role = described_enum(
    RoleEnum,
    name="Role",
    description="What a user may do.",
    values={
        "ADMIN": "Runs the platform: everything.",
        "MANAGER": "Runs campaigns, merchants, analytics and A/B tests.",
        "MEMBER": "Earns rewards; sees their own data and active campaigns.",
    },
)
UserStatus = described_enum(
    UserStatusEnum,
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


@strawberry.type
class UserQuery:
    @strawberry.field(
        description="One user by ID; null when none has it. Members may ask only for themselves."
    )
    async def user(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The user's ID.")],
    ) -> User | None:
        try:
            pk = from_global_id(id, "User")
        except InvalidGlobalId as exc:
            raise BadUserInput(str(exc), "id") from exc
        row = await info.context.loaders.user_by_id.load(pk)
        return User.from_row(row) if row else None

    @strawberry.field(description="The signed-in user.")
    async def me(self, info: Info) -> User:
        return User.from_row(await auth.authenticate(info.context))
