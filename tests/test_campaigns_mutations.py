"""Creating, editing and deleting campaigns and merchants, and refusing bad input."""

from __future__ import annotations

from typing import Any

import asyncpg

from tests import factories as f
from tests.conftest import Api

FIELDS = "id name description status version rewardType rewardValue budget { amount currency }"
FIELDS += " startsAt endsAt merchant { name }"
ERRORS = "userErrors { field message code }"

CREATE = f"""
mutation ($input: CreateCampaignInput!) {{
  createCampaign(input: $input) {{ campaign {{ {FIELDS} }} {ERRORS} }}
}}
"""
UPDATE = f"""
mutation ($input: UpdateCampaignInput!) {{
  updateCampaign(input: $input) {{ campaign {{ {FIELDS} }} {ERRORS} }}
}}
"""
DELETE = f"""
mutation ($input: CampaignActionInput!) {{
  deleteCampaign(input: $input) {{ campaign {{ id status }} {ERRORS} }}
}}
"""


def valid_input(merchant_id: int, **overrides: Any) -> dict[str, Any]:
    return {
        "merchantId": f.gid("Merchant", merchant_id),
        "name": "Back to school",
        "description": "5% on books",
        "rewardType": "CASHBACK_PERCENT",
        "rewardValue": "5",
        "budget": "1000.50",
        "startsAt": "2030-01-01T00:00:00+00:00",
        "endsAt": "2030-02-01T00:00:00+00:00",
        **overrides,
    }


async def count_campaigns(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM campaigns"))


async def test_create_campaign_stores_a_draft_and_audits_it(
    api: Api, conn: asyncpg.Connection
) -> None:
    m = await f.merchant(conn, "Page Turner")
    data = (await api.data(CREATE, {"input": valid_input(m)}))["createCampaign"]

    assert data["userErrors"] == []
    campaign = data["campaign"]
    assert campaign["status"] == "DRAFT" and campaign["version"] == 1
    assert campaign["budget"] == {"amount": "1000.50", "currency": "USD"}
    assert campaign["rewardValue"] == "5.00"
    assert campaign["merchant"] == {"name": "Page Turner"}
    row = await conn.fetchrow("SELECT budget_cents, reward_value, name FROM campaigns")
    assert dict(row) == {"budget_cents": 100050, "reward_value": 500, "name": "Back to school"}
    [audit] = await f.audit_rows(conn)
    assert audit["action"] == "campaign.create" and audit["before"] is None
    assert audit["after"]["name"] == "Back to school"


async def test_create_campaign_reports_every_bad_field_and_writes_nothing(
    api: Api, conn: asyncpg.Connection
) -> None:
    m = await f.merchant(conn)
    cases = [
        ({"name": "   "}, ["name"], "BLANK"),
        ({"name": "x" * 201}, ["name"], "TOO_LONG"),
        ({"budget": "-1"}, ["budget"], "NEGATIVE"),
        ({"budget": "1.234"}, ["budget"], "INVALID"),
        ({"rewardValue": "150"}, ["rewardValue"], "INVALID"),
        ({"endsAt": "2029-12-31T00:00:00+00:00"}, ["endsAt"], "DATE_ORDER"),
        ({"merchantId": f.gid("Merchant", m + 1000)}, ["merchantId"], "NOT_FOUND"),
        ({"merchantId": "bogus"}, ["merchantId"], "INVALID_ID"),
        ({"merchantId": f.gid("Campaign", m)}, ["merchantId"], "INVALID_ID"),
        ({"currency": "dollars"}, ["currency"], "INVALID"),
    ]
    for overrides, field, code in cases:
        data = (await api.data(CREATE, {"input": valid_input(m, **overrides)}))["createCampaign"]
        assert data["campaign"] is None, overrides
        assert [(e["field"], e["code"]) for e in data["userErrors"]] == [(field, code)], overrides
        assert data["userErrors"][0]["message"]
    assert await count_campaigns(conn) == 0
    assert await f.audit_rows(conn) == []


async def test_create_campaign_collects_several_problems_at_once(
    api: Api, conn: asyncpg.Connection
) -> None:
    m = await f.merchant(conn)
    data = await api.data(CREATE, {"input": valid_input(m, name="", budget="-5")})
    codes = {e["code"] for e in data["createCampaign"]["userErrors"]}
    assert codes == {"BLANK", "NEGATIVE"}


async def test_update_changes_only_given_fields_and_bumps_version(
    api: Api, conn: asyncpg.Connection
) -> None:
    m = await f.merchant(conn)
    c = await f.campaign(conn, m, name="Old", budget_cents=5000)
    data = (
        await api.data(
            UPDATE, {"input": {"id": f.gid("Campaign", c), "name": "New", "expectedVersion": 1}}
        )
    )["updateCampaign"]
    assert data["userErrors"] == []
    assert data["campaign"]["name"] == "New"
    assert data["campaign"]["budget"]["amount"] == "50.00"
    assert data["campaign"]["version"] == 2
    [audit] = await f.audit_rows(conn, c)
    assert (audit["before"]["name"], audit["after"]["name"]) == ("Old", "New")


async def test_update_with_null_clears_dates(api: Api, conn: asyncpg.Connection) -> None:
    m = await f.merchant(conn)
    c = await f.campaign(conn, m)
    gid = f.gid("Campaign", c)
    await api.data(UPDATE, {"input": {"id": gid, "endsAt": "2031-01-01T00:00:00Z"}})
    data = (await api.data(UPDATE, {"input": {"id": gid, "endsAt": None}}))["updateCampaign"]
    assert data["campaign"]["endsAt"] is None
    assert await conn.fetchval("SELECT ends_at FROM campaigns") is None


async def test_update_with_stale_version_is_a_conflict_and_changes_nothing(
    api: Api, conn: asyncpg.Connection
) -> None:
    m = await f.merchant(conn)
    c = await f.campaign(conn, m, name="Mine")
    gid = f.gid("Campaign", c)
    await api.data(UPDATE, {"input": {"id": gid, "name": "Theirs", "expectedVersion": 1}})

    data = (await api.data(UPDATE, {"input": {"id": gid, "name": "Late", "expectedVersion": 1}}))[
        "updateCampaign"
    ]

    assert data["campaign"] is None
    assert [(e["field"], e["code"]) for e in data["userErrors"]] == [
        (["expectedVersion"], "VERSION_CONFLICT")
    ]
    assert await conn.fetchval("SELECT name FROM campaigns") == "Theirs"
    assert len(await f.audit_rows(conn, c)) == 1


async def test_update_refuses_bad_input_unknown_and_completed_campaigns(
    api: Api, conn: asyncpg.Connection
) -> None:
    m = await f.merchant(conn)
    c = await f.campaign(conn, m, starts_at=None)
    done = await f.campaign(conn, m, status="COMPLETED")
    cases = [
        ({"id": f.gid("Campaign", c), "budget": "-3"}, ["budget"], "NEGATIVE"),
        (
            {
                "id": f.gid("Campaign", c),
                "startsAt": "2030-02-01T00:00:00Z",
                "endsAt": "2030-01-01T00:00:00Z",
            },
            ["endsAt"],
            "DATE_ORDER",
        ),
        ({"id": f.gid("Campaign", 99999), "name": "x"}, ["id"], "NOT_FOUND"),
        ({"id": "%%%", "name": "x"}, ["id"], "INVALID_ID"),
        ({"id": f.gid("Campaign", done), "name": "x"}, None, "INVALID_TRANSITION"),
    ]
    for given, field, code in cases:
        data = (await api.data(UPDATE, {"input": given}))["updateCampaign"]
        assert [(e["field"], e["code"]) for e in data["userErrors"]] == [(field, code)], given
    assert await f.audit_rows(conn) == []


async def test_delete_removes_only_drafts(api: Api, conn: asyncpg.Connection) -> None:
    m = await f.merchant(conn)
    draft = await f.campaign(conn, m, status="DRAFT")
    active = await f.campaign(conn, m, status="ACTIVE")

    ok = (await api.data(DELETE, {"input": {"id": f.gid("Campaign", draft)}}))["deleteCampaign"]
    refused = (await api.data(DELETE, {"input": {"id": f.gid("Campaign", active)}}))[
        "deleteCampaign"
    ]

    assert ok == {"campaign": {"id": f.gid("Campaign", draft), "status": "DRAFT"}, "userErrors": []}
    assert refused["campaign"] is None
    assert refused["userErrors"][0]["code"] == "INVALID_TRANSITION"
    assert "ACTIVE" in refused["userErrors"][0]["message"]
    assert [r["id"] for r in await conn.fetch("SELECT id FROM campaigns")] == [active]
    assert [a["action"] for a in await f.audit_rows(conn)] == ["campaign.delete"]


MERCHANT = "merchant { id name category } userErrors { field code }"


async def test_create_and_update_merchant(api: Api, conn: asyncpg.Connection) -> None:
    created = (
        await api.data(
            f'mutation {{ createMerchant(input: {{name: " Cafe ", category: "Dining"}})'
            f" {{ {MERCHANT} }} }}"
        )
    )["createMerchant"]
    assert created["userErrors"] == []
    assert (created["merchant"]["name"], created["merchant"]["category"]) == ("Cafe", "Dining")

    update = f"""mutation ($input: UpdateMerchantInput!) {{ updateMerchant(input: $input)
                 {{ {MERCHANT} }} }}"""
    mid = created["merchant"]["id"]
    renamed = await api.data(update, {"input": {"id": mid, "name": "Cafe Bleu"}})
    assert renamed["updateMerchant"]["merchant"]["name"] == "Cafe Bleu"
    assert renamed["updateMerchant"]["merchant"]["category"] == "Dining"

    blank = (await api.data(update, {"input": {"id": mid, "category": ""}}))["updateMerchant"]
    assert blank["userErrors"] == [{"field": ["category"], "code": "BLANK"}]
    missing = await api.data(update, {"input": {"id": f.gid("Merchant", 999), "name": "Z"}})
    assert missing["updateMerchant"]["userErrors"] == [{"field": ["id"], "code": "NOT_FOUND"}]
    actions = [a["action"] for a in await f.audit_rows(conn)]
    assert actions == ["merchant.create", "merchant.update"]
    assert await conn.fetchval("SELECT category FROM merchants") == "Dining"
