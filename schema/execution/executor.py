"""The executor: graphql-core's, through Strawberry's execution context, with two shortcuts
that change how a value is computed, never what is answered.

1. Plain leaves inline. Most fields of the schema are a Strawberry field with no resolver,
   no arguments, no access rule and no extension, returning a scalar or an enum: reading one
   attribute. graphql-core spends several µs on each (a Path, a resolve info, the resolver
   call, `complete_value`'s type dispatch); `execute_fields` reads the attribute and, when
   the value is one the leaf's serializer returns unchanged (a str for a String...), stores
   it. Any other value is completed by graphql-core's own `complete_value` and
   `handle_field_error`, with the value already read, so the answer and its errors are
   the stock executor's. The shortcut is off when middleware (an extension's `resolve`
   hook) must see every field.
2. Rows PostgreSQL writes as JSON (`rendering.py`): before a field whose resolver can have
   its objects written by SQL is called, the selection below it is planned, and the
   resolver is handed the JSON expressions through its info. What it returns as an
   `orjson.Fragment` is sent as it is (`complete_value`).

Nothing here retries, re-runs or bails out: every field is resolved once, by the same
resolver the stock executor calls, and its errors are located and propagated by graphql-core.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any

import orjson
from graphql import (
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLField,
    GraphQLID,
    GraphQLInt,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLString,
    Undefined,
    located_error,
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.execution.executor import to_nodes
from graphql.pyutils import AwaitableOrValue, Path
from graphql.pyutils.gather_with_cancel import gather_with_cancel
from orjson import Fragment

from db import metrics
from schema import render
from schema.execution import adapter, rendering

# Values of exactly these types are what the leaves' serializers return unchanged (an Int
# also needs the 32-bit range check).
_UNCHANGED: dict[GraphQLScalarType, type] = {
    GraphQLString: str,
    GraphQLID: str,
    GraphQLBoolean: bool,
    GraphQLInt: int,
}
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1


class _Leaf:
    """A plain leaf field: `read(source)` is its value, as its resolver would return it."""

    __slots__ = ("field_def", "leaf_type", "non_null", "read", "unchanged")

    def __init__(
        self,
        field_def: GraphQLField,
        attribute: str,
        leaf_type: GraphQLScalarType | GraphQLEnumType,
    ) -> None:
        self.field_def = field_def
        self.read: Callable[[Any], Any] = attrgetter(attribute)
        self.leaf_type = leaf_type
        self.non_null = isinstance(field_def.type, GraphQLNonNull)
        self.unchanged = (
            _UNCHANGED.get(leaf_type) if isinstance(leaf_type, GraphQLScalarType) else None
        )


def _leaf_of(field_def: GraphQLField | None) -> _Leaf | None:
    if field_def is None or field_def.args:
        return None
    attribute = adapter.plain_attribute(field_def)
    leaf = field_def.type
    if isinstance(leaf, GraphQLNonNull):
        leaf = leaf.of_type
    if attribute is None or not isinstance(leaf, GraphQLScalarType | GraphQLEnumType):
        return None
    return _Leaf(field_def, attribute, leaf)


# id(field definition) -> (the definition, its _Leaf or None). Definitions are unhashable
# and live as long as the schema.
_leaves: dict[int, tuple[GraphQLField, _Leaf | None]] = {}


def leaf(field_def: GraphQLField | None) -> _Leaf | None:
    if field_def is None:
        return None
    cached = _leaves.get(id(field_def))
    if cached is not None and cached[0] is field_def:
        return cached[1]
    found = _leaf_of(field_def)
    _leaves[id(field_def)] = (field_def, found)
    return found


class Executor(adapter.StrawberryExecutionContext):
    """graphql-core's executor with the two shortcuts of the module doc."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fast = not adapter.has_middleware(self.middleware_manager)
        if not self._fast and metrics.ENABLED:
            metrics.fallbacks("middleware").inc()
        # id(grouped field set) -> (the set, kept alive so its id stays unique; its leaves)
        self._steps: dict[int, tuple[GroupedFieldSet, list[_Leaf | None]]] = {}
        self._planner = rendering.Planner(self) if self._fast else None
        # The field group whose resolve info is being built (`execute_field` sets it just
        # before graphql-core calls `build_resolve_info`, in the same step).
        self._building: FieldDetailsList | None = None

    def _steps_for(self, parent_type: GraphQLObjectType, fields: GroupedFieldSet) -> list[Any]:
        cached = self._steps.get(id(fields))
        if cached is not None and cached[0] is fields:
            return cached[1]
        steps = [
            None if details[0].node.arguments else leaf(parent_type.fields.get(name))
            for name, details in ((d[0].node.name.value, d) for d in fields.values())
        ]
        self._steps[id(fields)] = (fields, steps)
        return steps

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> AwaitableOrValue[dict[str, Any]]:
        if not self._fast or position_context is not None:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        # graphql-core's loop (`Executor.execute_fields`), with plain leaves read inline.
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaiting: list[str] = []
        try:
            for (name, details), step in zip(
                grouped_field_set.items(),
                self._steps_for(parent_type, grouped_field_set),
                strict=True,
            ):
                field_path = Path(path, name, parent_type.name)
                if step is None:
                    result = self.execute_field(
                        parent_type, source_value, details, field_path, position_context
                    )
                    if result is Undefined:  # a field the schema does not know
                        continue
                else:
                    result = self._complete_leaf(
                        step, parent_type, source_value, details, field_path
                    )
                results[name] = result
                if is_awaitable(result):
                    awaiting.append(name)
        except Exception:
            if awaiting:  # settle the other fields' work, as the stock loop does
                self.settle_in_background([results[name] for name in awaiting])
            raise
        if not awaiting:
            return results

        async def get_results() -> dict[str, Any]:
            if len(awaiting) == 1:
                results[awaiting[0]] = await results[awaiting[0]]
            else:
                awaited = await gather_with_cancel(*(results[n] for n in awaiting))
                results.update(zip(awaiting, awaited, strict=True))
            return results

        return get_results()

    def _complete_leaf(
        self,
        step: _Leaf,
        parent_type: GraphQLObjectType,
        source: Any,
        details: FieldDetailsList,
        path: Path,
    ) -> Any:
        """A plain leaf's completed value: what `execute_field` computes for it."""
        field_def = step.field_def
        try:
            value = step.read(source)
            kind = type(value)
            if kind is step.unchanged and (kind is not int or _INT_MIN <= value <= _INT_MAX):
                return value
            if value is None or value is Undefined:
                if not step.non_null:
                    return None
            elif not isinstance(value, Exception) and not self.is_awaitable(value):
                return self.complete_leaf_value(step.leaf_type, value)
            # What is left (a null for a non-null field, an exception, an awaitable) is
            # completed exactly as `execute_field` completes it.
            info = self.build_resolve_info(field_def, to_nodes(details), parent_type, path)
            if self.is_awaitable(value):
                return self.complete_awaitable_value(
                    field_def.type, details, info, path, value, None
                )
            return self.complete_value(field_def.type, details, info, path, value, None)
        except Exception as raw_error:
            self.handle_field_error(raw_error, field_def.type, details, path)
            return None

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any,
    ) -> Any:
        self._building = field_details_list
        try:
            return super().execute_field(
                parent_type, source, field_details_list, path, position_context
            )
        finally:
            self._building = None

    def build_resolve_info(
        self,
        field_def: GraphQLField,
        field_nodes: list[Any],
        parent_type: GraphQLObjectType,
        path: Path,
    ) -> GraphQLResolveInfo[Any]:
        info = super().build_resolve_info(field_def, field_nodes, parent_type, path)
        details, self._building = self._building, None
        if self._planner is None or details is None:
            return info
        request = self._planner.request_for(field_def, parent_type, details)
        if request is None:
            return info
        carrying: GraphQLResolveInfo[Any] = rendering.with_request(info, request)
        return carrying

    def complete_value(
        self,
        return_type: Any,
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo[Any],
        path: Path,
        result: Any,
        position_context: Any,
    ) -> AwaitableOrValue[Any]:
        kind = type(result)
        if kind is Fragment:  # JSON PostgreSQL wrote for this selection
            return result
        if kind is render.Written:
            return self._written(result, path)
        return super().complete_value(
            return_type, field_details_list, info, path, result, position_context
        )

    def _written(self, written: render.Written, path: Path) -> Any:
        """JSON PostgreSQL wrote that may hold rows the viewer may not see: each becomes null
        plus a FORBIDDEN error at its path, as the Guard answers for an object it refuses."""
        if render.MARK not in written.json:
            return Fragment(written.json)
        return self._unmarked(orjson.loads(written.json), path, written.sites)

    def _unmarked(self, value: Any, path: Path, sites: Any) -> Any:
        if isinstance(value, dict):
            site = value.get("\x01") if len(value) == 1 else None
            if site is not None:
                from schema.permissions import forbidden  # the rules import the schema's types

                nodes, cls = sites[site]
                error = located_error(forbidden(cls), nodes, path.as_list())
                self.collected_errors.add(error, path)
                return None
            for key, item in value.items():
                value[key] = self._unmarked(item, Path(path, key, None), sites)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                value[index] = self._unmarked(item, Path(path, index, None), sites)
        return value
