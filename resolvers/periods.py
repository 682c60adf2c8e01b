"""Date-range arguments: validated, defaulted, capped."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from resolvers.errors import BadUserInput

DEFAULT_DAYS = 30
MAX_DAYS = 366


def period(
    day_from: date | None,
    day_to: date | None,
    *,
    default_days: int = DEFAULT_DAYS,
    max_days: int | None = MAX_DAYS,
) -> tuple[date, date]:
    """(from, to), both inclusive. A missing `to` is today (UTC); a missing `from` is
    `default_days` days up to `to`. Refuses `to` before `from` and periods over `max_days`."""
    to = day_to or datetime.now(UTC).date()
    try:
        start = day_from or to - timedelta(days=default_days - 1)
    except OverflowError:  # `to` within the default span of 0001-01-01
        raise BadUserInput(
            f"`to` ({to.isoformat()}) leaves no room for the default period of {default_days} "
            "days; pass `from` too",
            "to",
        ) from None
    if to < start:
        raise BadUserInput(
            f"`to` ({to.isoformat()}) must not be before `from` ({start.isoformat()})", "to"
        )
    days = (to - start).days + 1
    if max_days is not None and days > max_days:
        raise BadUserInput(f"The period may span at most {max_days} days (got {days})", "from")
    return start, to
