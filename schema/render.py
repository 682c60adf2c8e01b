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

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLEnumType, GraphQLNonNull, GraphQLObjectType, GraphQLScalarType
from orjson import Fragment

from db import render as sql
from db.page_batch import RenderedLists
from schema.execution.adapter import plain_attribute, raw_info


@dataclass(frozen=True)
class Nested:
    """A plain object field: its own fields' JSON expressions over the parent's row."""

    fields: Mapping[str, str | Nested]


# A plain object field that is the same row, written as the field's own type (an edge's
# `node`: the edge and its node are one row).
ROW = Nested({})

# Strawberry class -> (Python field name -> JSON expression, Nested or ROW)
_SPECS: dict[type, Nested] = {}


def renderable(cls: type, **fields: str | Nested) -> None:
    """Register the JSON expressions of `cls`'s plain fields, by Python name."""
    _SPECS[cls] = Nested(fields)


# False: nothing is rendered; LISTS False: no list is written whole, only objects
# (bench/inprocess.py --modes rendered,rows,unrendered compares).
ENABLED = True
LISTS = True


def spec_of(type_: GraphQLObjectType) -> Nested | None:
    if not ENABLED:
        return None
    definition = (type_.extensions or {}).get("strawberry-definition")
    if definition is None:
        return None
    if definition.concrete_of is not None:  # e.g. TransactionEdge: a generic Edge
        return _SPECS.get(definition.concrete_of.origin)
    return _SPECS.get(definition.origin)


def sql_for(spec: Nested, type_: GraphQLObjectType, grouped: Any, subfields: Any) -> str | None:
    """The selection (graphql-core's grouped field set) as one JSON expression, or None
    when any of its fields is not registered or not plain. `subfields(type, details)`
    collects an object field's own selection."""
    pairs: list[tuple[str, str]] = []
    for key, details in grouped.items():
        node = details[0].node
        name = node.name.value
        if name == "__typename":
            pairs.append((key, sql.constant(type_.name)))
            continue
        field_def = type_.fields.get(name)
        if field_def is None or node.arguments:  # (the planner refuses all directives)
            return None
        attribute = plain_attribute(field_def)
        expression = None if attribute is None else spec.fields.get(attribute)
        if expression is None:
            return None
        field_type = field_def.type
        if isinstance(field_type, GraphQLNonNull):
            field_type = field_type.of_type
        if isinstance(expression, Nested):
            if not isinstance(field_type, GraphQLObjectType) or field_type is field_def.type:
                return None  # a nullable object would need its own null check
            if expression is ROW:
                expression = spec_of(field_type)
                if expression is None:
                    return None
            inner = sql_for(expression, field_type, subfields(field_type, details), subfields)
            if inner is None:
                return None
            pairs.append((key, inner))
        elif isinstance(field_type, (GraphQLScalarType, GraphQLEnumType)):
            pairs.append((key, expression))
        else:
            return None  # a list would need its own aggregate
    return sql.object_of(pairs)


def enum(expression: str, enum_class: type) -> str:
    """A column holding a Strawberry enum's values, written as their GraphQL names."""
    definition = enum_class.__strawberry_definition__  # type: ignore[attr-defined]
    return sql.enum(expression, {str(v.value): v.name for v in definition.values})


def rendered_node(row: Any) -> Any:
    """The object a rendered row stands for: its JSON (`row.json`), sent as it is."""
    return Fragment(row.json)


class Request:
    """What the planner asks one resolver to have PostgreSQL write, made once per selection.

    `rows`: per class, the JSON expression of each object of that class under the resolver
    (None: two selections of the class differ, or one cannot be written: render neither).
    `lists` (attribute -> the JSON expression of one item): when every list the resolver's
    result is asked for is a list of rendered objects, the resolver may write each list
    whole; `list_names` and `whole` are those lists in name order, else None."""

    __slots__ = ("list_names", "rows", "whole")

    def __init__(self, rows: Mapping[type, str | None], lists: Mapping[str, str] | None) -> None:
        self.rows = rows
        self.list_names = None if lists is None else tuple(sorted(lists))
        self.whole = None
        if lists is not None:
            self.whole = RenderedLists(tuple(lists[name] for name in sorted(lists)))


# The attribute of graphql-core's resolve info that holds the Request (the executor sets it).
REQUESTED = "rendered_by_sql"


def requested(info: Any) -> Request | None:
    """What the resolver behind Strawberry's `info` is asked to render; None: return objects."""
    return getattr(raw_info(info), REQUESTED, None)
