"""Signing in and out: `login`, `refreshToken`, `logout` and finishing a password reset."""

from __future__ import annotations

from datetime import datetime

import strawberry

from resolvers import sessions
from resolvers import users as logic
from resolvers.context import Info
from resolvers.outcome import Outcome
from schema.common import Input, UserError
from schema.users import User

SIGN_IN_LIMIT = (
    "At most one `login`, `refreshToken` or `completePasswordReset` per HTTP request (aliases "
    "and batches included: SIGN_IN_LIMIT_EXCEEDED). Throttled: after repeated failures for an "
    "account or from an address, LOGIN_THROTTLED with `extensions.retryAfterSeconds`."
)


@strawberry.input(description="Credentials to sign in with.")
class LoginInput:
    email: str = strawberry.field(description="The user's email (case-insensitive).")
    password: str = strawberry.field(description="The user's password.")


@strawberry.type(
    description="A session's tokens (from `login` or `refreshToken`), or why there are none."
)
class LoginPayload:
    token: str | None = strawberry.field(
        description="Access token: send it as `Authorization: Bearer <token>` on later "
        "requests. Null when refused."
    )
    expires_at: datetime | None = strawberry.field(
        description="When the access token stops working (ACCESS_TOKEN_TTL_MINUTES after it "
        "was issued, 15 unless changed); get a new one with `refreshToken` before then."
    )
    refresh_token: str | None = strawberry.field(
        description="Opaque refresh token: pass it to `refreshToken` for a new pair. It works "
        "once; keep it out of reach of scripts (it is as good as a session). Null when refused."
    )
    refresh_token_expires_at: datetime | None = strawberry.field(
        description="When the session ends for good (REFRESH_TOKEN_TTL_DAYS after `login`, 14 "
        "unless changed; refreshing does not extend it): sign in again after."
    )
    user: User | None = strawberry.field(description="Who signed in; null when refused.")
    user_errors: list[UserError] = strawberry.field(
        description="Why sign-in was refused: a wrong email and a wrong password give the same "
        "INVALID_CREDENTIALS error; a bad refresh token gives INVALID_REFRESH_TOKEN."
    )

    @classmethod
    def of(cls, outcome: Outcome[sessions.SignedIn]) -> LoginPayload:
        signed_in = outcome.value
        if signed_in is None:
            return cls(
                token=None,
                expires_at=None,
                refresh_token=None,
                refresh_token_expires_at=None,
                user=None,
                user_errors=UserError.all(outcome.problems),
            )
        return cls(
            token=signed_in.token.token,
            expires_at=signed_in.token.expires_at,
            refresh_token=signed_in.refresh_token.token,
            refresh_token_expires_at=signed_in.refresh_token.expires_at,
            user=User.from_row(signed_in.user),
            user_errors=[],
        )


@strawberry.input(description="A refresh token from `login` or an earlier `refreshToken`.")
class RefreshTokenInput:
    refresh_token: str = strawberry.field(description="The refresh token, exactly as given.")


@strawberry.input(description="Which sessions to end.")
class LogoutInput:
    all_sessions: bool = strawberry.field(
        default=False,
        description="End every session of the signed-in user (every device), not only the "
        "one whose access token signs this request.",
    )


@strawberry.type(description="Result of `logout`.")
class LogoutPayload:
    ended_sessions: int = strawberry.field(
        description="How many sessions ended (0 when the current one had ended already)."
    )
    user_errors: list[UserError] = strawberry.field(description="Always empty; for symmetry.")


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
        description="Why nothing changed: a used, expired or unknown token, and a token of a "
        "disabled user, all give the same INVALID_TOKEN error."
    )


@strawberry.type
class AuthMutation:
    @strawberry.mutation(
        description="Sign in with email and password: opens a session and returns its access "
        "and refresh tokens. " + SIGN_IN_LIMIT
    )
    async def login(self, info: Info, input: Input[LoginInput]) -> LoginPayload:
        return LoginPayload.of(await logic.login(info.context, input.email, input.password))

    @strawberry.mutation(
        description="Spend a refresh token for a new access token and refresh token in the "
        "same session (no access token needed). A refresh token works once: presenting a spent "
        "one again ends its session, since it must have been copied. " + SIGN_IN_LIMIT
    )
    async def refresh_token(self, info: Info, input: Input[RefreshTokenInput]) -> LoginPayload:
        return LoginPayload.of(await sessions.refresh(info.context, input.refresh_token))

    @strawberry.mutation(
        description="End the current session (its access and refresh tokens stop working at "
        "once), or with `allSessions` every session of the signed-in user."
    )
    async def logout(self, info: Info, input: Input[LogoutInput]) -> LogoutPayload:
        ended = await sessions.logout(info.context, input.all_sessions)
        return LogoutPayload(ended_sessions=ended, user_errors=[])

    @strawberry.mutation(
        description="Set a new password with a reset token (no sign-in needed). The token works "
        "once, until it expires; every session the user had ends. " + SIGN_IN_LIMIT
    )
    async def complete_password_reset(
        self, info: Info, input: Input[CompletePasswordResetInput]
    ) -> CompletePasswordResetPayload:
        outcome = await logic.complete_password_reset(info.context, input.token, input.new_password)
        return CompletePasswordResetPayload(
            user=User.from_row(outcome.value) if outcome.value else None,
            user_errors=UserError.all(outcome.problems),
        )
