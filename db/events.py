"""The live events a worker receives from PostgreSQL: one LISTEN connection per worker.

Triggers publish every event with `pg_notify` in the transaction of the change
(migrations/0004_events.sql), so a notification arrives only after its change committed, and
PostgreSQL delivers them in commit order. Each worker holds ONE dedicated connection, not from
the pool (a pooled connection would be handed to requests and lose its LISTEN), and passes
each payload to `on_event`; nothing about subscribers is shared between workers, so adding
workers adds capacity.

When the connection is lost (PostgreSQL restarted, the network cut), the listener connects
again by itself, waiting a little longer after each failure (0.1 s doubling up to 5 s). Events
published while no connection listened are not replayed: NOTIFY keeps no backlog. Each lost
connection is logged and counted (`reconnects`); `connected` is set while one listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import asyncpg
import orjson

CHANNEL = "campaign_graphql_events"
# How often an idle listening connection is checked: a connection whose server vanished
# without closing it (a cut network) would otherwise look alive forever.
HEALTH_CHECK_S = 5.0
RETRY_FIRST_S = 0.1
RETRY_MAX_S = 5.0

log = logging.getLogger("campaign_graphql.events")


class Listener:
    """LISTEN on `dsn` for as long as it runs, calling `on_event(payload)` for each event (a
    dict decoded from the notification's JSON)."""

    def __init__(self, dsn: str, on_event: Callable[[dict[str, Any]], None]) -> None:
        self.dsn = dsn
        self.on_event = on_event
        self.connected = asyncio.Event()
        self.reconnects = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="events-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        delay = RETRY_FIRST_S
        while True:
            try:
                await self._listen()
                delay = RETRY_FIRST_S  # it listened, then lost the connection
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("events: cannot listen (%s); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
                continue
            self.reconnects += 1
            log.warning("events: the listening connection was lost; connecting again")

    async def _listen(self) -> None:
        conn = await asyncpg.connect(self.dsn, timeout=5)
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        try:
            await conn.add_listener(CHANNEL, self._received)
            self.connected.set()
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), HEALTH_CHECK_S)
                if not lost.is_set():
                    try:
                        await conn.execute("SELECT 1", timeout=HEALTH_CHECK_S)
                    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                        break
        finally:
            self.connected.clear()
            conn.terminate()

    def _received(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            event = orjson.loads(payload)
        except orjson.JSONDecodeError:
            log.error("events: a payload that is not JSON was ignored: %.200r", payload)
            return
        if isinstance(event, dict):
            self.on_event(event)
        else:
            log.error("events: a payload that is not an object was ignored: %.200r", payload)
