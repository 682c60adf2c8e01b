"""Constraint violations a user can cause, turned into userErrors instead of masked 500s.

Most are prevented by checks before the write (the merchant exists, the email is free); these
catch the race where another request changes the data between the check and the write. A
violation not listed here is a bug, and stays an exception (masked, logged in full).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from resolvers.errors import ErrorCode, Problem
from resolvers.outcome import Outcome


@dataclass(frozen=True)
class Violation:
    """Problem for one named constraint; the constraint name never reaches the client."""

    field: str
    message: str
    code: ErrorCode


KNOWN: dict[str, Violation] = {
    "users_email_key": Violation(
        "email", "Another user already has this email", ErrorCode.EMAIL_TAKEN
    ),
    "campaigns_merchant_id_fkey": Violation(
        "merchantId", "No merchant has this ID", ErrorCode.NOT_FOUND
    ),
}


def problem_for(error: asyncpg.IntegrityConstraintViolationError) -> Problem | None:
    known = KNOWN.get(getattr(error, "constraint_name", None) or "")
    if known is None:
        return None
    return Problem((known.field,), known.message, known.code)


def refuse(error: asyncpg.IntegrityConstraintViolationError) -> Outcome[Any]:
    """The userError for a known violation (the transaction has rolled back); re-raise others."""
    problem = problem_for(error)
    if problem is None:
        raise error
    return Outcome(None, [problem])
