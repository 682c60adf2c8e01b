"""/metrics on a real `server.py serve --workers 2`: a scrape of either worker sums both
(prometheus-client's multiprocess mode), so no request is lost whichever worker served it."""

from __future__ import annotations

import httpx

from tests.live_server import Live
from tests.test_telemetry import value

ME = {"query": "query Me { me { id } }"}


async def scrape(live: Live) -> bytes:
    # A connection of its own each time: either worker may answer.
    async with httpx.AsyncClient(base_url=str(live.http.base_url)) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    return response.content


async def test_a_scrape_of_any_worker_sums_every_worker(live: Live) -> None:
    before = await scrape(live)
    for _ in range(30):
        async with httpx.AsyncClient(base_url=str(live.http.base_url)) as client:
            response = await client.post(
                "/graphql", json=ME, headers={"Authorization": live.token(live.member)}
            )
        assert response.json() == {"data": {"me": {"id": response.json()["data"]["me"]["id"]}}}
    ops = {"operation_name": "Me", "operation_type": "query", "outcome": "ok"}
    for _ in range(6):
        after = await scrape(live)
        assert (
            value(after, "graphql_operations_total", **ops)
            - value(before, "graphql_operations_total", **ops)
            == 30
        )
        assert (
            value(after, "http_requests_total", route="/graphql", status="200")
            - value(before, "http_requests_total", route="/graphql", status="200")
            == 30
        )
        # Each worker's pool is in the sum: two pools of DB_POOL_MAX (10).
        assert value(after, "db_pool_connections", state="max") == 20
