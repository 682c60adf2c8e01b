"""GraphiQL, served by the app itself: its page and pinned assets, no third-party host.

The assets are copied from npm (graphiql-assets/LICENSES.md lists versions); the page's
fetcher (graphiql-assets/graphiql-page.js) sends subscriptions over the WebSocket with the
Headers pane's Authorization in `connection_init`. Served only where GraphiQL is on (not with
APP_ENV=production).
"""

from __future__ import annotations

from pathlib import Path

from starlette.responses import HTMLResponse
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

ASSETS = Path(__file__).resolve().parent / "graphiql-assets"
ASSETS_PATH = "/graphiql"


def page() -> HTMLResponse:
    return HTMLResponse((ASSETS / "index.html").read_bytes())


class _Assets(StaticFiles):
    """The asset files, cached by browsers for a day (their names carry no version)."""

    def file_response(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        response = super().file_response(*args, **kwargs)
        response.headers["cache-control"] = "public, max-age=86400"
        return response


def assets_route() -> Mount:
    return Mount(ASSETS_PATH, app=_Assets(directory=ASSETS), name="graphiql-assets")
