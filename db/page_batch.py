"""Keyset pages of many parents' children in ONE statement (a LATERAL join per parent).

`fetch_page` reads one connection; a connection under a list (each campaign's creator's
transactions, say) would cost a statement per row. Here the parents arrive as an array and
each gets its own ordered, limited page inside one statement.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg

from db.pagination import (
    Keyset,
    Page,
    PageRequest,
    fetch_page,
    keyset_clauses,
    page_flags,
    page_limit,
    page_of,
)

T = TypeVar("T")


@dataclass(frozen=True)
class ParentPages:
    """The same page of many parents' rows: `where` holds predicates on `table` numbered
    from `$2` (`$1` is the parents array). Without a `parent_column`, one page of the whole
    table (`parent_ids` is then one placeholder)."""

    table: str
    parent_column: str | None
    parent_ids: Sequence[int]
    where: Sequence[str]
    args: Sequence[Any]
    keyset: Keyset
    page: PageRequest

    def bounds(self) -> tuple[list[str], list[Any], str]:
        """(the conditions on a parent's rows, the parameters so far, the ORDER BY list)."""
        conds = list(self.where)
        if self.parent_column is not None:
            conds.insert(0, f"{self.parent_column} = k.parent_id")
        params: list[Any] = [list(self.parent_ids), *self.args]
        bound_condition, order = keyset_clauses(self.keyset, self.page, params)
        if bound_condition:
            conds.append(bound_condition)
        return conds, params, order


async def fetch_pages(
    conn: asyncpg.Connection,
    pages: ParentPages,
    *,
    columns: str,
    to_row: Callable[[asyncpg.Record], T],
) -> list[Page[T]]:
    """One page per parent, in parent order."""
    conds, params, order = pages.bounds()
    table, page, parent_ids = pages.table, pages.page, pages.parent_ids
    params.append(page_limit(page) + 1)
    outer_order = ", ".join(f"x.{part}" for part in order.split(", "))
    sql = f"""
SELECT k.n AS batch_position, x.*
FROM unnest($1::bigint[]) WITH ORDINALITY AS k(parent_id, n)
CROSS JOIN LATERAL (
    SELECT {columns} FROM {table} WHERE {" AND ".join(conds) or "TRUE"}
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

_PLACEHOLDER = re.compile(r"\$(\d+)")


@dataclass(frozen=True)
class RootPages:
    """How one table's pages are read without a parent (`read`): its columns and `to_row`
    for row objects, its keyset, and `rendered` for pages PostgreSQL writes."""

    table: str
    columns: str
    keyset: Keyset
    to_row: Callable[[asyncpg.Record], Any]
    rendered: RenderedRows

    async def read(
        self,
        conn: asyncpg.Connection,
        page: PageRequest,
        where: Sequence[str],
        args: Sequence[Any],
        how: str | RenderedLists | None,
    ) -> Page[Any] | RenderedPage:
        """One page (`where` numbered from `$1`): see `fetch_root_page`."""
        return await fetch_root_page(
            conn,
            table=self.table,
            where=where,
            args=args,
            keyset=self.keyset,
            page=page,
            columns=self.columns,
            to_row=self.to_row,
            rendered=self.rendered,
            how=how,
        )


async def fetch_root_page(
    conn: asyncpg.Connection,
    *,
    table: str,
    where: Sequence[str],
    args: Sequence[Any],
    keyset: Keyset,
    page: PageRequest,
    columns: str,
    to_row: Callable[[asyncpg.Record], T],
    rendered: RenderedRows,
    how: str | RenderedLists | None,
) -> Page[Any] | RenderedPage:
    """One page of `table` (`where` numbered from `$1`): rows by `to_row`; with a JSON
    expression (db/render.py), rows by `rendered.to_row` of their keys and that JSON; with
    RenderedLists, a RenderedPage."""
    if how is None:
        return await fetch_page(
            conn,
            select=f"SELECT {columns} FROM {table}",
            where=where,
            args=args,
            keyset=keyset,
            page=page,
            to_row=to_row,
        )
    # The parents' statements, for one page: `$1` is the (single) parent placeholder.
    shifted = [_PLACEHOLDER.sub(lambda m: f"${int(m.group(1)) + 1}", w) for w in where]
    pages = ParentPages(table, None, [0], shifted, args, keyset, page)
    if isinstance(how, RenderedLists):
        return (await fetch_rendered_pages(conn, pages, rendered=rendered, lists=how))[0]
    keys = ", ".join(f"{table}.{key}" for key in rendered.keys)
    found = await fetch_pages(
        conn,
        pages,
        columns=f"{keys}, ({how}) AS rendered",
        to_row=lambda r: rendered.to_row(*r[1:]),
    )
    return found[0]


def positions_by(keys: Sequence[K], group_of: Callable[[K], Any]) -> dict[Any, list[int]]:
    """Key positions grouped by what their statement shares (page request, filter, ...)."""
    groups: dict[Any, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(group_of(key), []).append(i)
    return groups


F = TypeVar("F")


@dataclass(frozen=True)
class RenderedRows:
    """How a table's page is read when PostgreSQL writes its JSON (db/render.py): `keys`,
    what the connection still needs of a row (its id, parent and sort key), and `to_row`,
    which makes the page's row of those values followed by the row's JSON (or "" when the
    page's lists are written whole); `fact`, the column the rows' visibility rule reads
    (the owner's id, a campaign's status...)."""

    keys: tuple[str, ...]
    to_row: Callable[..., Any]
    fact: str


@dataclass(frozen=True)
class RenderedLists:
    """A page whose lists PostgreSQL writes whole: each expression's values over the page's
    rows, in page order, as one JSON array."""

    expressions: tuple[str, ...]


@dataclass(slots=True)
class RenderedPage:
    """A page read as `RenderedLists`: the JSON arrays, in the order of the expressions; the
    first and last rows (`RenderedRows.to_row` of their keys), None on an empty page; the
    fact of each row in the arrays (`RenderedRows.fact`), in the same order."""

    lists: tuple[str, ...]
    facts: list[Any]
    has_next_page: bool
    has_previous_page: bool
    first: Any
    last: Any


async def fetch_rendered_pages(
    conn: asyncpg.Connection, pages: ParentPages, *, rendered: RenderedRows, lists: RenderedLists
) -> list[RenderedPage]:
    """`fetch_pages` with each page's lists written whole by PostgreSQL: one record per
    parent (the page's rows are numbered `rn` in the direction of travel, one more than the
    page is read to learn whether more follow)."""
    conds, params, order = pages.bounds()
    table, page = pages.table, pages.page
    limit = page_limit(page)
    params += [limit + 1, limit]
    read, kept = len(params) - 1, len(params)
    forward = page.last is None
    page_order = "y.rn" if forward else "y.rn DESC"  # a backward page is read in reverse
    aggregates = ["count(*) AS found"]
    for i in range(len(lists.expressions)):
        aggregates.append(
            f"coalesce('[' || string_agg(y.l{i}, ',' ORDER BY {page_order})"
            f" FILTER (WHERE y.rn <= ${kept}) || ']', '[]') AS l{i}"
        )
    aggregates.append(
        f"coalesce(array_agg(y._fact ORDER BY {page_order})"
        f" FILTER (WHERE y.rn <= ${kept}), '{{}}') AS facts"
    )
    for c in rendered.keys:  # the first and the last row read of the page's rows
        aggregates.append(f"max(y.{c}) FILTER (WHERE y.rn = 1) AS h_{c}")
        aggregates.append(f"max(y.{c}) FILTER (WHERE y.rn = least(y.n_read, ${kept})) AS t_{c}")
    selected = [
        *(f"{table}.{key}" for key in rendered.keys),
        f"({rendered.fact}) AS _fact",
        *(f"({e}) AS l{i}" for i, e in enumerate(lists.expressions)),
    ]
    sql = f"""
SELECT k.n AS batch_position, p.*
FROM unnest($1::bigint[]) WITH ORDINALITY AS k(parent_id, n)
CROSS JOIN LATERAL (
    SELECT {", ".join(aggregates)}
    FROM (
        SELECT x.*, row_number() OVER (ORDER BY {order}) AS rn, count(*) OVER () AS n_read
        FROM (
            SELECT {", ".join(selected)} FROM {table} WHERE {" AND ".join(conds) or "TRUE"}
            ORDER BY {order} LIMIT ${read}
        ) x
    ) y
) p
ORDER BY k.n
"""
    n_lists = len(lists.expressions)
    out: list[RenderedPage] = []
    for r in await conn.fetch(sql, *params):
        head = tail = None
        if min(r["found"], limit):  # the page has rows (not only the one read beyond it)
            head = rendered.to_row(*(r[f"h_{c}"] for c in rendered.keys), "")
            tail = rendered.to_row(*(r[f"t_{c}"] for c in rendered.keys), "")
        has_next, has_previous = page_flags(page, r["found"])
        out.append(
            RenderedPage(
                lists=tuple(r[f"l{i}"] for i in range(n_lists)),
                facts=r["facts"],
                has_next_page=has_next,
                has_previous_page=has_previous,
                first=head if forward else tail,
                last=tail if forward else head,
            )
        )
    return out


async def pages_by_user(
    conn: asyncpg.Connection,
    keys: Sequence[tuple[int, PageRequest, F]]
    | Sequence[tuple[int, PageRequest, F, str | RenderedLists | None]],
    *,
    table: str,
    columns: str,
    keyset: Keyset,
    where_of: Callable[[F], tuple[list[str], list[Any]]],
    to_row: Callable[[asyncpg.Record], T],
    rendered: RenderedRows | None = None,
    parent_column: str = "user_id",
) -> list[Any]:
    """For each (user id, page request, filter[, rendering]) key, that page of the user's
    rows in `table` (of another parent's with `parent_column`): rows by `to_row`; with a JSON
    expression (db/render.py), rows by `rendered.to_row` of their keys and that JSON; with
    RenderedLists, a RenderedPage.

    Keys sharing everything but the user (every user under one list field) share one
    statement.
    """
    found: dict[int, Page[T] | RenderedPage] = {}
    for (request, flt, *rendering), positions in positions_by(keys, lambda k: k[1:]).items():
        where, args = where_of(flt)
        how = rendering[0] if rendering else None
        pages = ParentPages(
            table, parent_column, [keys[i][0] for i in positions], where, args, keyset, request
        )
        result: Sequence[Page[Any] | RenderedPage]
        if how is None:
            result = await fetch_pages(conn, pages, columns=columns, to_row=to_row)
        elif rendered is None:
            raise ValueError(f"{table}: rows are not rendered by SQL")
        elif isinstance(how, RenderedLists):
            result = await fetch_rendered_pages(conn, pages, rendered=rendered, lists=how)
        else:
            result = await fetch_pages(
                conn,
                pages,
                columns=f"{', '.join(rendered.keys)}, ({how}) AS rendered",
                to_row=lambda r: rendered.to_row(*r[1:]),
            )
        found.update(zip(positions, result, strict=True))
    return [found[i] for i in range(len(keys))]


async def counts_by_user(
    conn: asyncpg.Connection,
    keys: Sequence[tuple[int, F]],
    *,
    table: str,
    where_of: Callable[[F], tuple[list[str], list[Any]]],
    parent_column: str = "user_id",
) -> list[int]:
    """For each (user id, filter) key, how many of the user's rows in `table` match (of
    another parent's with `parent_column`).

    Keys sharing a filter share one statement.
    """
    found: dict[int, int] = {}
    for flt, positions in positions_by(keys, lambda k: k[1]).items():
        where, args = where_of(flt)
        result = await counts(
            conn,
            table=table,
            parent_column=parent_column,
            parent_ids=[keys[i][0] for i in positions],
            where=where,
            args=args,
        )
        found.update(zip(positions, result, strict=True))
    return [found[i] for i in range(len(keys))]


async def written_by_ids(
    conn: asyncpg.Connection, table: str, fact: str, expression: str, ids: list[int]
) -> list[tuple[Any, str] | None]:
    """For each id: (the row's fact, the JSON `expression` writes of it), None if no row."""
    sql = (
        f"SELECT id, ({fact}) AS fact, ({expression}) AS json FROM {table}"
        " WHERE id = ANY($1::bigint[])"
    )
    found = {r["id"]: (r["fact"], r["json"]) for r in await conn.fetch(sql, ids)}
    return [found.get(i) for i in ids]
