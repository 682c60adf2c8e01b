"""Every operation passes the operation hooks (schema/execution/hooks.py) exactly once, on
every path: a JSON POST, a GET, each operation of a batch, an operation that fails midway,
one refused by a limit, and a direct `schema.execute`; and the executor never runs an
operation twice (a hook before execution would see it twice)."""

from __future__ import annotations

from collections.abc import Iterator

import asyncpg
import pytest
from strawberry.types import ExecutionContext

from resolvers.auth import Credential
from resolvers.context import Context
from schema import HOOKS, schema
from tests import factories as f
from tests.conftest import Api


@pytest.fixture
def seen() -> Iterator[list[tuple[str, str | None]]]:
    """(phase, operation name) of each hook call while the test runs."""
    calls: list[tuple[str, str | None]] = []

    def before(ctx: ExecutionContext) -> None:
        calls.append(("execute", ctx.operation_name))

    def after(ctx: ExecutionContext) -> None:
        calls.append(("done", ctx.operation_name))

    assert isinstance(HOOKS.before_execute, list) and isinstance(HOOKS.after_operation, list)
    HOOKS.before_execute.append(before)
    HOOKS.after_operation.append(after)
    try:
        yield calls
    finally:
        HOOKS.before_execute.remove(before)
        HOOKS.after_operation.remove(after)


async def test_each_operation_passes_the_hooks_once_on_every_http_path(
    api: Api, conn: asyncpg.Connection, seen: list[tuple[str, str | None]]
) -> None:
    await api.data("query A { me { id } }")
    response = await api.client.get(
        "/graphql", params={"query": "query B { me { id } }"}, headers=api.headers
    )
    assert response.status_code == 200, response.text
    batch = await api.client.post(
        "/graphql",
        json=[{"query": "query C { me { id } }"}, {"query": "query D { me { name } }"}],
        headers=api.headers,
    )
    assert batch.status_code == 200, batch.text
    # Fails midway: a member's campaign list asks a staff-only field (null up to the root).
    member = api.as_user(await f.user(conn, "hooked@example.com", role="MEMBER"))
    failing = await member.gql("query E { campaigns(first: 1) { nodes { abTests { id } } } }")
    assert "data" in failing
    # Each operation once before execution and once after it, in that order (a batch's
    # operations run side by side, so theirs interleave).
    for name in "ABCDE":
        assert [phase for phase, n in seen if n == name] == ["execute", "done"], (name, seen)
    assert len(seen) == 10, seen


async def test_a_refused_operation_is_seen_after_but_never_executed(
    api: Api, seen: list[tuple[str, str | None]]
) -> None:
    body = await api.gql("query F { me { id } } query G { me { id } }")
    assert body["errors"][0]["extensions"]["code"] == "OPERATION_NOT_CHOSEN"
    assert "errors" not in await api.gql("query H { me { id name } }")
    over = await api.gql("query I { " + " ".join(f"a{i}: me {{ id }}" for i in range(500)) + " }")
    assert over["errors"][0]["extensions"]["code"] == "TOKEN_LIMIT_EXCEEDED"
    # F/G: refused before the pipeline; H ran; I refused by the limits' parse hook.
    assert seen == [("execute", "H"), ("done", "H"), ("done", None)]  # I: never parsed


async def test_a_direct_schema_execute_passes_the_hooks(
    seen: list[tuple[str, str | None]],
) -> None:
    context = Context(
        request=None,  # type: ignore[arg-type]
        response=None,
        pool=None,  # type: ignore[arg-type]  # `__typename` reads nothing
        request_id="direct",
        credential=Credential(user_id=None, session_id=None),
    )
    result = await schema.execute("query J { __typename }", context_value=context)
    assert result.data == {"__typename": "Query"}
    assert seen == [("execute", "J"), ("done", "J")]
