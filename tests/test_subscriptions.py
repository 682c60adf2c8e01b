"""Subscriptions from outside: a real `server.py serve --workers 2`, real client libraries.

The server runs on a PostgreSQL of its own (`.data/test-pg-live`), which one test stops and
starts again. Changes are made over HTTP (landing on either worker); events travel only
through PostgreSQL's NOTIFY, whichever worker holds the socket.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import asyncpg
import websockets
from gql import Client, GraphQLRequest
from gql.transport.websockets import WebsocketsTransport

from tests import factories as f
from tests.conftest import bearer, open_test_session
from tests.live_server import COMPLETE, LAUNCH, PAUSE, Live

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"
# How long a test waits for an event it must get: generous, so a busy machine does not fail
# the test; the latency itself is measured by bench/subscriptions.py, not asserted here.
EVENT_WAIT_S = 10.0
# In the restart test, how long one change's event is waited for before changing again.
RETRY_WAIT_S = 1.0

CHANGES = """
subscription ($id: ID) {
  campaignStatusChanged(id: $id) {
    previousStatus status version at
    campaign { id name status }
    actor { name }
  }
}
"""


class Socket:
    """A raw WebSocket speaking one of the two protocols, keeping every frame it got."""

    def __init__(self, ws: Any, protocol: str) -> None:
        self.ws = ws
        self.protocol = protocol
        self.frames: list[Any] = []

    @classmethod
    async def open(
        cls,
        live: Live,
        protocol: str = TRANSPORT_WS,
        payload: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        init: bool = True,
    ) -> Socket:
        ws = await websockets.connect(
            live.url, subprotocols=[protocol], additional_headers=headers or {}
        )
        socket = cls(ws, protocol)
        if init:
            await socket.send({"type": "connection_init", "payload": payload or {}})
        return socket

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def receive(self, timeout: float = EVENT_WAIT_S) -> dict[str, Any]:  # noqa: ASYNC109
        while True:
            frame = await asyncio.wait_for(self.ws.recv(), timeout)
            self.frames.append(frame)
            message: dict[str, Any] = json.loads(frame)
            if message["type"] != "ka":  # graphql-ws keep-alive
                return message

    async def subscribe(
        self, id_: str, query: str, variables: dict[str, Any] | None = None
    ) -> None:
        kind = "subscribe" if self.protocol == TRANSPORT_WS else "start"
        await self.send(
            {"id": id_, "type": kind, "payload": {"query": query, "variables": variables or {}}}
        )

    async def closed(self, timeout: float = EVENT_WAIT_S) -> tuple[int | None, str]:  # noqa: ASYNC109
        try:
            while True:
                frame = await asyncio.wait_for(self.ws.recv(), timeout)
                self.frames.append(frame)
        except websockets.ConnectionClosed as exc:
            rcvd = exc.rcvd
            return (rcvd.code, rcvd.reason) if rcvd else (None, "")

    async def close(self) -> None:
        await self.ws.close()


async def _acked(socket: Socket) -> Socket:
    assert await socket.receive() == {"type": "connection_ack"}
    return socket


async def _subscribed(socket: Socket, id_: str, variables: dict[str, Any] | None = None) -> None:
    """Subscribe and wait until the server holds the subscription: a query on the same socket
    answers after the subscribe message was handled (messages are read in order)."""
    await socket.subscribe(id_, CHANGES, variables)
    await socket.subscribe(f"{id_}-ping", "{ __typename }")
    reply = await socket.receive()
    assert reply["id"] == f"{id_}-ping" and reply["payload"] == {"data": {"__typename": "Query"}}
    assert (await socket.receive())["type"] == "complete"
    # The subscription itself is registered once its stream has checked the viewer: give the
    # server's event loop a moment of nothing else to do, then check through a second round.
    await socket.subscribe(f"{id_}-ping2", "{ __typename }")
    assert (await socket.receive())["id"] == f"{id_}-ping2"
    assert (await socket.receive())["type"] == "complete"


def _next(message: dict[str, Any], id_: str) -> dict[str, Any]:
    assert message["type"] in ("next", "data"), message
    assert message["id"] == id_, message
    payload: dict[str, Any] = message["payload"]
    return payload


async def _refusal(socket: Socket, id_: str) -> str:
    """The code of an operation refused before it ran: an `error` message (what Strawberry
    sends for a document that does not validate) or a `next` without data (a limit refused
    by the operation hooks, which run as execution starts)."""
    message = await socket.receive()
    assert message["id"] == id_, message
    if message["type"] == "error":
        errors = message["payload"]
    else:
        assert message["type"] == "next" and message["payload"]["data"] is None, message
        errors = message["payload"]["errors"]
        assert await socket.receive() == {"id": id_, "type": "complete"}
    return str(errors[0]["extensions"]["code"])


async def test_events_reach_sockets_on_both_workers_and_both_protocols(live: Live) -> None:
    campaign = await live.campaign("Spring Cashback")
    sockets = []
    for i in range(4):  # spread over both workers
        protocol = TRANSPORT_WS if i % 2 == 0 else LEGACY_WS
        socket = await _acked(
            await Socket.open(live, protocol, {"Authorization": live.token(live.admin)})
        )
        await _subscribed(socket, f"s{i}", {"id": f.gid("Campaign", campaign)})
        sockets.append(socket)

    version = await live.change(LAUNCH, campaign)
    for i, socket in enumerate(sockets):
        payload = _next(await socket.receive(), f"s{i}")
        event = payload["data"]["campaignStatusChanged"]
        assert event["previousStatus"] == "DRAFT"
        assert event["status"] == "ACTIVE"
        assert event["version"] == version
        assert event["campaign"] == {
            "id": f.gid("Campaign", campaign),
            "name": "Spring Cashback",
            "status": "ACTIVE",
        }
        assert event["actor"] == {"name": "Manager"}

    # Several changes in a row arrive in version order, on every socket.
    versions = [
        await live.change(PAUSE, campaign),
        await live.change(LAUNCH, campaign),
        await live.change(PAUSE, campaign),
    ]
    for i, socket in enumerate(sockets):
        got = [
            _next(await socket.receive(), f"s{i}")["data"]["campaignStatusChanged"]["version"]
            for _ in versions
        ]
        assert got == versions
        # every frame the server sent was text (a str in `websockets`)
        assert all(isinstance(frame, str) for frame in socket.frames)
        await socket.close()


async def test_gql_client_receives_events_over_graphql_transport_ws(live: Live) -> None:
    campaign = await live.campaign("Client Library")
    transport = WebsocketsTransport(
        url=live.url,
        init_payload={"Authorization": live.token(live.manager)},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
    )
    async with Client(transport=transport) as session:
        received: list[dict[str, Any]] = []

        async def listen() -> None:
            request = GraphQLRequest(CHANGES, variable_values={"id": f.gid("Campaign", campaign)})
            async for result in session.subscribe(request):
                received.append(result["campaignStatusChanged"])
                return

        task = asyncio.create_task(listen())
        # The client has no "subscribed" signal: change until the first event arrives.
        for attempt in range(10):
            if attempt == 0:
                await asyncio.sleep(0.3)
            await live.change(LAUNCH if attempt % 2 == 0 else PAUSE, campaign)
            done, _ = await asyncio.wait({task}, timeout=RETRY_WAIT_S)
            if done:
                break
        assert task.done(), "no event reached the gql client"
        task.result()
    assert received[0]["status"] in ("ACTIVE", "PAUSED")
    assert received[0]["campaign"]["name"] == "Client Library"


async def test_a_member_gets_no_event_of_a_campaign_it_could_never_see(live: Live) -> None:
    hidden = await live.campaign("Never Active", status="PAUSED")
    shown = await live.campaign("Goes Live")
    member = await _acked(
        await Socket.open(live, payload={"Authorization": live.token(live.member)})
    )
    admin = await _acked(await Socket.open(live, payload={"Authorization": live.token(live.admin)}))
    await _subscribed(member, "m")
    await _subscribed(admin, "a")

    await live.change(COMPLETE, hidden)  # PAUSED -> COMPLETED: never visible to a member
    seen = _next(await admin.receive(), "a")["data"]["campaignStatusChanged"]
    assert seen["campaign"]["name"] == "Never Active"

    await live.change(LAUNCH, shown)  # DRAFT -> ACTIVE: visible after
    first = _next(await member.receive(), "m")["data"]["campaignStatusChanged"]
    assert first["campaign"]["name"] == "Goes Live"  # not the hidden one before it
    assert _next(await admin.receive(), "a")["data"]["campaignStatusChanged"]["status"] == "ACTIVE"

    # Paused, a member may no longer see the campaign: the event comes (it saw it before) with
    # the campaign itself refused by its object rule.
    await live.change(PAUSE, shown)
    paused = _next(await member.receive(), "m")
    assert paused["data"]["campaignStatusChanged"]["status"] == "PAUSED"
    assert paused["data"]["campaignStatusChanged"]["campaign"] is None
    assert [e["extensions"]["code"] for e in paused["errors"]] == ["FORBIDDEN", "FORBIDDEN"]
    await member.close()
    await admin.close()


async def test_the_audit_feed_is_for_admins_and_a_disabled_admin_is_cut_off(live: Live) -> None:
    conn = await asyncpg.connect(live.dsn)
    try:
        second = await f.user(conn, "second-admin@live.test", name="Second", role="ADMIN")
        await open_test_session(conn, second)
    finally:
        await conn.close()

    manager = await _acked(
        await Socket.open(live, payload={"Authorization": live.token(live.manager)})
    )
    await manager.subscribe("feed", "subscription { auditLogAppended { action } }")
    refused = await manager.receive()
    assert refused["type"] == "next" and refused["payload"]["data"] is None
    assert refused["payload"]["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    await manager.close()

    watcher = await _acked(await Socket.open(live, payload={"Authorization": live.token(second)}))
    await watcher.subscribe("feed", "subscription { auditLogAppended { action targetType } }")
    await watcher.subscribe("ping", "{ __typename }")
    assert (await watcher.receive())["id"] == "ping"
    assert (await watcher.receive())["type"] == "complete"

    campaign = await live.campaign("Audited")
    await live.change(LAUNCH, campaign)
    event = _next(await watcher.receive(), "feed")["data"]["auditLogAppended"]
    assert event == {"action": "campaign.launch", "targetType": "Campaign"}

    disable = await live.http.post(
        "/graphql",
        json={
            "query": "mutation ($id: ID!) { setUserStatus(input: {userId: $id, status: DISABLED})"
            " { user { status } userErrors { message } } }",
            "variables": {"id": f.gid("User", second)},
        },
        headers=bearer(live.admin),
    )
    assert disable.json()["data"]["setUserStatus"]["userErrors"] == [], disable.text
    code, reason = await watcher.closed()
    assert code == 4403, (code, reason)
    assert "UNAUTHENTICATED" in reason


async def test_a_refused_or_missing_init_closes_the_socket(live: Live) -> None:
    bad = await Socket.open(live, payload={"Authorization": "Bearer not-a-token"})
    assert (await bad.closed())[0] == 4403

    legacy = await Socket.open(live, LEGACY_WS, payload={"Authorization": "Bearer not-a-token"})
    message = await legacy.receive()
    assert message["type"] == "connection_error"
    assert message["payload"]["code"] == "UNAUTHENTICATED"

    silent = await Socket.open(live, init=False)
    assert (await silent.closed())[0] == 4408  # WS_INIT_TIMEOUT_S=1

    # The upgrade's Authorization header works as well (for clients that can set it).
    header = await _acked(
        await Socket.open(live, headers={"Authorization": live.token(live.member)})
    )
    await header.subscribe("me", "{ me { name } }")
    assert _next(await header.receive(), "me") == {"data": {"me": {"name": "Member"}}}
    await header.close()


async def test_queries_and_limits_over_the_socket_obey_the_http_rules(live: Live) -> None:
    anonymous = await _acked(await Socket.open(live))
    await anonymous.subscribe("q", "{ me { name } }")
    answer = _next(await anonymous.receive(), "q")
    assert answer["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert (await anonymous.receive())["type"] == "complete"
    await anonymous.subscribe("s", CHANGES)
    refused = _next(await anonymous.receive(), "s")
    assert refused["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    await anonymous.close()

    socket = await _acked(
        await Socket.open(live, payload={"Authorization": live.token(live.admin)})
    )
    hop = "rewards { edges { node { campaign { createdBy { %s } } } } }"
    deep = "subscription { campaignStatusChanged { actor { %s } } }" % (hop % (hop % "name"))
    await socket.subscribe("deep", deep)
    assert await _refusal(socket, "deep") == "DEPTH_LIMIT_EXCEEDED"

    two = "subscription A { auditLogAppended { action } }"
    two += " subscription B { auditLogAppended { action } }"
    await socket.subscribe("two", two)
    assert await _refusal(socket, "two") == "OPERATION_NOT_CHOSEN"

    for i in range(4):  # WS_MAX_OPERATIONS_PER_SOCKET=3
        await socket.subscribe(f"op{i}", "subscription { auditLogAppended { action } }")
    capped = await socket.receive()
    assert capped["type"] == "error" and capped["id"] == "op3", capped
    assert capped["payload"][0]["extensions"]["code"] == "TOO_MANY_OPERATIONS"
    await socket.close()


async def test_events_arrive_again_after_postgresql_restarts(live: Live) -> None:
    campaign = await live.campaign("Survives Restarts")
    socket = await _acked(
        await Socket.open(live, payload={"Authorization": live.token(live.admin)})
    )
    await _subscribed(socket, "r", {"id": f.gid("Campaign", campaign)})

    live.pg.stop()
    live.pg.start()

    # Events published before a worker listens again are not replayed (README): change the
    # campaign until one event arrives, for at most ~20 changes. Each change is chosen from the
    # campaign's status as it is, since a change whose answer was lost may have committed.
    event = None
    for _ in range(20):
        try:
            conn = await asyncpg.connect(live.dsn)
            try:
                status = await conn.fetchval("SELECT status FROM campaigns WHERE id = $1", campaign)
            finally:
                await conn.close()
            await live.change(PAUSE if status == "ACTIVE" else LAUNCH, campaign, as_user=live.admin)
        except (OSError, asyncpg.PostgresError, KeyError, TypeError, AssertionError):
            await asyncio.sleep(0.5)  # PostgreSQL or the pool is still coming back
            continue
        try:
            event = _next(await socket.receive(timeout=RETRY_WAIT_S), "r")
            break
        except TimeoutError:
            continue
    assert event is not None, "no event after PostgreSQL restarted"
    assert event["data"]["campaignStatusChanged"]["status"] in ("ACTIVE", "PAUSED"), event
    await socket.close()


async def test_a_subscription_whose_token_expired_is_cut_off_at_the_next_event(
    live: Live,
) -> None:
    from datetime import timedelta

    from resolvers.auth import Tokens
    from tests.conftest import JWT_SECRET, session_of

    campaign = await live.campaign("Outlives Its Token")
    short = Tokens(JWT_SECRET, ttl=timedelta(seconds=2)).issue(live.admin, session_of(live.admin))
    socket = await _acked(
        await Socket.open(live, payload={"Authorization": f"Bearer {short.token}"})
    )
    await _subscribed(socket, "x", {"id": f.gid("Campaign", campaign)})
    # Past the token's end (its expiry has whole seconds; one more for the clocks).
    left = (short.expires_at - datetime.now(UTC)).total_seconds() + 1
    await asyncio.sleep(max(left, 0))
    await live.change(LAUNCH, campaign)
    code, reason = await socket.closed()
    assert code == 4403, (code, reason)
    assert "UNAUTHENTICATED" in reason and "expired" in reason.lower(), reason
