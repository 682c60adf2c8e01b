"""Objects whose JSON PostgreSQL can write (see db/render.py), as PostGraphile does: the
declarations, and what a resolver reads to know it was asked.

A type registers, for each of its plain fields (no resolver, no arguments, no access rule,
no extension), the SQL expression of the field's JSON over its table's row, or `Nested`
expressions for a plain object field (Money). When a selection of such a type is made only
of registered fields and `__typename`, the executor's planner (schema/execution/rendering.py)
writes it as one SQL expression (`sql_for`) and hands it to the resolver that fetches the
rows through that resolver's info (`requested`, a `Request`). A resolver that knows how
(`Connection.read`) has PostgreSQL write each list of its page whole when it may, else each
row's JSON, and returns an `orjson.Fragment` where the list or the object would be; the
executor sends a Fragment as it is. tests/test_render.py compares rendered responses with the
stock executor's byte for byte.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
)
from orjson import Fragment

from db import render as sql
from db.page_batch import RenderedLists
from schema.execution.adapter import plain_attribute, raw_info


@dataclass(frozen=True)
class Nested:
    """A plain object field: its own fields' JSON expressions over the parent's row."""

    fields: Mapping[str, str | Nested | Join | Many]


@dataclass(frozen=True)
class Join:
    """A field (with a resolver of its own) whose value is one row of `table`, or null when
    there is none: `on` is the condition, over the joined row `{inner}` and the row it hangs
    from `{outer}` (`"{inner}.id = {outer}.merchant_id"`)."""

    table: str
    on: str


@dataclass(frozen=True)
class Many:
    """A field (with a resolver of its own) whose value is a list of rows of `table`:
    `where` over `{inner}` and `{outer}`, in `order` (over `{inner}`), at most `limit`.
    `arguments`, when the field has some: the field's arguments (by GraphQL name) -> more
    conditions over `{inner}`, with the values as SQL literals; it raises (the resolver's
    own error) when they are refused, and then the field is resolved by its resolver."""

    table: str
    where: str
    order: str
    limit: int | None = None
    arguments: Callable[[dict[str, Any]], str] | None = None


# A plain object field that is the same row, written as the field's own type (an edge's
# `node`: the edge and its node are one row).
ROW = Nested({})


@dataclass(frozen=True)
class Spec:
    """How PostgreSQL writes a class's objects: its table, its fields by Python name, and
    `fact_of`: the object its visibility rule reads, made of the row's fact column (its
    table's `RenderedRows.fact`, db/page_batch.py) when a page's lists are written whole."""

    table: str | None
    fields: Mapping[str, str | Nested | Join | Many]
    fact_of: Callable[[Any], Any] | None = None
    # The column the visibility rule reads (owner id, key, status), for a joined row whose
    # rule PostgreSQL checks (a forbidden row becomes null and a FORBIDDEN error).
    fact: str | None = None


# Strawberry class -> its Spec
_SPECS: dict[type, Spec] = {}


def renderable(
    cls: type,
    table: str | None = None,
    fact_of: Callable[[Any], Any] | None = None,
    fact: str | None = None,
    **fields: str | Nested | Join | Many,
) -> None:
    """Register how PostgreSQL writes `cls`'s fields, by Python name."""
    _SPECS[cls] = Spec(table, fields, fact_of, fact)


def fact_of(cls: type) -> Callable[[Any], Any] | None:
    """What the visibility rule of `cls` reads of a row written in a whole list; None: its
    pages are never written whole."""
    spec = _SPECS.get(cls)
    return None if spec is None else spec.fact_of


# False: nothing is rendered; LISTS False: no list is written whole, only objects
# (bench/inprocess.py --modes ours,rows,unrendered compares).
ENABLED = True
LISTS = True


def class_of(type_: GraphQLObjectType) -> type | None:
    """The Strawberry class of an object type (the generic for `TransactionEdge`)."""
    definition = (type_.extensions or {}).get("strawberry-definition")
    if definition is None:
        return None
    if definition.concrete_of is not None:
        return definition.concrete_of.origin  # type: ignore[no-any-return]
    return definition.origin  # type: ignore[no-any-return]


def spec_of(type_: GraphQLObjectType) -> Spec | None:
    if not ENABLED:
        return None
    cls = class_of(type_)
    return None if cls is None else _SPECS.get(cls)


# A joined row the viewer may not see is written as {"\u0001":<site>} (JSON that no value
# can produce: a string's control characters are escaped inside quotes); the executor
# replaces it by null and a FORBIDDEN error at its path (`Written`).
MARK = '{"\\u0001":'


class Writing:
    """What writing one selection needs besides the schema: `subfields(type, details)`
    collects an object field's own selection; `arguments(field_def, node)` its arguments;
    `allowed(coordinate, type, fact)` whether the viewer may read the field on any object
    (None: not without a check per object) and which rows of the type it returns they may
    see, as an SQL predicate over `fact` ("TRUE": all). Aliases for joined rows and the
    sites of checked rows (their field nodes and class) are numbered here."""

    def __init__(
        self,
        subfields: Callable[[GraphQLObjectType, Any], Any],
        arguments: Callable[[GraphQLField, Any], dict[str, Any]],
        allowed: Callable[[str, GraphQLObjectType, str | None], str | None],
    ) -> None:
        self.subfields = subfields
        self.arguments = arguments
        self.allowed = allowed
        self.aliases = 0
        self.sites: list[tuple[list[Any], type]] = []
        # Arguments written as SQL may depend on the day (a default period): a selection
        # that wrote any is planned again for each request.
        self.used_arguments = False

    def alias(self) -> str:
        self.aliases += 1
        return f"_r{self.aliases}"


def sql_for(
    spec: Spec | Nested, type_: GraphQLObjectType, grouped: Any, how: Writing, outer: str
) -> str | None:
    """The selection (graphql-core's grouped field set) as one JSON expression over the row
    `outer` (a table name or alias), or None when any of its fields cannot be written."""
    pairs: list[tuple[str, str]] = []
    for key, details in grouped.items():
        node = details[0].node
        name = node.name.value
        if name == "__typename":
            pairs.append((key, sql.constant(type_.name)))
            continue
        field_def = type_.fields.get(name)
        if field_def is None:
            return None
        definition = (field_def.extensions or {}).get("strawberry-definition")
        declared = None if definition is None else spec.fields.get(definition.python_name)
        if declared is None:
            return None
        if isinstance(declared, Join | Many):
            expression = _joined(declared, type_, field_def, details, how, outer)
        elif node.arguments or plain_attribute(field_def) is None:
            return None
        else:
            expression = _plain(declared, field_def, details, how, outer)
        if expression is None:
            return None
        pairs.append((key, expression))
    return sql.object_of(pairs)


def _plain(
    declared: str | Nested, field_def: GraphQLField, details: Any, how: Writing, outer: str
) -> str | None:
    field_type = field_def.type
    if isinstance(field_type, GraphQLNonNull):
        field_type = field_type.of_type
    if isinstance(declared, str):
        return declared if isinstance(field_type, GraphQLScalarType | GraphQLEnumType) else None
    if not isinstance(field_type, GraphQLObjectType) or field_type is field_def.type:
        return None  # a nullable object would need its own null check
    if declared is not ROW:
        return sql_for(declared, field_type, how.subfields(field_type, details), how, outer)
    row = spec_of(field_type)  # the same row, as the field's own type
    if row is None:
        return None
    return sql_for(row, field_type, how.subfields(field_type, details), how, row.table or outer)


def _joined(
    declared: Join | Many,
    parent: GraphQLObjectType,
    field_def: GraphQLField,
    details: Any,
    how: Writing,
    outer: str,
) -> str | None:
    field_type, is_list = field_def.type, False
    while isinstance(field_type, GraphQLNonNull | GraphQLList):
        is_list = is_list or isinstance(field_type, GraphQLList)
        field_type = field_type.of_type
    if not isinstance(field_type, GraphQLObjectType) or is_list != isinstance(declared, Many):
        return None
    spec = spec_of(field_type)
    cls = class_of(field_type)
    if spec is None or cls is None:
        return None
    inner = how.alias()
    fact = None if spec.fact is None else f"{inner}.{spec.fact}"
    visible = how.allowed(f"{parent.name}.{details[0].node.name.value}", field_type, fact)
    if visible is None:
        return None
    body = sql_for(spec, field_type, how.subfields(field_type, details), how, inner)
    if body is None:
        return None
    if isinstance(declared, Join):
        on = declared.on.format(inner=inner, outer=outer)
        if visible != "TRUE":
            if isinstance(field_def.type, GraphQLNonNull):
                return None  # a forbidden row would null its parent: the executor's work
            how.sites.append(([d.node for d in details], cls))
            mark = sql.constant_text(f"{MARK}{len(how.sites) - 1}}}")
            body = f"CASE WHEN {visible} THEN {body} ELSE {mark} END"
        return f"coalesce((SELECT {body} FROM {declared.table} AS {inner} WHERE {on}), 'null')"
    if visible != "TRUE":
        return None  # a list item refused would be null inside a list of non-null items
    where = declared.where.format(inner=inner, outer=outer)
    if declared.arguments is not None:
        how.used_arguments = True
        try:
            more = declared.arguments(how.arguments(field_def, details[0].node))
            where += " AND " + more.format(inner=inner)
        except Exception:  # noqa: BLE001 (refused arguments: the resolver reports them)
            return None
    order = declared.order.format(inner=inner)
    limit = "" if declared.limit is None else f" LIMIT {int(declared.limit)}"
    return (
        f"(SELECT coalesce('[' || string_agg(_w.j, ',' ORDER BY _w.n) || ']', '[]') FROM"
        f" (SELECT {body} AS j, row_number() OVER (ORDER BY {order}) AS n"
        f" FROM {declared.table} AS {inner} WHERE {where} ORDER BY {order}{limit}) _w)"
    )


# Python's strip() of a currency: the padding of char(3) and ASCII whitespace.
_STRIP = "' ' || chr(9) || chr(10) || chr(11) || chr(12) || chr(13)"


def money(cents: str) -> Nested:
    """`Money.of(<cents column>, currency)` of a row with a `currency` column."""
    return Nested(
        {
            "amount": sql.cents_as_decimal(cents),
            "currency": sql.value(f"btrim(currency::text, {_STRIP})"),
        }
    )


def enum(expression: str, enum_class: type) -> str:
    """A column holding a Strawberry enum's values, written as their GraphQL names."""
    definition = enum_class.__strawberry_definition__  # type: ignore[attr-defined]
    return sql.enum(expression, {str(v.value): v.name for v in definition.values})


class Written:
    """JSON PostgreSQL wrote that may hold rows the viewer may not see (`MARK`): the
    executor replaces each by null and a FORBIDDEN error at its path, located at the
    field nodes of its `sites` entry."""

    __slots__ = ("json", "sites")

    def __init__(self, json: str, sites: Sequence[tuple[list[Any], type]]) -> None:
        self.json = json
        self.sites = sites


def written(json: str, request: Request) -> Fragment | Written:
    """What a resolver returns for JSON written for `request`: sent as it is, unless the
    request may have written a forbidden row."""
    return Written(json, request.sites) if request.sites else Fragment(json)


class Request:
    """What the planner asks one resolver to have PostgreSQL write, made once per selection.

    `rows`: per class, the JSON expression of each object of that class under the resolver
    (None: two selections of the class differ, or one cannot be written: render neither).
    `lists` (attribute -> the JSON expression of one item): when every list the resolver's
    result is asked for is a list of rendered objects, the resolver may write each list
    whole; `list_names` and `whole` are those lists in name order, else None."""

    __slots__ = ("list_names", "rows", "sites", "whole")

    def __init__(
        self,
        rows: Mapping[type, str | None],
        lists: Mapping[str, str] | None,
        sites: Sequence[tuple[list[Any], type]] = (),
    ) -> None:
        self.rows = rows
        self.sites = tuple(sites)  # where a row may be written as forbidden (`MARK`)
        self.list_names = None if lists is None else tuple(sorted(lists))
        self.whole = None
        if lists is not None:
            self.whole = RenderedLists(tuple(lists[name] for name in sorted(lists)))


# The attribute of graphql-core's resolve info that holds what the executor's planner asks
# (schema/execution/rendering.py): `resolve(viewer)` gives the Request for that viewer.
REQUESTED = "rendered_by_sql"


def requested(info: Any) -> Request | None:
    """What the resolver behind Strawberry's `info` is asked to render; None: return objects.
    Read after the field's access rule ran, so the viewer is known."""
    pending = getattr(raw_info(info), REQUESTED, None)
    return None if pending is None else pending.resolve(info.context.viewer)


# Fields ("Type.field") whose resolver reads objects through `one`: the executor plans the
# JSON of the objects they return (every connection's resolver reads its page through
# Connection.read, which asks too).
_ONE: set[str] = set()


def reads_one(*coordinates: str) -> None:
    _ONE.update(coordinates)


def asks_one(coordinate: str) -> bool:
    return coordinate in _ONE


@dataclass(frozen=True, slots=True)
class Rendered:
    """An object PostgreSQL wrote (`value`: a Fragment or Written), with what its class's
    visibility rule reads (`fact`): the Guard checks it as it checks an object."""

    value: Any
    fact: Any
    cls: type


async def one(info: Any, cls: type, pk: int, objects: Callable[[int], Awaitable[Any]]) -> Any:
    """The object of `cls` with key `pk`: written by PostgreSQL when the executor asked for
    its JSON (a Rendered, or None when there is no such row), else `objects(pk)`."""
    asked = requested(info)
    expression = None if asked is None else asked.rows.get(cls)
    spec = _SPECS.get(cls)
    if (
        expression is None
        or asked is None
        or spec is None
        or spec.table is None
        or spec.fact is None
        or spec.fact_of is None
    ):
        return await objects(pk)
    found = await info.context.loaders.written(spec.table, spec.fact, expression).load(pk)
    if found is None:
        return None
    fact, json = found
    return Rendered(written(json, asked), spec.fact_of(fact), cls)
