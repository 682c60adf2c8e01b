"""Which selections PostgreSQL writes: the planner behind the executor's second shortcut.

For a field whose value is a page of rows (a type with plain lists of objects: a
connection), the planner walks the selection below it through plain fields and records, for
every object type whose JSON PostgreSQL can write (schema/render.py), the SQL expression of
that selection (joined rows and lists of rows included, where the viewer may read them
without a check per object), and, for the lists of the field's own result (a connection's
`edges` and `nodes`), the expression of one item when every such list can be written whole.
The resolver reads that `render.Request` from its info once its access rule has run; the
stock executor never asks, so its resolvers return objects.

A plan depends on the selection and the viewer's role (which rules pass without a check per
object), never on the data, so it is made once per (document, role): each document's plans
live beside it in a small cache. A plan that writes an argument as SQL (a period, which may
default to today) is kept per variables and day; an operation whose selections depend on
variables (`@skip`/`@include`) is planned per request.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from graphql import (
    FieldNode,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.execution.values import get_argument_values

from db import metrics
from schema import render
from schema.execution import adapter

if TYPE_CHECKING:
    from db.users import UserRow
    from schema.execution.executor import Executor

_MAX_OPERATIONS = 256  # documents remembered, as Strawberry's parser and validation caches
_MAX_PLANS_PER_DOCUMENT = 1024  # (field, role, variables) plans kept per document
_UNPLANNED = object()
_WRITES_ARGUMENTS = object()  # in place of a plan whose SQL holds arguments: see `resolve`


def _unwrapped(type_: Any) -> tuple[Any, bool]:
    """(the named type, whether a list is on the way)."""
    is_list = False
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        is_list = is_list or isinstance(type_, GraphQLList)
        type_ = type_.of_type
    return type_, is_list


class _Walk:
    """One field's request being made: rows per class, lists of its result."""

    def __init__(self, how: render.Writing) -> None:
        self.how = how
        self.rows: dict[type, str | None] = {}
        self.lists: dict[str, str] | None = {}

    def selection(self, type_: GraphQLObjectType, grouped: GroupedFieldSet, top: bool) -> None:
        for details in grouped.values():
            name = details[0].node.name.value
            if name == "__typename":
                continue
            field_def = type_.fields.get(name)
            attribute = None if field_def is None else adapter.plain_attribute(field_def)
            if attribute is None or field_def is None:
                continue  # a resolver of its own: what is under it is its business
            inner, is_list = _unwrapped(field_def.type)
            if not isinstance(inner, GraphQLObjectType):
                if top and is_list:
                    self.lists = None  # a list the page cannot write whole
                continue
            sub = self.how.subfields(inner, details)
            expression = self.object(inner, sub)
            if top and is_list:
                if expression is None or not render.LISTS or self.lists is None:
                    self.lists = None
                else:
                    self.lists[attribute] = expression
            self.selection(inner, sub, top=False)

    def object(self, type_: GraphQLObjectType, grouped: GroupedFieldSet) -> str | None:
        """The selection's JSON expression, recorded for its class; None if not writable."""
        spec = render.spec_of(type_)
        cls = render.class_of(type_)
        if spec is None or cls is None:
            return None
        expression = render.sql_for(spec, type_, grouped, self.how, spec.table or "")
        known = self.rows.get(cls, expression)
        # Two selections of the class under one resolver, or one PostgreSQL cannot write:
        # no object of the class is written per row (they all come from the same rows).
        self.rows[cls] = expression if known == expression else None
        return expression

    def request(self) -> render.Request | None:
        rows = {cls: e for cls, e in self.rows.items() if e is not None}
        if not rows and self.lists is None:
            return None
        # Lists written whole even when none is asked for (only `pageInfo`): the page's
        # first and last rows are then all that is read.
        return render.Request(rows, self.lists, self.how.sites)


class Plans:
    """A document's requests, by (return type, field node ids, role)."""

    def __init__(self, operation: OperationDefinitionNode, fragments: Any) -> None:
        # Kept alive, so the node ids in the keys stay unique.
        self.operation = operation
        self.fragments = fragments
        # a Request, None (nothing to write), or _WRITES_ARGUMENTS
        self.requests: dict[tuple[Any, ...], object] = {}


_plans: OrderedDict[int, Plans] = OrderedDict()


def _has_directives(node: Any) -> bool:
    selection_set = getattr(node, "selection_set", None)
    if selection_set is None:
        return False
    for selection in selection_set.selections:
        if selection.directives or _has_directives(selection):
            return True
    return False


def _plans_for(operation: OperationDefinitionNode, fragments: Any) -> Plans:
    cached = _plans.get(id(operation))
    if cached is not None and cached.operation is operation:
        _plans.move_to_end(id(operation))
        return cached
    definitions = [operation, *(f.definition for f in fragments.values())]
    if any(_has_directives(d) for d in definitions):
        # Selections that may depend on variables: planned per request.
        if metrics.ENABLED:
            metrics.fallbacks("planned_per_request").inc()
        return Plans(operation, fragments)
    plans = _plans[id(operation)] = Plans(operation, fragments)
    if len(_plans) > _MAX_OPERATIONS:
        _plans.popitem(last=False)
    return plans


class Planner:
    """The requests of one operation run (cached per document where they can be)."""

    def __init__(self, executor: Executor) -> None:
        self.executor = executor
        self.plans = _plans_for(executor.operation, executor.fragments)
        self._variables: bytes | None = None

    def subfields(self, type_: GraphQLObjectType, details: FieldDetailsList) -> GroupedFieldSet:
        return self.executor.collect_subfields(type_, details).grouped_field_set

    def variables(self) -> bytes:
        if self._variables is None:
            self._variables = orjson.dumps(
                self.executor.variable_values.coerced,
                default=str,
                option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
            )
        return self._variables

    def arguments(self, field_def: GraphQLField, node: FieldNode) -> dict[str, Any]:
        return get_argument_values(field_def, node, self.executor.variable_values)

    def request_for(
        self, field_def: GraphQLField, parent_type: GraphQLObjectType, details: FieldDetailsList
    ) -> Pending | None:
        """What the field's resolver may be asked to have PostgreSQL write, or None."""
        found = _candidate(field_def, parent_type, details[0].node.name.value, self.executor.schema)
        if found is None:
            return None
        return Pending(self, found[0], found[1], details)


class Pending:
    """A field's request, made for the viewer when its resolver reads it (`resolve`)."""

    __slots__ = ("details", "objects", "planner", "type")

    def __init__(
        self,
        planner: Planner,
        type_: GraphQLObjectType,
        objects: tuple[GraphQLObjectType, ...],
        details: FieldDetailsList,
    ) -> None:
        self.planner = planner
        self.type = type_  # a page's type, or the named type the field returns
        self.objects = objects  # for a field returning objects: their possible types
        self.details = details

    def resolve(self, viewer: UserRow | None) -> render.Request | None:
        planner = self.planner
        # An operation whose selections depend on variables keeps its plans for one request.
        key: tuple[Any, ...] = (
            self.type.name,
            *(id(d.node) for d in self.details),
            None if viewer is None else viewer.role,
        )
        requests = planner.plans.requests
        found = requests.get(key, _UNPLANNED)
        if found is _WRITES_ARGUMENTS:
            # Its SQL holds the field's arguments, which may default to today's date.
            key = (*key, planner.variables(), datetime.now(UTC).date())
            found = requests.get(key, _UNPLANNED)
        if found is not _UNPLANNED:
            if found is None and metrics.ENABLED:
                metrics.fallbacks("not_written").inc()
            return found  # type: ignore[return-value]
        from schema.permissions import visible_sql  # the rules import the schema's types

        def allowed(coordinate: str, type_: GraphQLObjectType, fact: str | None) -> str | None:
            return visible_sql(viewer, coordinate, render.class_of(type_), fact)

        how = render.Writing(planner.subfields, planner.arguments, allowed)
        walk = _Walk(how)
        if self.objects:
            walk.lists = None
            for type_ in self.objects:
                walk.object(type_, planner.subfields(type_, self.details))
        else:
            walk.selection(self.type, planner.subfields(self.type, self.details), top=True)
        request = walk.request()
        if how.used_arguments and len(key) == len(self.details) + 2:
            requests[key] = _WRITES_ARGUMENTS
            key = (*key, planner.variables(), datetime.now(UTC).date())
        if len(requests) < _MAX_PLANS_PER_DOCUMENT:
            requests[key] = request
        if request is None and metrics.ENABLED:
            metrics.fallbacks("not_written").inc()
        return request


Candidate = tuple[Any, tuple[GraphQLObjectType, ...]]

# id(field definition) -> (the definition, (the type its resolver may be asked to render,
# the possible object types when it returns objects) or None).
_candidates: dict[int, tuple[GraphQLField, Candidate | None]] = {}


def _candidate(
    field_def: GraphQLField, parent_type: GraphQLObjectType, name: str, schema: GraphQLSchema
) -> Candidate | None:
    cached = _candidates.get(id(field_def))
    if cached is not None and cached[0] is field_def:
        return cached[1]
    inner, is_list = _unwrapped(field_def.type)
    found: Candidate | None = None
    # A plain field has no resolver of its own: its parent's resolver was asked.
    if adapter.plain_attribute(field_def) is None:
        if (
            not is_list
            and isinstance(inner, GraphQLObjectType)
            and any(_is_plain_object_list(f) for f in inner.fields.values())
        ):
            found = (inner, ())  # a page (a connection): its resolver reads it whole
        elif render.asks_one(f"{parent_type.name}.{name}"):
            possible: tuple[GraphQLObjectType, ...] = ()
            if isinstance(inner, GraphQLObjectType):
                possible = (inner,)
            elif isinstance(inner, GraphQLInterfaceType):
                possible = tuple(schema.get_possible_types(inner))
            found = (inner, possible) if possible else None
    _candidates[id(field_def)] = (field_def, found)
    return found


def _is_plain_object_list(field_def: GraphQLField) -> bool:
    inner, is_list = _unwrapped(field_def.type)
    return (
        is_list
        and isinstance(inner, GraphQLObjectType)
        and adapter.plain_attribute(field_def) is not None
    )


def with_request(info: Any, pending: Pending) -> Any:
    """`info` carrying the pending request where `render.requested` reads it."""
    carrying = adapter.ResolveInfo(*info)
    setattr(carrying, render.REQUESTED, pending)
    return carrying
