"""APP_ENV=production: required settings, GraphiQL off, CORS origins from the environment."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

import runtime
from server import create_app
from tests.conftest import JWT_SECRET, _WithLifespanState, repo_root

SECRET = "s" * runtime.MIN_JWT_SECRET_LENGTH


def test_production_requires_database_url_and_a_long_jwt_secret() -> None:
    problems = runtime.production_problems({"APP_ENV": "production", "JWT_SECRET": "short"})
    assert problems == [
        "DATABASE_URL must be set (the embedded database is for development)",
        f"JWT_SECRET must be set to at least {runtime.MIN_JWT_SECRET_LENGTH} characters (got 5)",
        "METRICS_TOKEN must be set, or METRICS=off (/metrics shows operation names and traffic "
        "to anyone who reaches the port)",
    ]


def test_production_with_everything_set_has_no_problems() -> None:
    env = {
        "APP_ENV": "production",
        "JWT_SECRET": SECRET,
        "DATABASE_URL": "postgresql://x/y",
        "METRICS_TOKEN": "m" * 32,
    }
    assert runtime.production_problems(env) == []
    # Without metrics there is nothing to protect.
    del env["METRICS_TOKEN"]
    assert runtime.production_problems({**env, "METRICS": "off"}) == []


def test_development_requires_nothing() -> None:
    assert runtime.production_problems({}) == []


def test_serve_refuses_to_start_with_one_clear_line() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "JWT_SECRET")}
    env["APP_ENV"] = "production"
    done = subprocess.run(
        [sys.executable, "server.py", "serve", "--port", "1"],
        cwd=repo_root(),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("campaign-graphql: refusing to start with APP_ENV=production:")
    assert "DATABASE_URL" in lines[0] and "JWT_SECRET" in lines[0]
    assert "Traceback" not in done.stderr


@pytest.fixture
async def production_client(
    db_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("CORS_ORIGINS", "https://app.example.com, https://admin.example.com")
    application = create_app(db_dsn, apply_migrations=False, jwt_secret=JWT_SECRET)
    async with application.router.lifespan_context(application) as state:
        app: Any = _WithLifespanState(application, dict(state or {}))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def test_production_serves_no_graphiql(production_client: httpx.AsyncClient) -> None:
    response = await production_client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 404
    assert "graphiql" not in response.text.lower()


async def test_development_serves_graphiql(api: Any) -> None:
    response = await api.client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_cors_allows_only_the_configured_origins(
    production_client: httpx.AsyncClient,
) -> None:
    preflight = {"access-control-request-method": "POST"}
    allowed = await production_client.options(
        "/graphql", headers={"origin": "https://admin.example.com", **preflight}
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://admin.example.com"

    refused = await production_client.options(
        "/graphql", headers={"origin": "https://evil.example.com", **preflight}
    )
    assert "access-control-allow-origin" not in refused.headers

    simple = await production_client.post(
        "/graphql",
        json={"query": "{ __typename }"},
        headers={"origin": "https://app.example.com"},
    )
    assert simple.headers["access-control-allow-origin"] == "https://app.example.com"
    assert simple.json() == {"data": {"__typename": "Query"}}


async def test_cors_preflight_allows_what_tracing_and_apollo_send(
    production_client: httpx.AsyncClient,
) -> None:
    wanted = (
        "authorization, content-type, traceparent, tracestate, baggage, sentry-trace,"
        " apollographql-client-name, apollographql-client-version, apollo-require-preflight"
    )
    preflight = await production_client.options(
        "/graphql",
        headers={
            "origin": "https://app.example.com",
            "access-control-request-method": "POST",
            "access-control-request-headers": wanted,
        },
    )
    assert preflight.status_code == 200, preflight.text
    allowed = {h.strip() for h in preflight.headers["access-control-allow-headers"].split(",")}
    assert {h.strip() for h in wanted.split(",")} <= allowed


async def test_every_refusal_carries_the_cors_headers(
    production_client: httpx.AsyncClient,
) -> None:
    origin = {"origin": "https://app.example.com"}
    refusals = {
        413: await production_client.post(
            "/graphql", content=b"{" + b" " * 1_000_001 + b"}", headers=origin
        ),
        400: await production_client.post("/graphql", content=b"not json", headers=origin),
        405: await production_client.get(
            "/graphql",
            params={"query": 'mutation { login(input: {email: "a", password: "b"}) { token } }'},
            headers={**origin, "accept": "application/json"},
        ),
    }
    for status, response in refusals.items():
        assert response.status_code == status, (status, response.text)
        assert response.headers["access-control-allow-origin"] == "https://app.example.com"
        assert "x-request-id" in response.headers["access-control-expose-headers"]
