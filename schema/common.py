"""Shared GraphQL types: Node, Money, UserError, connections."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping, Sequence
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

import strawberry

from db.page_batch import RenderedLists, RenderedPage
from db.pagination import Page
from resolvers.errors import ErrorCode as ErrorCodeEnum
from resolvers.errors import Problem
from schema import render

E = TypeVar("E", bound=enum.Enum)
T = TypeVar("T")


def described_enum(
    cls: type[E], *, name: str, description: str, values: Mapping[str, str]
) -> type[E]:
    """Expose a plain `db`/`resolvers` enum, with a description for each value."""
    wrapped = strawberry.enum(cls, name=name, description=description)
    definition = wrapped.__strawberry_definition__  # type: ignore[attr-defined]
    names = {v.name for v in definition.values}
    if names != set(values):
        raise ValueError(f"{name}: describe exactly {sorted(names)}")
    for value in definition.values:
        value.description = values[value.name]
    return wrapped


ErrorCode = ErrorCodeEnum
described_enum(
    ErrorCode,
    name="ErrorCode",
    description="Why a mutation refused its input. Clients branch on this, not on `message`.",
    values={
        "BLANK": "A required text was empty or only spaces.",
        "TOO_LONG": "A text exceeded its maximum length.",
        "INVALID": "A value had the wrong form or was out of range.",
        "NEGATIVE": "An amount was below zero.",
        "INVALID_ID": "An ID was malformed or named another type of object.",
        "NOT_FOUND": "No object has the given ID.",
        "DATE_ORDER": "An end came before its start.",
        "INVALID_TRANSITION": "The object's current status does not allow this change.",
        "VERSION_CONFLICT": "`expectedVersion` is not the current version: someone else "
        "changed the object first.",
        "CAMPAIGN_ENDED": "The campaign's end date has passed.",
        "BUDGET_EXHAUSTED": "The campaign's budget is spent.",
        "INVALID_CREDENTIALS": "The email or password is wrong (the message never says which).",
        "ACCOUNT_DISABLED": "The account is disabled; an admin may re-enable it.",
        "EMAIL_TAKEN": "Another user already has this email (compared case-insensitively).",
        "WEAK_PASSWORD": "The password breaks the password policy (at least 12 characters).",
        "INVALID_TOKEN": "The password reset token is unknown, already used or expired.",
        "UNKNOWN_SETTING": "No setting has this key; `admin { settings }` lists them.",
        "SELF_LOCKOUT": "Admins may not disable or demote themselves.",
        "INVALID_REFRESH_TOKEN": "The refresh token is unknown, already used, or its session "
        "has ended (logout, expiry, password or role change, account disabled): sign in again.",
    },
)

First = Annotated[
    int | None,
    strawberry.argument(
        description="Page forward: at most this many rows (default 20, at most the "
        "`max_page_size` setting, 100 unless changed)."
    ),
]
After = Annotated[
    str | None, strawberry.argument(description="Page forward from this cursor (exclusive).")
]
Last = Annotated[
    int | None,
    strawberry.argument(
        description="Page backward: at most this many rows before `before` (same cap as `first`)."
    ),
]
Input = Annotated[T, strawberry.argument(description="The mutation's arguments.")]
Before = Annotated[
    str | None, strawberry.argument(description="Page backward from this cursor (exclusive).")
]


@strawberry.interface(description="An object with a globally unique, opaque ID (Relay).")
class Node:
    id: strawberry.ID = strawberry.field(
        description="Opaque global ID; pass it to `node(id:)` to fetch this object again."
    )


@strawberry.type(description="An amount of money in a currency.")
class Money:
    amount: Decimal = strawberry.field(description="The amount in the currency's major unit.")
    currency: str = strawberry.field(description="ISO 4217 currency code, e.g. USD.")

    @classmethod
    def of(cls, minor_units: int, currency: str) -> Money:
        return cls(amount=Decimal(minor_units).scaleb(-2), currency=currency.strip())


# The most `userErrors` a payload holds (the query cost counts this many); no mutation finds
# more today (updateSettings, the most, finds 51 at most).
MAX_USER_ERRORS = 100


@strawberry.type(
    description="An expected failure of a mutation: bad input or a refused change. A payload's "
    f"`userErrors` holds at most {MAX_USER_ERRORS}."
)
class UserError:
    field: list[str] | None = strawberry.field(
        description="Path to the input field at fault, relative to `input`; null when the "
        "error concerns the whole request."
    )
    message: str = strawberry.field(description="Human-readable explanation.")
    code: ErrorCode = strawberry.field(description="Machine-readable reason.")

    @classmethod
    def of(cls, problem: Problem) -> UserError:
        return cls(
            field=list(problem.field) if problem.field else None,
            message=problem.message,
            code=problem.code,
        )

    @classmethod
    def all(cls, problems: Sequence[Problem]) -> list[UserError]:
        return [cls.of(p) for p in problems[:MAX_USER_ERRORS]]


R = TypeVar("R")

# Cursors are written only when a client asks for them (most pages are read without), from
# the row they point at: Edge.cursor and PageInfo's start/end cursors.


@strawberry.type(description="Where a page sits in its connection (Relay).")
class PageInfo:
    has_next_page: bool = strawberry.field(description="More rows follow this page.")
    has_previous_page: bool = strawberry.field(
        description="Rows precede this page (known when paging with `after` or `last`)."
    )
    first_row: strawberry.Private[Any]
    last_row: strawberry.Private[Any]
    cursor_of: strawberry.Private[Callable[[Any], str]]

    @strawberry.field(description="Cursor of the first edge.")
    def start_cursor(self) -> str | None:
        return None if self.first_row is None else self.cursor_of(self.first_row)

    @strawberry.field(description="Cursor of the last edge.")
    def end_cursor(self) -> str | None:
        return None if self.last_row is None else self.cursor_of(self.last_row)


def _edge_cursor(self: Any) -> str:
    return self.cursor_of(self.row)  # type: ignore[no-any-return]


@strawberry.type(description="A node and its cursor.")
class Edge(Generic[T]):
    cursor: str = strawberry.field(
        resolver=_edge_cursor, description="Pass to `after`/`before` to page from here."
    )
    node: T = strawberry.field(description="The object.")
    row: strawberry.Private[Any]
    cursor_of: strawberry.Private[Callable[[Any], str]]


# An edge's node is its row: PostgreSQL writes an edge as `{"node": <the row's JSON>}`.
render.renderable(Edge, node=render.ROW)


@strawberry.type(description="A page of a list, with cursors (Relay connection).")
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(description="The page's rows with their cursors.")
    nodes: list[T] = strawberry.field(description="The page's rows, without cursors.")
    page_info: PageInfo = strawberry.field(description="Paging state.")
    count_total: strawberry.Private[Callable[[], Awaitable[int]]]
    # What the node type's visibility rule is checked on, where the connection is returned
    # (schema/permissions.py): each node, or for nodes whose JSON PostgreSQL wrote, each
    # row's facts, with `node_class` naming the rule's type (None: each fact's own type).
    facts: strawberry.Private[Sequence[Any]]
    node_class: strawberry.Private[type | None]

    @strawberry.field(description="Number of rows in the whole connection (all pages).")
    async def total_count(self) -> int:
        return await self.count_total()

    @classmethod
    def _of(
        cls,
        page: Page[R],
        to_node: Callable[[R], T],
        cursor_of: Callable[[R], str],
        count_total: Callable[[], Awaitable[int]],
        rendered_as: type | None = None,
    ) -> Connection[T]:
        """The page's rows made into nodes; with `rendered_as`, the nodes are JSON written by
        PostgreSQL for that class, and the rows are what its visibility rule reads."""
        rows = page.rows
        edges = [Edge(node=to_node(r), row=r, cursor_of=cursor_of) for r in rows]
        nodes = [e.node for e in edges]
        return cls(
            edges=edges,
            nodes=nodes,
            facts=nodes if rendered_as is None else rows,
            node_class=rendered_as,
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                has_previous_page=page.has_previous_page,
                first_row=rows[0] if rows else None,
                last_row=rows[-1] if rows else None,
                cursor_of=cursor_of,
            ),
            count_total=count_total,
        )

    @classmethod
    async def read(
        cls,
        info: Any,
        node_class: type,
        read: Callable[[str | RenderedLists | None], Awaitable[Any]],
        to_node: Callable[[Any], T],
        cursor_of: Callable[[Any], str],
        count_total: Callable[[], Awaitable[int]],
    ) -> Connection[T]:
        """The one way to make a connection: the page `read(rendering)` returns, read the
        way the executor asked (schema/render.py): PostgreSQL writing the page's lists
        whole (a RenderedLists), or each node's JSON (the expression for `node_class`), or
        neither (None: rows made into nodes by `to_node`)."""
        asked = render.requested(info)
        fact_of = render.fact_of(node_class)
        if asked is not None and asked.whole is not None and fact_of is not None:
            page = await read(asked.whole)
            return cls.rendered(page, node_class, fact_of, asked, cursor_of, count_total)
        expression = None if asked is None else asked.rows.get(node_class)
        page = await read(expression)
        if expression is None:
            return cls._of(page, to_node, cursor_of, count_total)
        request = asked
        assert request is not None

        def rendered_node(row: Any) -> Any:
            return render.written(row.json, request)

        return cls._of(page, rendered_node, cursor_of, count_total, node_class)

    @classmethod
    def rendered(
        cls,
        page: RenderedPage,
        node_class: type,
        fact_of: Callable[[Any], Any],
        request: render.Request,
        cursor_of: Callable[[Any], str],
        count_total: Callable[[], Awaitable[int]],
    ) -> Connection[T]:
        """A page whose lists PostgreSQL wrote whole (schema/render.py) for `request`: its
        `list_names` are the attributes of `page.lists`, in order; a list not written is
        not asked for."""
        lists = dict(zip(request.list_names or (), page.lists, strict=True))
        edges, nodes = lists.get("edges"), lists.get("nodes")
        return cls(
            edges=[] if edges is None else render.written(edges, request),  # type: ignore[arg-type]
            nodes=[] if nodes is None else render.written(nodes, request),  # type: ignore[arg-type]
            facts=[fact_of(value) for value in page.facts],
            node_class=node_class,
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                has_previous_page=page.has_previous_page,
                first_row=page.first,
                last_row=page.last,
                cursor_of=cursor_of,
            ),
            count_total=count_total,
        )
