"""Property: for any valid query or mutation generated from the schema, the server answers
with data or coded errors, never a 500, an uncoded error or an INTERNAL_SERVER_ERROR, and,
as the database is up throughout, never SERVICE_UNAVAILABLE.

`make test` runs a bounded number of examples; `make fuzz` runs many more
(HYPOTHESIS_EXAMPLES sets the count).
"""

from __future__ import annotations

import asyncio
import os
import re
from datetime import UTC, datetime
from typing import Any

import asyncpg
import graphql
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import mutations, nodes, queries

from schema import schema
from tests import factories as f
from tests.conftest import Api

EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", "40"))
# `make test` runs the same examples every time (a red CI run must be reproducible); `make fuzz`
# sets HYPOTHESIS_EXAMPLES and explores new ones on every run.
DERANDOMIZE = "HYPOTHESIS_EXAMPLES" not in os.environ
SDL = schema.as_str()

# Scalars the library cannot invent: real values (and some odd ones) in their wire format.
SCALARS = {
    "DateTime": st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    ).map(lambda d: nodes.String(d.isoformat())),
    "Decimal": st.one_of(
        st.decimals(allow_nan=False, allow_infinity=False, places=2).map(str),
        st.sampled_from(["1e400", "-0", "0.001", "12345678901234567890"]),
    ).map(nodes.String),
    "Date": st.dates().map(lambda d: nodes.String(d.isoformat())),
    "JSON": st.one_of(
        st.integers(min_value=-(2**31), max_value=2**31 - 1).map(nodes.Int),
        st.text(max_size=20).map(nodes.String),
        st.booleans().map(nodes.Boolean),
    ),
}
INTERNALS = re.compile(r"traceback|asyncpg|postgres|\.py\b|select |insert ", re.IGNORECASE)


async def seed(conn: asyncpg.Connection) -> list[str]:
    """Some real rows, so generated IDs sometimes hit something."""
    m = await f.merchant(conn, "Seed Shop")
    u = await f.user(conn, "seed@example.com", role="MANAGER")
    ids = [f.gid("Merchant", m), f.gid("User", u)]
    for status in ("DRAFT", "ACTIVE", "PAUSED", "COMPLETED"):
        ids.append(f.gid("Campaign", await f.campaign(conn, m, status=status, created_by=u)))
    return ids


def check_response(document: str, status: int, body: Any) -> None:
    assert status != 500, (document, body)
    assert isinstance(body, dict), (document, body)
    assert "data" in body or "errors" in body, (document, body)
    for error in body.get("errors") or ():
        code = (error.get("extensions") or {}).get("code")
        assert code, ("uncoded error", document, error)
        assert code != "INTERNAL_SERVER_ERROR", (document, error)
        # The database is up and idle here: "unavailable, retry" would be a lie (an error
        # elsewhere in the query must not take its siblings' reads down with it).
        assert code != "SERVICE_UNAVAILABLE", (document, error)
        assert not INTERNALS.search(error["message"]), (document, error)


def scalars(ids: list[str]) -> dict[str, st.SearchStrategy[Any]]:
    """IDs: mostly the seeded ones (so mutations reach real rows), sometimes junk."""
    id_values = st.one_of(st.sampled_from(ids), st.text(max_size=20)).map(nodes.String)
    return {**SCALARS, "ID": id_values}


async def run_property(api: Api, strategy: st.SearchStrategy[str]) -> None:
    loop = asyncio.get_running_loop()

    async def post(document: str) -> tuple[int, Any]:
        response = await api.client.post("/graphql", json={"query": document}, headers=api.headers)
        return response.status_code, response.json()

    @settings(
        max_examples=EXAMPLES,
        derandomize=DERANDOMIZE,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        database=None,
    )
    @given(document=strategy)
    def prop(document: str) -> None:
        graphql.parse(document)  # the library's output is a document; the server must cope
        status, body = asyncio.run_coroutine_threadsafe(post(document), loop).result(timeout=30)
        check_response(document, status, body)

    # Hypothesis drives synchronously; it runs in a thread while this loop serves the app.
    await asyncio.to_thread(prop)


async def test_generated_queries_never_fail_unmasked(api: Api, conn: asyncpg.Connection) -> None:
    ids = await seed(conn)
    await run_property(api, queries(SDL, custom_scalars=scalars(ids)))


async def test_generated_mutations_never_fail_unmasked(api: Api, conn: asyncpg.Connection) -> None:
    ids = await seed(conn)
    await run_property(api, mutations(SDL, custom_scalars=scalars(ids)))


async def test_generated_queries_as_a_member_never_fail_unmasked(
    api: Api, conn: asyncpg.Connection
) -> None:
    """A member is refused much of the schema: FORBIDDEN fields beside fields that read."""
    ids = await seed(conn)
    member = await f.user(conn, "member@example.com", role="MEMBER")
    await run_property(api.as_user(member), queries(SDL, custom_scalars=scalars(ids)))
