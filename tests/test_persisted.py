"""Automatic persisted queries, as Apollo's PersistedQueryLink and urql's persistedExchange
use them: a hash alone first, the query with its hash when the server does not know it, then
the hash alone over POST or GET, from any worker."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import asyncpg
import pytest

from schema import persisted
from tests.conftest import Api

QUERY = "query Names($first: Int) { campaigns(first: $first) { totalCount } }"
SHA = hashlib.sha256(QUERY.encode()).hexdigest()


def _ext(sha256: str = SHA) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256}}


async def _post(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.client.post("/graphql", json=body, headers=api.headers)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


@pytest.fixture(autouse=True)
def forget() -> None:
    persisted._known.clear()  # each test starts as a worker that has read nothing


async def test_the_round_trip_not_found_then_stored_then_served_by_hash(
    api: Api, conn: asyncpg.Connection
) -> None:
    variables = {"first": 1}
    missing = await _post(api, {"variables": variables, "extensions": _ext()})
    assert missing == {
        "errors": [
            {
                "message": "PersistedQueryNotFound",
                "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"},
            }
        ]
    }
    sent = await _post(api, {"query": QUERY, "variables": variables, "extensions": _ext()})
    assert sent == {"data": {"campaigns": {"totalCount": 0}}}
    assert (
        await conn.fetchval("SELECT document FROM persisted_documents WHERE sha256 = $1", SHA)
        == QUERY
    )

    assert await _post(api, {"variables": variables, "extensions": _ext()}) == sent
    persisted._known.clear()  # another worker: it reads the table
    got = await api.client.get(
        "/graphql",
        params={"variables": json.dumps(variables), "extensions": json.dumps(_ext())},
        headers=api.headers,
    )
    assert got.status_code == 200 and got.json() == sent


async def test_a_hash_that_is_not_the_query_s_is_refused_and_nothing_is_stored(
    api: Api, conn: asyncpg.Connection
) -> None:
    wrong = hashlib.sha256(b"something else").hexdigest()
    answer = await _post(api, {"query": QUERY, "extensions": _ext(wrong)})
    assert answer["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_HASH_MISMATCH"
    assert "data" not in answer
    assert await conn.fetchval("SELECT count(*) FROM persisted_documents") == 0


@pytest.mark.parametrize(
    "extension",
    [
        {"persistedQuery": {"version": 2, "sha256Hash": SHA}},
        {"persistedQuery": {"version": 1, "sha256Hash": SHA.upper()}},
        {"persistedQuery": {"version": 1}},
        {"persistedQuery": "x"},
    ],
)
async def test_a_malformed_persisted_query_is_a_coded_error(api: Api, extension: Any) -> None:
    answer = await _post(api, {"extensions": extension})
    assert answer["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_INVALID"


async def test_only_a_document_that_ran_is_stored(api: Api, conn: asyncpg.Connection) -> None:
    invalid = "{ nope }"
    answer = await _post(
        api, {"query": invalid, "extensions": _ext(hashlib.sha256(invalid.encode()).hexdigest())}
    )
    assert answer["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert await conn.fetchval("SELECT count(*) FROM persisted_documents") == 0


async def test_the_store_keeps_the_most_recently_used(
    api: Api, conn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(persisted, "MAX_STORED", 2)
    queries = [f"{{ campaigns(first: {n}) {{ totalCount }} }}" for n in (1, 2, 3)]
    for query in queries:
        sha = hashlib.sha256(query.encode()).hexdigest()
        assert "data" in await _post(api, {"query": query, "extensions": _ext(sha)})
    kept = await conn.fetch("SELECT document FROM persisted_documents ORDER BY document")
    assert [r["document"] for r in kept] == sorted(queries[1:])


async def test_a_known_hash_is_served_without_reading_the_table_again(
    api: Api, statements: Any
) -> None:
    await _post(api, {"query": QUERY, "extensions": _ext()})
    statements.reset()
    assert "data" in await _post(api, {"extensions": _ext()})
    assert not [s for s in statements.statements if "persisted_documents" in s]
