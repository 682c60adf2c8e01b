"""Keyset pagination: one statement per page, no OFFSET.

A page is asked for with `first`/`after` (forward along the connection's order) or
`last`/`before` (backward). We fetch one row more than asked to learn whether another page
exists in the direction of travel.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import asyncpg

T = TypeVar("T")


@dataclass(frozen=True)
class PageRequest:
    """A validated page request: exactly one of `first` / `last` is set."""

    first: int | None = None
    after: tuple[Any, ...] | None = None
    last: int | None = None
    before: tuple[Any, ...] | None = None


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    has_next_page: bool
    has_previous_page: bool


@dataclass(frozen=True)
class Keyset:
    """The ordering of a connection: its key columns, all sorted the same direction."""

    columns: tuple[str, ...]
    descending: bool

    def key_of(self, row: asyncpg.Record) -> tuple[Any, ...]:
        return tuple(row[c.split(".")[-1]] for c in self.columns)


async def fetch_page(
    conn: asyncpg.Connection,
    *,
    select: str,
    where: Sequence[str],
    args: Sequence[Any],
    keyset: Keyset,
    page: PageRequest,
    to_row: Callable[[asyncpg.Record], T],
) -> Page[T]:
    """Run the one statement that reads a page.

    `select` is `SELECT cols FROM table` with no WHERE; `where` holds predicates using
    `$1..$n` for `args`; the key bound and the limit are appended here.
    """
    conds = list(where)
    params = list(args)
    bound_condition, order = keyset_clauses(keyset, page, params)
    if bound_condition:
        conds.append(bound_condition)
    sql = select
    if conds:
        sql += " WHERE " + " AND ".join(conds)
    params.append(page_limit(page) + 1)
    sql += f" ORDER BY {order} LIMIT ${len(params)}"
    return page_of(await conn.fetch(sql, *params), page, to_row)


def page_limit(page: PageRequest) -> int:
    limit = page.first if page.last is None else page.last
    assert limit is not None
    return limit


def keyset_clauses(keyset: Keyset, page: PageRequest, params: list[Any]) -> tuple[str | None, str]:
    """(the key-bound predicate or None, the ORDER BY list) for reading `page`.

    The bound's values are appended to `params` and numbered after what is already there.
    """
    forward = page.last is None
    bound = page.after if forward else page.before
    # Walking forward along a descending order means keys get smaller.
    smaller = keyset.descending == forward
    condition = None
    if bound is not None:
        placeholders = ", ".join(f"${len(params) + i + 1}" for i in range(len(bound)))
        params.extend(bound)
        condition = f"({', '.join(keyset.columns)}) {'<' if smaller else '>'} ({placeholders})"
    direction = "DESC" if smaller else "ASC"
    return condition, ", ".join(f"{c} {direction}" for c in keyset.columns)


def page_of(
    records: Sequence[asyncpg.Record], page: PageRequest, to_row: Callable[[asyncpg.Record], T]
) -> Page[T]:
    """The page from the `limit + 1` records read in the direction of travel."""
    limit = page_limit(page)
    kept = list(records[:limit])
    if page.last is not None:
        kept.reverse()
    has_next, has_previous = page_flags(page, len(records))
    return Page([to_row(r) for r in kept], has_next, has_previous)


def page_flags(page: PageRequest, read: int) -> tuple[bool, bool]:
    """(has_next_page, has_previous_page) of `page` when `read` rows (at most limit + 1)
    were read in its direction of travel: one beyond the limit means more that way; a
    cursor to start from means rows the other way."""
    forward = page.last is None
    more = read > page_limit(page)
    bounded = (page.after if forward else page.before) is not None
    return (more, bounded) if forward else (bounded, more)


def contains_pattern(text: str) -> str:
    """An ILIKE pattern matching `text` anywhere, with its own % and _ taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def count(
    conn: asyncpg.Connection, *, table: str, where: Sequence[str], args: Sequence[Any]
) -> int:
    sql = f"SELECT count(*) FROM {table}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return int(await conn.fetchval(sql, *args))
