"""Admin mutations: settings, users and password resets. Each is audited in its transaction."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from db.users import UserRow
from resolvers import admin as admin_logic
from resolvers import users as logic
from resolvers.context import Info
from resolvers.outcome import Outcome
from schema.admin import Setting
from schema.common import Input, UserError
from schema.users import Role, User, UserStatus


@strawberry.input(description="One setting to change.")
class SettingChange:
    key: str = strawberry.field(description="A key listed by `admin { settings }`.")
    value: JSON = strawberry.field(
        description="The new value: its type and range are those the setting lists."
    )


@strawberry.input(description="Settings to change together: all of them, or none if any is bad.")
class UpdateSettingsInput:
    settings: list[SettingChange] = strawberry.field(
        description=f"1 to {admin_logic.MAX_SETTINGS_PER_UPDATE} changes, each key at most once."
    )


@strawberry.type(description="Result of `updateSettings`.")
class UpdateSettingsPayload:
    settings: list[Setting] = strawberry.field(
        description="The changed settings as they are now; empty when refused."
    )
    user_errors: list[UserError] = strawberry.field(
        description="Why nothing changed; `field` is like [settings, 0, value]."
    )


@strawberry.input(description="Whose password to reset.")
class ResetUserPasswordInput:
    user_id: strawberry.ID = strawberry.field(description="The user.")


@strawberry.type(description="Result of `resetUserPassword`.")
class ResetUserPasswordPayload:
    token: str | None = strawberry.field(
        description="The single-use reset token. Shown only here, once: hand it to the user, "
        "who passes it to `completePasswordReset`. Earlier unused tokens stop working."
    )
    expires_at: datetime | None = strawberry.field(
        description="When the token expires (the `password_reset_expiry_minutes` setting)."
    )
    user: User | None = strawberry.field(description="The user; null when refused.")
    user_errors: list[UserError] = strawberry.field(description="Why nothing changed, if so.")


@strawberry.input(description="Disable or re-enable a user.")
class SetUserStatusInput:
    user_id: strawberry.ID = strawberry.field(description="The user.")
    status: UserStatus = strawberry.field(
        description="DISABLED stops the user's tokens at once; ACTIVE lets them sign in again."
    )


@strawberry.input(description="A new user.")
class CreateUserInput:
    email: str = strawberry.field(
        description=f"Sign-in email, unique case-insensitively, at most {logic.EMAIL_MAX} "
        "characters."
    )
    name: str = strawberry.field(description=f"Display name, 1-{logic.NAME_MAX} characters.")
    role: Role = strawberry.field(description="What the user may do.")
    password: str = strawberry.field(
        description=f"Initial password, {logic.PASSWORD_MIN}-{logic.PASSWORD_MAX} characters."
    )


@strawberry.input(description="Changes to a user; omitted fields stay as they are.")
class UpdateUserInput:
    id: strawberry.ID = strawberry.field(description="The user to change.")
    name: str | None = strawberry.field(
        default=None, description=f"New display name, 1-{logic.NAME_MAX} characters."
    )
    role: Role | None = strawberry.field(
        default=None, description="New role. Admins may not demote themselves."
    )


@strawberry.type(description="Result of a user-management mutation.")
class UserPayload:
    user: User | None = strawberry.field(description="The user as it is now; null when refused.")
    user_errors: list[UserError] = strawberry.field(description="Why nothing changed, if so.")


def _user_payload(outcome: Outcome[UserRow]) -> UserPayload:
    return UserPayload(
        user=User.from_row(outcome.value) if outcome.value else None,
        user_errors=UserError.all(outcome.problems),
    )


@strawberry.type
class AdminMutation:
    @strawberry.mutation(description="Change runtime settings: known keys only, all or nothing.")
    async def update_settings(
        self, info: Info, input: Input[UpdateSettingsInput]
    ) -> UpdateSettingsPayload:
        changes = [(c.key, c.value) for c in input.settings]
        outcome = await admin_logic.update_settings(info.context, changes)
        return UpdateSettingsPayload(
            settings=[Setting.of(s) for s in outcome.value or []],
            user_errors=UserError.all(outcome.problems),
        )

    @strawberry.mutation(description="Create a single-use password reset token for a user.")
    async def reset_user_password(
        self, info: Info, input: Input[ResetUserPasswordInput]
    ) -> ResetUserPasswordPayload:
        outcome = await logic.reset_password(info.context, input.user_id)
        reset = outcome.value
        return ResetUserPasswordPayload(
            token=reset.token if reset else None,
            expires_at=reset.expires_at if reset else None,
            user=User.from_row(reset.user) if reset else None,
            user_errors=UserError.all(outcome.problems),
        )

    @strawberry.mutation(
        description="Disable or re-enable a user. Admins may not disable themselves."
    )
    async def set_user_status(self, info: Info, input: Input[SetUserStatusInput]) -> UserPayload:
        return _user_payload(await logic.set_status(info.context, input.user_id, input.status))

    @strawberry.mutation(description="Create a user. A taken email is refused with EMAIL_TAKEN.")
    async def create_user(self, info: Info, input: Input[CreateUserInput]) -> UserPayload:
        given = logic.NewUser(
            email=input.email, name=input.name, role=input.role, password=input.password
        )
        return _user_payload(await logic.create_user(info.context, given))

    @strawberry.mutation(description="Rename a user or change their role.")
    async def update_user(self, info: Info, input: Input[UpdateUserInput]) -> UserPayload:
        return _user_payload(
            await logic.update_user(info.context, input.id, input.name, input.role)
        )
