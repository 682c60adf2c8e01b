"""Object-level rules: which users and campaigns each viewer may see, and who sees emails."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import asyncpg

from tests import factories as f
from tests.conftest import Api, Cast, repo_root

CAMPAIGNS = """
query ($filter: CampaignFilter) {
  campaigns(filter: $filter) { totalCount nodes { name status } }
}
"""


async def test_a_member_lists_active_campaigns_only(cast: Cast, conn: asyncpg.Connection) -> None:
    m = await f.merchant(conn)
    for name, status in (("Draft", "DRAFT"), ("Live", "ACTIVE"), ("Paused", "PAUSED")):
        await f.campaign(conn, m, name=name, status=status)

    mine = (await cast.member.data(CAMPAIGNS))["campaigns"]
    asked_for_drafts = await cast.member.data(CAMPAIGNS, {"filter": {"status": ["DRAFT"]}})
    staff = (await cast.manager.data(CAMPAIGNS))["campaigns"]

    assert mine == {"totalCount": 1, "nodes": [{"name": "Live", "status": "ACTIVE"}]}
    assert asked_for_drafts["campaigns"] == {"totalCount": 0, "nodes": []}
    assert staff["totalCount"] == 3


async def test_nodes_hides_what_a_member_may_not_see_item_by_item(
    cast: Cast, conn: asyncpg.Connection
) -> None:
    m = await f.merchant(conn, "Corner Shop")
    live = await f.campaign(conn, m, name="Live", status="ACTIVE")
    draft = await f.campaign(conn, m, name="Hidden Draft")
    assert cast.member.user_id and cast.other_member.user_id
    ids = [
        f.gid("User", cast.member.user_id),
        f.gid("User", cast.other_member.user_id),
        f.gid("Campaign", live),
        f.gid("Campaign", draft),
        f.gid("Merchant", m),
    ]
    query = """query ($ids: [ID!]!) { nodes(ids: $ids) {
      id ... on User { name } ... on Campaign { name } ... on Merchant { name } } }"""

    body = await cast.member.gql(query, {"ids": ids})

    assert body["data"]["nodes"] == [
        {"id": ids[0], "name": "Mia Member"},
        None,
        {"id": ids[2], "name": "Live"},
        None,
        {"id": ids[4], "name": "Corner Shop"},
    ]
    assert sorted((e["path"], e["extensions"]["code"]) for e in body["errors"]) == [
        (["nodes", 1], "FORBIDDEN"),
        (["nodes", 3], "FORBIDDEN"),
    ]
    assert "Otto" not in json.dumps(body) and "Hidden Draft" not in json.dumps(body)


async def test_only_the_user_and_admins_see_an_email(cast: Cast) -> None:
    assert cast.member.user_id is not None
    query = "query ($id: ID!) { user(id: $id) { name email } }"
    variables = {"id": f.gid("User", cast.member.user_id)}

    by_manager = await cast.manager.gql(query, variables)
    by_self = await cast.member.data(query, variables)
    by_admin = await cast.admin.data(query, variables)

    assert by_manager["data"] == {"user": {"name": "Mia Member", "email": None}}
    assert [(e["path"], e["extensions"]["code"]) for e in by_manager["errors"]] == [
        (["user", "email"], "FORBIDDEN")
    ]
    assert by_self["user"]["email"] == by_admin["user"]["email"] == "member@example.com"


async def test_login_payload_shows_the_signed_in_users_email(cast: Cast) -> None:
    login = """mutation ($password: String!) {
      login(input: {email: "member@example.com", password: $password}) { user { email } } }"""
    data = await cast.anonymous.data(login, {"password": f.PASSWORD})
    assert data["login"]["user"]["email"] == "member@example.com"


async def test_a_member_sees_a_campaign_but_not_its_staff_creator(
    cast: Cast, conn: asyncpg.Connection
) -> None:
    assert cast.manager.user_id is not None
    c = await f.campaign(
        conn, await f.merchant(conn), status="ACTIVE", created_by=cast.manager.user_id
    )
    query = "query ($id: ID!) { campaign(id: $id) { status createdBy { name } } }"
    body = await cast.member.gql(query, {"id": f.gid("Campaign", c)})
    assert body["data"] == {"campaign": {"status": "ACTIVE", "createdBy": None}}
    assert [e["path"] for e in body["errors"]] == [["campaign", "createdBy"]]


def _create_user_cli(dsn: str, password: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": dsn}
    return subprocess.run(
        [sys.executable, "server.py", "create-user", *args, "--password-stdin"],
        input=password + "\n",
        capture_output=True,
        text=True,
        cwd=repo_root(),
        env=env,
        timeout=60,
        check=False,
    )


async def test_create_user_command_bootstraps_an_admin_who_can_sign_in(
    anon: Api, db_dsn: str, conn: asyncpg.Connection
) -> None:
    args = ("--email", "root@example.com", "--name", "Root", "--role", "ADMIN")
    done = _create_user_cli(db_dsn, "bootstrap passphrase", *args)
    assert done.returncode == 0, done.stderr
    assert "created ADMIN user root@example.com" in done.stdout

    login = """mutation { login(input: {email: "root@example.com",
      password: "bootstrap passphrase"}) { user { role } } }"""
    assert (await anon.data(login))["login"]["user"] == {"role": "ADMIN"}
    [row] = [r for r in await f.audit_rows(conn) if r["action"] == "user.create"]
    assert (row["actor_id"], row["request_id"]) == (None, "cli:create-user")

    again = _create_user_cli(db_dsn, "bootstrap passphrase", *args)
    assert again.returncode == 1
    assert "EMAIL_TAKEN" in again.stderr
    weak = _create_user_cli(
        db_dsn, "short", "--email", "x@example.com", "--name", "X", "--role", "MEMBER"
    )
    assert weak.returncode == 1 and "WEAK_PASSWORD" in weak.stderr
