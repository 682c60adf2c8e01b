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
    EMAIL_TAKEN = "EMAIL_TAKEN"


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
