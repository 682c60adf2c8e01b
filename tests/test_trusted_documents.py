"""Trusted documents: a client build's manifest imported with `server.py documents import`,
its operations named by `documentId` (or a persisted query's hash), and with
PERSISTED_DOCUMENTS=only nothing else runs, over HTTP or a socket."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from db.embedded import ROOT
from schema import persisted
from tests.conftest import Api
from tests.test_socket_rules import AsgiSocket

ME = "query Me { me { name } }"
COUNT = "query Count { campaigns { totalCount } }"


def _import(
    dsn: str, manifest: Any, tmp_path: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    return subprocess.run(
        [sys.executable, "server.py", "documents", "import", str(path), *extra],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": dsn},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(autouse=True)
def forget() -> None:
    persisted._known.clear()
    persisted._trusted_by_id.clear()
    persisted._trusted.clear()


async def test_the_three_manifest_formats_import_and_an_id_never_changes_meaning(
    db_dsn: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    apollo = {
        "format": "apollo-persisted-query-manifest",
        "version": 1,
        "operations": [
            {
                "id": hashlib.sha256(ME.encode()).hexdigest(),
                "name": "Me",
                "type": "query",
                "body": ME,
            }
        ],
    }
    relay = {"5f1b0a2c3d4e5f60718293a4b5c6d7e8": COUNT}  # Relay's ids are md5s
    done = _import(db_dsn, apollo, tmp_path, "--client", "web")
    assert done.returncode == 0, done.stderr
    assert "1 documents in" in done.stdout and "1 new" in done.stdout
    assert _import(db_dsn, relay, tmp_path).returncode == 0
    again = _import(db_dsn, relay, tmp_path)  # the same build again: nothing new
    assert again.returncode == 0 and "0 new, 1 known already" in again.stdout
    rows = await conn.fetch("SELECT id, client FROM trusted_documents ORDER BY id")
    assert [(r["id"], r["client"]) for r in rows] == [
        ("5f1b0a2c3d4e5f60718293a4b5c6d7e8", None),
        (apollo["operations"][0]["id"], "web"),  # type: ignore[index]
    ]

    conflict = _import(db_dsn, {"5f1b0a2c3d4e5f60718293a4b5c6d7e8": ME}, tmp_path)
    assert conflict.returncode == 1 and "already name another document" in conflict.stderr
    assert await conn.fetchval("SELECT count(*) FROM trusted_documents") == 2

    broken = _import(db_dsn, [ME], tmp_path)
    assert broken.returncode == 1 and "not a manifest" in broken.stderr


async def _trust(conn: asyncpg.Connection, document_id: str, text: str) -> None:
    await conn.execute(
        "INSERT INTO trusted_documents (id, document, sha256) VALUES ($1, $2, $3)",
        document_id,
        text,
        hashlib.sha256(text.encode()).hexdigest(),
    )


async def test_a_document_id_runs_its_document_over_post_and_get(
    api: Api, conn: asyncpg.Connection
) -> None:
    await _trust(conn, "count-v1", COUNT)
    posted = await api.client.post("/graphql", json={"documentId": "count-v1"}, headers=api.headers)
    assert posted.json() == {"data": {"campaigns": {"totalCount": 0}}}
    got = await api.client.get(
        "/graphql",
        params={"documentId": "count-v1"},
        headers={**api.headers, "accept": "application/json"},
    )
    assert got.status_code == 200 and got.json() == posted.json()
    unknown = await api.client.post("/graphql", json={"documentId": "nope"}, headers=api.headers)
    assert unknown.json()["errors"][0]["extensions"]["code"] == "PERSISTED_DOCUMENT_NOT_FOUND"
    both = await api.client.post(
        "/graphql", json={"documentId": "count-v1", "query": COUNT}, headers=api.headers
    )
    assert both.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_only_trusted_documents_run_when_the_server_says_so(
    api: Api, conn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(persisted, "ONLY", True)
    await _trust(conn, "count-v1", COUNT)

    async def post(body: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = (
            await api.client.post("/graphql", json=body, headers=api.headers)
        ).json()
        return answer

    refused = await post({"query": ME})
    assert refused["errors"][0]["extensions"]["code"] == "PERSISTED_DOCUMENT_REQUIRED"
    assert "data" not in refused
    assert await post({"query": COUNT}) == {"data": {"campaigns": {"totalCount": 0}}}  # trusted
    assert await post({"documentId": "count-v1"}) == {"data": {"campaigns": {"totalCount": 0}}}
    by_hash = {
        "persistedQuery": {"version": 1, "sha256Hash": hashlib.sha256(COUNT.encode()).hexdigest()}
    }
    assert await post({"extensions": by_hash}) == {"data": {"campaigns": {"totalCount": 0}}}

    # Automatic persisted queries cannot add documents.
    sha = hashlib.sha256(ME.encode()).hexdigest()
    apq = await post(
        {"query": ME, "extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha}}}
    )
    assert apq["errors"][0]["extensions"]["code"] == "PERSISTED_DOCUMENT_REQUIRED"
    assert await conn.fetchval("SELECT count(*) FROM persisted_documents") == 0

    # A batch's operations are texts, checked one by one.
    batch = (
        await api.client.post(
            "/graphql", json=[{"query": COUNT}, {"query": ME}], headers=api.headers
        )
    ).json()
    assert batch[0] == {"data": {"campaigns": {"totalCount": 0}}}
    assert batch[1]["errors"][0]["extensions"]["code"] == "PERSISTED_DOCUMENT_REQUIRED"


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_only_trusted_documents_run_over_a_socket_either(
    api: Api, conn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch, protocol: str
) -> None:
    monkeypatch.setattr(persisted, "ONLY", True)
    await _trust(conn, "count-v1", COUNT)
    socket = AsgiSocket(api, protocol)
    await socket.open(api.headers["Authorization"])
    kind = "subscribe" if protocol == "graphql-transport-ws" else "start"
    await socket.send({"id": "raw", "type": kind, "payload": {"query": ME}})
    refused = await socket.receive()
    assert refused["type"] == "error" and refused["id"] == "raw", refused
    errors = refused["payload"] if isinstance(refused["payload"], list) else [refused["payload"]]
    assert errors[0]["extensions"]["code"] == "PERSISTED_DOCUMENT_REQUIRED"
    await socket.send({"id": "named", "type": kind, "payload": {"documentId": "count-v1"}})
    answer = await socket.receive()
    assert answer["id"] == "named" and answer["payload"] == {
        "data": {"campaigns": {"totalCount": 0}}
    }
    await socket.close()


def test_an_unknown_persisted_documents_mode_refuses_to_start() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import server; server.app_from_env()"],
        cwd=ROOT,
        env={**os.environ, "PERSISTED_DOCUMENTS": "onyl", "APP_ENV": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "PERSISTED_DOCUMENTS must be unset or 'only', not 'onyl'" in done.stderr
    assert "Traceback" not in done.stderr
