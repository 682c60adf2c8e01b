"""Subscriptions: one worker's subscribers, and the event stream each of them reads.

The worker's `Hub` gets every event its listener receives (db/events.py) and hands each one
to the subscribers it may concern. An audit row is read once per worker, whatever the
number of subscribers: the rows of the events that arrived together are read in one
statement. A subscriber's events wait in its own queue, in arrival order (commit order: the
events of one campaign in version order); one that falls `QUEUE_LIMIT` events behind is
closed rather than silently skipping events.

`events(...)` is a subscription's stream. Before each event it renews its context (fresh
loaders, the bearer token verified again, the viewer and its session read again) and checks
the field's rule, so a viewer disabled, signed out or expired meanwhile is cut off at the next
event: its socket is closed (4403). A session that ends wakes its subscribers at once for that
check, even with no event for them.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from db import audit, metrics
from db.audit import AuditRow
from db.users import UserRow
from resolvers.auth import SESSION_ENDED, Rule
from resolvers.context import Context
from resolvers.errors import Forbidden, Unauthenticated

log = logging.getLogger("campaign_graphql.live")

# Events a subscriber may have waiting; past that its socket is closed (SUBSCRIBER_TOO_SLOW).
QUEUE_LIMIT = 1000
# Close codes: the viewer may no longer subscribe; the client did not keep up.
CLOSE_FORBIDDEN = 4403
CLOSE_TOO_SLOW = 4429


class _Recheck:
    """Wakes a subscriber to check its viewer again (its session ended)."""


RECHECK = _Recheck()


@dataclass(eq=False)
class Subscriber:
    session_id: str | None
    # Which rows this subscription is about, whoever the viewer (a cheap test on the row:
    # the viewer's own check runs after its context is renewed).
    topic: Callable[[AuditRow], bool]
    waiting: deque[AuditRow | _Recheck] = field(default_factory=deque)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    overflowed: bool = False

    def put(self, item: AuditRow | _Recheck) -> None:
        if len(self.waiting) >= QUEUE_LIMIT:
            self.overflowed = True
        else:
            self.waiting.append(item)
        self.ready.set()

    async def take(self) -> list[AuditRow | _Recheck]:
        await self.ready.wait()
        self.ready.clear()
        items = list(self.waiting)
        self.waiting.clear()
        return items


class Hub:
    """One worker's subscribers, fed by its listener (`received`)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.subscribers: set[Subscriber] = set()
        # Signed-in sockets by session, to close when their session ends even without a
        # subscription (weakly held: a socket that ended drops out by itself).
        self.sockets: dict[str, weakref.WeakValueDictionary[int, Context]] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.delivered = 0  # events put in subscribers' queues, for tests and the bench

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="events-hub")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    def add(self, session_id: str | None, topic: Callable[[AuditRow], bool]) -> Subscriber:
        subscriber = Subscriber(session_id, topic)
        self.subscribers.add(subscriber)
        if metrics.ENABLED:
            metrics.SUBSCRIPTIONS.inc()
        return subscriber

    def remove(self, subscriber: Subscriber) -> None:
        if subscriber in self.subscribers:
            self.subscribers.discard(subscriber)
            if metrics.ENABLED:
                metrics.SUBSCRIPTIONS.dec()

    def watch(self, socket: Context) -> None:
        """Close this signed-in socket's context when its session ends."""
        if socket.session_id is None:
            return
        self.sockets.setdefault(socket.session_id, weakref.WeakValueDictionary())[id(socket)] = (
            socket
        )
        for session in [k for k, v in self.sockets.items() if not v]:
            del self.sockets[session]  # sockets that ended

    def received(self, event: dict[str, Any]) -> None:
        """The listener's callback: runs in the event loop, must not block."""
        self._inbox.put_nowait(event)

    async def _run(self) -> None:
        while True:
            batch = [await self._inbox.get()]
            while not self._inbox.empty():
                batch.append(self._inbox.get_nowait())
            try:
                await self._dispatch(batch)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                # The rows could not be read: these events are lost for this worker's
                # subscribers, as events are during a lost LISTEN connection.
                log.error("events: %d events not delivered: %s", len(batch), exc)

    async def _dispatch(self, batch: list[dict[str, Any]]) -> None:
        for event in batch:
            session = event.get("session")
            sockets = self.sockets.pop(session, None) if isinstance(session, str) else None
            for socket in list((sockets or {}).values()):
                task = asyncio.get_running_loop().create_task(
                    socket.close_socket(CLOSE_FORBIDDEN, f"UNAUTHENTICATED: {SESSION_ENDED}")
                )
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
        if not self.subscribers:
            return
        audit_ids = [e["audit"] for e in batch if isinstance(e.get("audit"), int)]
        rows: dict[int, AuditRow] = {}
        if audit_ids:
            async with self.pool.acquire() as conn:
                rows = {r.id: r for r in await audit.by_ids(conn, audit_ids) if r is not None}
        for event in batch:
            session = event.get("session")
            if session is not None:
                for subscriber in self.subscribers:
                    if subscriber.session_id == session:
                        subscriber.put(RECHECK)
                continue
            row = rows.get(event.get("audit"))  # type: ignore[arg-type]
            if row is None:
                continue
            for subscriber in self.subscribers:
                if subscriber.topic(row):
                    subscriber.put(row)
                    self.delivered += 1


async def events(
    ctx: Context,
    rule: Rule,
    topic: Callable[[AuditRow], bool],
    wants: Callable[[UserRow, AuditRow], bool],
) -> AsyncIterator[AuditRow]:
    """The audit rows of `topic` that `wants` lets through for the viewer, as they are
    committed, checked against `rule` (the subscription field's) before each."""
    await rule.enforce(ctx)  # refused before anything is subscribed
    hub = ctx.hub
    if hub is None:
        raise RuntimeError("subscriptions need the app's event hub")
    subscriber = hub.add(ctx.session_id, topic)
    try:
        while True:
            items: Iterable[AuditRow | _Recheck] = await subscriber.take()
            if subscriber.overflowed:
                await ctx.close_socket(
                    CLOSE_TOO_SLOW, "SUBSCRIBER_TOO_SLOW: events were not read in time"
                )
                return
            for item in items:
                ctx.renew()
                try:
                    await rule.enforce(ctx)
                except (Unauthenticated, Forbidden) as exc:
                    await ctx.close_socket(CLOSE_FORBIDDEN, f"{exc.code}: {exc.message}")
                    return
                if isinstance(item, AuditRow) and ctx.viewer and wants(ctx.viewer, item):
                    yield item
    finally:
        hub.remove(subscriber)
