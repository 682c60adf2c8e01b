"""Queries and mutations over a socket obey the HTTP request rules (the time budget, the
admission queue, the per-caller cap), in-process through the ASGI app; subscriptions, which
last, are not held to the time budget."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.conftest import Api


class AsgiSocket:
    """A WebSocket to the ASGI app, without a network: what uvicorn would pass it."""

    def __init__(self, api: Api, protocol: str) -> None:
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        scope = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "scheme": "ws",
            "path": "/graphql",
            "raw_path": b"/graphql",
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"test")],
            "subprotocols": [protocol],
            "client": ("127.0.0.1", 50000),
            "server": ("test", 80),
        }
        self.task = asyncio.create_task(api.app(scope, self.inbox.get, self.outbox.put))

    async def open(self, token: str) -> None:
        await self.inbox.put({"type": "websocket.connect"})
        assert (await self.outbox.get())["type"] == "websocket.accept"
        await self.send({"type": "connection_init", "payload": {"Authorization": token}})
        assert await self.receive() == {"type": "connection_ack"}

    async def send(self, message: dict[str, Any]) -> None:
        await self.inbox.put({"type": "websocket.receive", "text": json.dumps(message)})

    async def receive(self) -> dict[str, Any]:
        while True:
            event = await asyncio.wait_for(self.outbox.get(), 10)
            assert event["type"] == "websocket.send", event
            message: dict[str, Any] = json.loads(event["text"])
            if message["type"] != "ka":
                return message

    async def connect(self) -> None:
        await self.inbox.put({"type": "websocket.connect"})
        assert (await self.outbox.get())["type"] == "websocket.accept"

    async def send_raw(self, text: str) -> None:
        await self.inbox.put({"type": "websocket.receive", "text": text})

    async def closed(self) -> tuple[int, str]:
        """The close the server sent (messages before it are skipped)."""
        while True:
            event = await asyncio.wait_for(self.outbox.get(), 10)
            if event["type"] == "websocket.close":
                await self.inbox.put({"type": "websocket.disconnect", "code": event["code"]})
                await asyncio.wait_for(self.task, 10)
                return event["code"], event.get("reason", "")

    async def close(self) -> None:
        await self.inbox.put({"type": "websocket.disconnect", "code": 1000})
        await asyncio.wait_for(self.task, 10)


async def test_a_query_over_the_socket_past_the_time_budget_is_refused_with_its_code(
    api: Api, tight: Any
) -> None:
    socket = AsgiSocket(api, "graphql-transport-ws")
    await socket.open(api.headers["Authorization"])
    tight(request_timeout_s=1e-9)  # any query that reads the database is over it
    await socket.send(
        {"id": "q", "type": "subscribe", "payload": {"query": "{ campaigns { totalCount } }"}}
    )
    refused = await socket.receive()
    assert refused["type"] == "error" and refused["id"] == "q", refused
    assert refused["payload"][0]["extensions"]["code"] == "REQUEST_TIMEOUT"

    # A subscription lasts: the budget is not its business.
    await socket.send(
        {
            "id": "s",
            "type": "subscribe",
            "payload": {"query": "subscription { auditLogAppended { action } }"},
        }
    )
    hub = api.app.state["hub"]
    for _ in range(500):
        if hub.subscribers:
            break
        await asyncio.sleep(0.01)
    assert len(hub.subscribers) == 1
    await socket.close()
    assert not hub.subscribers  # the socket's end ended the subscription


async def test_the_legacy_protocol_obeys_the_time_budget_too(api: Api, tight: Any) -> None:
    socket = AsgiSocket(api, "graphql-ws")
    await socket.open(api.headers["Authorization"])
    tight(request_timeout_s=1e-9)
    await socket.send(
        {"id": "q", "type": "start", "payload": {"query": "{ campaigns { totalCount } }"}}
    )
    refused = await socket.receive()
    assert refused["type"] == "error" and refused["id"] == "q", refused
    assert refused["payload"]["extensions"]["code"] == "REQUEST_TIMEOUT"
    await socket.close()


async def test_the_per_caller_cap_counts_socket_queries(api: Api) -> None:
    """Each caller's operations in flight are counted across HTTP and sockets: a caller at its
    cap is refused over the socket as over HTTP (TOO_MANY_REQUESTS)."""
    view = api.app.app.router.routes[0].app  # the GraphQLApp behind /graphql
    view.per_viewer = 1
    assert api.user_id is not None
    view._callers[f"user:{api.user_id}"] = 1  # one HTTP request of theirs in flight
    try:
        socket = AsgiSocket(api, "graphql-transport-ws")
        await socket.open(api.headers["Authorization"])
        await socket.send({"id": "q", "type": "subscribe", "payload": {"query": "{ me { id } }"}})
        refused = await socket.receive()
        assert refused["type"] == "error", refused
        assert refused["payload"][0]["extensions"]["code"] == "TOO_MANY_REQUESTS"
        await socket.close()
    finally:
        view._callers.clear()
        view.per_viewer = 0


async def test_a_socket_past_the_worker_s_cap_is_closed_with_a_coded_reason(
    api: Api, monkeypatch: Any
) -> None:
    from dataclasses import replace

    from schema import http

    monkeypatch.setattr(
        http, "SOCKET_LIMITS", replace(http.SOCKET_LIMITS, max_sockets_per_worker=1)
    )
    first = AsgiSocket(api, "graphql-transport-ws")
    await first.open(api.headers["Authorization"])
    second = AsgiSocket(api, "graphql-transport-ws")
    await second.inbox.put({"type": "websocket.connect"})
    assert (await second.outbox.get())["type"] == "websocket.accept"
    closed = await asyncio.wait_for(second.outbox.get(), 10)
    assert closed["type"] == "websocket.close" and closed["code"] == 1013, closed
    assert closed["reason"].startswith("TOO_MANY_SOCKETS")
    await asyncio.wait_for(second.task, 10)
    await first.close()
    # The first socket's end frees its place.
    third = AsgiSocket(api, "graphql-transport-ws")
    await third.open(api.headers["Authorization"])
    await third.close()


# --- malformed messages and other abuse (found by an outside review) -------------------------

TRANSPORT, LEGACY = "graphql-transport-ws", "graphql-ws"


@pytest.mark.parametrize(
    "message",
    [
        "[]",
        "42",
        '"x"',
        "null",
        '{"type": 7}',
        '{"id": "1", "type": "subscribe", "payload": "{ me { id } }"}',
        '{"id": ["1"], "type": "subscribe", "payload": {"query": "{ me { id } }"}}',
        '{"id": "1", "type": "subscribe", "payload": {"query": 42}}',
        '{"id": "1", "type": "subscribe", "payload": {"query": "{ me { id } }", "variables": "x"}}',
        '{"id": "1", "type": "subscribe", "payload": {"query": "{ me { id } }",'
        ' "operationName": 1}}',
        '{"id": "' + "x" * 200 + '", "type": "subscribe", "payload": {"query": "{ me { id } }"}}',
        '{"id": [], "type": "complete"}',
    ],
)
async def test_a_malformed_graphql_transport_ws_message_closes_with_4400(
    api: Api, message: str
) -> None:
    socket = AsgiSocket(api, TRANSPORT)
    await socket.open(api.headers["Authorization"])
    await socket.send_raw(message)
    code, reason = await socket.closed()
    assert code == 4400 and reason, (code, reason)


@pytest.mark.parametrize(
    ("message", "answer"),
    [
        ("[]", "close"),
        ("{}", "close"),
        ('{"type": "start"}', "close"),
        ('{"type": "start", "id": "1"}', "error"),
        ('{"type": "start", "id": "1", "payload": "x"}', "error"),
        ('{"type": "start", "id": "1", "payload": {"query": 42}}', "error"),
        ('{"type": "stop"}', "close"),
    ],
)
async def test_a_malformed_graphql_ws_message_is_refused_not_crashed_on(
    api: Api, message: str, answer: str
) -> None:
    socket = AsgiSocket(api, LEGACY)
    await socket.open(api.headers["Authorization"])
    await socket.send_raw(message)
    if answer == "close":
        assert (await socket.closed())[0] == 4400
        return
    refused = await socket.receive()
    assert refused["type"] == "error" and refused["id"] == "1", refused
    # The socket still works.
    await socket.send({"id": "2", "type": "start", "payload": {"query": "{ __typename }"}})
    assert (await socket.receive())["payload"] == {"data": {"__typename": "Query"}}
    await socket.close()


@pytest.mark.parametrize("protocol", [TRANSPORT, LEGACY])
async def test_a_document_over_the_size_limit_is_refused_with_its_code(
    api: Api, protocol: str
) -> None:
    socket = AsgiSocket(api, protocol)
    await socket.open(api.headers["Authorization"])
    huge = "{ " + " ".join("__typename" for _ in range(3000)) + " }"
    kind = "subscribe" if protocol == TRANSPORT else "start"
    await socket.send({"id": "big", "type": kind, "payload": {"query": huge}})
    refused = await socket.receive()
    assert refused["id"] == "big" and refused["type"] == "error", refused
    errors = refused["payload"] if protocol == TRANSPORT else [refused["payload"]]
    assert errors[0]["extensions"]["code"] in ("DOCUMENT_TOO_LARGE", "TOKEN_LIMIT_EXCEEDED")
    await socket.close()


async def test_graphql_ws_takes_one_connection_init(api: Api) -> None:
    socket = AsgiSocket(api, LEGACY)
    await socket.open(api.headers["Authorization"])
    await socket.send({"type": "connection_init", "payload": {}})
    assert await socket.closed() == (4429, "Too many initialisation requests")


async def test_graphql_ws_closes_a_socket_without_connection_init(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    from schema import websocket

    monkeypatch.setattr(
        websocket, "SOCKET_LIMITS", replace(websocket.SOCKET_LIMITS, init_timeout_s=0.2)
    )
    socket = AsgiSocket(api, LEGACY)
    await socket.connect()
    assert (await socket.closed())[0] == 4408


async def test_graphql_ws_refuses_a_bad_token_with_4403(api: Api) -> None:
    socket = AsgiSocket(api, LEGACY)
    await socket.connect()
    await socket.send({"type": "connection_init", "payload": {"Authorization": "Bearer nope"}})
    error = await socket.receive()
    assert error["type"] == "connection_error"
    assert error["payload"]["code"] == "UNAUTHENTICATED"
    assert (await socket.closed())[0] == 4403


@pytest.mark.parametrize("protocol", [TRANSPORT, LEGACY])
async def test_a_signed_in_socket_is_closed_when_its_session_ends(api: Api, protocol: str) -> None:
    """Even with no subscription on it: an idle socket must not stay signed in."""
    socket = AsgiSocket(api, protocol)
    await socket.open(api.headers["Authorization"])
    ended = await api.data("mutation { logout(input: {}) { endedSessions } }")
    assert ended == {"logout": {"endedSessions": 1}}
    code, reason = await socket.closed()
    assert code == 4403 and reason.startswith("UNAUTHENTICATED"), (code, reason)
