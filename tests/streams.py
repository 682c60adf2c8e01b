"""Subscriptions in-process, as a socket would run them: the caller's token, the app's hub."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from types import SimpleNamespace
from typing import Any

from resolvers.context import Context
from schema import schema
from tests.conftest import Api


class Stream:
    """One subscription of `client`: `refused` is the code it was refused with, else
    `results` fills with each event's result (a consumer task reads them)."""

    def __init__(self) -> None:
        self.refused: str | None = None  # the code it was refused with
        self.subscribed = False  # the hub holds it (until closed)
        self.results: list[Any] = []
        self._source: AsyncGenerator[Any, None] | None = None
        self._first: asyncio.Future[Any] | None = None
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls, client: Api, document: str, variables: dict[str, Any] | None = None
    ) -> Stream:
        state = client.app.state
        hub = state["hub"]
        ctx = Context(
            request=SimpleNamespace(headers={}, state=SimpleNamespace()),  # type: ignore[arg-type]
            response=None,
            pool=state["pool"],
            request_id="stream",
            tokens=state["tokens"],
            bearer=client.headers.get("Authorization"),
            hub=hub,
        )
        self = cls()
        source = await schema.subscribe(document, variables or {}, context_value=ctx)
        before = len(hub.subscribers)
        first = asyncio.ensure_future(anext(source))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        # Subscribed once the hub holds it; refused when the stream answers at once.
        while not first.done() and len(hub.subscribers) == before:
            assert loop.time() < deadline, "neither subscribed nor refused"
            await asyncio.sleep(0.005)
        if first.done():
            result = first.result()
            await source.aclose()
            assert result.data is None, result
            self.refused = str((result.errors[0].extensions or {}).get("code"))
            return self
        self.subscribed = True
        self._source, self._first = source, first
        self._task = asyncio.create_task(self._consume(first))
        return self

    async def _consume(self, first: asyncio.Future[Any]) -> None:
        assert self._source is not None
        self.results.append(await first)
        async for result in self._source:
            self.results.append(result)

    async def close(self) -> None:
        for task in (self._task, self._first):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._source is not None:
            await self._source.aclose()
