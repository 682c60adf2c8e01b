"""`admin { health users auditLogs settings }`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from db.migrate import MIGRATIONS_DIR
from tests import factories as f
from tests.conftest import Api, StatementCounter

USERS = """
query ($first: Int, $after: String, $filter: UserFilter) {
  admin { users(first: $first, after: $after, filter: $filter) {
    totalCount nodes { email role status } pageInfo { hasNextPage endCursor }
  } }
}
"""
AUDIT = """
query ($first: Int, $after: String, $filter: AuditLogFilter) {
  admin { auditLogs(first: $first, after: $after, filter: $filter) {
    totalCount
    nodes { action targetType targetId before after requestId clientRequestId createdAt
            actor { id email } }
    pageInfo { hasNextPage endCursor }
  } }
}
"""


async def test_health_reports_database_pool_and_versions(api: Api) -> None:
    health = (
        await api.data(
            "{ admin { health { databaseReachable latencyMs poolSize poolInUse "
            "migrationVersion expectedMigrationVersion serverVersion uptimeSeconds } } }"
        )
    )["admin"]["health"]
    latest = max(int(p.name.split("_")[0]) for p in MIGRATIONS_DIR.glob("*.sql"))
    assert health["databaseReachable"] is True
    assert health["latencyMs"] >= 0
    assert health["poolSize"] >= 1
    assert 0 <= health["poolInUse"] <= health["poolSize"]
    assert health["migrationVersion"] == health["expectedMigrationVersion"] == latest
    assert health["serverVersion"] == "0.1.0"
    assert health["uptimeSeconds"] >= 0


async def test_users_are_paged_oldest_first_and_filtered(
    api: Api, conn: asyncpg.Connection
) -> None:
    await f.user(conn, "b.manager@example.com", name="Bea", role="MANAGER")
    await f.user(conn, "c.member@example.com", name="Cy", role="MEMBER")
    await f.user(conn, "d.member@example.com", name="Di", role="MEMBER", status="DISABLED")
    everyone = ["test-admin@example.com", "b.manager@example.com"]
    everyone += ["c.member@example.com", "d.member@example.com"]

    first = (await api.data(USERS, {"first": 3}))["admin"]["users"]
    after = first["pageInfo"]["endCursor"]
    second = (await api.data(USERS, {"first": 3, "after": after}))["admin"]["users"]

    assert [n["email"] for n in first["nodes"] + second["nodes"]] == everyone
    assert first["totalCount"] == 4
    assert first["pageInfo"]["hasNextPage"] and not second["pageInfo"]["hasNextPage"]

    async def emails(flt: dict) -> list[str]:
        users = (await api.data(USERS, {"filter": flt}))["admin"]["users"]
        assert users["totalCount"] == len(users["nodes"])
        return [n["email"] for n in users["nodes"]]

    assert await emails({"role": "MEMBER"}) == ["c.member@example.com", "d.member@example.com"]
    assert await emails({"status": "DISABLED"}) == ["d.member@example.com"]
    assert await emails({"search": "CY"}) == ["c.member@example.com"]
    assert await emails({"search": "member", "status": "ACTIVE"}) == ["c.member@example.com"]


@pytest.mark.parametrize("rows", [5, 50])
async def test_user_and_audit_pages_cost_the_same_statements_for_any_size(
    rows: int, api: Api, conn: asyncpg.Connection, statements: StatementCounter
) -> None:
    actors = [await f.user(conn, f"u{i}@example.com") for i in range(rows)]
    await conn.executemany(
        "INSERT INTO audit_logs (actor_id, action, target_type, target_id) "
        "VALUES ($1, 'x.y', 'User', $1)",
        [(a,) for a in actors],
    )
    await api.data(USERS, {"first": 60})  # warm up: asyncpg's first-use type introspection
    await api.data(AUDIT, {"first": 60})
    statements.reset()
    users = (await api.data(USERS, {"first": 60}))["admin"]["users"]
    user_statements = statements.count
    statements.reset()
    audit = (await api.data(AUDIT, {"first": 60}))["admin"]["auditLogs"]
    assert len(users["nodes"]) == rows + 1 and len(audit["nodes"]) == rows
    # viewer, max_page_size setting, page, count (+ one batch of actors for the audit log)
    assert (user_statements, statements.count) == (4, 5), statements.statements


async def test_audit_log_is_newest_first_with_details_and_filters(
    api: Api, conn: asyncpg.Connection
) -> None:
    m = await f.merchant(conn)
    c = await f.campaign(conn, m, name="Autumn")
    gid = f.gid("Campaign", c)
    action = "mutation ($id: ID!) { %s(input: {id: $id}) { userErrors { code } } }"
    await api.data(action % "launchCampaign", {"id": gid}, headers={"X-Request-ID": "req-1"})
    await api.data(action % "pauseCampaign", {"id": gid}, headers={"X-Request-ID": "req-2"})
    other = await f.campaign(conn, m, name="Other")
    await api.data(action % "launchCampaign", {"id": f.gid("Campaign", other)})

    flt = {"targetId": gid}
    entries = (await api.data(AUDIT, {"filter": flt}))["admin"]["auditLogs"]["nodes"]

    admin = {"id": f.gid("User", api.user_id), "email": "test-admin@example.com"}
    assert [(e["action"], e["clientRequestId"], e["actor"]) for e in entries] == [
        ("campaign.pause", "req-2", admin),
        ("campaign.launch", "req-1", admin),
    ]
    assert entries[0]["targetType"] == "Campaign" and entries[0]["targetId"] == gid
    assert (entries[0]["before"]["status"], entries[0]["after"]["status"]) == ("ACTIVE", "PAUSED")

    async def actions(flt: dict) -> list[str]:
        logs = (await api.data(AUDIT, {"filter": flt}))["admin"]["auditLogs"]
        return [e["action"] for e in logs["nodes"]]

    assert await actions({"action": "campaign.launch"}) == ["campaign.launch"] * 2
    assert await actions({"actorId": f.gid("User", api.user_id)}) == [
        "campaign.launch",
        "campaign.pause",
        "campaign.launch",
    ]
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert await actions({"from": future}) == []
    assert len(await actions({"to": future})) == 3


async def test_audit_log_filter_refuses_a_malformed_actor_id(api: Api) -> None:
    body = await api.gql(AUDIT, {"filter": {"actorId": "nope"}})
    assert body["errors"][0]["extensions"] == {
        "code": "BAD_USER_INPUT",
        "argument": "filter.actorId",
    }


async def test_settings_list_every_known_setting_with_defaults_and_changes(
    api: Api, conn: asyncpg.Connection
) -> None:
    await conn.execute(
        "INSERT INTO settings (key, value, updated_by) VALUES ('max_page_size', '40', $1)",
        api.user_id,
    )
    query = """{ admin { settings { key value defaultValue minimum maximum description
      updatedAt updatedBy { email } } } }"""
    settings = {s["key"]: s for s in (await api.data(query))["admin"]["settings"]}
    assert set(settings) == {"max_page_size", "password_reset_expiry_minutes"}
    page = settings["max_page_size"]
    assert (page["value"], page["defaultValue"], page["minimum"], page["maximum"]) == (
        40,
        100,
        1,
        1000,
    )
    assert page["updatedBy"] == {"email": "test-admin@example.com"}
    expiry = settings["password_reset_expiry_minutes"]
    assert (expiry["value"], expiry["updatedAt"], expiry["updatedBy"]) == (60, None, None)
    assert all(s["description"] for s in settings.values())
    json.dumps(settings)  # values are plain JSON
