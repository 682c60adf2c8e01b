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

Lists of objects (a page of 50 campaigns) add two things, see `complete_iterable_value`:
  - prefetch: fields whose Strawberry definition carries a PREFETCH recipe (a dataloader
    field such as `Campaign.merchant`) have their keys loaded for the whole list with one
    `load_many` before the items are completed, also through one level of plain object
    fields (a connection edge's `node`). The recipes fill the same per-request loaders the
    resolvers read, with the same keys, so the SQL is the same single batch as before.
  - eager start: a field whose resolver is a coroutine is started at once; when it finishes
    without waiting (its loader already holds the value, the viewer is already known) its
    value is used directly, so no Task and no awaiting per item. A coroutine that does wait
    is resumed exactly where it stopped (`_Resume`) and gathered as before.

tests/test_fast_execution.py runs every query document of the test suite and queries
generated from the schema (hypothesis-graphql) through this executor and the stock one and
compares data and errors.
"""

from __future__ import annotations

from asyncio import isfuture
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterable
from functools import partial
from operator import attrgetter
from typing import Any

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
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.execution.values import get_argument_values
from graphql.pyutils import AwaitableOrValue, Path
from graphql.pyutils.gather_with_cancel import gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

# (response name, read(source) -> value, leaf type, non-null, type returned unchanged by the
# leaf's serializer or None) for a plain leaf field, else (response name, None, None, False,
# None).
_Step = tuple[
    str, Callable[[Any], Any] | None, GraphQLScalarType | GraphQLEnumType | None, bool, type | None
]

# Values of exactly these types are what graphql-core's serializers return unchanged (an Int
# also needs the 32-bit range check): no call for them.
UNCHANGED = {GraphQLString: str, GraphQLID: str, GraphQLBoolean: bool, GraphQLInt: int}
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1

# Key of a Strawberry field's metadata: `recipe(context, sources, arguments)` starts loading
# what the field's resolver will load for each of `sources` (returns an awaitable, or None
# when there is nothing to load); `arguments` are the field's, by GraphQL name.
PREFETCH = "prefetch"
Prefetch = Callable[[Any, list[Any], dict[str, Any]], Awaitable[Any] | None]


def prefetch(recipe: Prefetch) -> dict[str, Prefetch]:
    """`strawberry.field(metadata=prefetch(...))`: see the module doc."""
    return {PREFETCH: recipe}


class _Resume:
    """Awaits the rest of a coroutine that was started eagerly and then suspended on
    `yielded`: hands that future to whoever awaits this (a Task), and passes what comes
    back (a value, an exception, a cancellation) on to the coroutine."""

    __slots__ = ("coro", "yielded")

    def __init__(self, coro: Coroutine[Any, Any, Any], yielded: Any) -> None:
        self.coro = coro
        self.yielded = yielded

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, yielded = self.coro, self.yielded
        while True:
            try:
                if not isfuture(yielded):
                    sent = yield yielded  # None: asyncio.sleep(0)'s bare yield
                elif yielded.done():
                    sent = None  # settled meanwhile: the coroutine reads it when resumed
                else:
                    # Wait for it as `await future` would. The flag is set again because
                    # another Task awaiting the same future (a loader's cached future
                    # shared by two fields) may have consumed it since it was yielded.
                    yielded._asyncio_future_blocking = True
                    sent = yield yielded
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # noqa: BLE001 (forwarded into the coroutine)
                try:
                    yielded = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    yielded = coro.send(sent)
                except StopIteration as stop:
                    return stop.value


async def _raise(exc: BaseException) -> Any:
    raise exc


_NOT_STARTED = object()


def _always(context: Any) -> bool:
    return True


def _start(value: Any) -> Any:
    """Run a coroutine's first step now: its result, or an awaitable for the rest."""
    if type(value).__name__ != "coroutine":
        return _NOT_STARTED
    try:
        yielded = value.send(None)
    except StopIteration as stop:
        return stop.value
    except BaseException as exc:  # noqa: BLE001 (raised where the stock path would)
        return _raise(exc)
    if isfuture(yielded):
        # `await future` marked it as "a Task must wait for this"; no Task has taken it
        # yet, and asyncio's C future refuses a second awaiter while the mark is set (two
        # fields started here awaiting one loader future). _Resume sets it again.
        yielded._asyncio_future_blocking = False
    return _Resume(value, yielded)


def _call_without_info(resolve: Callable[..., Any], source: Any) -> Any:
    return resolve(source, None)


def plain_attribute(field_def: GraphQLField) -> str | None:
    """The attribute a plain field's value is: a Strawberry field whose resolver is the
    default one (getattr on its Python name), with no arguments, no permission class and no
    field extension (either wraps the default resolver); None for any other field."""
    definition = (field_def.extensions or {}).get("strawberry-definition")
    if (
        definition is None
        or field_def.args
        or not getattr(field_def.resolve, "_is_default", False)
        or definition.base_resolver is not None
        or definition.extensions
        or definition.permission_classes
        or definition.default_resolver is not getattr
    ):
        return None
    return str(definition.python_name)


# Per field definition (they live as long as the schema): the plain-leaf recipe, or None.
_leaf_recipes: dict[int, tuple[GraphQLField, Any]] = {}


def leaf_recipe(field_def: GraphQLField) -> tuple[Any, Any, bool, type | None] | None:
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
        field_type = field_def.type
        non_null = isinstance(field_type, GraphQLNonNull)
        leaf = field_type.of_type if isinstance(field_type, GraphQLNonNull) else field_type
        if isinstance(leaf, (GraphQLScalarType, GraphQLEnumType)):
            # What Strawberry's basic resolver does: its default resolver (getattr) on the
            # field's Python name. Anything else: call the resolver itself.
            attribute = plain_attribute(field_def)
            read: Callable[[Any], Any] = (
                attrgetter(attribute) if attribute else partial(_call_without_info, resolve)
            )
            recipe = (read, leaf, non_null, UNCHANGED.get(leaf))  # type: ignore[arg-type]
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
        # (item type, id(field group)) -> field group, for list selections without recipes
        self._nothing_to_prefetch: dict[tuple[str, int], FieldDetailsList] = {}

    def execute_operation(self, serially: bool | None = None) -> Any:
        """A query runs compiled (schema/compiled.py) when it can be planned; the stock way
        when the compiled run bails out, and for everything else."""
        from schema import compiled  # here: schema.compiled imports this module

        if self._fast and serially is None and self.abort_signal is None:
            plan = compiled.plan_for(self)
            if plan is not None:
                return self._execute_compiled(compiled, plan)
        return super().execute_operation(serially)

    async def _execute_compiled(self, compiled: Any, plan: Any) -> Any:
        try:
            data = await compiled.execute(self, plan)
        except compiled.Bailout:
            result = super().execute_operation()
            return await result if self.is_awaitable(result) else result
        return self.finish(self.build_response(data))

    def _plan(self, parent_type: GraphQLObjectType, fields: GroupedFieldSet) -> list[_Step]:
        cached = self._plans.get(id(fields))
        if cached is not None and cached[0] is fields:
            return cached[1]
        plan: list[_Step] = []
        for response_name, details in fields.items():
            node = details[0].node
            field_def = self.schema.get_field(parent_type, node.name.value)
            recipe = None if field_def is None or node.arguments else leaf_recipe(field_def)
            if recipe is None:
                plan.append((response_name, None, None, False, None))
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
            for response_name, read, leaf, non_null, unchanged in self._plan(
                parent_type, grouped_field_set
            ):
                if read is not None:
                    try:
                        value = read(source_value)
                        if type(value) is unchanged and (
                            unchanged is not int or _INT_MIN <= value <= _INT_MAX
                        ):
                            results[response_name] = value
                            continue
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
                    if is_awaitable(result):
                        started = _start(result)
                        if started is not _NOT_STARTED:
                            result = started
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

    def complete_iterable_value(
        self,
        item_type: Any,
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo,
        path: Path,
        items: Iterable[Any],
        position_context: Any,
    ) -> AwaitableOrValue[list[Any]]:
        """Prefetch the list's dataloader fields (module doc), then complete as usual."""
        complete = super().complete_iterable_value
        named = item_type.of_type if isinstance(item_type, GraphQLNonNull) else item_type
        if (
            not self._fast
            or position_context is not None
            or not isinstance(items, list)
            or len(items) < 2
            or not isinstance(named, GraphQLObjectType)
        ):
            return complete(item_type, field_details_list, info, path, items, position_context)
        key = (named.name, id(field_details_list))
        if key in self._nothing_to_prefetch:
            return complete(item_type, field_details_list, info, path, items, position_context)
        loading: list[Awaitable[Any]] = []
        if not self._prefetch(named, field_details_list, items, loading, depth=0):
            # No recipe anywhere in this selection: skip the walk for the next such list.
            self._nothing_to_prefetch[key] = field_details_list  # kept alive: the id stays
        if not loading:
            return complete(item_type, field_details_list, info, path, items, position_context)

        async def after_loading() -> list[Any]:
            for awaitable in loading:
                try:
                    await awaitable
                except Exception:  # noqa: BLE001, S110 (the resolver meets and reports it)
                    pass
            completed = complete(item_type, field_details_list, info, path, items, position_context)
            return await completed if self.is_awaitable(completed) else completed

        return after_loading()

    def _prefetch(
        self,
        parent_type: GraphQLObjectType,
        field_details_list: FieldDetailsList,
        sources: list[Any],
        loading: list[Awaitable[Any]],
        depth: int,
    ) -> bool:
        """Start the recipes' loads into `loading`; whether the selection has any recipe."""
        found = False
        grouped = self.collect_subfields(parent_type, field_details_list).grouped_field_set
        for details in grouped.values():
            node = details[0].node
            field_def = parent_type.fields.get(node.name.value)
            definition = field_def and (field_def.extensions or {}).get("strawberry-definition")
            if definition is None:
                continue
            recipe = definition.metadata.get(PREFETCH)
            if recipe is not None:
                found = True
                context = self.context_value
                if not all(
                    getattr(e, "prefetch_allowed", _always)(context) for e in definition.extensions
                ):
                    continue  # e.g. an access rule this viewer fails: the field will refuse
                try:
                    args = get_argument_values(field_def, node, self.variable_values)
                    started = recipe(context, sources, args)
                except Exception:  # noqa: BLE001, S112 (bad arguments: the resolver reports them)
                    continue
                if started is not None:
                    loading.append(started)
                continue
            # One level down through plain object fields (an edge's `node`): read the
            # attribute the default resolver would read.
            child = (
                field_def.type.of_type
                if isinstance(field_def.type, GraphQLNonNull)
                else (field_def.type)
            )
            if (
                depth == 0
                and isinstance(child, GraphQLObjectType)
                and getattr(field_def.resolve, "_is_default", False)
                and definition.base_resolver is None
            ):
                name = definition.python_name
                children = [c for c in (getattr(s, name, None) for s in sources) if c is not None]
                if children and self._prefetch(child, details, children, loading, depth + 1):
                    found = True
        return found
