"""Who may use what: every root field (read from the schema) x every kind of caller.

The expected outcomes are written here by hand, independently of schema/permissions.py, so a
rule changed by mistake fails; a root field added without a rule or without a row here fails
too, with a message naming the line to add.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from schema import schema
from schema.permissions import RULES, root_coordinates
from tests import factories as f
from tests.conftest import Api, Cast
from tests.streams import Stream

D, F, U = "data", "FORBIDDEN", "UNAUTHENTICATED"
CALLERS = ("anonymous", "member", "other_member", "manager", "admin")


@dataclass(frozen=True)
class Case:
    document: str
    # Outcome for: anonymous, member (the subject), other member, manager, admin.
    expected: tuple[str, str, str, str, str]
    # Text of the subject's data that must not appear in a FORBIDDEN or UNAUTHENTICATED answer.
    secret: str | None = None


SUBJECT_USER = "query ($member: ID!) { %s(id: $member) { id ... on User { name } } }"

CASES: dict[str, Case] = {
    "Query.abTest": Case(
        "query ($test: ID!) { abTest(id: $test) { id name } }", (U, F, F, D, D), "Secret Test"
    ),
    "Query.abTests": Case("{ abTests { totalCount } }", (U, F, F, D, D)),
    "Query.admin": Case("{ admin { settings { key } } }", (U, F, F, F, D)),
    "Query.affinitySummary": Case("{ affinitySummary { users } }", (U, F, F, D, D)),
    "Query.campaign": Case(
        "query ($draft: ID!) { campaign(id: $draft) { id name } }", (U, F, F, D, D), "Secret Draft"
    ),
    "Query.campaigns": Case("{ campaigns { totalCount } }", (U, D, D, D, D)),
    "Query.me": Case("{ me { id name } }", (U, D, D, D, D)),
    "Query.merchants": Case("{ merchants { totalCount } }", (U, D, D, D, D)),
    "Query.node": Case(SUBJECT_USER % "node", (U, D, F, D, D), "Mia Member"),
    "Query.nodes": Case(
        "query ($member: ID!) { nodes(ids: [$member]) { id ... on User { name } } }",
        (U, D, F, D, D),
        "Mia Member",
    ),
    "Query.user": Case(SUBJECT_USER % "user", (U, D, F, D, D), "Mia Member"),
    # Subscriptions: D is "subscribed" (the stream waits for events); run in-process below.
    "Subscription.auditLogAppended": Case(
        "subscription { auditLogAppended { action } }", (U, F, F, F, D)
    ),
    "Subscription.campaignStatusChanged": Case(
        "subscription { campaignStatusChanged { status } }", (U, D, D, D, D)
    ),
    "Mutation.completeCampaign": Case(
        "mutation ($active: ID!) { completeCampaign(input: {id: $active}) { campaign { id } } }",
        (U, F, F, D, D),
    ),
    "Mutation.completePasswordReset": Case(
        'mutation { completePasswordReset(input: {token: "nope", newPassword: "long enough '
        'password"}) { userErrors { code } } }',
        (D, D, D, D, D),
    ),
    "Mutation.createCampaign": Case(
        "mutation ($merchant: ID!) { createCampaign(input: {merchantId: $merchant, name: "
        '"New", rewardType: FIXED_AMOUNT, rewardValue: "1", budget: "10"}) { campaign { id } } }',
        (U, F, F, D, D),
    ),
    "Mutation.createMerchant": Case(
        'mutation { createMerchant(input: {name: "N", category: "C"}) { merchant { id } } }',
        (U, F, F, D, D),
    ),
    "Mutation.createUser": Case(
        'mutation { createUser(input: {email: "new@example.com", name: "New", role: MEMBER, '
        'password: "a long enough password"}) { user { id } userErrors { code } } }',
        (U, F, F, F, D),
    ),
    "Mutation.deleteCampaign": Case(
        "mutation ($draft: ID!) { deleteCampaign(input: {id: $draft}) { campaign { id } } }",
        (U, F, F, D, D),
    ),
    "Mutation.launchCampaign": Case(
        "mutation ($draft: ID!) { launchCampaign(input: {id: $draft}) { campaign { id } } }",
        (U, F, F, D, D),
    ),
    "Mutation.login": Case(
        'mutation ($password: String!) { login(input: {email: "member@example.com", '
        "password: $password}) { token userErrors { code } } }",
        (D, D, D, D, D),
    ),
    "Mutation.logout": Case(
        "mutation { logout(input: {}) { endedSessions } }",
        (U, D, D, D, D),
    ),
    "Mutation.pauseCampaign": Case(
        "mutation ($active: ID!) { pauseCampaign(input: {id: $active}) { campaign { id } } }",
        (U, F, F, D, D),
    ),
    "Mutation.refreshToken": Case(
        'mutation { refreshToken(input: {refreshToken: "nope"}) { token userErrors { code } } }',
        (D, D, D, D, D),
    ),
    "Mutation.resetUserPassword": Case(
        "mutation ($member: ID!) { resetUserPassword(input: {userId: $member}) { token } }",
        (U, F, F, F, D),
    ),
    "Mutation.setUserStatus": Case(
        "mutation ($member: ID!) { setUserStatus(input: {userId: $member, status: ACTIVE}) "
        "{ user { id } } }",
        (U, F, F, F, D),
    ),
    "Mutation.updateCampaign": Case(
        'mutation ($draft: ID!) { updateCampaign(input: {id: $draft, name: "Renamed"}) '
        "{ campaign { id } } }",
        (U, F, F, D, D),
    ),
    "Mutation.updateMerchant": Case(
        'mutation ($merchant: ID!) { updateMerchant(input: {id: $merchant, name: "R"}) '
        "{ merchant { id } } }",
        (U, F, F, D, D),
    ),
    "Mutation.updateSettings": Case(
        'mutation { updateSettings(input: {settings: [{key: "max_page_size", value: 50}]}) '
        "{ settings { key } } }",
        (U, F, F, F, D),
    ),
    "Mutation.updateUser": Case(
        'mutation ($member: ID!) { updateUser(input: {id: $member, name: "Mia M"}) '
        "{ user { id } } }",
        (U, F, F, F, D),
    ),
}

# Object fields with their own rule: asked about the subject member.
ACTIVE_CAMPAIGN = "query ($active: ID!) { campaign(id: $active) { id %s } }"
SUBJECT_FIELD = "query ($member: ID!) { user(id: $member) { id %s } }"
OBJECT_FIELD_CASES: dict[str, Case] = {
    "Campaign.abTests": Case(ACTIVE_CAMPAIGN % "abTests { name }", (U, F, F, D, D), "Secret Test"),
    "Campaign.analyticsSummary": Case(
        ACTIVE_CAMPAIGN % "analyticsSummary { days }", (U, F, F, D, D)
    ),
    "Campaign.dailyAnalytics": Case(ACTIVE_CAMPAIGN % "dailyAnalytics { day }", (U, F, F, D, D)),
    "Campaign.rewards": Case(ACTIVE_CAMPAIGN % "rewards { totalCount }", (U, F, F, F, D)),
    "User.accounts": Case(
        SUBJECT_FIELD % "accounts { institution }", (U, D, F, F, D), "Vault Bank"
    ),
    "User.email": Case(SUBJECT_FIELD % "email", (U, D, F, F, D), "member@example.com"),
    "User.merchantAffinities": Case(
        SUBJECT_FIELD % "merchantAffinities { score }", (U, D, F, F, D)
    ),
    "User.rewards": Case(SUBJECT_FIELD % "rewards { totalCount }", (U, D, F, F, D)),
    "User.rewardsSummary": Case(
        SUBJECT_FIELD % "rewardsSummary { earned { amount } }", (U, D, F, F, D)
    ),
    "User.spending": Case(
        SUBJECT_FIELD % 'spending(from: "2026-01-01", to: "2026-01-31", groupBy: CATEGORY) { key }',
        (U, D, F, F, D),
    ),
    "User.transactions": Case(SUBJECT_FIELD % "transactions { totalCount }", (U, D, F, F, D)),
}
# Fields that must never be readable by just any signed-in user.
SENSITIVE_FIELDS = (
    "User.email",
    "User.accounts",
    "User.transactions",
    "User.rewards",
    "User.rewardsSummary",
    "User.spending",
    "User.merchantAffinities",
)

ROOT_FIELDS = root_coordinates(schema)


def _add_rule_hint(coordinate: str) -> str:
    return (
        f"{coordinate} has no access rule. Add a line to RULES in schema/permissions.py, e.g. "
        f'`"{coordinate}": SIGNED_IN,` (or ANYONE, STAFF, ADMIN, SELF_OR_ADMIN from '
        f"resolvers/auth.py), and its expected outcomes to CASES in {__name__.replace('.', '/')}.py"
    )


def test_every_root_field_has_a_rule() -> None:
    missing = [c for c in ROOT_FIELDS if c not in RULES]
    assert not missing, "\n".join(_add_rule_hint(c) for c in missing)


def test_every_rule_names_a_field_that_exists() -> None:
    fields = {
        f"{name}.{field}"
        for name, type_ in schema._schema.type_map.items()
        for field in getattr(type_, "fields", {})
    }
    assert sorted(set(RULES) - fields) == []


def test_sensitive_and_object_field_rules_each_have_a_case() -> None:
    object_rules = {c for c in RULES if c not in ROOT_FIELDS}
    unruled = [c for c in SENSITIVE_FIELDS if c not in object_rules]
    assert not unruled, "\n".join(
        f'{c} is sensitive: add `"{c}": SELF_OR_ADMIN,` to RULES in schema/permissions.py'
        for c in unruled
    )
    untested = sorted(object_rules - set(OBJECT_FIELD_CASES))
    assert not untested, "\n".join(
        f"{c} has a rule but no expected outcomes: add a Case for it to OBJECT_FIELD_CASES "
        f"in {__name__.replace('.', '/')}.py"
        for c in untested
    )
    assert sorted(set(OBJECT_FIELD_CASES) - object_rules) == []


@dataclass(frozen=True)
class World:
    variables: dict[str, Any]


@pytest.fixture
async def world(cast: Cast, conn: asyncpg.Connection) -> World:
    merchant = await f.merchant(conn, "Corner Shop")
    draft = await f.campaign(conn, merchant, name="Secret Draft")
    active = await f.campaign(conn, merchant, name="Live Offer", status="ACTIVE")
    test = await conn.fetchval(
        "INSERT INTO ab_tests (campaign_id, name) VALUES ($1, 'Secret Test') RETURNING id", active
    )
    assert cast.member.user_id is not None
    await conn.execute(
        "INSERT INTO accounts (user_id, kind, institution, last_four)"
        " VALUES ($1, 'CHECKING', 'Vault Bank', '1234')",
        cast.member.user_id,
    )
    return World(
        {
            "member": f.gid("User", cast.member.user_id),
            "merchant": f.gid("Merchant", merchant),
            "draft": f.gid("Campaign", draft),
            "active": f.gid("Campaign", active),
            "test": f.gid("AbTest", test),
            "password": f.PASSWORD,
        }
    )


def _used_variables(document: str, variables: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in variables.items() if f"${k}" in document}


def _outcome(body: dict[str, Any], key: str) -> str:
    codes = {
        e.get("extensions", {}).get("code")
        for e in body.get("errors", [])
        if e.get("path") and e["path"][0] == key
    }
    if U in codes:
        return U
    if F in codes:
        return F
    assert not codes, body
    assert (body.get("data") or {}).get(key) is not None, body
    return D


async def _run_case(cast: Cast, world: World, coordinate: str, case: Case) -> list[str]:
    key = coordinate.split(".")[1] if coordinate in ROOT_FIELDS else _root_key(case.document)
    wrong = []
    for caller, expected in zip(CALLERS, case.expected, strict=True):
        client: Api = getattr(cast, caller)
        variables = _used_variables(case.document, world.variables)
        if coordinate.startswith("Subscription."):
            got = await _subscription_outcome(client, case.document, variables)
            if got != expected:
                wrong.append(f"{coordinate} as {caller}: expected {expected}, got {got}")
            continue
        body = await client.gql(case.document, variables)
        got = _outcome(body, key)
        if got != expected:
            wrong.append(f"{coordinate} as {caller}: expected {expected}, got {got}: {body}")
        if got != D and case.secret is not None:
            assert case.secret not in json.dumps(body.get("data")), (coordinate, caller, body)
    return wrong


async def _subscription_outcome(client: Api, document: str, variables: dict[str, Any]) -> str:
    """D once the stream holds a subscription in the app's hub, else its refusal's code."""
    stream = await Stream.open(client, document, variables)
    await stream.close()
    return stream.refused or D


def _root_key(document: str) -> str:
    return document.split("{", 2)[1].split("(")[0].strip()


@pytest.mark.parametrize("coordinate", ROOT_FIELDS)
async def test_root_field_access(coordinate: str, cast: Cast, world: World) -> None:
    case = CASES.get(coordinate)
    if case is None:
        pytest.fail(_add_rule_hint(coordinate))
    assert await _run_case(cast, world, coordinate, case) == []


@pytest.mark.parametrize("coordinate", sorted(OBJECT_FIELD_CASES))
async def test_object_field_access(coordinate: str, cast: Cast, world: World) -> None:
    case = OBJECT_FIELD_CASES[coordinate]
    assert await _run_case(cast, world, coordinate, case) == []


def test_every_case_names_a_root_field() -> None:
    assert sorted(set(CASES) - set(ROOT_FIELDS)) == []
