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
    forward = page.last is None
    limit = page.first if forward else page.last
    assert limit is not None
    bound = page.after if forward else page.before
    # Walking forward along a descending order means keys get smaller.
    smaller = keyset.descending == forward
    if bound is not None:
        placeholders = ", ".join(f"${len(params) + i + 1}" for i in range(len(bound)))
        params.extend(bound)
        cols = ", ".join(keyset.columns)
        conds.append(f"({cols}) {'<' if smaller else '>'} ({placeholders})")
    direction = "DESC" if smaller else "ASC"
    order = ", ".join(f"{c} {direction}" for c in keyset.columns)
    sql = select
    if conds:
        sql += " WHERE " + " AND ".join(conds)
    params.append(limit + 1)
    sql += f" ORDER BY {order} LIMIT ${len(params)}"
    records = await conn.fetch(sql, *params)
    more = len(records) > limit
    records = records[:limit]
    if not forward:
        records.reverse()
    rows = [to_row(r) for r in records]
    if forward:
        return Page(rows, has_next_page=more, has_previous_page=bound is not None)
    return Page(rows, has_next_page=bound is not None, has_previous_page=more)


async def count(
    conn: asyncpg.Connection, *, table: str, where: Sequence[str], args: Sequence[Any]
) -> int:
    sql = f"SELECT count(*) FROM {table}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return int(await conn.fetchval(sql, *args))
