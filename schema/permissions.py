"""Access rules for the whole schema, applied as one Strawberry field extension (`Guard`).

Two kinds of rule, both checked wherever they apply, whichever executor runs:
- Field rules (RULES): who may use a field. Every root Query and Mutation field needs an
  entry (a field without one is refused for everyone, and tests/test_authorization_matrix.py
  fails naming the line to add); object fields with their own rule (`User.email`) add to the
  object's rule, never replace it. The rules are defined in `resolvers/auth.py`.
- Object rules (OBJECT_RULES): who may see an object of a type, decided from the object
  alone (`resolvers/visibility.py`). Every field returning such a type, alone, in a list or
  through an interface, whatever its path (`node`, `nodes`, nested fields, connections,
  mutation payloads), checks each object: one the viewer may not see becomes null plus a
  FORBIDDEN error, and a lookup of a missing ID (`Missing`) answers the same to a viewer who
  may not see every object of the type. Every object type of the schema is either in
  OBJECT_RULES or in CONTAINERS; tests/test_object_visibility.py, generated from the schema,
  fails for a type or a field without a rule.

List resolvers narrow their rows in SQL to what the viewer may see (`auth.scope_campaigns`,
member data read per owner under a SELF_OR_ADMIN field rule), so a page holds no forbidden
rows and its `totalCount` agrees; the per-object check is the guarantee behind that.

Checks are cheap on purpose: a Q2-sized query resolves such fields hundreds of times. Once the
request's viewer is loaded (the first check loads it, through the per-request loader), a rule
is a function call without awaiting anything.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from typing import Any

from strawberry.extensions.field_extension import (
    AsyncExtensionResolver,
    FieldExtension,
    SyncExtensionResolver,
)
from strawberry.types.base import StrawberryContainer, get_object_definition
from strawberry.types.field import StrawberryField
from strawberry.types.lazy_type import LazyType
from strawberry.utils.str_converters import to_camel_case

from db.users import UserRow
from resolvers import auth, visibility
from resolvers.auth import ADMIN, ANYONE, SELF_OR_ADMIN, SIGNED_IN, STAFF, Rule
from resolvers.context import Info
from resolvers.errors import Forbidden
from resolvers.visibility import Missing
from schema.abtests import AbTest, AbTestResult, AbTestVariant
from schema.admin import Admin, AdminHealth, AuditLogEntry, Setting
from schema.analytics import AffinitySummary, AnalyticsSummary, DailyAnalytics, MerchantScore
from schema.campaigns import Campaign
from schema.common import Connection, Edge
from schema.members import (
    Account,
    MerchantAffinity,
    Reward,
    RewardsSummary,
    SpendingBucket,
    Transaction,
)
from schema.merchants import Merchant
from schema.render import Rendered
from schema.users import User

# Schema coordinate -> rule. One line per field; keep the groups sorted.
RULES: dict[str, Rule] = {
    # Query
    "Query.abTest": STAFF,
    "Query.abTests": STAFF,
    "Query.admin": ADMIN,
    "Query.affinitySummary": STAFF,
    "Query.campaign": SIGNED_IN,  # a member gets FORBIDDEN for a campaign that is not ACTIVE
    "Query.campaigns": SIGNED_IN,  # a member's list holds ACTIVE campaigns only
    "Query.me": SIGNED_IN,
    "Query.merchants": SIGNED_IN,
    "Query.node": SIGNED_IN,  # object rules decide per object
    "Query.nodes": SIGNED_IN,
    "Query.user": SIGNED_IN,  # a member gets FORBIDDEN for anyone but themself
    # Mutation
    "Mutation.completeCampaign": STAFF,
    "Mutation.completePasswordReset": ANYONE,
    "Mutation.createCampaign": STAFF,
    "Mutation.createMerchant": STAFF,
    "Mutation.createUser": ADMIN,
    "Mutation.deleteCampaign": STAFF,
    "Mutation.launchCampaign": STAFF,
    "Mutation.login": ANYONE,
    "Mutation.logout": SIGNED_IN,
    "Mutation.pauseCampaign": STAFF,
    "Mutation.refreshToken": ANYONE,  # the refresh token is the proof (access may have expired)
    "Mutation.resetUserPassword": ADMIN,
    "Mutation.setUserStatus": ADMIN,
    "Mutation.updateCampaign": STAFF,
    "Mutation.updateMerchant": STAFF,
    "Mutation.updateSettings": ADMIN,
    "Mutation.updateUser": ADMIN,
    # Subscription: checked by the event stream, when subscribing and before every event
    "Subscription.auditLogAppended": ADMIN,
    "Subscription.campaignStatusChanged": SIGNED_IN,  # events of campaigns the viewer sees
    # Object fields
    "Campaign.abTests": STAFF,
    "Campaign.analyticsSummary": STAFF,
    "Campaign.dailyAnalytics": STAFF,
    "Campaign.rewards": ADMIN,  # a member's financial data (DESIGN.md), not staff's
    "User.accounts": SELF_OR_ADMIN,
    "User.email": SELF_OR_ADMIN,
    "User.merchantAffinities": SELF_OR_ADMIN,
    "User.rewards": SELF_OR_ADMIN,
    "User.rewardsSummary": SELF_OR_ADMIN,
    "User.spending": SELF_OR_ADMIN,
    "User.transactions": SELF_OR_ADMIN,
}

# Refuses a root field that has no entry in RULES: new fields are closed until given a rule.
NO_RULE = Rule("nobody: this field has no access rule yet", frozenset())


def _owner_of(source: Any) -> int | None:
    """The user who owns `source`, for owner rules: a User owns itself."""
    return source.pk if isinstance(source, User) else None


# Which objects a viewer may see, by GraphQL type (resolvers/visibility.py). Every object type
# of the schema is either here or in CONTAINERS; tests/test_object_visibility.py fails for a
# type in neither, naming the line to add.
OBJECT_RULES: dict[type, visibility.ObjectRule] = {
    AbTest: visibility.STAFF,
    AbTestResult: visibility.STAFF,
    AbTestVariant: visibility.STAFF,
    Account: visibility.OWNER_OR_ADMIN,
    Admin: visibility.ADMIN,
    AdminHealth: visibility.ADMIN,
    AffinitySummary: visibility.STAFF,
    AnalyticsSummary: visibility.STAFF,
    AuditLogEntry: visibility.ADMIN,
    Campaign: visibility.ACTIVE_OR_STAFF,
    DailyAnalytics: visibility.STAFF,
    Merchant: visibility.SIGNED_IN,
    MerchantAffinity: visibility.OWNER_OR_ADMIN,
    MerchantScore: visibility.STAFF,
    Reward: visibility.OWNER_OR_ADMIN,
    RewardsSummary: visibility.OWNER_OR_ADMIN,
    Setting: visibility.ADMIN,
    SpendingBucket: visibility.OWNER_OR_ADMIN,
    Transaction: visibility.OWNER_OR_ADMIN,
    User: visibility.SELF_OR_STAFF,
}

# Object types without a rule of their own, and why: they hold no data beyond the guarded
# objects inside them (each checked where it is returned), or only what their caller sent or
# may know. Connections and edges (`Connection[T]`, `Edge[T]`) are containers too.
CONTAINERS: dict[str, str] = {
    "CampaignPayload": "a mutation's result: its campaign is checked as a Campaign",
    "CampaignStatusChange": "an event sent to viewers who see its campaign before or after",
    "CompletePasswordResetPayload": "a mutation's result: its user is checked as a User",
    "LoginPayload": "the caller's own new token; its user is checked as a User",
    "LogoutPayload": "how many of the caller's own sessions ended: no object",
    "MerchantPayload": "a mutation's result: its merchant is checked as a Merchant",
    "Money": "a value inside a guarded object",
    "PageInfo": "paging state of a connection",
    "ResetUserPasswordPayload": "admins only (Mutation.resetUserPassword); its user is checked",
    "UpdateSettingsPayload": "admins only (Mutation.updateSettings); its settings are checked",
    "UserError": "why the caller's own mutation was refused",
    "UserPayload": "a mutation's result: its user is checked as a User",
}


def visible(viewer: UserRow | None, obj: Any, as_type: type | None = None) -> bool:
    """The one check: may `viewer` see `obj` (an object of `as_type` when it is the facts of
    a row PostgreSQL wrote)? An object of a type without a rule is refused (only guarded
    types reach a guarded field, so one without a rule is a mistake)."""
    rule = OBJECT_RULES.get(as_type or type(obj))
    return rule is not None and rule.sees(viewer, obj)


def visible_sql(
    viewer: UserRow | None, coordinate: str, cls: type | None, fact: str | None
) -> str | None:
    """For rows PostgreSQL writes (schema/render.py): whether `viewer` may use the field
    `coordinate` on any object (None: not, or not without a check per object), and then
    which objects of `cls` it returns they may see, as an SQL predicate over `fact` (the
    expression of what the rule reads of a row): "TRUE" when every one. The same rules the
    Guard checks, decided for the viewer before the rows are read."""
    if viewer is None:
        return None
    rule = RULES.get(coordinate)
    if rule is not None and not (rule.anonymous or rule.allows(viewer)):
        return None
    if cls is None:
        return "TRUE"
    object_rule = OBJECT_RULES.get(cls)
    if object_rule is None:
        return "TRUE" if cls.__name__ in CONTAINERS else None
    if object_rule.sees_all(viewer):
        return "TRUE"
    return None if fact is None else object_rule.sees_one_sql(viewer, fact)


# Subscription fields whose event stream is wrapped by `guarded_stream`.
STREAMS: set[str] = set()

Stream = Callable[..., AsyncIterator[Any]]


def guarded_stream(coordinate: str) -> Callable[[Stream], Stream]:
    """A subscription field's event generator, with each object it yields checked by its
    object rule for the viewer of that event (the stream renews its context before each
    event, resolvers/live.py): one the viewer may not see is not sent. The field's own rule
    (RULES) is the stream's to check: a field extension cannot wrap an async generator."""

    def wrap(stream: Stream) -> Stream:
        STREAMS.add(coordinate)

        @functools.wraps(stream)
        async def checked(self: Any, info: Info, **kwargs: Any) -> AsyncIterator[Any]:
            async for obj in stream(self, info, **kwargs):
                if type(obj).__name__ in CONTAINERS or visible(info.context.viewer, obj):
                    yield obj

        return checked

    return wrap


def forbidden(cls: type) -> Forbidden:
    """The error for an object of `cls` the viewer may not see (or a missing one)."""
    return Forbidden(f"You may not see this {cls.__name__}")


def _forbidden(obj: Any) -> Forbidden:
    return forbidden(obj.cls if isinstance(obj, Missing) else type(obj))


def _checked_connection(viewer: UserRow | None, connection: Connection[Any]) -> Any:
    """The connection, when its viewer may see every node. Its rows are narrowed to what the
    viewer may see in SQL, so that the page and `totalCount` agree; a node that is not is a
    mistake in that SQL, and the whole connection is refused rather than shown."""
    cls = connection.node_class
    facts = connection.facts
    rule = OBJECT_RULES.get(cls) if cls is not None else None
    if rule is not None and viewer is not None and rule.sees_all(viewer):
        return connection  # what `visible` answers for each of them, asked once
    for fact in facts:
        if not visible(viewer, fact, cls):
            raise Forbidden(f"This list holds a {(cls or type(fact)).__name__} you may not see")
    return connection


def _checked(viewer: UserRow | None, obj: Any) -> Any:
    """`obj` itself, None for a missing object its viewer may know is missing, or the
    Forbidden error that graphql-core turns into null plus a FORBIDDEN error at its path."""
    if obj is None:
        return None
    if isinstance(obj, Missing):
        rule = OBJECT_RULES[obj.cls]
        return None if viewer is not None and rule.sees_all(viewer) else _forbidden(obj)
    if isinstance(obj, Rendered):  # written by PostgreSQL: its rule reads the row's fact
        return obj.value if visible(viewer, obj.fact, obj.cls) else forbidden(obj.cls)
    return obj if visible(viewer, obj) else _forbidden(obj)


class Guard(FieldExtension):
    """A field's access rule (checked before it resolves: UNAUTHENTICATED or FORBIDDEN) and,
    for fields returning a type with an object rule, its visibility filter (each object the
    viewer may not see becomes null plus a FORBIDDEN error). Either part may be absent."""

    def __init__(self, coordinate: str, rule: Rule | None, visibility: bool) -> None:
        super().__init__()
        self.coordinate = coordinate
        self.rule = rule
        self.visibility = visibility

    def resolve(self, next_: SyncExtensionResolver, source: Any, info: Info, **kwargs: Any) -> Any:
        """Fields with a plain (sync) resolver, like a connection edge's `node`: stay sync
        when the viewer is known (no coroutine, no Task per list item)."""
        viewer = info.context.viewer
        if viewer is None:  # not loaded yet: graphql-core awaits what a resolver returns
            return self._resolve_later(next_, source, info, kwargs)
        if self.rule is not None and not self.rule.anonymous:
            self.rule.check(viewer, _owner_of(source))
        result = next_(source, info, **kwargs)
        if result is None or not self.visibility:
            return result
        return self._visible(viewer, result)

    async def _resolve_later(
        self, next_: SyncExtensionResolver, source: Any, info: Info, kwargs: dict[str, Any]
    ) -> Any:
        ctx = info.context
        if self.rule is not None:
            await self.rule.enforce(ctx, _owner_of(source))
        result = next_(source, info, **kwargs)
        if result is None or not self.visibility:
            return result
        return self._visible(await auth.viewer_or_none(ctx), result)

    async def resolve_async(
        self, next_: AsyncExtensionResolver, source: Any, info: Info, **kwargs: Any
    ) -> Any:
        ctx = info.context
        rule = self.rule
        if rule is not None and not rule.anonymous:
            viewer = ctx.viewer
            # Known viewer and the rule allows it: nothing to await. Otherwise `enforce`
            # loads the viewer or raises UNAUTHENTICATED / FORBIDDEN.
            if viewer is None or not rule.allows(viewer, _owner_of(source)):
                await rule.enforce(ctx, _owner_of(source))
        result = await next_(source, info, **kwargs)
        if result is None or not self.visibility:
            return result
        viewer = ctx.viewer
        if viewer is None:
            viewer = await auth.viewer_or_none(ctx)
        return self._visible(viewer, result)

    @staticmethod
    def _visible(viewer: UserRow | None, result: Any) -> Any:
        if isinstance(result, Connection):
            return _checked_connection(viewer, result)
        if isinstance(result, list):
            # graphql-core turns an exception in a list into null at that index plus an error.
            return [_checked(viewer, o) for o in result]
        checked = _checked(viewer, result)
        if isinstance(checked, Forbidden):
            raise checked
        return checked


def _named_type(type_: Any) -> Any:
    """The object type inside lists, optionals and lazy annotations (`Annotated[Campaign,
    strawberry.lazy(...)]`: missing those once left `Reward.campaign` unguarded)."""
    while True:
        if isinstance(type_, LazyType):
            type_ = type_.resolve_type()
        elif isinstance(type_, StrawberryContainer):
            type_ = type_.of_type
        else:
            return type_


def _generic_origin(definition: Any) -> type | None:
    """The generic a specialised type was made from (`Connection` for `Connection[User]`)."""
    concrete = definition.concrete_of
    return None if concrete is None else concrete.origin


def _guarded(type_: Any) -> bool:
    """Whether values of this type may hold objects with an object rule (a connection: of
    a type with one)."""
    definition = get_object_definition(type_)
    if definition is None:
        return False
    if definition.is_interface:
        return any(issubclass(cls, type_) for cls in OBJECT_RULES)
    if _generic_origin(definition) is Connection:
        # Its node type may be lazy (`Connection[Annotated[Campaign, strawberry.lazy(...)]]`).
        return any(_guarded(_named_type(t)) for t in definition.type_var_map.values())
    return type_ in OBJECT_RULES


def _coordinate(type_name: str, field: StrawberryField) -> str:
    return f"{type_name}.{field.graphql_name or to_camel_case(field.python_name)}"


def apply(*roots: type) -> None:
    """Attach the rules to the root types' fields and the object fields reachable from them.

    Call once, before building the schema. Specialised generics (`Connection[Campaign]`) are
    walked like any type; unspecialised ones and interfaces have no fields of their own to guard.
    """
    seen: set[type] = set()
    # Object-rule types too: some are reachable only through the Node interface.
    pending = [*roots, *OBJECT_RULES]
    root_names = {get_object_definition(r, strict=True).name for r in roots}
    while pending:
        cls = pending.pop()
        if cls in seen:
            continue
        seen.add(cls)
        definition = get_object_definition(cls, strict=True)
        inside_connection = _generic_origin(definition) in (Connection, Edge)
        for field in definition.fields:
            named = _named_type(field.type)
            coordinate = _coordinate(definition.name, field)
            rule = RULES.get(coordinate)
            if rule is None and definition.name in root_names:
                rule = NO_RULE
            # A connection is checked whole where it is returned, its edges and nodes with it.
            # A subscription's event stream checks its rule itself (schema/subscriptions.py):
            # a field extension cannot wrap an async generator.
            if inside_connection or field.is_subscription:
                if field.is_subscription and coordinate not in RULES:
                    raise RuntimeError(f"{coordinate} has no access rule in RULES")
            elif rule is not None or _guarded(named):
                field.extensions.append(Guard(coordinate, rule, visibility=_guarded(named)))
            child = get_object_definition(named)
            if child is not None and not child.is_graphql_generic and not child.is_interface:
                pending.append(named)


def root_coordinates(schema: Any) -> list[str]:
    """Every root field, as `Type.field` (what RULES must cover)."""
    out: list[str] = []
    graphql = schema._schema
    for root in (graphql.query_type, graphql.mutation_type, graphql.subscription_type):
        if root is not None:
            out.extend(f"{root.name}.{name}" for name in root.fields)
    return sorted(out)
