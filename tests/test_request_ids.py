"""Request ids reach log lines: the middleware sets them for the request, the filter stamps them."""

from __future__ import annotations

import logging

import httpx
from starlette.types import Receive, Scope, Send

from resolvers.context import current_request_id
from schema.http import RequestIdLogFilter, RequestIdMiddleware


def _record() -> logging.LogRecord:
    return logging.LogRecord("t", logging.INFO, __file__, 1, "hello", None, None)


async def test_log_records_carry_the_request_id_inside_a_request_only() -> None:
    stamped: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        record = _record()
        RequestIdLogFilter().filter(record)
        stamped.append(record.request_id)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    transport = httpx.ASGITransport(app=RequestIdMiddleware(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/", headers={"X-Request-ID": "trace-7"})
        generated = await client.get("/")

    # The caller's id is echoed; log lines carry the server's own id for each request.
    assert response.headers["x-request-id"] == "trace-7"
    assert stamped[1] == generated.headers["x-request-id"]
    assert stamped[0] != "trace-7" and len(stamped[0]) == len(stamped[1]) == 32
    outside = _record()
    RequestIdLogFilter().filter(outside)
    assert outside.request_id == "-" and current_request_id.get() == "-"
