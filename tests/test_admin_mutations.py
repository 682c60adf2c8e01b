"""Admin mutations: settings, users; each writes its audit row in its own transaction."""

from __future__ import annotations

from typing import Any

import asyncpg

from tests import factories as f
from tests.conftest import Api

UPDATE_SETTINGS = """
mutation ($settings: [SettingChange!]!) {
  updateSettings(input: {settings: $settings}) {
    settings { key value updatedBy { email } } userErrors { field message code }
  }
}
"""
CREATE_USER = """
mutation ($email: String!, $name: String!, $role: Role!, $password: String!) {
  createUser(input: {email: $email, name: $name, role: $role, password: $password}) {
    user { id email name role status } userErrors { field message code }
  }
}
"""
UPDATE_USER = """
mutation ($id: ID!, $name: String, $role: Role) {
  updateUser(input: {id: $id, name: $name, role: $role}) {
    user { name role } userErrors { field message code }
  }
}
"""
SET_STATUS = """
mutation ($id: ID!, $status: UserStatus!) {
  setUserStatus(input: {userId: $id, status: $status}) {
    user { status } userErrors { field message code }
  }
}
"""


async def _settings(conn: asyncpg.Connection) -> dict[str, Any]:
    return {r["key"]: r["value"] for r in await conn.fetch("SELECT key, value FROM settings")}


async def test_update_settings_writes_values_and_one_audit_row(
    api: Api, conn: asyncpg.Connection
) -> None:
    changes = [
        {"key": "max_page_size", "value": 25},
        {"key": "password_reset_expiry_minutes", "value": 30},
    ]
    payload = (await api.data(UPDATE_SETTINGS, {"settings": changes}))["updateSettings"]
    admin = {"email": "test-admin@example.com"}
    assert payload == {
        "settings": [
            {"key": "max_page_size", "value": 25, "updatedBy": admin},
            {"key": "password_reset_expiry_minutes", "value": 30, "updatedBy": admin},
        ],
        "userErrors": [],
    }
    assert await _settings(conn) == {"max_page_size": 25, "password_reset_expiry_minutes": 30}
    [row] = await f.audit_rows(conn)
    assert (row["action"], row["actor_id"]) == ("settings.update", api.user_id)
    assert row["before"] == {"max_page_size": 100, "password_reset_expiry_minutes": 60}
    assert row["after"] == {"max_page_size": 25, "password_reset_expiry_minutes": 30}
    # The new cap applies at once.
    body = await api.gql("{ merchants(first: 26) { totalCount } }")
    assert "at most 25" in body["errors"][0]["message"]


async def test_update_settings_is_all_or_nothing(api: Api, conn: asyncpg.Connection) -> None:
    changes = [
        {"key": "max_page_size", "value": 50},
        {"key": "no_such_setting", "value": 1},
        {"key": "password_reset_expiry_minutes", "value": 1},
        {"key": "max_page_size", "value": "ten"},
        {"key": "max_page_size", "value": 7},
    ]
    payload = (await api.data(UPDATE_SETTINGS, {"settings": changes}))["updateSettings"]
    assert payload["settings"] == []
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        (["settings", "1", "key"], "UNKNOWN_SETTING"),
        (["settings", "2", "value"], "INVALID"),
        (["settings", "3", "key"], "INVALID"),
        (["settings", "4", "key"], "INVALID"),
    ]
    messages = [e["message"] for e in payload["userErrors"]]
    assert "max_page_size" in messages[0] and "password_reset_expiry_minutes" in messages[0]
    assert messages[1] == "password_reset_expiry_minutes must be between 5 and 10080 (got 1)"
    assert await _settings(conn) == {}
    assert await f.audit_rows(conn) == []


async def test_update_settings_refuses_wrong_types(api: Api, conn: asyncpg.Connection) -> None:
    for value in ("10", 10.5, True, [10], {"n": 10}):
        changes = [{"key": "max_page_size", "value": value}]
        errors = (await api.data(UPDATE_SETTINGS, {"settings": changes}))["updateSettings"][
            "userErrors"
        ]
        assert errors == [
            {
                "field": ["settings", "0", "value"],
                "message": "max_page_size must be an integer",
                "code": "INVALID",
            }
        ], value
    empty = (await api.data(UPDATE_SETTINGS, {"settings": []}))["updateSettings"]["userErrors"]
    assert [e["code"] for e in empty] == ["BLANK"]
    assert await _settings(conn) == {}


async def test_create_user_then_sign_in_with_the_new_account(
    api: Api, conn: asyncpg.Connection
) -> None:
    variables = {
        "email": "new.manager@example.com",
        "name": "  Nia  ",
        "role": "MANAGER",
        "password": "a long enough password",
    }
    payload = (await api.data(CREATE_USER, variables))["createUser"]
    assert payload["userErrors"] == []
    assert {k: payload["user"][k] for k in ("email", "name", "role", "status")} == {
        "email": "new.manager@example.com",
        "name": "Nia",
        "role": "MANAGER",
        "status": "ACTIVE",
    }
    login = """mutation { login(input: {email: "new.manager@example.com",
      password: "a long enough password"}) { user { id } } }"""
    assert (await api.anonymous().data(login))["login"]["user"]["id"] == payload["user"]["id"]
    [row] = await f.audit_rows(conn)
    assert (row["action"], row["actor_id"], row["after"]["email"]) == (
        "user.create",
        api.user_id,
        "new.manager@example.com",
    )
    assert "password" not in str(row)


async def test_create_user_refuses_a_taken_email_in_any_case(
    api: Api, conn: asyncpg.Connection
) -> None:
    await f.user(conn, "mia@example.com")
    variables = {
        "email": "MIA@Example.com",
        "name": "Imposter",
        "role": "MEMBER",
        "password": "a long enough password",
    }
    payload = (await api.data(CREATE_USER, variables))["createUser"]
    assert payload == {
        "user": None,
        "userErrors": [
            {"field": ["email"], "message": "Another user has this email", "code": "EMAIL_TAKEN"}
        ],
    }
    assert await conn.fetchval("SELECT count(*) FROM users") == 2  # test admin + mia


async def test_create_user_reports_every_bad_field(api: Api, conn: asyncpg.Connection) -> None:
    variables = {"email": "not-an-email", "name": "  ", "role": "MEMBER", "password": "short"}
    payload = (await api.data(CREATE_USER, variables))["createUser"]
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        (["email"], "INVALID"),
        (["name"], "BLANK"),
        (["password"], "WEAK_PASSWORD"),
    ]
    assert await f.audit_rows(conn) == []


async def test_update_user_changes_name_and_role_with_audit(
    api: Api, conn: asyncpg.Connection
) -> None:
    uid = await f.user(conn, name="Mia", role="MEMBER")
    variables = {"id": f.gid("User", uid), "name": "Mia Manager", "role": "MANAGER"}
    payload = (await api.data(UPDATE_USER, variables))["updateUser"]
    assert payload == {"user": {"name": "Mia Manager", "role": "MANAGER"}, "userErrors": []}
    [row] = await f.audit_rows(conn, uid)
    assert (row["action"], row["before"], row["after"]) == (
        "user.update",
        {"name": "Mia", "role": "MEMBER"},
        {"name": "Mia Manager", "role": "MANAGER"},
    )
    only_name = await api.data(UPDATE_USER, {"id": f.gid("User", uid), "name": "M"})
    assert only_name["updateUser"]["user"] == {"name": "M", "role": "MANAGER"}


async def test_update_user_without_a_change_writes_no_audit_row(
    api: Api, conn: asyncpg.Connection
) -> None:
    uid = await f.user(conn, name="Mia", role="MEMBER")
    same = {"id": f.gid("User", uid), "name": "Mia", "role": "MEMBER"}
    payload = (await api.data(UPDATE_USER, same))["updateUser"]
    assert payload == {"user": {"name": "Mia", "role": "MEMBER"}, "userErrors": []}
    assert await f.audit_rows(conn, uid) == []


async def test_admins_cannot_lock_themselves_out(api: Api, conn: asyncpg.Connection) -> None:
    me = f.gid("User", api.user_id)
    demote = (await api.data(UPDATE_USER, {"id": me, "role": "MEMBER"}))["updateUser"]
    disable = (await api.data(SET_STATUS, {"id": me, "status": "DISABLED"}))["setUserStatus"]
    assert [e["code"] for e in demote["userErrors"]] == ["SELF_LOCKOUT"]
    assert [e["code"] for e in disable["userErrors"]] == ["SELF_LOCKOUT"]
    row = await conn.fetchrow("SELECT role, status FROM users WHERE id = $1", api.user_id)
    assert (row["role"], row["status"]) == ("ADMIN", "ACTIVE")


async def test_set_user_status_is_audited(api: Api, conn: asyncpg.Connection) -> None:
    uid = await f.user(conn)
    payload = await api.data(SET_STATUS, {"id": f.gid("User", uid), "status": "DISABLED"})
    assert payload["setUserStatus"] == {"user": {"status": "DISABLED"}, "userErrors": []}
    [row] = await f.audit_rows(conn, uid)
    assert (row["action"], row["actor_id"], row["before"], row["after"]) == (
        "user.set_status",
        api.user_id,
        {"status": "ACTIVE"},
        {"status": "DISABLED"},
    )


async def test_user_mutations_refuse_unknown_users(api: Api) -> None:
    ghost = f.gid("User", 999999)
    update = (await api.data(UPDATE_USER, {"id": ghost, "name": "X"}))["updateUser"]
    status = (await api.data(SET_STATUS, {"id": ghost, "status": "ACTIVE"}))["setUserStatus"]
    assert [(e["field"], e["code"]) for e in update["userErrors"]] == [(["id"], "NOT_FOUND")]
    assert [(e["field"], e["code"]) for e in status["userErrors"]] == [(["userId"], "NOT_FOUND")]


async def test_campaign_transitions_are_audited_with_actor_and_request_id(
    api: Api, conn: asyncpg.Connection
) -> None:
    manager = api.as_user(await f.user(conn, "mgr@example.com", role="MANAGER"))
    c = await f.campaign(conn, await f.merchant(conn))
    doc = "mutation ($id: ID!) { %s(input: {id: $id}) { userErrors { code } } }"
    for i, verb in enumerate(("launchCampaign", "pauseCampaign", "completeCampaign")):
        data = await manager.data(
            doc % verb, {"id": f.gid("Campaign", c)}, headers={"X-Request-ID": f"r{i}"}
        )
        assert data[verb]["userErrors"] == []
    rows = await f.audit_rows(conn, c)
    assert [(r["action"], r["actor_id"], r["client_request_id"]) for r in rows] == [
        ("campaign.launch", manager.user_id, "r0"),
        ("campaign.pause", manager.user_id, "r1"),
        ("campaign.complete", manager.user_id, "r2"),
    ]
    # The request id is the server's own, a different one for each request.
    assert len({r["request_id"] for r in rows}) == 3
    assert all(len(r["request_id"]) == 32 for r in rows)
