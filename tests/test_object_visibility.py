"""Who sees which object, on every path: generated from the schema.

For every object type the schema has, a rule or a reason it needs none; for every field that
returns a guarded type (alone, in a list or a connection), a query generated from each root
field that reaches it, run as each caller (anonymous, the member who owns the data, another
member, a manager, an admin). Every object in every answer must be one that caller may see
according to VISIBLE below, written here by hand independently of schema/permissions.py; every
field must return data to the admin on at least one path (so no path is checked vacuously).
`node`/`nodes` are checked exactly: each world object is returned when, and only when, the
caller may see it, and a missing ID is answered like a forbidden one to anyone who may not see
every object of its type.

A new object type or a new field returning one fails here with the line to add.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from graphql import (
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLUnionType,
)

from db.users import Role, UserRow, UserStatus
from resolvers.errors import Forbidden
from resolvers.visibility import Owned
from schema import schema
from schema.common import Connection, Edge, Money, PageInfo
from schema.members import Transaction
from schema.permissions import CONTAINERS, OBJECT_RULES, STREAMS, Guard
from tests import factories as f
from tests import member_factories as mf
from tests.conftest import Cast
from tests.streams import Stream

CALLERS = ("anonymous", "member", "other_member", "manager", "admin")
STAFF = ("manager", "admin")
ROOT = "Query"


@dataclass(frozen=True)
class Facts:
    """What a rule may look at: who owns the object (a caller name) and a campaign's status."""

    owner: str | None = None
    status: str | None = None


def _staff(caller: str, facts: Facts) -> bool:
    return caller in STAFF


def _admin(caller: str, facts: Facts) -> bool:
    return caller == "admin"


def _owner_or_admin(caller: str, facts: Facts) -> bool:
    return caller == "admin" or facts.owner == caller


# The expected rules, by GraphQL type name (anonymous callers see nothing).
VISIBLE: dict[str, Callable[[str, Facts], bool]] = {
    "AbTest": _staff,
    "AbTestResult": _staff,
    "AbTestVariant": _staff,
    "Account": _owner_or_admin,
    "Admin": _admin,
    "AdminHealth": _admin,
    "AffinitySummary": _staff,
    "AnalyticsSummary": _staff,
    "AuditLogEntry": _admin,
    "Campaign": lambda caller, facts: caller in STAFF or facts.status == "ACTIVE",
    "DailyAnalytics": _staff,
    "Merchant": lambda caller, facts: True,
    "MerchantAffinity": _owner_or_admin,
    "MerchantScore": _staff,
    "Reward": _owner_or_admin,
    "RewardsSummary": _owner_or_admin,
    "Setting": _admin,
    "SpendingBucket": _owner_or_admin,
    "Transaction": _owner_or_admin,
    "User": lambda caller, facts: caller in STAFF or facts.owner == caller,
}

# Values for the required arguments of fields on generated paths, by schema coordinate.
ARGUMENTS: dict[str, str] = {
    "Query.abTest": "(id: $abTest)",
    "Query.campaign": "(id: $pausedCampaign)",
    "Query.user": "(id: $member)",
    "User.spending": '(from: "2026-01-01", to: "2026-12-31", groupBy: MERCHANT)',
}
VARIABLE_TYPES = {"abTest": "ID!", "pausedCampaign": "ID!", "member": "ID!"}
# Checked exactly, object by object, in test_node_and_nodes_answer_each_object_by_its_rule.
BY_ID_ROOTS = ("Query.node", "Query.nodes")

GRAPHQL = schema._schema


def _named(type_: Any) -> Any:
    while isinstance(type_, (GraphQLNonNull, GraphQLList)):
        type_ = type_.of_type
    return type_


def _definition(type_: Any) -> Any:
    return (getattr(type_, "extensions", None) or {}).get("strawberry-definition")


def _is_container_generic(type_: GraphQLObjectType) -> bool:
    definition = _definition(type_)
    concrete = definition.concrete_of if definition is not None else None
    return concrete is not None and concrete.origin in (Connection, Edge)


def _guarded_names() -> set[str]:
    return {
        name
        for name, type_ in GRAPHQL.type_map.items()
        if isinstance(type_, GraphQLObjectType) and _definition(type_) is not None
        and _definition(type_).origin in OBJECT_RULES
    }  # fmt: skip


GUARDED = _guarded_names()


def _object_names(type_: Any) -> set[str]:
    """The object types a value of this type may be; for a connection, its nodes'."""
    if isinstance(type_, (GraphQLInterfaceType, GraphQLUnionType)):
        return {t.name for t in GRAPHQL.get_possible_types(type_)}
    if isinstance(type_, GraphQLObjectType) and _is_container_generic(type_):
        if "nodes" not in type_.fields:  # an edge: only inside a connection
            return set()
        return _object_names(_named(type_.fields["nodes"].type))
    return {type_.name} if isinstance(type_, GraphQLObjectType) else set()


def _returns_guarded(field_def: GraphQLField) -> bool:
    return bool(_object_names(_named(field_def.type)) & GUARDED)


def _object_types() -> Iterator[GraphQLObjectType]:
    roots = {GRAPHQL.query_type, GRAPHQL.mutation_type, GRAPHQL.subscription_type}
    for name, type_ in sorted(GRAPHQL.type_map.items()):
        if (
            isinstance(type_, GraphQLObjectType)
            and not name.startswith("__")
            and type_ not in roots
        ):
            yield type_


def _guarded_coordinates() -> list[str]:
    """Every field returning a guarded type, alone, in a list, through an interface or in a
    connection; not the fields of connections and edges themselves, which are checked with
    their connection where it is returned."""
    out = []
    for name, type_ in sorted(GRAPHQL.type_map.items()):
        if (
            isinstance(type_, GraphQLObjectType)
            and not name.startswith("__")
            and not _is_container_generic(type_)
        ):
            out.extend(f"{name}.{fn}" for fn, fd in type_.fields.items() if _returns_guarded(fd))
    return out


# --- every type and every field has a rule ---------------------------------------------------


def test_every_object_type_has_a_rule_or_a_reason_it_needs_none() -> None:
    missing = [
        t.name
        for t in _object_types()
        if t.name not in GUARDED and t.name not in CONTAINERS and not _is_container_generic(t)
    ]
    assert not missing, "\n".join(
        f"{name} has no visibility rule. Add `{name}: visibility.<RULE>,` to OBJECT_RULES in "
        f'schema/permissions.py (and its expected rule to VISIBLE in {__name__}), or `"{name}": '
        '"<why it holds nothing to hide>",` to CONTAINERS there'
        for name in missing
    )
    assert sorted(set(CONTAINERS) - {t.name for t in _object_types()}) == []


def test_every_rule_has_an_expected_rule_here() -> None:
    assert sorted(GUARDED ^ set(VISIBLE)) == [], (
        "VISIBLE in this module must list exactly the types with a rule in OBJECT_RULES"
    )


@pytest.mark.parametrize("coordinate", _guarded_coordinates())
def test_every_field_returning_a_guarded_type_checks_each_object(coordinate: str) -> None:
    type_name, field_name = coordinate.split(".")
    field_def = GRAPHQL.get_type(type_name).fields[field_name]  # type: ignore[union-attr]
    strawberry_field = field_def.extensions["strawberry-definition"]
    if strawberry_field.is_subscription:
        assert coordinate in STREAMS, (
            f"{coordinate} streams a guarded type: decorate its generator with "
            f'@guarded_stream("{coordinate}") (schema/permissions.py)'
        )
        return
    guards = [e for e in strawberry_field.extensions if isinstance(e, Guard)]
    assert any(g.visibility for g in guards), (
        f"{coordinate} returns a guarded type but checks no object: schema/permissions.apply "
        "did not reach it (is its type reachable from Query or Mutation?)"
    )


# --- the world -------------------------------------------------------------------------------


@dataclass
class World:
    variables: dict[str, Any]
    facts: dict[str, Facts]  # global ID -> facts
    by_type: dict[str, list[str]] = field(default_factory=dict)  # type -> its objects' IDs

    def add(self, type_name: str, pk: int, facts: Facts) -> str:
        gid = f.gid(type_name, pk)
        self.facts[gid] = facts
        self.by_type.setdefault(type_name, []).append(gid)
        return gid


@pytest.fixture
async def world(cast: Cast, conn: asyncpg.Connection) -> World:
    w = World({}, {})
    callers = {
        "member": cast.member.user_id,
        "other_member": cast.other_member.user_id,
        "manager": cast.manager.user_id,
        "admin": cast.admin.user_id,
    }
    for caller, pk in callers.items():
        assert pk is not None
        w.add("User", pk, Facts(owner=caller))
    shop = await f.merchant(conn, "Corner Shop")
    w.add("Merchant", shop, Facts())
    campaigns = {}
    for status in ("DRAFT", "ACTIVE", "PAUSED", "COMPLETED"):
        pk = await f.campaign(
            conn, shop, name=f"{status} offer", status=status, created_by=callers["manager"]
        )
        campaigns[status] = pk
        w.add("Campaign", pk, Facts(status=status))
        # Yesterday: inside the default period of dailyAnalytics (the last days up to today).
        yesterday = datetime.now(UTC).date() - timedelta(days=1)
        await mf.analytics_day(conn, pk, yesterday, impressions=10, spend_cents=100)
    entry = await conn.fetchval(
        "INSERT INTO audit_logs (actor_id, action, target_type, target_id)"
        " VALUES ($1, 'campaign.launch', 'Campaign', $2) RETURNING id",
        callers["admin"],
        campaigns["ACTIVE"],
    )
    w.add("AuditLogEntry", entry, Facts())
    test = await mf.ab_test(conn, campaigns["PAUSED"], name="Secret Test")
    w.add("AbTest", test, Facts())
    # B converts far better than the control A: a significant winner.
    for name, conversions in (("A", 10), ("B", 200)):
        await mf.variant(
            conn, test, name, impressions=1000, conversions=conversions, is_control=name == "A"
        )
    # Each member's data; the member's reward comes from a PAUSED campaign, which a member
    # may not see (it leaked through Reward.campaign once).
    for caller, campaign in (("member", "PAUSED"), ("other_member", "ACTIVE")):
        user = callers[caller]
        assert user is not None
        account = await mf.account(conn, user, institution=f"{caller} bank")
        w.add("Account", account, Facts(owner=caller))
        purchase = await mf.transaction(
            conn, account, user, shop, amount_cents=1234,
            occurred_at=datetime(2026, 3, 2, tzinfo=UTC), description=f"{caller} purchase",
        )  # fmt: skip
        w.add("Transaction", purchase, Facts(owner=caller))
        reward = await mf.reward(
            conn, user, campaigns[campaign], purchase, amount_cents=62, status="EARNED",
            earned_at=datetime(2026, 3, 3, tzinfo=UTC),
        )  # fmt: skip
        w.add("Reward", reward, Facts(owner=caller))
        await mf.affinity(conn, user, shop, score=0.5)
    await conn.execute(
        "INSERT INTO settings (key, value, updated_by) VALUES ('max_page_size', '100', $1)",
        callers["admin"],
    )
    await conn.execute(
        "INSERT INTO audit_logs (actor_id, action, target_type, target_id, request_id)"
        " VALUES ($1, 'campaign.launch', 'Campaign', $2, 'r1')",
        callers["manager"],
        campaigns["ACTIVE"],
    )
    w.variables = {
        "abTest": f.gid("AbTest", test),
        "pausedCampaign": f.gid("Campaign", campaigns["PAUSED"]),
        "member": f.gid("User", callers["member"]),  # type: ignore[arg-type]
    }
    return w


# --- generated paths -------------------------------------------------------------------------


def _paths_from(root_field: str, root: str = ROOT) -> dict[str, list[tuple[str, str]]]:
    """The shortest path from the root field to every field returning a guarded type that
    it reaches: guarded coordinate -> [(type, field), ...] starting at the root."""
    start = (root, root_field)
    found: dict[str, list[tuple[str, str]]] = {}
    queue = [[start]]
    seen_types: set[str] = {root}
    while queue:
        path = queue.pop(0)
        type_name, field_name = path[-1]
        field_def = GRAPHQL.get_type(type_name).fields[field_name]  # type: ignore[union-attr]
        coordinate = f"{type_name}.{field_name}"
        if _returns_guarded(field_def) and coordinate not in found:
            found[coordinate] = path
        named = _named(field_def.type)
        if not isinstance(named, GraphQLObjectType) or named.name in seen_types:
            continue
        seen_types.add(named.name)
        for next_field in named.fields:
            queue.append([*path, (named.name, next_field)])
    return found


def _selection_of(type_: Any) -> str:
    """What is asked of every object on a path: its type, and its ID when it has one."""
    if isinstance(type_, (GraphQLInterfaceType, GraphQLUnionType)):
        return "__typename ... on Node { id }"
    if _is_container_generic(type_) and "nodes" in type_.fields:
        return f"__typename nodes {{ {_selection_of(_named(type_.fields['nodes'].type))} }}"
    return "__typename id" if "id" in type_.fields else "__typename"


def _document(path: list[tuple[str, str]], kind: str = "query") -> str:
    inner = ""
    for type_name, field_name in reversed(path):
        field_def = GRAPHQL.get_type(type_name).fields[field_name]  # type: ignore[union-attr]
        coordinate = f"{type_name}.{field_name}"
        required = [a for a, arg in field_def.args.items() if isinstance(arg.type, GraphQLNonNull)]
        if required and coordinate not in ARGUMENTS:
            pytest.fail(f"{coordinate} needs arguments: add them to ARGUMENTS in {__name__}")
        # Small pages keep deep paths within the cost limit.
        arguments = ARGUMENTS.get(coordinate, "(first: 2)" if "first" in field_def.args else "")
        named = _named(field_def.type)
        if isinstance(named, (GraphQLObjectType, GraphQLInterfaceType, GraphQLUnionType)):
            inner = f"{field_name}{arguments} {{ {_selection_of(named)} {inner} }}"
        else:
            inner = f"{field_name}{arguments}"
    used = sorted(v for v in VARIABLE_TYPES if f"${v}" in inner)
    declared = ", ".join(f"${v}: {VARIABLE_TYPES[v]}" for v in used)
    return f"{kind}{f'({declared})' if declared else ''} {{ {inner} }}"


ROOT_FIELDS = sorted(
    name for name in GRAPHQL.query_type.fields if f"{ROOT}.{name}" not in BY_ID_ROOTS
)
PATHS = [
    (root, coordinate, path)
    for root in ROOT_FIELDS
    for coordinate, path in sorted(_paths_from(root).items())
]
SUBSCRIPTION = GRAPHQL.subscription_type.name  # type: ignore[union-attr]
SUBSCRIPTION_PATHS = [
    (root, coordinate, path)
    for root in sorted(GRAPHQL.subscription_type.fields)  # type: ignore[union-attr]
    for coordinate, path in sorted(_paths_from(root, SUBSCRIPTION).items())
]


def _objects(value: Any, owner: str | None, world: World) -> Iterator[tuple[str, Facts]]:
    """Every object in an answer with the facts its rule looks at: an object without an ID
    belongs to the nearest User above it."""
    if isinstance(value, list):
        for item in value:
            yield from _objects(item, owner, world)
    elif isinstance(value, dict):
        type_name = value.get("__typename")
        facts = world.facts.get(value.get("id", ""), Facts(owner=owner))
        if type_name == "User":
            owner = facts.owner
        if type_name in VISIBLE:  # containers (connections, edges, Money) are not objects
            yield type_name, facts
        for key, item in value.items():
            if key not in ("__typename", "id"):
                yield from _objects(item, owner, world)


def _count_of(target: Any, objects: list[tuple[str, Facts]]) -> int:
    names = _object_names(target)
    return sum(1 for type_name, _ in objects if type_name in names)


async def test_each_path_returns_only_objects_the_caller_may_see(
    cast: Cast, world: World, tight: Any
) -> None:
    """Every generated path as every caller; then every guarded field must have returned an
    object to someone on some path, so that none of its checks was vacuous. (Some paths pass
    several lists, whose worst case is over the cost limit: not what this test is about.)"""
    tight(max_cost=1_000_000)
    wrong: list[str] = []
    reached: dict[str, int] = {coordinate: 0 for _, coordinate, _ in PATHS}
    for _root, coordinate, path in PATHS:
        document = _document(path)
        variables = {k: v for k, v in world.variables.items() if f"${k}" in document}
        last_type, last_field = path[-1]
        target = _named(GRAPHQL.get_type(last_type).fields[last_field].type)  # type: ignore[union-attr]
        for caller in CALLERS:
            body = await getattr(cast, caller).gql(document, variables)
            codes = {e["extensions"]["code"] for e in body.get("errors", [])}
            if not codes <= {"FORBIDDEN", "UNAUTHENTICATED"}:
                wrong.append(f"{caller}: unexpected errors from {document}: {body}")
            objects = list(_objects(body.get("data"), None, world))
            seen = [
                (type_name, facts)
                for type_name, facts in objects
                if caller == "anonymous" or not VISIBLE[type_name](caller, facts)
            ]
            if seen:
                wrong.append(f"{caller} saw {seen} through {document}: {json.dumps(body)}")
            reached[coordinate] += _count_of(target, objects)
    assert not wrong, "\n".join(wrong)
    silent = sorted(c for c, n in reached.items() if n == 0)
    assert not silent, f"no path returned an object of these fields; extend the world: {silent}"


async def test_each_subscription_path_streams_only_objects_the_caller_may_see(
    cast: Cast, world: World, conn: asyncpg.Connection
) -> None:
    """Every generated subscription path as every caller, then three lifecycle changes. Each
    campaign changes once, into the status its facts say, so an event's objects (read as
    they are when it is sent) are judged by the world's facts. The last change (a pause: seen
    before by everyone signed in) is the last event of every stream."""
    campaigns = {s: world.by_type["Campaign"][i] for i, s in enumerate(CAMPAIGN_STATUSES)}
    before = {"ACTIVE": "DRAFT", "PAUSED": "ACTIVE", "COMPLETED": "PAUSED"}
    for status, previous in before.items():
        await conn.execute(
            "UPDATE campaigns SET status = $2 WHERE id = $1",
            _pk(campaigns[status]),
            previous,
        )
    streams = []
    for root, coordinate, path in SUBSCRIPTION_PATHS:
        document = _document(path, "subscription")
        variables = {k: v for k, v in world.variables.items() if f"${k}" in document}
        for caller in CALLERS:
            stream = await Stream.open(getattr(cast, caller), document, variables)
            streams.append((caller, root, coordinate, path, stream))
    try:
        for status, mutation, _ in CHANGES:
            body = await cast.admin.gql(
                f"mutation ($id: ID!) {{ {mutation}(input: {{id: $id}})"
                " { userErrors { code } } }",
                {"id": campaigns[status]},
            )
            assert body["data"][mutation]["userErrors"] == [], body
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        for caller, root, coordinate, _path, stream in streams:
            expected = 0 if stream.refused else _expected_events(caller, root)
            while len(stream.results) < expected:
                assert loop.time() < deadline, f"{caller} {coordinate}: {stream.results}"
                await asyncio.sleep(0.01)
        # Anything more than expected would have come by now: the last change, seen by
        # everyone subscribed, came after it in every stream.
        for caller, root, coordinate, _path, stream in streams:
            expected = 0 if stream.refused else _expected_events(caller, root)
            assert len(stream.results) == expected, (caller, coordinate, stream.results)
    finally:
        for *_, stream in streams:
            await stream.close()

    wrong: list[str] = []
    reached = {coordinate: 0 for _, coordinate, _ in SUBSCRIPTION_PATHS}
    for caller, _root, coordinate, path, stream in streams:
        if caller == "anonymous":
            assert stream.refused == "UNAUTHENTICATED", (coordinate, stream.refused)
            continue
        target = _named(GRAPHQL.get_type(path[-1][0]).fields[path[-1][1]].type)  # type: ignore[union-attr]
        for result in stream.results:
            codes = {e.extensions["code"] for e in result.errors or ()}
            if not codes <= {"FORBIDDEN"}:
                wrong.append(f"{caller}: unexpected errors on {coordinate}: {result.errors}")
            objects = list(_objects(result.data, None, world))
            seen = [(t, facts) for t, facts in objects if not VISIBLE[t](caller, facts)]
            if seen:
                wrong.append(f"{caller} saw {seen} through {coordinate}: {result.data}")
            reached[coordinate] += _count_of(target, objects)
    assert not wrong, "\n".join(wrong)
    # A field's guard is the same on every path: those the query paths reach are proven there
    # (the changes' actor, an admin, has no accounts or rewards to show).
    on_query_paths = {c for _, c, _ in PATHS}
    silent = sorted(c for c, n in reached.items() if n == 0 and c not in on_query_paths)
    assert not silent, f"no event carried an object of these fields; extend the world: {silent}"
    assert {"CampaignStatusChange.campaign", "CampaignStatusChange.actor"} <= set(reached)


CAMPAIGN_STATUSES = ("DRAFT", "ACTIVE", "PAUSED", "COMPLETED")  # the world's, in its order
# The test's changes, in order: (the world's status it ends in, the mutation, the status before).
CHANGES = (
    ("COMPLETED", "completeCampaign", "PAUSED"),
    ("ACTIVE", "launchCampaign", "DRAFT"),
    ("PAUSED", "pauseCampaign", "ACTIVE"),
)


def _pk(gid: str) -> int:
    return int(base64.b64decode(gid).decode().split(":")[1])


def _expected_events(caller: str, root: str) -> int:
    """How many of CHANGES a caller's stream must carry, by this module's own rules."""
    if root == "auditLogAppended":
        return len(CHANGES) if VISIBLE["AuditLogEntry"](caller, Facts()) else 0
    return sum(
        1
        for after, _, previous in CHANGES
        if VISIBLE["Campaign"](caller, Facts(status=previous))
        or VISIBLE["Campaign"](caller, Facts(status=after))
    )


def test_every_field_returning_a_guarded_type_is_on_a_generated_path() -> None:
    on_paths = {c for _, c, _ in PATHS} | {c for _, c, _ in SUBSCRIPTION_PATHS}
    mutations = {c for c in _guarded_coordinates() if c.startswith("Mutation.")}
    # Payload fields are reached only from mutations: their guard is checked above, by type.
    payloads = {
        c for c in _guarded_coordinates()
        if c.split(".")[0] in CONTAINERS and c.split(".")[0].endswith("Payload")
    }  # fmt: skip
    missing = set(_guarded_coordinates()) - on_paths - mutations - payloads - set(BY_ID_ROOTS)
    assert sorted(missing) == []


# --- node and nodes, object by object ----------------------------------------------------------

NODE = "query ($id: ID!) { node(id: $id) { __typename id } }"
NODES = "query ($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }"
MISSING_PK = 987654


def _sees_every(type_name: str, caller: str) -> bool:
    """Whether the caller may see every object of the type, whatever its facts."""
    facts = (Facts(owner="nobody", status="DRAFT"), Facts(owner="nobody", status="ACTIVE"))
    return caller != "anonymous" and all(VISIBLE[type_name](caller, x) for x in facts)


async def test_node_and_nodes_answer_each_object_by_its_rule(cast: Cast, world: World) -> None:
    node_types = sorted(t.name for t in GRAPHQL.get_possible_types(GRAPHQL.get_type("Node")))
    assert sorted(world.by_type) == node_types, "the world needs an object of every Node type"
    wrong = []
    for caller in CALLERS[1:]:
        client = getattr(cast, caller)
        ids = [gid for gids in world.by_type.values() for gid in gids]
        many = await client.gql(NODES, {"ids": ids})
        for index, gid in enumerate(ids):
            type_name = next(t for t, gids in world.by_type.items() if gid in gids)
            allowed = VISIBLE[type_name](caller, world.facts[gid])
            one = await client.gql(NODE, {"id": gid})
            got_one = one["data"]["node"] is not None
            got_many = many["data"]["nodes"][index] is not None
            errors_one = [e["extensions"]["code"] for e in one.get("errors", [])]
            errors_many = [
                e["extensions"]["code"] for e in many.get("errors", []) if e["path"][1] == index
            ]
            expected_errors = [] if allowed else ["FORBIDDEN"]
            if (got_one, got_many, errors_one, errors_many) != (
                allowed, allowed, expected_errors, expected_errors
            ):  # fmt: skip
                wrong.append((caller, type_name, gid, one, errors_many))
        for type_name in node_types:
            missing = await client.gql(NODE, {"id": f.gid(type_name, MISSING_PK)})
            codes = [e["extensions"]["code"] for e in missing.get("errors", [])]
            expected = [] if _sees_every(type_name, caller) else ["FORBIDDEN"]
            if missing["data"]["node"] is not None or codes != expected:
                wrong.append((caller, type_name, "missing", missing, expected))
    anonymous = await cast.anonymous.gql(NODE, {"id": world.variables["member"]})
    assert anonymous["data"] is None or anonymous["data"]["node"] is None
    assert [e["extensions"]["code"] for e in anonymous["errors"]] == ["UNAUTHENTICATED"]
    assert not wrong, "\n".join(map(str, wrong))


async def test_a_member_cannot_tell_a_missing_campaign_from_a_paused_one(
    cast: Cast, world: World
) -> None:
    query = "query ($id: ID!) { campaign(id: $id) { name } }"
    paused = await cast.member.gql(query, {"id": world.variables["pausedCampaign"]})
    missing = await cast.member.gql(query, {"id": f.gid("Campaign", MISSING_PK)})
    as_staff = await cast.manager.gql(query, {"id": f.gid("Campaign", MISSING_PK)})

    assert paused == missing
    assert paused["data"] == {"campaign": None}
    assert [e["extensions"]["code"] for e in paused["errors"]] == ["FORBIDDEN"]
    assert as_staff == {"data": {"campaign": None}}


# --- a connection is checked whole, rendered or not --------------------------------------------


def _connection(facts: list[Any], node_class: type | None) -> Connection[Any]:
    async def no_count() -> int:
        return len(facts)

    page_info = PageInfo(
        has_next_page=False, has_previous_page=False, first_row=None, last_row=None,
        cursor_of=str,
    )  # fmt: skip
    return Connection(
        edges=[], nodes=[], page_info=page_info, count_total=no_count,
        facts=facts, node_class=node_class,
    )  # fmt: skip


def _viewer(pk: int, role: Role) -> UserRow:
    now = datetime.now(UTC)
    return UserRow(
        id=pk, email=f"u{pk}@example.com", name="U", role=role, status=UserStatus.ACTIVE,
        created_at=now, updated_at=now,
    )  # fmt: skip


@pytest.mark.parametrize(
    "facts",
    [
        "objects",  # nodes made in Python: each checked by its own type's rule
        "rendered rows",  # rows whose JSON PostgreSQL wrote: their owner, by the node type's rule
    ],
)
def test_a_connection_holding_a_node_its_viewer_may_not_see_is_refused_whole(
    facts: str,
) -> None:
    mine, theirs = Owned(7), Owned(8)
    if facts == "objects":
        page = [_transaction(7), _transaction(8)]
        node_class = None
    else:
        page, node_class = [mine, theirs], Transaction
    member, admin = _viewer(7, Role.MEMBER), _viewer(1, Role.ADMIN)

    assert Guard._visible(admin, _connection(page, node_class)) is not None
    assert Guard._visible(member, _connection(page[:1], node_class)) is not None
    with pytest.raises(Forbidden, match="This list holds a Transaction you may not see"):
        Guard._visible(member, _connection(page, node_class))


def _transaction(owner: int) -> Transaction:
    return Transaction(
        id=f.gid("Transaction", owner), amount=Money.of(1, "USD"), category="c",
        occurred_at=datetime.now(UTC), description="d", pk=owner, account_pk=1,
            merchant_pk=None,
        owner_pk=owner,
    )  # fmt: skip
