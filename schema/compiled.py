"""Compiled query execution: plan an operation once, then run it without graphql-core's
per-field machinery; when anything is not plain success, run the stock path instead.

Why: even with the leaf fast path (schema/fast_execution.py), graphql-core spends several
µs on every object field and list item of a response (a Path, a GraphQLResolveInfo, argument
coercion, `complete_value`'s type dispatch, sub-field collection), and Q2 has ~2,000 of
them. Most of that work depends only on the operation, not on the data.

How:
  - Plan (once per operation document, cached by its parsed node, which the parser cache
    keeps): for each selection set, the fields in response order, each with how to get its
    value (read an attribute for a plain field, or call the field's resolver: the very same
    Strawberry-built function graphql-core calls, with its access rules and argument
    conversion) and how to complete it (leaf serializer, object plan, list of a completer,
    nullability). Only query operations on object, list, scalar and enum types, without
    directives or fragment variables, are planned; anything else runs the fast executor.
  - Run: argument values and a resolve info are computed once per field per request (they
    depend only on the variables), not per object. Values that are awaited (a dataloader
    load) are collected and awaited together, one wave at a time, so every load of a wave
    lands in the same batch; lists of objects prefetch their items' dataloader fields first,
    with the same recipes as the fast executor.
  - Any exception, a null for a non-null field, a value of an unexpected kind, or a type
    check that fails stops the run (`Bailout`), and the operation runs again through the
    fast executor (queries only read, and the loaders keep what was already loaded), which
    reports errors exactly as graphql-core does. So the compiled path never has to produce
    an error: it yields the data the stock executor would, or nothing.

tests/test_fast_execution.py proves the data equal to the stock executor's for every query of
the test suite and for generated queries, and counts that this path really ran.
"""

from __future__ import annotations

import asyncio
import keyword
from asyncio import isfuture
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from operator import attrgetter
from types import CoroutineType
from typing import TYPE_CHECKING, Any

from graphql import (
    FieldNode,
    GraphQLEnumType,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    Undefined,
)
from graphql.execution.collect_fields import (
    FieldDetailsList,
    collect_fields,
    collect_subfields,
)
from graphql.execution.values import get_argument_values
from graphql.pyutils import Path
from orjson import Fragment
from strawberry.extensions.field_extension import FieldExtension
from strawberry.relay.types import GlobalID
from strawberry.scalars import is_scalar
from strawberry.schema.schema_converter import get_arguments
from strawberry.types.arguments import convert_argument
from strawberry.types.base import StrawberryOptional
from strawberry.types.cast import TYPE_CAST_ATTRIBUTE

from resolvers.warm import quietly
from schema import render
from schema.fast_execution import PREFETCH, UNCHANGED, _Resume, leaf_recipe, plain_attribute

if TYPE_CHECKING:
    from schema.fast_execution import FastExecutionContext


class Bailout(Exception):
    """The compiled run met something only the stock executor reports correctly."""


class NotPlannable(Exception):
    """The operation uses something the planner does not handle."""


_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1

# How a field gets its value.
_READ = 0  # read(source): a plain field (Strawberry's default resolver, no arguments/rules)
_RESOLVE = 1  # resolve(source, info, **arguments): the field's own Strawberry resolver
_TYPENAME = 2  # the constant __typename of the parent type
_DIRECT = 3  # call(run, source, slot): the field's Python resolver without Strawberry's wrapper


class _Later:
    """A value still being computed: `then(run, await awaitable)` completes it."""

    __slots__ = ("awaitable", "then")

    def __init__(self, awaitable: Awaitable[Any], then: Callable[[_Run, Any], Any]) -> None:
        self.awaitable = awaitable
        self.then = then


# --- completers: a field's return type, compiled ---------------------------------------------


class _Leaf:
    __slots__ = ("coerce", "enum_names", "name", "non_null", "unchanged")

    def __init__(self, leaf: GraphQLScalarType | GraphQLEnumType, non_null: bool) -> None:
        self.name = leaf.name
        self.coerce = leaf.coerce_output_value
        self.non_null = non_null
        self.unchanged = UNCHANGED.get(leaf)  # type: ignore[arg-type]
        # A Strawberry enum serializes a member by scanning the GraphQL values for its value
        # (CustomGraphQLEnumType.coerce_output_value): the same answer, looked up.
        wrapped = getattr(leaf, "wrapped_cls", None)
        self.enum_names: dict[Any, str] | None = None
        if isinstance(leaf, GraphQLEnumType) and wrapped is not None:
            self.enum_names = {}
            for member in wrapped:
                for name, value in leaf.values.items():
                    if member.value == value.value:
                        self.enum_names[member] = name
                        break

    def complete(self, run: _Run, value: Any) -> Any:
        if value is None:
            if self.non_null:
                raise Bailout
            return None
        unchanged = self.unchanged
        if type(value) is unchanged and (
            unchanged is not int or _INT_MIN <= value <= _INT_MAX  # type: ignore[operator]
        ):
            return value
        names = self.enum_names
        if names is not None:
            name = names.get(value)
            if name is not None:
                return name
        if isinstance(value, Exception):
            raise Bailout
        coerced = self.coerce(value)
        if coerced is None or coerced is Undefined:
            raise Bailout
        return coerced


class _Object:
    __slots__ = ("is_type_of", "non_null", "plan")

    def __init__(self, plan: _ObjectPlan, non_null: bool) -> None:
        self.plan = plan
        self.non_null = non_null
        self.is_type_of = plan.type.is_type_of

    def complete(self, run: _Run, value: Any) -> Any:
        if value is None:
            if self.non_null:
                raise Bailout
            return None
        if isinstance(value, Exception):
            raise Bailout
        if self.is_type_of is not None and self.is_type_of(value, None) is not True:  # type: ignore[arg-type]
            raise Bailout
        return self.plan.complete(run, value)


class _Rendered:
    """An object (`sql`: its selection's JSON expression) or a list of them that PostgreSQL
    may write (schema/render.py): a Fragment the resolver returns is that JSON; anything else
    is completed by `inner`."""

    __slots__ = ("inner", "sql")

    def __init__(self, inner: Any, sql: str) -> None:
        self.inner = inner
        self.sql = sql

    def complete(self, run: _Run, value: Any) -> Any:
        if type(value) is Fragment:
            return value
        return self.inner.complete(run, value)


class _List:
    __slots__ = ("inner", "non_null", "prefetch")

    def __init__(self, inner: Any, non_null: bool) -> None:
        self.inner = inner
        self.non_null = non_null
        self.prefetch: list[_Prefetch] = inner.plan.prefetch if type(inner) is _Object else []

    def complete(self, run: _Run, value: Any) -> Any:
        if value is None:
            if self.non_null:
                raise Bailout
            return None
        if type(value) is not list and type(value) is not tuple:
            raise Bailout  # other iterables: the stock path
        if self.prefetch and len(value) > 1:
            loading = _start_prefetch(run, self.prefetch, value)
            if loading is not None:
                return _Later(loading, lambda run, _: self._items(run, value))
        return self._items(run, value)

    def _items(self, run: _Run, value: list[Any] | tuple[Any, ...]) -> list[Any]:
        complete = self.inner.complete
        out = [complete(run, item) for item in value]
        if type(self.inner) not in _NEVER_LATER:
            for i, item in enumerate(out):
                if type(item) is _Later:
                    run.defer(out, i, item)
        return out


_NEVER_LATER = (_Object, _Rendered)  # an object's completion is its dict (or its JSON)


class _Visible:
    """A guarded field's visibility filter (permissions.Guard.visible_now), then `inner`."""

    __slots__ = ("guard", "inner")

    def __init__(self, guard: Any, inner: Any) -> None:
        self.guard = guard
        self.inner = inner

    def complete(self, run: _Run, value: Any) -> Any:
        return self.inner.complete(run, self.guard.visible_now(run.context, value))


_SOURCE = object()  # stands for the parent object in a field's precomputed arguments


class _Direct:
    """Calls a field's Python resolver (or reads its attribute) the way Strawberry's wrapper
    would, minus the per-call work: Strawberry converts the arguments and builds its Info once
    per request here (`_Run.direct_arguments`), and the access rule is the Guard's own check
    (after loading the viewer the way the Guard does, when it is not loaded yet)."""

    __slots__ = ("attribute", "definition", "func", "guard", "resolve", "takes_self")

    def __init__(self, definition: Any, resolve: Any, guard: Any) -> None:
        self.definition = definition
        self.resolve = resolve
        self.guard = guard
        base = definition.base_resolver
        self.func = None if base is None else base.wrapped_func
        self.takes_self = base is not None and base.self_parameter is not None
        self.attribute = definition.python_name

    def call(self, run: _Run, source: Any, slot: int) -> Any:
        guard = self.guard
        if guard is not None:
            allowed = guard.allows_now(run.context, source)
            if allowed is None:  # the viewer is not loaded yet
                return self._after_viewer(run, source, slot)
            if not allowed:
                raise Bailout  # the stock path reports FORBIDDEN
        return self._call(run, source, slot)

    async def _after_viewer(self, run: _Run, source: Any, slot: int) -> Any:
        """Load the viewer as the Guard would (its rule's errors end the compiled run), then
        call as above; a caller still unknown (not signed in) goes through the wrapper."""
        guard = self.guard
        await guard.load_viewer(run.context, source)
        allowed = guard.allows_now(run.context, source)
        if allowed is None:
            value = self.resolve(source, run.info(slot), **run.arguments(slot))
        elif not allowed:
            raise Bailout
        else:
            value = self._call(run, source, slot)
        if type(value) is CoroutineType or isfuture(value):
            value = await value
        return value

    def _call(self, run: _Run, source: Any, slot: int) -> Any:
        func = self.func
        if func is None:
            return getattr(source, self.attribute)
        if self.takes_self:
            return func(source, **run.direct_arguments(slot))
        return func(**run.direct_arguments(slot))


def _direct(field_def: GraphQLField) -> _Direct | None:
    """A _Direct for fields whose only extension is the access Guard, with no permission
    classes and no parent/root parameter; None for the others (Strawberry's wrapper)."""
    definition = _definition(field_def)
    if definition is None or definition.permission_classes:
        return None
    guards = definition.extensions
    if len(guards) > 1 or (guards and not hasattr(guards[0], "allows_now")):
        return None
    base = definition.base_resolver
    if base is None:
        if definition.default_resolver is not getattr or field_def.args:
            return None
    elif base.parent_parameter is not None or base.root_parameter is not None:
        return None
    return _Direct(definition, field_def.resolve, guards[0] if guards else None)


# --- plans -----------------------------------------------------------------------------------

# (response key, how, read/resolve/type name, leaf type returned unchanged or None, completer,
# field slot in the run)
_Field = tuple[str, int, Any, Any, Any, int]


class _Prefetch:
    """A list item's dataloader field (or one under an item's plain object field) whose keys
    can be loaded for the whole list at once (see schema/fast_execution.PREFETCH)."""

    __slots__ = ("allowed", "recipe", "slot", "via")

    def __init__(self, recipe: Any, allowed: list[Any], slot: int, via: str | None) -> None:
        self.recipe = recipe
        self.allowed = allowed
        self.slot = slot
        self.via = via


class _ObjectPlan:
    __slots__ = ("attributes", "complete", "fields", "prefetch", "type")

    def __init__(self, type_: GraphQLObjectType) -> None:
        self.type = type_
        self.fields: list[_Field] = []
        # Per field: the attribute a plain field reads (for the generated code), else None.
        self.attributes: list[str | None] = []
        self.prefetch: list[_Prefetch] = []
        # complete(run, source) -> the object's result dict (`_generate`)
        self.complete: Callable[[_Run, Any], dict[str, Any]]


class _Slot:
    """What a field needs per request: its definition, nodes and parent (for the info and
    the arguments)."""

    __slots__ = (
        "conversion",
        "details",
        "field_def",
        "has_args",
        "lists",
        "parent_type",
        "renders",
        "request",
    )

    def __init__(
        self, field_def: GraphQLField, details: FieldDetailsList, parent_type: GraphQLObjectType
    ) -> None:
        self.field_def = field_def
        self.details = details
        self.parent_type = parent_type
        self.has_args = bool(field_def.args or details[0].node.arguments)
        self.conversion: _Conversion | None = None  # made on the first direct call
        # What the field's resolver is asked to have PostgreSQL write (schema/render.py):
        # class -> JSON expression, None when two selections of the class differ; the lists
        # of its result (attribute -> an item's expression), None once one is not rendered.
        self.renders: dict[type, str | None] = {}
        self.lists: dict[str, str] | None = {}
        self.request: render.Request | None = None  # the two, once planned


class _Conversion:
    """Strawberry's `get_arguments` for one field, with what depends only on the schema
    worked out once instead of per request: which GraphQL argument feeds which Python
    parameter (Strawberry's name converter runs per argument per call), and which values
    pass unchanged. Strawberry's `convert_argument` returns a scalar's value as it is (the
    GraphQL scalar already parsed it), so only the other types (input objects, lists, global
    IDs, Maybe) go through it, with the same path. A field whose extensions reshape the
    arguments (`map_arguments`) keeps Strawberry's `get_arguments` (`exact` False).
    """

    __slots__ = ("arguments", "exact", "info_name")

    def __init__(self, definition: Any, converter: Any) -> None:
        self.exact = all(
            type(e).map_arguments is FieldExtension.map_arguments for e in definition.extensions
        )
        registry = converter.scalar_registry
        # (GraphQL name, Python name, Strawberry type to convert to, or None: as it is)
        self.arguments: list[tuple[str, str, Any]] = []
        for argument in definition.arguments:
            name = converter.config.name_converter.from_argument(argument)
            type_ = argument.type
            inner = type_.of_type if type(type_) is StrawberryOptional else type_
            unchanged = inner is not GlobalID and is_scalar(inner, registry)
            self.arguments.append((name, argument.python_name, None if unchanged else type_))
        # (No parent or root parameters: `_direct` leaves those fields to Strawberry.)
        info = definition.base_resolver.info_parameter
        self.info_name: str | None = None if info is None else info.name


class Plan:
    """A compiled query operation."""

    __slots__ = ("paged", "root", "slots")

    def __init__(self) -> None:
        self.root: _ObjectPlan
        self.slots: list[_Slot] = []
        self.paged = False  # some field pages (takes `first`/`last`): see resolvers/warm.py


def _has_directives(node: Any) -> bool:
    """Whether any selection under `node` carries a directive (@skip/@include/@defer...)."""
    selection_set: SelectionSetNode | None = getattr(node, "selection_set", None)
    if getattr(node, "directives", None):
        return True
    if selection_set is None:
        return False
    return any(_has_directives(s) for s in selection_set.selections)


class _Planner:
    def __init__(self, ctx: FastExecutionContext) -> None:
        self.ctx = ctx
        self.plan = Plan()
        self._producer: _Slot | None = None  # the nearest field with a resolver above
        self._depth = 0  # of the object being planned
        self._producer_depth = 0  # of the object holding the producer

    def build(self) -> Plan:
        ctx = self.ctx
        operation: OperationDefinitionNode = ctx.operation
        if operation.operation is not OperationType.QUERY or _has_directives(operation):
            raise NotPlannable
        if any(_has_directives(f) or f.directives for f in ctx.fragment_definitions.values()):
            raise NotPlannable
        root_type = ctx.schema.query_type
        if root_type is None:
            raise NotPlannable
        grouped, defer_usages, *_ = collect_fields(
            ctx.schema, ctx.fragments, ctx.variable_values, root_type, operation
        )
        if defer_usages:
            raise NotPlannable
        self.plan.root = self._object(root_type, grouped)
        for s in self.plan.slots:
            if s.renders or s.lists is not None:
                s.request = render.Request(s.renders, s.lists)
        self.plan.paged = any(
            "first" in s.field_def.args or "last" in s.field_def.args for s in self.plan.slots
        )
        return self.plan

    def _object(self, type_: GraphQLObjectType, grouped: Any) -> _ObjectPlan:
        self._depth += 1
        try:
            return self._object_at_depth(type_, grouped)
        finally:
            self._depth -= 1

    def _object_at_depth(self, type_: GraphQLObjectType, grouped: Any) -> _ObjectPlan:
        plan = _ObjectPlan(type_)
        for key, details in grouped.items():
            if any(d.fragment_variable_values is not None for d in details):
                raise NotPlannable
            node: FieldNode = details[0].node
            name = node.name.value
            if name == "__typename":
                plan.fields.append((key, _TYPENAME, type_.name, None, None, -1))
                plan.attributes.append(None)
                continue
            field_def = type_.fields.get(name)
            if field_def is None:  # __schema, __type and unknown fields
                raise NotPlannable
            leaf = None if node.arguments else leaf_recipe(field_def)
            if leaf is not None:
                read, leaf_type, non_null, unchanged = leaf
                plan.fields.append((key, _READ, read, unchanged, _Leaf(leaf_type, non_null), -1))
                plan.attributes.append(plain_attribute(field_def))
                continue
            slot = len(self.plan.slots)
            self.plan.slots.append(_Slot(field_def, details, type_))
            read_attr = None if node.arguments else plain_attribute(field_def)
            direct = None if read_attr is not None else _direct(field_def)
            outer = self._producer, self._producer_depth
            if read_attr is None:
                producer = self._producer = self.plan.slots[slot]
                self._producer_depth = self._depth
                result_type = field_def.type
                if isinstance(result_type, GraphQLNonNull):
                    result_type = result_type.of_type
                if not isinstance(result_type, GraphQLObjectType):
                    producer.lists = None  # only an object's lists are written whole
            try:
                completer = self._completer(field_def.type, details)
            finally:
                self._producer, self._producer_depth = outer
            if self._producer is not None and self._depth == self._producer_depth + 1:
                completer = self._result_list(completer, read_attr, field_def)
            plan.attributes.append(read_attr)
            if read_attr is not None:
                plan.fields.append((key, _READ, attrgetter(read_attr), None, completer, slot))
            elif direct is not None:
                if direct.guard is not None and direct.guard.visibility:
                    completer = _Visible(direct.guard, completer)
                plan.fields.append((key, _DIRECT, direct, None, completer, slot))
            else:
                plan.fields.append((key, _RESOLVE, field_def.resolve, None, completer, slot))
        self._prefetch_for(plan)
        plan.complete = _generate(plan)
        return plan

    def _completer(self, type_: Any, details: FieldDetailsList) -> Any:
        non_null = isinstance(type_, GraphQLNonNull)
        if non_null:
            type_ = type_.of_type
        if isinstance(type_, GraphQLList):
            return _List(self._completer(type_.of_type, details), non_null)
        if isinstance(type_, (GraphQLScalarType, GraphQLEnumType)):
            return _Leaf(type_, non_null)
        if isinstance(type_, GraphQLObjectType):
            sub = collect_subfields(
                self.ctx.schema,
                self.ctx.fragments,
                self.ctx.variable_values,
                self.ctx.operation,
                type_,
                details,
            )
            if sub.new_defer_usages:
                raise NotPlannable
            completer = _Object(self._object(type_, sub.grouped_field_set), non_null)
            return self._rendered(completer, sub.grouped_field_set)
        raise NotPlannable  # interfaces and unions: the stock path resolves their types

    def _result_list(self, completer: Any, attribute: str | None, field_def: GraphQLField) -> Any:
        """A field of the producer's result (a connection's `edges`, `nodes`...): a list of
        rendered objects read from an attribute may be written whole (`_Slot.lists`); any
        other list means the result's lists are not."""
        producer = self._producer
        assert producer is not None
        field_type = field_def.type
        if isinstance(field_type, GraphQLNonNull):
            field_type = field_type.of_type
        if not isinstance(field_type, GraphQLList) or producer.lists is None:
            return completer
        inner = completer.inner if type(completer) is _List else None
        if attribute is None or type(inner) is not _Rendered or not render.LISTS:
            producer.lists = None
            return completer
        producer.lists[attribute] = inner.sql
        return _Rendered(completer, inner.sql)

    def _rendered(self, completer: _Object, grouped: Any) -> _Object | _Rendered:
        """`completer`, or a _Rendered when PostgreSQL can write the selection: its JSON
        expression goes to the nearest resolver above (see schema/render.py)."""
        type_ = completer.plan.type
        spec = render.spec_of(type_)
        producer = self._producer
        if spec is None or producer is None:
            return completer
        expression = render.sql_for(spec, type_, grouped, self._subfields)
        cls = _definition_of(type_).origin
        known = producer.renders.get(cls, expression)
        # Two selections of the class under one resolver, or one PostgreSQL cannot write:
        # no object of the class is written per row (they all come from the same rows).
        producer.renders[cls] = expression if known == expression else None
        return completer if expression is None else _Rendered(completer, expression)

    def _subfields(self, type_: GraphQLObjectType, details: FieldDetailsList) -> Any:
        ctx = self.ctx
        sub = collect_subfields(
            ctx.schema, ctx.fragments, ctx.variable_values, ctx.operation, type_, details
        )
        if sub.new_defer_usages:
            raise NotPlannable
        return sub.grouped_field_set

    def _prefetch_for(self, plan: _ObjectPlan) -> None:
        """The recipes of this object's fields, and of the fields of its plain object fields
        (a connection edge's `node`), for when a list of such objects is completed."""
        for _key, _how, _fn, _unchanged, completer, slot in plan.fields:
            if slot < 0:
                continue
            definition = _definition(self.plan.slots[slot].field_def)
            if definition is None:
                continue
            recipe = definition.metadata.get(PREFETCH)
            if recipe is not None:
                allowed = [
                    e.prefetch_allowed
                    for e in definition.extensions
                    if hasattr(e, "prefetch_allowed")
                ]
                plan.prefetch.append(_Prefetch(recipe, allowed, slot, None))
            if type(completer) is _Visible:
                completer = completer.inner
            if recipe is None and definition.base_resolver is None and type(completer) is _Object:
                for inner in completer.plan.prefetch:
                    if inner.via is None:
                        via = definition.python_name
                        plan.prefetch.append(
                            _Prefetch(inner.recipe, inner.allowed, inner.slot, via)
                        )


def _definition(field_def: GraphQLField) -> Any:
    return (field_def.extensions or {}).get("strawberry-definition")


def _definition_of(type_: GraphQLObjectType) -> Any:
    return (type_.extensions or {}).get("strawberry-definition")


# --- the run ---------------------------------------------------------------------------------


class _Run:
    __slots__ = (
        "args",
        "context",
        "ctx",
        "direct_args",
        "infos",
        "pending",
        "plan",
        "strawberry_infos",
    )

    def __init__(self, ctx: FastExecutionContext, plan: Plan) -> None:
        self.ctx = ctx
        self.context = ctx.context_value
        self.plan = plan
        n = len(plan.slots)
        self.infos: list[Any] = [None] * n
        self.args: list[dict[str, Any] | None] = [None] * n
        self.direct_args: list[dict[str, Any] | None] = [None] * n
        self.strawberry_infos: list[Any] = [None] * n
        # (container, key, awaitable, then): values to settle in the next wave
        self.pending: list[tuple[Any, Any, Awaitable[Any], Callable[[_Run, Any], Any]]] = []

    def info(self, slot: int) -> Any:
        info = self.infos[slot]
        if info is None:
            s = self.plan.slots[slot]
            node = s.details[0].node
            key = (node.alias or node.name).value
            info = self.infos[slot] = self.ctx.build_resolve_info(
                s.field_def,
                [d.node for d in s.details],
                s.parent_type,
                Path(None, key, s.parent_type.name),
            )
        return info

    def arguments(self, slot: int) -> dict[str, Any]:
        args = self.args[slot]
        if args is None:
            s = self.plan.slots[slot]
            if s.has_args:
                args = get_argument_values(s.field_def, s.details[0].node, self.ctx.variable_values)
            else:
                args = {}
            self.args[slot] = args
        return args

    def direct_arguments(self, slot: int) -> dict[str, Any]:
        """The keyword arguments Strawberry's wrapper would pass the field's Python resolver
        (converted arguments, `info`): Strawberry's `get_arguments`, per `_Conversion`."""
        kwargs = self.direct_args[slot]
        if kwargs is None:
            s = self.plan.slots[slot]
            definition = _definition(s.field_def)
            strawberry_schema = self.ctx.schema._strawberry_schema  # type: ignore[attr-defined]
            converter = strawberry_schema.schema_converter
            conversion = s.conversion
            if conversion is None:
                conversion = s.conversion = _Conversion(definition, converter)
            if conversion.exact:
                kwargs = {}
                values = self.arguments(slot)
                for name, python_name, type_ in conversion.arguments:
                    if name in values:
                        value = values[name]
                        if type_ is not None:  # (a null Maybe argument becomes Some(None))
                            value = convert_argument(
                                value, type_, converter.scalar_registry, converter.config,
                                self.strawberry_info(slot, definition), path=(name,),
                            )  # fmt: skip
                        kwargs[python_name] = value
                if conversion.info_name is not None:
                    kwargs[conversion.info_name] = self.strawberry_info(slot, definition)
            else:
                _args, kwargs = get_arguments(
                    field=definition,
                    source=_SOURCE,
                    info=self.strawberry_info(slot, definition),
                    kwargs=self.arguments(slot),
                    config=converter.config,
                    scalar_registry=converter.scalar_registry,
                )
            self.direct_args[slot] = kwargs
        return kwargs

    def strawberry_info(self, slot: int, definition: Any) -> Any:
        """Strawberry's Info for the field (what its resolvers take as `info`)."""
        info = self.strawberry_infos[slot]
        if info is None:
            info_class = self.ctx.schema._strawberry_schema.config.info_class  # type: ignore[attr-defined]
            info = self.strawberry_infos[slot] = info_class(
                _raw_info=self.info(slot), _field=definition
            )
            request = self.plan.slots[slot].request
            if request is not None:
                render.ask(info, request)
        return info

    def defer(self, container: Any, key: Any, later: _Later) -> None:
        container[key] = None  # keeps the response key's position
        self.pending.append((container, key, later.awaitable, later.then))

    def close(self) -> None:
        """After a bailout: stop what was started and never awaited."""
        for _container, _key, awaitable, _then in self.pending:
            if isinstance(awaitable, _Resume):
                awaitable.coro.close()
            elif type(awaitable) is CoroutineType:
                awaitable.close()
            elif isfuture(awaitable):
                quietly(awaitable)
        self.pending.clear()


def _identifier(name: str | None) -> str | None:
    return name if name and name.isidentifier() and not keyword.iskeyword(name) else None


def _generate(plan: _ObjectPlan) -> Callable[[_Run, Any], dict[str, Any]]:
    """The object's completion as one Python function, fields in response order: a plain
    field is an attribute read and, for a leaf of a type its serializer returns unchanged,
    a type check; anything else calls its completer, and resolver fields `_resolve_field`.
    It does what a loop over `plan.fields` would, without the per-field dispatch."""
    env: dict[str, Any] = {
        "_Later": _Later,
        "_INT_MIN": _INT_MIN,
        "_INT_MAX": _INT_MAX,
        "_resolve_field": _resolve_field,
    }
    lines = ["def complete(run, source):", "    out = {}"]
    for i, (field, attribute) in enumerate(zip(plan.fields, plan.attributes, strict=True)):
        key, how, fn, unchanged, completer, slot = field
        env[f"K{i}"], env[f"F{i}"], env[f"U{i}"] = key, fn, unchanged
        if how == _TYPENAME:
            lines.append(f"    out[K{i}] = F{i}")
            continue
        env[f"C{i}"] = completer.complete
        if how != _READ:
            lines.append(f"    _resolve_field(run, out, K{i}, {how}, F{i}, C{i}, {slot}, source)")
            continue
        attribute = _identifier(attribute)
        lines.append(f"    v = source.{attribute}" if attribute else f"    v = F{i}(source)")
        if unchanged is int:
            lines.append(f"    if type(v) is int and _INT_MIN <= v <= _INT_MAX: out[K{i}] = v")
        elif unchanged is not None:
            lines.append(f"    if type(v) is U{i}: out[K{i}] = v")
        if type(completer) is _Leaf:  # never _Later
            served = None if unchanged is not None else _served(completer)
            if served is not None:  # a value of the leaf's usual type, serialized directly
                env[f"T{i}"], env[f"S{i}"] = served
                lines.append(f"    if type(v) is T{i}: out[K{i}] = S{i}(v)")
            indent = "    else: " if unchanged is not None or served is not None else "    "
            lines.append(f"{indent}out[K{i}] = C{i}(run, v)")
            continue
        indent = "    "
        if type(completer) is _Rendered:  # JSON PostgreSQL wrote: as it is
            env["_Fragment"] = Fragment
            lines.append(f"    if type(v) is _Fragment: out[K{i}] = v")
            lines.append("    else:")
            indent = "        "
            completer = completer.inner
        direct = _plain_classes(completer)
        if direct is not None:  # an object of its own class: straight to its completion
            env[f"T{i}"], env[f"P{i}"] = direct[0], completer.plan.complete
            cast = f" and getattr(v, {TYPE_CAST_ATTRIBUTE!r}, None) is None" if direct[1] else ""
            lines.append(f"{indent}if type(v) in T{i}{cast}: out[K{i}] = P{i}(run, v)")
            lines.append(f"{indent}else:")
            indent += "    "
        lines.append(f"{indent}r = C{i}(run, v)")
        lines.append(f"{indent}if type(r) is _Later: run.defer(out, K{i}, r)")
        lines.append(f"{indent}else: out[K{i}] = r")
    lines.append("    return out")
    exec(compile("\n".join(lines), f"<compiled {plan.type.name}>", "exec"), env)  # noqa: S102
    return env["complete"]  # type: ignore[no-any-return]


# Strawberry's own serializers of these scalars, and the Python type each one serializes.
_SERIALIZED = {
    "Decimal": (Decimal, "<class 'str'>"),
    "DateTime": (datetime, "operator.methodcaller('isoformat')"),
    "Date": (date, "operator.methodcaller('isoformat')"),
    "Time": (time, "operator.methodcaller('isoformat')"),
}


def _served(leaf: _Leaf) -> tuple[type, Callable[[Any], Any]] | None:
    """(type, serializer) when the leaf is one of Strawberry's scalars above with its own
    serializer, which turns a value of that type into a string (never None or Undefined):
    what `_Leaf.complete` returns for such a value. An enum: (its class, the name lookup)."""
    if leaf.enum_names is not None:
        members = set(leaf.enum_names)
        classes = {type(m) for m in members}
        if len(classes) != 1:
            return None
        (enum_class,) = classes
        if not issubclass(enum_class, Enum) or members != set(enum_class):
            return None  # some member has no GraphQL name: _Leaf.complete handles it
        return enum_class, leaf.enum_names.__getitem__
    known = _SERIALIZED.get(leaf.name)
    if known is None or repr(leaf.coerce) != known[1]:
        return None
    return known[0], leaf.coerce


def _plain_classes(completer: Any) -> tuple[frozenset[type], bool] | None:
    """(classes, cast check) when `completer` (an _Object) may hand an object of one of
    `classes` straight to its plan's completion, which is all `_Object.complete` does with it:
    any class when the type has no is_type_of, else (the check Strawberry makes for a type
    with interfaces and no is_type_of of its own) its own class when the object was not
    `strawberry.cast` to another (the cast check). None: through the completer."""
    if type(completer) is not _Object:
        return None
    definition = _definition_of(completer.plan.type)
    if definition is None:
        return None
    if completer.is_type_of is None:
        classes = {definition.origin}
        if definition.concrete_of is not None:  # e.g. TransactionEdge: instances of Edge
            classes.add(definition.concrete_of.origin)
        cast_check = False
    elif definition.is_type_of is None and definition.interfaces and definition.concrete_of is None:
        classes, cast_check = {definition.origin}, True
    else:
        return None
    plain = frozenset(c for c in classes if isinstance(c, type) and not issubclass(c, Exception))
    return plain, cast_check


def _resolve_field(
    run: _Run,
    out: dict[str, Any],
    key: str,
    how: int,
    fn: Any,
    complete: Callable[[_Run, Any], Any],
    slot: int,
    source: Any,
) -> None:
    """A field with a resolver: call it, settle what it returns now or in a later wave."""
    if how == _DIRECT:
        value = fn.call(run, source, slot)
    else:
        value = fn(source, run.info(slot), **run.arguments(slot))
    if type(value) is CoroutineType:
        try:
            yielded = value.send(None)
        except StopIteration as stop:
            value = stop.value
        else:
            if isfuture(yielded):
                yielded._asyncio_future_blocking = False  # see fast_execution._start
            out[key] = None
            run.pending.append((out, key, _Resume(value, yielded), complete))
            return
    elif isfuture(value):
        if not value.done():
            out[key] = None
            run.pending.append((out, key, value, complete))
            return
        value = value.result()
    completed = complete(run, value)
    if type(completed) is _Later:
        run.defer(out, key, completed)
    else:
        out[key] = completed


def _start_prefetch(
    run: _Run, prefetches: list[_Prefetch], items: list[Any] | tuple[Any, ...]
) -> Awaitable[Any] | None:
    """Start the items' recipes; an awaitable for the loads still running, or None."""
    ctx = run.context
    waiting: list[Any] = []
    for p in prefetches:
        if not all(allowed(ctx) for allowed in p.allowed):
            continue  # e.g. a rule this viewer fails: the field refuses (and we bail out)
        if p.via is None:
            sources = list(items)
        else:
            via = p.via
            sources = [c for c in (getattr(s, via, None) for s in items) if c is not None]
        if not sources:
            continue
        try:
            started = p.recipe(ctx, sources, run.arguments(p.slot))
        except Exception:  # noqa: BLE001, S112 (bad arguments: the resolver meets them)
            continue
        if started is None:
            continue
        if isfuture(started):
            children = getattr(started, "_children", None)  # asyncio.gather's future
            if started.done() or (children is not None and all(c.done() for c in children)):
                quietly(started)
                continue  # all loaded already (primed or cached): nothing to wait for
        waiting.append(started)
    if not waiting:
        return None
    return _settled(waiting)


async def _settled(awaitables: list[Any]) -> None:
    for awaitable in awaitables:
        try:
            await awaitable
        except Exception:  # noqa: BLE001, S110 (the field's resolver meets it and we bail out)
            pass


async def execute(ctx: FastExecutionContext, plan: Plan) -> dict[str, Any]:
    """The operation's data; raises Bailout when only the stock path can answer."""
    run = _Run(ctx, plan)
    try:
        data = plan.root.complete(run, ctx.root_value)
        while run.pending:
            wave, run.pending = run.pending, []
            if len(wave) == 1:
                values = [await _settle_one(wave[0][2])]
            else:
                values = await asyncio.gather(*(p[2] for p in wave), return_exceptions=True)
            for (container, key, _awaitable, then), value in zip(wave, values, strict=True):
                if isinstance(value, BaseException):
                    if isinstance(value, asyncio.CancelledError):
                        raise value
                    raise Bailout from value
                completed = then(run, value)
                if type(completed) is _Later:
                    run.defer(container, key, completed)
                else:
                    container[key] = completed
    except Exception as exc:
        run.close()
        RUNS["bailed out"] += 1
        raise Bailout from exc
    RUNS["answered"] += 1
    return data


async def _settle_one(awaitable: Awaitable[Any]) -> Any:
    try:
        return await awaitable
    except Exception as exc:  # noqa: BLE001 (like gather(return_exceptions=True))
        return exc


# How compiled runs ended, since the process started (tests read it).
RUNS = {"answered": 0, "bailed out": 0}

# Plans by operation node (kept alive with the plan so its id stays unique); None: not
# plannable. Bounded like the parser cache that keeps the nodes.
_plans: dict[int, tuple[OperationDefinitionNode, Plan | None]] = {}
_MAX_PLANS = 512


# False: every operation runs the fast executor (bench/inprocess.py --no-compiled compares).
ENABLED = True


# True while a request that schema/prepared.py already tried runs Strawberry's pipeline.
SKIP: ContextVar[bool] = ContextVar("skip_compiled", default=False)


def plan_for(ctx: FastExecutionContext) -> Plan | None:
    if not ENABLED or SKIP.get():
        return None
    operation = ctx.operation
    cached = _plans.get(id(operation))
    if cached is not None and cached[0] is operation:
        return cached[1]
    try:
        plan: Plan | None = _Planner(ctx).build()
    except NotPlannable:
        plan = None
    if len(_plans) >= _MAX_PLANS:
        _plans.clear()
    _plans[id(operation)] = (operation, plan)
    return plan
