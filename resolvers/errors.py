"""Errors: expected failures are data (`Problem` -> userErrors); the rest are coded exceptions."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLError


class ErrorCode(enum.Enum):
    """Machine-readable reasons a mutation refused its input (one enum for the whole API)."""

    BLANK = "BLANK"
    TOO_LONG = "TOO_LONG"
    INVALID = "INVALID"
    NEGATIVE = "NEGATIVE"
    INVALID_ID = "INVALID_ID"
    NOT_FOUND = "NOT_FOUND"
    DATE_ORDER = "DATE_ORDER"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    VERSION_CONFLICT = "VERSION_CONFLICT"
    CAMPAIGN_ENDED = "CAMPAIGN_ENDED"
    BUDGET_EXHAUSTED = "BUDGET_EXHAUSTED"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    ACCOUNT_DISABLED = "ACCOUNT_DISABLED"
    EMAIL_TAKEN = "EMAIL_TAKEN"
    WEAK_PASSWORD = "WEAK_PASSWORD"
    INVALID_TOKEN = "INVALID_TOKEN"
    UNKNOWN_SETTING = "UNKNOWN_SETTING"
    SELF_LOCKOUT = "SELF_LOCKOUT"
    INVALID_REFRESH_TOKEN = "INVALID_REFRESH_TOKEN"


@dataclass(frozen=True)
class Problem:
    """One userError: which input field (as a path), what is wrong, and its code."""

    field: tuple[str, ...] | None
    message: str
    code: ErrorCode


class CodedError(GraphQLError):
    """A top-level error that clients may act on: shown as-is, never masked."""

    code = "BAD_USER_INPUT"

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message, extensions={"code": self.code, **extensions})


class BadUserInput(CodedError):
    """An argument outside what the field accepts; `argument` names it."""

    code = "BAD_USER_INPUT"

    def __init__(self, message: str, argument: str) -> None:
        super().__init__(message, argument=argument)


class Forbidden(CodedError):
    code = "FORBIDDEN"


class Unauthenticated(CodedError):
    code = "UNAUTHENTICATED"


class ServiceUnavailable(CodedError):
    code = "SERVICE_UNAVAILABLE"


class LoginThrottled(CodedError):
    """Too many failed sign-ins for this account or from this address: retry after a while."""

    code = "LOGIN_THROTTLED"

    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(message, retryAfterSeconds=retry_after_seconds)
