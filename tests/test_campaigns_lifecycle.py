"""The campaign lifecycle: allowed and refused transitions, audit rows, and concurrency."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from tests import factories as f
from tests.conftest import Api

MUTATION = """
mutation ($input: CampaignActionInput!) {{
  {name}(input: $input) {{
    campaign {{ id status version launchedAt pausedAt completedAt }}
    userErrors {{ field message code }}
  }}
}}
"""
ALL = ("DRAFT", "ACTIVE", "PAUSED", "COMPLETED")
ALLOWED = {
    "launchCampaign": {"DRAFT": "ACTIVE", "PAUSED": "ACTIVE"},
    "pauseCampaign": {"ACTIVE": "PAUSED"},
    "completeCampaign": {"ACTIVE": "COMPLETED", "PAUSED": "COMPLETED"},
}
ACTIONS = {
    "launchCampaign": "campaign.launch",
    "pauseCampaign": "campaign.pause",
    "completeCampaign": "campaign.complete",
}


async def act(api: Api, name: str, campaign_id: int, **extra: object) -> Any:
    variables = {"input": {"id": f.gid("Campaign", campaign_id), **extra}}
    data = await api.data(MUTATION.format(name=name), variables)
    return data[name]


@pytest.mark.parametrize("mutation", sorted(ALLOWED))
@pytest.mark.parametrize("start", ALL)
async def test_transition_from_each_status(
    api: Api, conn: asyncpg.Connection, mutation: str, start: str
) -> None:
    m = await f.merchant(conn)
    c = await f.campaign(conn, m, status=start)

    result = await act(api, mutation, c)

    expected = ALLOWED[mutation].get(start)
    status, version = await conn.fetchrow("SELECT status, version FROM campaigns")
    audits = await f.audit_rows(conn, c)
    if expected is None:
        assert result["campaign"] is None
        assert [e["code"] for e in result["userErrors"]] == ["INVALID_TRANSITION"]
        assert (status, version) == (start, 1)
        assert audits == []
    else:
        assert result["userErrors"] == []
        assert result["campaign"]["status"] == expected
        assert (status, version) == (expected, 2)
        [audit] = audits
        assert audit["action"] == ACTIONS[mutation]
        assert (audit["before"]["status"], audit["after"]["status"]) == (start, expected)
        assert audit["before"] == {"status": start, "version": 1}
        assert audit["after"]["version"] == 2
        assert audit["request_id"]


async def test_launch_pause_launch_complete_stamps_times(
    api: Api, conn: asyncpg.Connection
) -> None:
    m = await f.merchant(conn)
    c = await f.campaign(conn, m)
    launched = await act(api, "launchCampaign", c)
    first_launch = launched["campaign"]["launchedAt"]
    paused = await act(api, "pauseCampaign", c)
    assert paused["campaign"]["pausedAt"] is not None
    relaunched = await act(api, "launchCampaign", c)
    assert relaunched["campaign"]["launchedAt"] == first_launch
    assert relaunched["campaign"]["pausedAt"] is None
    done = await act(api, "completeCampaign", c, expectedVersion=4)
    assert done["campaign"]["status"] == "COMPLETED"
    assert done["campaign"]["completedAt"] is not None
    actions = [a["action"] for a in await f.audit_rows(conn, c)]
    assert actions == ["campaign.launch", "campaign.pause", "campaign.launch", "campaign.complete"]


async def test_launch_refuses_campaign_past_end_date(api: Api, conn: asyncpg.Connection) -> None:
    m = await f.merchant(conn)
    now = datetime.now(UTC)
    c = await f.campaign(
        conn, m, starts_at=now - timedelta(days=9), ends_at=now - timedelta(days=1)
    )
    result = await act(api, "launchCampaign", c)
    assert [e["code"] for e in result["userErrors"]] == ["CAMPAIGN_ENDED"]
    assert await conn.fetchval("SELECT status FROM campaigns") == "DRAFT"


async def test_launch_refuses_campaign_with_budget_spent(
    api: Api, conn: asyncpg.Connection
) -> None:
    m = await f.merchant(conn)
    c = await f.campaign(conn, m, status="PAUSED", budget_cents=500, spent_cents=500)
    result = await act(api, "launchCampaign", c)
    assert [e["code"] for e in result["userErrors"]] == ["BUDGET_EXHAUSTED"]
    assert await conn.fetchval("SELECT status FROM campaigns") == "PAUSED"


async def test_transition_with_stale_version_is_a_conflict(
    api: Api, conn: asyncpg.Connection
) -> None:
    m = await f.merchant(conn)
    c = await f.campaign(conn, m)
    result = await act(api, "launchCampaign", c, expectedVersion=7)
    assert result["userErrors"] == [
        {
            "field": ["expectedVersion"],
            "code": "VERSION_CONFLICT",
            "message": "The campaign is at version 1, not 7; reload and retry",
        }
    ]
    assert await conn.fetchval("SELECT status FROM campaigns") == "DRAFT"


async def test_transition_on_unknown_or_malformed_id(api: Api) -> None:
    unknown = await act(api, "pauseCampaign", 12345)
    assert [(e["field"], e["code"]) for e in unknown["userErrors"]] == [(["id"], "NOT_FOUND")]
    data = await api.data(MUTATION.format(name="pauseCampaign"), {"input": {"id": "nope"}})
    errors = data["pauseCampaign"]["userErrors"]
    assert [(e["field"], e["code"]) for e in errors] == [(["id"], "INVALID_ID")]


async def test_concurrent_launch_and_pause_leave_one_consistent_state(
    api: Api, conn: asyncpg.Connection
) -> None:
    """20 launch/pause calls at once: each success is one audit row and one version step."""
    m = await f.merchant(conn)
    c = await f.campaign(conn, m, status="ACTIVE")
    names = ["launchCampaign", "pauseCampaign"] * 10

    results = await asyncio.gather(*(act(api, n, c) for n in names))

    succeeded = [n for n, r in zip(names, results, strict=True) if not r["userErrors"]]
    refused = [r for r in results if r["userErrors"]]
    assert all([e["code"] for e in r["userErrors"]] == ["INVALID_TRANSITION"] for r in refused)
    status, version = await conn.fetchrow("SELECT status, version FROM campaigns")
    audits = await f.audit_rows(conn, c)
    assert version == 1 + len(succeeded)
    assert len(audits) == len(succeeded) >= 1
    # The audit trail is a valid walk of the lifecycle ending in the stored status.
    state = "ACTIVE"
    for audit in audits:
        assert audit["before"]["status"] == state
        state = audit["after"]["status"]
        assert (audit["action"], state) in (
            ("campaign.launch", "ACTIVE"),
            ("campaign.pause", "PAUSED"),
        )
    assert state == status
