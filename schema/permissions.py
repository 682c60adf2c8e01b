"""Access rules for the whole schema, in one table, applied as Strawberry permission classes.

Every root Query and Mutation field needs an entry in RULES (a field without one is refused
for everyone, and tests/test_authorization_matrix.py fails naming the line to add). Object
fields with their own rule (like `User.email`) are listed too. The rules themselves, and which
objects each viewer may see (OBJECT_RULES), live in `resolvers/auth.py`.

Fields returning objects that have an object rule (User, Campaign, or the Node interface) are
guarded automatically: an object the viewer may not see becomes null plus a FORBIDDEN error,
including inside lists such as `nodes(ids:)` and connections. List resolvers also narrow
their rows to what the viewer may see (`auth.scope_campaigns`), so a member's page holds no
forbidden rows rather than errors.

Both checks are one field extension per guarded field (`Guard`), cheap on purpose: a Q2-sized
query resolves such fields hundreds of times. Once the request's viewer is loaded (the first
check loads it, through the per-request loader), a rule is a set lookup without awaiting
anything, and the visibility filter is skipped for staff, who may see every object; members
(and callers not signed in) get every object checked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from strawberry.extensions.field_extension import (
    AsyncExtensionResolver,
    FieldExtension,
    SyncExtensionResolver,
)
from strawberry.types.base import StrawberryContainer, get_object_definition
from strawberry.types.field import StrawberryField
from strawberry.utils.str_converters import to_camel_case

from db.users import UserRow
from resolvers import auth
from resolvers.auth import ADMIN, ANYONE, SELF_OR_ADMIN, SIGNED_IN, STAFF, Rule
from resolvers.context import Info
from resolvers.errors import Forbidden
from schema.campaigns import Campaign
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
    # Object fields
    "Campaign.abTests": STAFF,
    "Campaign.analyticsSummary": STAFF,
    "Campaign.dailyAnalytics": STAFF,
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


# Which objects a viewer may see, by GraphQL type. Staff may see every object of these types
# (resolvers/auth.py); Guard relies on that to skip the per-object checks for them.
OBJECT_RULES: dict[type, Callable[[UserRow | None, Any], bool]] = {
    User: lambda viewer, user: auth.may_see_user(viewer, user.pk),
    Campaign: lambda viewer, campaign: auth.may_see_campaign(viewer, campaign.status),
}


def _hidden(viewer: UserRow | None, obj: Any) -> bool:
    check = OBJECT_RULES.get(type(obj))
    return check is not None and not check(viewer, obj)


class Guard(FieldExtension):
    """A field's access rule (checked before it resolves: UNAUTHENTICATED or FORBIDDEN) and,
    for fields returning User/Campaign/Node, its visibility filter (each object the viewer may
    not see becomes null plus a FORBIDDEN error). Either part may be absent."""

    def __init__(self, coordinate: str, rule: Rule | None, visibility: bool) -> None:
        super().__init__()
        self.coordinate = coordinate
        self.rule = rule
        self.visibility = visibility

    def prefetch_allowed(self, ctx: Any) -> bool:
        """Whether the executor may load this field's data for a whole list in advance (see
        schema/fast_execution.py): only when the viewer is known and the rule lets them use
        the field whoever owns the object, so nothing is read for a field that will refuse."""
        viewer = ctx.viewer
        rule = self.rule
        return viewer is not None and (rule is None or rule.anonymous or rule.allows(viewer))

    def allows_now(self, ctx: Any, source: Any) -> bool | None:
        """For the compiled executor (schema/compiled.py), which calls the resolver itself:
        whether this field may resolve on `source` (the rule, checked exactly as `resolve`
        does), or None while the viewer is not loaded (then the field runs through
        `resolve`, which loads it)."""
        viewer = ctx.viewer
        if viewer is None:
            return None
        rule = self.rule
        return rule is None or rule.anonymous or rule.allows(viewer, _owner_of(source))

    async def load_viewer(self, ctx: Any, source: Any) -> None:
        """What `resolve` awaits before resolving while the viewer is not loaded: the rule's
        check (which loads the viewer, or raises UNAUTHENTICATED / FORBIDDEN), or, for a
        visibility filter alone, the viewer if there is one. For the compiled executor."""
        if self.rule is not None:
            await self.rule.enforce(ctx, _owner_of(source))
        else:
            await auth.viewer_or_none(ctx)

    def visible_now(self, ctx: Any, result: Any) -> Any:
        """The visibility filter of `resolve`, for the compiled executor's results."""
        if result is None or not self.visibility:
            return result
        return self._visible(ctx.viewer, result)

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
        if viewer is not None and viewer.role in auth.STAFF_ROLES:
            return result  # staff may see every User and Campaign (resolvers/auth.py)
        if isinstance(result, list):
            # graphql-core turns an exception in a list into null at that index plus an error.
            return [_forbidden(o) if o is not None and _hidden(viewer, o) else o for o in result]
        if _hidden(viewer, result):
            raise _forbidden(result)
        return result


def _forbidden(obj: Any) -> Forbidden:
    return Forbidden(f"You may not see this {type(obj).__name__}")


def _named_type(type_: Any) -> Any:
    while isinstance(type_, StrawberryContainer):
        type_ = type_.of_type
    return type_


def _guarded(type_: Any) -> bool:
    """Whether values of this type may hold objects with an object rule."""
    definition = get_object_definition(type_)
    if definition is None:
        return False
    if definition.is_interface:
        return any(issubclass(cls, type_) for cls in OBJECT_RULES)
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
        for field in definition.fields:
            named = _named_type(field.type)
            coordinate = _coordinate(definition.name, field)
            rule = RULES.get(coordinate)
            if rule is None and definition.name in root_names:
                rule = NO_RULE
            if rule is not None or _guarded(named):
                field.extensions.append(Guard(coordinate, rule, visibility=_guarded(named)))
            child = get_object_definition(named)
            if child is not None and not child.is_graphql_generic and not child.is_interface:
                pending.append(named)


def root_coordinates(schema: Any) -> list[str]:
    """Every root Query and Mutation field, as `Type.field` (what RULES must cover)."""
    out: list[str] = []
    for root in (schema._schema.query_type, schema._schema.mutation_type):
        if root is not None:
            out.extend(f"{root.name}.{name}" for name in root.fields)
    return sorted(out)
