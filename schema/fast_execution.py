"""An executor that completes plain leaf fields in a tight loop, and everything else as usual.

Why: a list of 50 campaigns with a dozen scalar fields each is ~3,000 resolved fields, and
graphql-core spends ~5 µs on every one of them: a Path, a GraphQLResolveInfo, the resolver
call through Strawberry's wrapper, then `complete_value` walking NonNull -> List -> leaf
checks, all to read one dataclass attribute and coerce it. Most fields in our schema are
exactly that: a Strawberry field with no resolver, no permission classes, no field
extensions and no exception handlers (Strawberry marks their resolver `_is_default`), no
arguments, returning a scalar or an enum.

How: `execute_fields` asks, once per (operation run, parent type, selection set), which of
the selected fields are such plain leaves. For those it calls the very same resolver
Strawberry built (it ignores `info`) and the very same `coerce_output_value` the stock
`complete_leaf_value` calls, and stores the result. Anything unusual falls back to the
stock `execute_field` for that one field, which recomputes it and produces exactly the
stock result or error:
  - the field has a resolver, arguments, or an object/list/abstract type;
  - the value is None for a non-null field, an exception, an awaitable, or fails to coerce;
  - any middleware (an extension with a `resolve` hook) is active, or a @defer/@stream
    position context is in play: then the whole selection set runs the stock way.
Reading a plain attribute twice is harmless, so falling back after a look is safe.

tests/test_fast_execution.py runs every query document of the test suite and queries
generated from the schema (hypothesis-graphql) through this executor and the stock one and
compares data and errors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    Undefined,
)
from graphql.execution.collect_fields import GroupedFieldSet
from graphql.pyutils import AwaitableOrValue, Path
from graphql.pyutils.gather_with_cancel import gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

# (response name, resolver, leaf type, non-null) for a plain leaf field, else
# (response name, None, None, False).
_Step = tuple[str, Callable[..., Any] | None, GraphQLScalarType | GraphQLEnumType | None, bool]

# Per field definition (they live as long as the schema): the plain-leaf recipe, or None.
_leaf_recipes: dict[int, tuple[GraphQLField, Any]] = {}


def _leaf_recipe(field_def: GraphQLField) -> tuple[Any, Any, bool] | None:
    cached = _leaf_recipes.get(id(field_def))
    if cached is not None and cached[0] is field_def:
        return cached[1]  # type: ignore[no-any-return]
    recipe = None
    resolve = field_def.resolve
    strawberry_field = (field_def.extensions or {}).get("strawberry-definition")
    # A permission class or field extension wraps the default resolver (and makes it async):
    # such a field is not a plain leaf even though Strawberry still marks it `_is_default`.
    wrapped = strawberry_field is not None and bool(
        strawberry_field.extensions or strawberry_field.permission_classes
    )
    if (
        resolve is not None
        and getattr(resolve, "_is_default", False)
        and not field_def.args
        and not wrapped
    ):
        non_null = isinstance(field_def.type, GraphQLNonNull)
        leaf = field_def.type.of_type if non_null else field_def.type
        if isinstance(leaf, (GraphQLScalarType, GraphQLEnumType)):
            recipe = (resolve, leaf, non_null)
    _leaf_recipes[id(field_def)] = (field_def, recipe)
    return recipe


class FastExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor with a fast path for plain leaf fields (see the module doc)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # id(grouped field set) -> (the set itself, kept alive so the id stays unique; plan)
        self._plans: dict[int, tuple[GroupedFieldSet, list[_Step]]] = {}
        middleware = self.middleware_manager
        self._fast = middleware is None or middleware._middleware_resolvers is None

    def _plan(self, parent_type: GraphQLObjectType, fields: GroupedFieldSet) -> list[_Step]:
        cached = self._plans.get(id(fields))
        if cached is not None and cached[0] is fields:
            return cached[1]
        plan: list[_Step] = []
        for response_name, details in fields.items():
            node = details[0].node
            field_def = self.schema.get_field(parent_type, node.name.value)
            recipe = None if field_def is None or node.arguments else _leaf_recipe(field_def)
            if recipe is None:
                plan.append((response_name, None, None, False))
            else:
                plan.append((response_name, *recipe))
        self._plans[id(fields)] = (fields, plan)
        return plan

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
        # The stock loop (graphql-core's `Executor.execute_fields`), with plain leaves
        # completed inline. Results are stored in selection order either way.
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaitable_names: list[str] = []
        try:
            for response_name, resolve, leaf, non_null in self._plan(
                parent_type, grouped_field_set
            ):
                if resolve is not None:
                    try:
                        value = resolve(source_value, None)
                        if value is None:
                            if not non_null:
                                results[response_name] = None
                                continue
                        elif is_awaitable(value):
                            # Not plain after all: drop this call; the stock path calls again.
                            close = getattr(value, "close", None)
                            if close is not None:
                                close()
                        elif not isinstance(value, Exception):
                            coerced = leaf.coerce_output_value(value)  # type: ignore[union-attr]
                            if coerced is not None and coerced is not Undefined:
                                results[response_name] = coerced
                                continue
                    except Exception:  # the stock path below reports it exactly
                        pass
                result = self.execute_field(
                    parent_type,
                    source_value,
                    grouped_field_set[response_name],
                    Path(path, response_name, parent_type.name),
                    position_context,
                )
                if result is not Undefined:  # Undefined: a field the schema does not know
                    results[response_name] = result
                    if is_awaitable(result):
                        awaitable_names.append(response_name)
        except Exception:
            if awaitable_names:  # settle the other fields' work, as the stock loop does
                self.settle_in_background([results[name] for name in awaitable_names])
            raise
        if not awaitable_names:
            return results

        async def get_results() -> dict[str, Any]:
            if len(awaitable_names) == 1:
                name = awaitable_names[0]
                results[name] = await results[name]
            else:
                awaited = await gather_with_cancel(*(results[n] for n in awaitable_names))
                results.update(zip(awaitable_names, awaited, strict=True))
            return results

        return get_results()
