"""Start the reads nearly every request makes, together, before its fields run.

A query's first guarded field loads the viewer (one round trip), and a connection then reads
the `max_page_size` setting (another): two waits in a row before the query's own data. Started
at once, both go out in the same event-loop turn, so the request waits once (and, under load,
shares both statements with other requests: db/coalesce.py). The values land in this
request's loaders, where `auth.authenticate` and `settings.int_setting` read them as usual:
nothing is decided here, and a read that fails is met (and reported) by the code that uses it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from resolvers.context import Context
from resolvers.settings import MAX_PAGE_SIZE


def start_common_reads(ctx: Context, paged: bool) -> None:
    """The viewer's row, when the request carries a valid token and it is not loaded yet;
    the page-size setting when the operation has a paged field (`first`/`last`)."""
    credential = ctx.credential
    if ctx.viewer is None and credential.session_id is not None and not credential.refused:
        quietly(ctx.loaders.viewer_by_session.load(credential.session_id))
    if paged:
        quietly(ctx.loaders.setting_by_key.load(MAX_PAGE_SIZE.key))


def quietly(future: asyncio.Future[Any]) -> None:
    """A future whose error, if nobody ends up awaiting it, is dropped rather than logged as
    "exception was never retrieved" (whoever does await it still meets the error)."""
    future.add_done_callback(_retrieve)


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
