"""Signing in (`login`) and finishing a password reset: the two mutations open to anyone."""

from __future__ import annotations

from datetime import datetime

import strawberry

from resolvers import users as logic
from resolvers.context import Info
from schema.common import Input, UserError
from schema.users import User


@strawberry.input(description="Credentials to sign in with.")
class LoginInput:
    email: str = strawberry.field(description="The user's email (case-insensitive).")
    password: str = strawberry.field(description="The user's password.")


@strawberry.type(description="Result of `login`: an access token, or why not.")
class LoginPayload:
    token: str | None = strawberry.field(
        description="Access token: send it as `Authorization: Bearer <token>` on later "
        "requests. Null when refused."
    )
    expires_at: datetime | None = strawberry.field(
        description="When the token stops working (ACCESS_TOKEN_TTL_MINUTES after login, "
        "60 unless changed); sign in again after."
    )
    user: User | None = strawberry.field(description="Who signed in; null when refused.")
    user_errors: list[UserError] = strawberry.field(
        description="Why sign-in was refused: a wrong email and a wrong password give the same "
        "INVALID_CREDENTIALS error."
    )


@strawberry.input(description="A reset token from `resetUserPassword` and the new password.")
class CompletePasswordResetInput:
    token: str = strawberry.field(description="The single-use token, exactly as given.")
    new_password: str = strawberry.field(
        description=f"The new password: {logic.PASSWORD_MIN} to {logic.PASSWORD_MAX} characters."
    )


@strawberry.type(description="Result of `completePasswordReset`.")
class CompletePasswordResetPayload:
    user: User | None = strawberry.field(
        description="The user whose password changed; null when refused."
    )
    user_errors: list[UserError] = strawberry.field(
        description="Why nothing changed: a used, expired or unknown token all give the same "
        "INVALID_TOKEN error."
    )


@strawberry.type
class AuthMutation:
    @strawberry.mutation(description="Sign in with email and password; returns an access token.")
    async def login(self, info: Info, input: Input[LoginInput]) -> LoginPayload:
        outcome = await logic.login(info.context, input.email, input.password)
        signed_in = outcome.value
        return LoginPayload(
            token=signed_in.token.token if signed_in else None,
            expires_at=signed_in.token.expires_at if signed_in else None,
            user=User.from_row(signed_in.user) if signed_in else None,
            user_errors=UserError.all(outcome.problems),
        )

    @strawberry.mutation(
        description="Set a new password with a reset token (no sign-in needed). The token works "
        "once, until it expires."
    )
    async def complete_password_reset(
        self, info: Info, input: Input[CompletePasswordResetInput]
    ) -> CompletePasswordResetPayload:
        outcome = await logic.complete_password_reset(info.context, input.token, input.new_password)
        return CompletePasswordResetPayload(
            user=User.from_row(outcome.value) if outcome.value else None,
            user_errors=UserError.all(outcome.problems),
        )
