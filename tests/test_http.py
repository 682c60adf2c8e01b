"""The HTTP surface: REST health shim, GraphiQL, and GraphQL-over-HTTP media types and statuses."""

from __future__ import annotations

from tests.conftest import Api

GQL_JSON = "application/graphql-response+json"


async def test_index_names_the_service(api: Api) -> None:
    response = await api.client.get("/")
    assert response.status_code == 200
    assert response.json() == {
        "name": "campaign-graphql",
        "version": "0.1.0",
        "graphql": "/graphql",
    }


async def test_health_routes_report_a_live_database(api: Api) -> None:
    for path in ("/health", "/api/phase4/health"):
        response = await api.client.get(path)
        assert response.status_code == 200, path
        body = response.json()
        assert body["status"] == "ok" and body["database"] == "ok"
        assert body["latencyMs"] >= 0
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    ready = await api.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["migrationVersion"] == ready.json()["expectedMigrationVersion"]


async def test_readyz_is_503_when_migrations_are_behind(api: Api, conn: object) -> None:
    await conn.execute("DELETE FROM schema_migrations")  # type: ignore[attr-defined]
    response = await api.client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "not ready"


async def test_browser_get_serves_graphiql(api: Api) -> None:
    response = await api.client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_get_runs_queries_but_not_mutations(api: Api) -> None:
    ok = await api.client.get(
        "/graphql", params={"query": "{ campaigns { totalCount } }"}, headers=api.headers
    )
    assert ok.status_code == 200
    assert ok.json() == {"data": {"campaigns": {"totalCount": 0}}}
    mutation = 'mutation { createMerchant(input: {name: "x", category: "y"}) { merchant { id } } }'
    refused = await api.client.get("/graphql", params={"query": mutation}, headers=api.headers)
    assert refused.status_code == 405
    assert refused.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_a_subscription_over_http_is_refused_with_where_to_send_it(api: Api) -> None:
    document = "subscription { campaignStatusChanged { status } }"
    posted = await api.client.post("/graphql", json={"query": document}, headers=api.headers)
    got = await api.client.get("/graphql", params={"query": document}, headers=api.headers)
    for response in (posted, got):
        assert response.status_code == 400, response.text
        [error] = response.json()["errors"]
        assert error["extensions"]["code"] == "BAD_REQUEST"
        assert "WebSocket" in error["message"]


async def test_graphql_response_json_gets_4xx_for_request_errors(api: Api) -> None:
    headers = {"accept": GQL_JSON}
    parse = await api.client.post("/graphql", json={"query": "{ campaigns {"}, headers=headers)
    assert parse.status_code == 400
    assert parse.headers["content-type"].startswith(GQL_JSON)
    assert "data" not in parse.json() and parse.json()["errors"]

    invalid = await api.client.post("/graphql", json={"query": "{ nope }"}, headers=headers)
    assert invalid.status_code == 400
    assert "nope" in invalid.json()["errors"][0]["message"]

    ok = await api.client.post(
        "/graphql", json={"query": "{ campaigns { totalCount } }"}, headers=api.headers | headers
    )
    assert ok.status_code == 200 and ok.headers["content-type"].startswith(GQL_JSON)


async def test_field_errors_keep_200_with_data_under_graphql_response_json(api: Api) -> None:
    response = await api.client.post(
        "/graphql",
        json={"query": '{ campaign(id: "bad") { id } }'},
        headers=api.headers | {"accept": GQL_JSON},
    )
    assert response.status_code == 200
    assert response.json()["data"] == {"campaign": None}


async def test_legacy_json_clients_keep_200_for_validation_errors(api: Api) -> None:
    response = await api.client.post(
        "/graphql", json={"query": "{ nope }"}, headers={"accept": "application/json"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["errors"][0]["message"]


async def test_malformed_bodies_get_graphql_shaped_400s(api: Api) -> None:
    cases = [
        (b"{not json", "application/json"),
        (b'{"query": "{ campaigns { totalCount } }", "x": "\xff\xfe"}', "application/json"),
        (b"query { campaigns { totalCount } }", "text/plain"),
        (b'{"query": 42}', "application/json"),
        (b'{"query": "{ campaigns { totalCount } }", "variables": [1]}', "application/json"),
    ]
    for body, content_type in cases:
        for accept in (GQL_JSON, "application/json"):
            response = await api.client.post(
                "/graphql", content=body, headers={"content-type": content_type, "accept": accept}
            )
            assert response.status_code == 400, (body, response.text)
            assert response.headers["content-type"].startswith(accept)
            [error] = response.json()["errors"]
            assert error["extensions"]["code"] == "BAD_REQUEST" and error["message"]


async def test_request_id_is_echoed_or_generated(api: Api) -> None:
    given = await api.client.get("/healthz", headers={"x-request-id": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    generated = await api.client.post("/graphql", json={"query": "{ __typename }"})
    assert len(generated.headers["x-request-id"]) == 32
    hostile = await api.client.get("/healthz", headers={"x-request-id": "x" * 500})
    assert hostile.headers["x-request-id"] != "x" * 500


async def test_graphql_answers_are_never_cached_by_anyone_else(api: Api) -> None:
    """Everything an answer shows depends on its viewer: private, no-store, and Vary names
    what changes it; refusals too."""
    answers = [
        await api.client.post("/graphql", json={"query": "{ me { id } }"}, headers=api.headers),
        await api.client.get(
            "/graphql",
            params={"query": "{ me { id } }"},
            headers={**api.headers, "accept": "application/json"},
        ),
        await api.client.post("/graphql", content=b"not json", headers=api.headers),
    ]
    for response in answers:
        assert response.headers["cache-control"] == "private, no-store", response
        vary = {v.strip().lower() for v in response.headers["vary"].split(",")}
        assert {"authorization", "accept"} <= vary, response.headers
