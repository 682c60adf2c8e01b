"""An attacker's tour, objects: each finding of the Trust issue about reading what one may not
see, replayed as the attacker sent it. Each test failed before object rules covered every type
and every path (tests/test_object_visibility.py checks the same generally)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import pytest

from tests import factories as f
from tests import member_factories as mf
from tests.conftest import Cast

LOOT = """
query ($ids: [ID!]!) {
  nodes(ids: $ids) {
    id
    ... on Transaction { amount { amount } description account { lastFour balance { amount } } }
    ... on Account { lastFour balance { amount } }
    ... on Reward { amount { amount } status }
    ... on AbTest { name }
  }
}
"""


@dataclass(frozen=True)
class Victim:
    transactions: list[str]
    account: str
    reward: str
    ab_test: str
    paused_campaign: str


@pytest.fixture
async def victim(cast: Cast, conn: asyncpg.Connection) -> Victim:
    """The other member's money, and a staff-only A/B test on a PAUSED campaign."""
    assert cast.other_member.user_id is not None
    user = cast.other_member.user_id
    shop = await f.merchant(conn, "Corner Shop")
    paused = await f.campaign(conn, shop, name="Paused Secret", status="PAUSED")
    test = await mf.ab_test(conn, paused, name="Secret Test")
    account = await mf.account(conn, user, institution="Vault Bank", last_four="9876")
    transactions = []
    for n in range(3):
        transactions.append(
            await mf.transaction(
                conn,
                account,
                user,
                shop,
                amount_cents=4242 + n,
                occurred_at=datetime(2026, 5, 1 + n, tzinfo=UTC),
                description=f"victim buys {n}",
            )  # fmt: skip
        )
    reward = await mf.reward(
        conn, user, paused, transactions[0], amount_cents=777, status="EARNED",
        earned_at=datetime(2026, 5, 2, tzinfo=UTC),
    )  # fmt: skip
    return Victim(
        [f.gid("Transaction", t) for t in transactions],
        f.gid("Account", account),
        f.gid("Reward", reward),
        f.gid("AbTest", test),
        f.gid("Campaign", paused),
    )


MONEY = ("victim buys", "9876", "42.42", "7.77")


def _leaks(
    body: dict[str, object], secrets: tuple[str, ...] = (*MONEY, "Secret Test")
) -> list[str]:
    text = json.dumps(body.get("data"))
    return [s for s in secrets if s in text]


@pytest.mark.parametrize("attacker", ["member", "manager"])
async def test_nodes_gives_no_one_elses_money_or_staff_tests(
    cast: Cast, victim: Victim, attacker: str
) -> None:
    ids = [*victim.transactions, victim.account, victim.reward, victim.ab_test]

    body = await getattr(cast, attacker).gql(LOOT, {"ids": ids})

    # Staff may see A/B tests; nobody but the victim (and admins) their money.
    assert _leaks(body, MONEY if attacker == "manager" else (*MONEY, "Secret Test")) == []
    allowed = {"manager": {victim.ab_test}, "member": set()}[attacker]
    returned = {n["id"] for n in body["data"]["nodes"] if n is not None}
    assert returned == allowed
    codes = [e["extensions"]["code"] for e in body["errors"]]
    assert codes == ["FORBIDDEN"] * (len(ids) - len(allowed))


async def test_counting_through_ids_finds_only_ones_own_transactions(
    cast: Cast, victim: Victim, conn: asyncpg.Connection
) -> None:
    assert cast.member.user_id is not None
    account = await mf.account(conn, cast.member.user_id)
    mine = await mf.transaction(
        conn, account, cast.member.user_id, None, amount_cents=100,
        occurred_at=datetime(2026, 5, 9, tzinfo=UTC), description="mine",
    )  # fmt: skip
    # The attacker walks every primary key from 1 up, 100 IDs a request.
    ids = [f.gid("Transaction", pk) for pk in range(1, 101)]

    body = await cast.member.gql(LOOT, {"ids": ids})

    assert _leaks(body) == []
    returned = [n["id"] for n in body["data"]["nodes"] if n is not None]
    assert returned == [f.gid("Transaction", mine)]
    # Missing and forbidden IDs look the same: 99 FORBIDDEN errors, whichever existed.
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"] * 99
    assert len({e["message"] for e in body["errors"]}) == 1


async def test_a_reward_does_not_show_a_member_its_paused_campaign(
    cast: Cast, victim: Victim
) -> None:
    query = "{ me { rewards { nodes { campaign { name status budget { amount } } } } } }"

    body = await cast.other_member.gql(query)

    assert body["data"]["me"]["rewards"]["nodes"] == [{"campaign": None}]
    assert "Paused Secret" not in json.dumps(body)
    [error] = body["errors"]
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert error["path"] == ["me", "rewards", "nodes", 0, "campaign"]


async def test_an_ab_test_does_not_show_a_member_anything(cast: Cast, victim: Victim) -> None:
    query = "query ($id: ID!) { node(id: $id) { ... on AbTest { name campaign { name } } } }"

    body = await cast.member.gql(query, {"id": victim.ab_test})

    assert body["data"] == {"node": None}
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]


async def test_a_member_cannot_tell_existing_user_ids_from_missing_ones(cast: Cast) -> None:
    query = "query ($id: ID!) { user(id: $id) { name } }"
    assert cast.other_member.user_id is not None

    existing = await cast.member.gql(query, {"id": f.gid("User", cast.other_member.user_id)})
    missing = await cast.member.gql(query, {"id": f.gid("User", 99_999)})

    assert existing == missing
    assert [e["extensions"]["code"] for e in existing["errors"]] == ["FORBIDDEN"]
