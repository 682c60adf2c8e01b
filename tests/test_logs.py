"""Log lines an operator can use: one JSON object per line with LOG_FORMAT=json, one summary
line per GraphQL request (operations, duration, status, viewer id, error codes) and a slow
operation's time split; never an email, a token or a password."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
from typing import Any

import httpx
import pytest

from db.embedded import ROOT
from schema import logs
from tests import factories as f
from tests.conftest import JWT_SECRET, Api, bearer
from tests.test_real_server import free_port


def test_a_json_line_has_time_level_logger_message_request_id_fields_and_traceback() -> None:
    record = logging.LogRecord(
        "campaign_graphql.x", logging.ERROR, "f.py", 1, "it %s", ("broke",), None
    )
    record.request_id = "abc"
    record.status = 503
    try:
        raise ValueError("no")
    except ValueError:
        record.exc_info = sys.exc_info()
    line = json.loads(logs.JsonFormatter().format(record))
    assert line["level"] == "ERROR" and line["logger"] == "campaign_graphql.x"
    assert line["message"] == "it broke" and line["request_id"] == "abc" and line["status"] == 503
    assert line["time"].endswith("+00:00")
    assert "ValueError: no" in line["exception"]


async def test_each_request_has_one_summary_line(
    api: Api, conn: Any, caplog: pytest.LogCaptureFixture
) -> None:
    member = await f.user(conn, "mia@example.com", role="MEMBER")
    caplog.set_level(logging.INFO, logger="campaign_graphql.access")
    response = await api.client.post(
        "/graphql",
        json={"query": "query Whoami { me { id } admin { settings { key } } }"},
        headers=bearer(member),
    )
    assert response.status_code == 200
    [record] = [r for r in caplog.records if r.name == "campaign_graphql.access"]
    fields: Any = record.__dict__
    assert fields["status"] == 200 and fields["viewer_id"] == member
    assert fields["error_codes"] == ["FORBIDDEN"]
    [operation] = fields["operations"]
    assert operation["operation_name"] == "Whoami" and operation["operation_type"] == "query"
    assert operation["duration_ms"] > 0 and fields["duration_ms"] >= operation["duration_ms"]


async def test_a_slow_operation_is_logged_with_its_time_split(
    api: Api, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logs, "SLOW_OPERATION_MS", 0)  # every operation is "slow"
    caplog.set_level(logging.WARNING, logger="campaign_graphql.slow")
    await api.data("query Count { campaigns { totalCount } }")
    [record] = [r for r in caplog.records if r.name == "campaign_graphql.slow"]
    fields: Any = record.__dict__
    assert fields["operation_name"] == "Count"
    assert fields["parse_ms"] >= 0 and fields["validate_ms"] >= 0 and fields["execute_ms"] > 0
    total = fields["parse_ms"] + fields["validate_ms"] + fields["execute_ms"]
    assert total == pytest.approx(fields["duration_ms"], abs=0.01)


async def test_json_lines_from_a_real_server(db_dsn: str, conn: Any) -> None:
    admin = await f.user(conn, "ops@example.com", role="ADMIN")  # with its test session
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": db_dsn,
        "JWT_SECRET": JWT_SECRET,
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "info",
    }
    proc = subprocess.Popen(
        [sys.executable, "server.py", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(100):
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.2)
            answer = await client.post(
                "/graphql",
                json={"query": "query Mine { me { email } }"},
                headers=bearer(admin),
            )
            assert answer.json() == {"data": {"me": {"email": "ops@example.com"}}}
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    lines = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    assert lines, stderr
    [summary] = [line for line in lines if line["logger"] == "campaign_graphql.access"]
    assert summary["viewer_id"] == admin and summary["status"] == 200
    assert summary["operations"][0]["operation_name"] == "Mine"
    assert len(summary["request_id"]) == 32
    # Nothing personal or secret in any line.
    token = bearer(admin)["Authorization"].split()[1]
    assert "ops@example.com" not in stderr and token not in stderr


async def test_the_summary_line_names_the_caller_s_trace_when_this_server_does_not_trace(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="campaign_graphql.access")
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    for traceparent in (f"00-{trace_id}-00f067aa0ba902b7-01", "00-not-a-trace-01", None):
        await api.client.post(
            "/graphql",
            json={"query": "{ me { id } }"},
            headers={**api.headers, **({"traceparent": traceparent} if traceparent else {})},
        )
    lines = [r.__dict__ for r in caplog.records if r.name == "campaign_graphql.access"]
    assert [line.get("trace_id") for line in lines] == [trace_id, None, None]
