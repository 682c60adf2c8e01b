"""GraphiQL in a real browser: headless Chromium loads the app's own page with every asset from
the server (no other host), runs a query with a bearer token from the Headers pane, and runs a
subscription over the socket, signed in with that same header."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

from tests import factories as f
from tests.browser import Page, open_page
from tests.live_server import LAUNCH, PAUSE, Live

QUERY_EDITOR = "document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror"
RESULT = "document.querySelector('.graphiql-response .CodeMirror').CodeMirror.getValue()"
VISIBLE_TOOL = (
    "[...document.querySelectorAll('.graphiql-editor-tool .graphiql-editor')]"
    ".find(e => !e.classList.contains('hidden')).querySelector('.CodeMirror').CodeMirror"
)


async def _set_query(page: Page, query: str) -> None:
    await page.evaluate(f"{QUERY_EDITOR}.setValue({json.dumps(query)})")


async def _run(page: Page) -> None:
    await page.evaluate("document.querySelector('.graphiql-execute-button').click()")


async def test_graphiql_runs_queries_and_subscriptions_offline(live: Live, tmp_path: Path) -> None:
    campaign = await live.campaign("Seen in GraphiQL")
    origin = live.url.replace("ws://", "http://")
    async with open_page(origin) as page:
        await page.wait_for(QUERY_EDITOR.removesuffix(".CodeMirror"))
        # The Headers pane: the manager's token.
        await page.evaluate(
            "[...document.querySelectorAll('button')]"
            ".find(b => b.textContent.trim() === 'Headers').click()"
        )
        headers = json.dumps({"Authorization": live.token(live.manager)})
        await page.evaluate(f"{VISIBLE_TOOL}.setValue({json.dumps(headers)})")

        await _set_query(page, "{ me { name role } }")
        await _run(page)
        answer = json.loads(await page.wait_for(f"{RESULT}.includes('MANAGER') && {RESULT}"))
        assert answer == {"data": {"me": {"name": "Manager", "role": "MANAGER"}}}

        gid = f.gid("Campaign", campaign)
        await _set_query(
            page,
            f'subscription {{ campaignStatusChanged(id: "{gid}") {{ previousStatus status'
            " campaign { name } } }",
        )
        await _run(page)
        # GraphiQL gives no "subscribed" signal: change the campaign until an event shows.
        shown = None
        for attempt in range(10):
            await live.change(LAUNCH if attempt % 2 == 0 else PAUSE, campaign)
            try:
                shown = await page.wait_for(
                    f"{RESULT}.includes('Seen in GraphiQL') && {RESULT}", timeout=2
                )
                break
            except TimeoutError:
                continue
        assert shown is not None, await page.evaluate(RESULT)
        event = json.loads(shown)["data"]["campaignStatusChanged"]
        assert event["campaign"] == {"name": "Seen in GraphiQL"}
        assert event["status"] in ("ACTIVE", "PAUSED")
        (tmp_path / "graphiql.png").write_bytes(await page.screenshot())

        # Every asset, the introspection, the queries and the socket: this server only.
        hosts = {urlsplit(u).hostname for u in page.requested if not u.startswith("data:")}
        assert hosts == {"127.0.0.1"}, page.requested
        assert any(u.startswith("ws://127.0.0.1") for u in page.requested)


async def test_a_browser_app_on_another_origin_can_call_and_read_refusals(live: Live) -> None:
    """A page from http://localhost:<port> (another origin) calls http://127.0.0.1:<port> with
    the headers tracing, Sentry and Apollo add: the preflight passes, and a refusal (413) is
    readable by the page, not a CORS failure."""
    api = live.url.replace("ws://", "http://")
    page_url = api.replace("127.0.0.1", "localhost").replace("/graphql", "/healthz")
    token = live.token(live.manager)
    async with open_page(page_url) as page:
        await page.wait_for("document.readyState === 'complete'")
        call = f"""
            fetch({json.dumps(api)}, {{
              method: "POST",
              headers: {{
                "content-type": "application/json",
                "authorization": {json.dumps(token)},
                "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "sentry-trace": "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
                "apollographql-client-name": "web",
              }},
              body: JSON.stringify({{query: "{{ me {{ role }} }}"}}),
            }}).then(async r => [r.status, await r.json(), r.headers.get("x-request-id")])
        """
        status, body, request_id = await page.evaluate(call)
        assert status == 200 and body == {"data": {"me": {"role": "MANAGER"}}}
        assert request_id  # exposed to the page
        too_big = f"""
            fetch({json.dumps(api)}, {{
              method: "POST",
              headers: {{"content-type": "application/json"}},
              body: "{{" + " ".repeat(1100000) + "}}",
            }}).then(async r => [r.status, await r.json()])
        """
        status, body = await page.evaluate(too_big)
        assert status == 413, body
        assert body["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
