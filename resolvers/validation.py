"""Input checks that collect every problem at once, each with the input field it concerns."""

from __future__ import annotations

from decimal import Decimal

from resolvers.errors import ErrorCode, Problem
from resolvers.ids import InvalidGlobalId, from_global_id

# bigint's ceiling in minor units, with room to add.
MAX_MINOR_UNITS = 10**15
CENT = Decimal("0.01")


class Checker:
    """Collects Problems; each check returns the cleaned value (or a placeholder)."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def fail(self, field: str, message: str, code: ErrorCode) -> None:
        self.problems.append(Problem((field,), message, code))

    def text(self, field: str, value: str, *, max_length: int, required: bool = True) -> str:
        cleaned = value.strip()
        if "\x00" in cleaned:
            # PostgreSQL text cannot hold NUL; refuse it here rather than fail in the database.
            self.fail(field, f"{field} must not contain NUL characters", ErrorCode.INVALID)
        elif required and not cleaned:
            self.fail(field, f"{field} must not be blank", ErrorCode.BLANK)
        elif len(cleaned) > max_length:
            self.fail(field, f"{field} must be at most {max_length} characters", ErrorCode.TOO_LONG)
        return cleaned

    def hundredths(self, field: str, value: Decimal, *, maximum: int = MAX_MINOR_UNITS) -> int:
        """A non-negative decimal with at most two places, as an integer of hundredths.

        Compared before any arithmetic: scaling `1e999999999` overflows the decimal context,
        and `1e-999999999` would silently round to 0.
        """
        if not value.is_finite():
            self.fail(field, f"{field} must be a finite number", ErrorCode.INVALID)
            return 0
        if value < 0:
            self.fail(field, f"{field} must not be negative", ErrorCode.NEGATIVE)
            return 0
        if value > Decimal(maximum) / 100:
            self.fail(field, f"{field} must be at most {Decimal(maximum) / 100}", ErrorCode.INVALID)
            return 0
        cents = value.quantize(CENT)
        if cents != value:
            self.fail(
                field, f"{field} must be a number with at most 2 decimal places", ErrorCode.INVALID
            )
            return 0
        return int(cents * 100)

    def currency(self, field: str, value: str) -> str:
        code = value.strip().upper()
        if len(code) != 3 or not code.isascii() or not code.isalpha():
            self.fail(field, f"{field} must be a 3-letter ISO 4217 code", ErrorCode.INVALID)
        return code

    def global_id(self, field: str, value: str, type_name: str) -> int | None:
        try:
            return from_global_id(value, type_name)
        except InvalidGlobalId:
            self.fail(field, f"{field} is not a valid {type_name} ID", ErrorCode.INVALID_ID)
            return None
