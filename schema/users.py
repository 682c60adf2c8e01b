"""User type."""

from __future__ import annotations

from datetime import datetime

import strawberry

from db.users import Role as RoleEnum
from db.users import UserRow
from db.users import UserStatus as UserStatusEnum
from resolvers.ids import to_global_id
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
            role=row.role,
            status=row.status,
            created_at=row.created_at,
        )
