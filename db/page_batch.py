"""Keyset pages of many parents' children in ONE statement (a LATERAL join per parent).

`fetch_page` reads one connection; a connection under a list (each campaign's creator's
transactions, say) would cost a statement per row. Here the parents arrive as an array and
each gets its own ordered, limited page inside one statement.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg

from db.pagination import Keyset, Page, PageRequest, keyset_clauses, page_limit, page_of

T = TypeVar("T")


async def fetch_pages(
    conn: asyncpg.Connection,
    *,
    columns: str,
    table: str,
    parent_column: str,
    parent_ids: Sequence[int],
    where: Sequence[str],
    args: Sequence[Any],
    keyset: Keyset,
    page: PageRequest,
    to_row: Callable[[asyncpg.Record], T],
) -> list[Page[T]]:
    """One page per parent, in parent order.

    `where` holds predicates on `table` numbered from `$2` (`$1` is the parents array).
    """
    conds = [f"{parent_column} = k.parent_id", *where]
    params: list[Any] = [list(parent_ids), *args]
    bound_condition, order = keyset_clauses(keyset, page, params)
    if bound_condition:
        conds.append(bound_condition)
    params.append(page_limit(page) + 1)
    outer_order = ", ".join(f"x.{part}" for part in order.split(", "))
    sql = f"""
SELECT k.n AS batch_position, x.*
FROM unnest($1::bigint[]) WITH ORDINALITY AS k(parent_id, n)
CROSS JOIN LATERAL (
    SELECT {columns} FROM {table} WHERE {" AND ".join(conds)}
    ORDER BY {order} LIMIT ${len(params)}
) x
ORDER BY k.n, {outer_order}
"""
    grouped: dict[int, list[asyncpg.Record]] = {n: [] for n in range(1, len(parent_ids) + 1)}
    for r in await conn.fetch(sql, *params):
        grouped[r["batch_position"]].append(r)
    return [page_of(grouped[n], page, to_row) for n in range(1, len(parent_ids) + 1)]


async def counts(
    conn: asyncpg.Connection,
    *,
    table: str,
    parent_column: str,
    parent_ids: Sequence[int],
    where: Sequence[str],
    args: Sequence[Any],
) -> list[int]:
    """Rows per parent matching `where` (numbered from `$2`), in parent order."""
    conds = [f"{parent_column} = ANY($1::bigint[])", *where]
    sql = (
        f"SELECT {parent_column} AS parent_id, count(*) AS n FROM {table}"
        f" WHERE {' AND '.join(conds)} GROUP BY {parent_column}"
    )
    found = {r["parent_id"]: r["n"] for r in await conn.fetch(sql, list(parent_ids), *args)}
    return [found.get(p, 0) for p in parent_ids]


K = TypeVar("K")


def positions_by(keys: Sequence[K], group_of: Callable[[K], Any]) -> dict[Any, list[int]]:
    """Key positions grouped by what their statement shares (page request, filter, ...)."""
    groups: dict[Any, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(group_of(key), []).append(i)
    return groups


F = TypeVar("F")


@dataclass(frozen=True)
class RenderedRows:
    """How a table's page is read when PostgreSQL writes each row's JSON (db/render.py):
    `columns`, what the connection still needs of a row (its id, parent and sort key), then
    the JSON as `rendered`; `to_row` makes the page's row of a record."""

    columns: str
    to_row: Callable[[asyncpg.Record], Any]


async def pages_by_user(
    conn: asyncpg.Connection,
    keys: Sequence[tuple[int, PageRequest, F]] | Sequence[tuple[int, PageRequest, F, str | None]],
    *,
    table: str,
    columns: str,
    keyset: Keyset,
    where_of: Callable[[F], tuple[list[str], list[Any]]],
    to_row: Callable[[asyncpg.Record], T],
    rendered: RenderedRows | None = None,
) -> list[Page[T]]:
    """For each (user id, page request, filter[, JSON expression]) key, that page of the
    user's rows in `table`: rows by `to_row`, or by `rendered` with the JSON expression's
    value when the key has one.

    Keys sharing everything but the user (every user under one list field) share one
    statement.
    """
    found: dict[int, Page[T]] = {}
    for (request, flt, *render), positions in positions_by(keys, lambda k: k[1:]).items():
        where, args = where_of(flt)
        expression = render[0] if render else None
        read_columns, read_row = columns, to_row
        if expression is not None:
            if rendered is None:
                raise ValueError(f"{table}: rows are not rendered by SQL")
            read_columns = f"{rendered.columns}, ({expression}) AS rendered"
            read_row = rendered.to_row
        result = await fetch_pages(
            conn,
            columns=read_columns,
            table=table,
            parent_column="user_id",
            parent_ids=[keys[i][0] for i in positions],
            where=where,
            args=args,
            keyset=keyset,
            page=request,
            to_row=read_row,
        )
        found.update(zip(positions, result, strict=True))
    return [found[i] for i in range(len(keys))]


async def counts_by_user(
    conn: asyncpg.Connection,
    keys: Sequence[tuple[int, F]],
    *,
    table: str,
    where_of: Callable[[F], tuple[list[str], list[Any]]],
) -> list[int]:
    """For each (user id, filter) key, how many of the user's rows in `table` match.

    Keys sharing a filter share one statement.
    """
    found: dict[int, int] = {}
    for flt, positions in positions_by(keys, lambda k: k[1]).items():
        where, args = where_of(flt)
        result = await counts(
            conn,
            table=table,
            parent_column="user_id",
            parent_ids=[keys[i][0] for i in positions],
            where=where,
            args=args,
        )
        found.update(zip(positions, result, strict=True))
    return [found[i] for i in range(len(keys))]
