"""Connection arguments -> a validated PageRequest, and opaque cursors.

A cursor encodes the connection it came from and the row's sort key, so a cursor from
another connection (or one tampered with) is refused with a BAD_USER_INPUT error that
names the argument, never answered with a silent empty page.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg
import orjson

from db.pagination import Page, PageRequest
from resolvers.context import Context
from resolvers.errors import BadUserInput
from resolvers.loaders import Loader
from resolvers.settings import MAX_PAGE_SIZE, int_setting

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 20


@dataclass(frozen=True)
class CursorKind:
    """How one connection's sort key is written into, and read back from, a cursor."""

    name: str
    parsers: tuple[Callable[[Any], Any], ...]

    def encode(self, key: Sequence[Any]) -> str:
        values = [v.isoformat() if isinstance(v, datetime) else v for v in key]
        # orjson: the same compact JSON as json.dumps(separators=(",", ":")) for our keys
        # (ASCII names, ints, ISO timestamps) at a tenth of the cost; a page has 50 cursors.
        return base64.urlsafe_b64encode(orjson.dumps([self.name, *values])).decode()

    def decode(self, cursor: str, argument: str) -> tuple[Any, ...]:
        try:
            payload = json.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
            if not isinstance(payload, list) or payload[0] != self.name:
                raise ValueError("cursor of another connection")
            values = payload[1:]
            if len(values) != len(self.parsers):
                raise ValueError("wrong key length")
            return tuple(parse(v) for parse, v in zip(self.parsers, values, strict=True))
        except (
            ValueError,
            TypeError,
            IndexError,
            OverflowError,
            binascii.Error,
            UnicodeError,
        ) as exc:
            raise BadUserInput(
                f"`{argument}` is not a cursor of this connection", argument
            ) from exc


# Sort keys are bigint or timestamptz columns; PostgreSQL (through asyncpg) refuses values
# outside their range with an exception that is not the client's input error.
_BIGINT = range(-(2**63), 2**63)


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("not an integer")
    if value not in _BIGINT:
        raise ValueError("out of range")
    return value


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("not a string")
    return value


def _datetime(value: Any) -> datetime:
    parsed = datetime.fromisoformat(_str(value))
    if parsed.tzinfo is None:
        raise ValueError("naive timestamp")
    parsed.astimezone(UTC)  # OverflowError when its UTC form is outside years 1..9999
    return parsed


INT = _int
STR = _str
DATETIME = _datetime


def page_request(
    kind: CursorKind,
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    max_page_size: int,
) -> PageRequest:
    """Validate Relay arguments: at most one direction, sizes in 0..max_page_size."""
    if first is not None and last is not None:
        raise BadUserInput("Pass either `first` or `last`, not both", "last")
    for name, size in (("first", first), ("last", last)):
        if size is not None and size < 0:
            raise BadUserInput(f"`{name}` must not be negative (got {size})", name)
        if size is not None and size > max_page_size:
            raise BadUserInput(f"`{name}` must be at most {max_page_size} (got {size})", name)
    if last is None and before is not None and first is None:
        last = min(DEFAULT_PAGE_SIZE, max_page_size)
    if after is not None and last is not None:
        raise BadUserInput("`after` pages forward; use it with `first`, not `last`", "after")
    if before is not None and first is not None:
        raise BadUserInput("`before` pages backward; use it with `last`, not `first`", "before")
    if last is not None:
        return PageRequest(last=last, before=kind.decode(before, "before") if before else None)
    return PageRequest(
        first=first if first is not None else min(DEFAULT_PAGE_SIZE, max_page_size),
        after=kind.decode(after, "after") if after else None,
    )


async def capped_request(
    ctx: Context,
    kind: CursorKind,
    *,
    first: int | None,
    after: str | None,
    last: int | None = None,
    before: str | None = None,
) -> PageRequest:
    """`page_request` with the cap from the `max_page_size` setting."""
    return page_request(
        kind,
        first=first,
        after=after,
        last=last,
        before=before,
        max_page_size=await int_setting(ctx, MAX_PAGE_SIZE),
    )


async def read_page(
    ctx: Context,
    request: PageRequest,
    fetch: Callable[[asyncpg.Connection, PageRequest], Awaitable[T]],
    by_id: Loader | None = None,
) -> T:
    """Read one page on a pooled connection; prime `by_id` with its rows (keyed by `.id`):
    only a Page of row objects, not one PostgreSQL wrote."""
    async with ctx.connection() as conn:
        page = await fetch(conn, request)
    if by_id is not None and isinstance(page, Page):
        for row in page.rows:
            by_id.prime(row.id, row)
    return page
