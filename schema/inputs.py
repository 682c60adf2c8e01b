"""Input sizes: every text-like argument has a longest accepted length, checked before any
resolver runs (so before any SQL, any password hash, any cursor decoding).

Why: a search pattern reaches PostgreSQL as an ILIKE pattern, and a 900 KB one kept a
connection busy for seconds; a caller could hold the pool with a few of them. Each position
where a client passes text (a field argument, or a field of an input object, literal or
variable) is a schema coordinate with its cap in `STRING_CAPS`; ID and the date and number
scalars have one cap per type (`TYPE_CAPS`). `tests/test_attack_inputs.py` reads every String
coordinate from the schema and fails, naming it, when one has no cap here.

A refusal is a top-level BAD_USER_INPUT error whose `argument` is the path of the value from
the field's argument (`filter.search`), with a message naming the field, the length and cap.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    InlineFragmentNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    ValueNode,
    VariableNode,
    get_named_type,
)
from strawberry.exceptions import StrawberryInputCoercionError

# Strawberry's own DateTime scalar, reused so that only the range differs.
from strawberry.schema.types.base_scalars import (
    DateDefinition,
    DateTimeDefinition,
    DecimalDefinition,
)
from strawberry.types import ExecutionContext

from resolvers.env import positive_int
from resolvers.errors import BadUserInput
from schema import documents
from schema.execution.adapter import graphql_schema

# Search and filter text (GRAPHQL_MAX_FILTER_LENGTH): what a person types into a search box.
FILTER_MAX = positive_int(os.environ, "GRAPHQL_MAX_FILTER_LENGTH", 200)
# A cursor this server wrote is under 100 characters.
CURSOR_MAX = 200
# Sign-in texts: far above any real email, password or token, refused before a hash or a
# lookup is spent on them.
SIGN_IN_TEXT_MAX = 1_000
# A mutation's own text fields (names, descriptions...) are checked by the mutation, before any
# SQL, and refused as a userError (TOO_LONG) like any other invalid input: no cap here.
CHECKED_BY_MUTATION = None

STRING_CAPS: dict[str, int | None] = {
    # search and filters
    "CampaignFilter.search": FILTER_MAX,
    "MerchantFilter.search": FILTER_MAX,
    "UserFilter.search": FILTER_MAX,
    "TransactionFilter.category": FILTER_MAX,
    "AuditLogFilter.action": FILTER_MAX,
    # cursors
    "Query.campaigns(after:)": CURSOR_MAX,
    "Query.campaigns(before:)": CURSOR_MAX,
    "Query.merchants(after:)": CURSOR_MAX,
    "Query.merchants(before:)": CURSOR_MAX,
    "Query.abTests(after:)": CURSOR_MAX,
    "Query.abTests(before:)": CURSOR_MAX,
    "Admin.users(after:)": CURSOR_MAX,
    "Admin.auditLogs(after:)": CURSOR_MAX,
    "Account.transactions(after:)": CURSOR_MAX,
    "Account.transactions(before:)": CURSOR_MAX,
    "Campaign.rewards(after:)": CURSOR_MAX,
    "Campaign.rewards(before:)": CURSOR_MAX,
    "Merchant.campaigns(after:)": CURSOR_MAX,
    "Merchant.campaigns(before:)": CURSOR_MAX,
    "User.transactions(after:)": CURSOR_MAX,
    "User.transactions(before:)": CURSOR_MAX,
    "User.rewards(after:)": CURSOR_MAX,
    "User.rewards(before:)": CURSOR_MAX,
    # sign-in
    "LoginInput.email": SIGN_IN_TEXT_MAX,
    "LoginInput.password": SIGN_IN_TEXT_MAX,
    "CompletePasswordResetInput.token": SIGN_IN_TEXT_MAX,
    "CompletePasswordResetInput.newPassword": SIGN_IN_TEXT_MAX,
    "RefreshTokenInput.refreshToken": SIGN_IN_TEXT_MAX,
    "CreateUserInput.password": SIGN_IN_TEXT_MAX,
    # mutation inputs with their own length checks (userErrors)
    "CreateCampaignInput.name": CHECKED_BY_MUTATION,
    "CreateCampaignInput.description": CHECKED_BY_MUTATION,
    "CreateCampaignInput.currency": CHECKED_BY_MUTATION,
    "UpdateCampaignInput.name": CHECKED_BY_MUTATION,
    "UpdateCampaignInput.description": CHECKED_BY_MUTATION,
    "UpdateCampaignInput.currency": CHECKED_BY_MUTATION,
    "CreateMerchantInput.name": CHECKED_BY_MUTATION,
    "CreateMerchantInput.category": CHECKED_BY_MUTATION,
    "UpdateMerchantInput.name": CHECKED_BY_MUTATION,
    "UpdateMerchantInput.category": CHECKED_BY_MUTATION,
    "CreateUserInput.email": CHECKED_BY_MUTATION,
    "CreateUserInput.name": CHECKED_BY_MUTATION,
    "UpdateUserInput.name": CHECKED_BY_MUTATION,
    "SettingChange.key": CHECKED_BY_MUTATION,
}

# Scalars whose every value is short: a global ID is under 40 characters, an ISO date or
# timestamp under 40, a money amount under 30.
TYPE_CAPS: dict[str, int] = {"ID": 100, "Date": 100, "DateTime": 100, "Decimal": 100}


def cap_for(type_name: str, coordinate: str) -> int | None:
    """The longest text accepted at `coordinate` (of named type `type_name`), if capped."""
    if type_name == "String":
        return STRING_CAPS.get(coordinate)
    return TYPE_CAPS.get(type_name)


@dataclass(frozen=True)
class _Use:
    """A variable passed where a capped value goes."""

    variable: str
    type: GraphQLInputType
    coordinate: str
    argument: str  # the value's path from the field argument: `filter.search`
    field: str


def _refuse(field: str, argument: str, length: int, cap: int) -> BadUserInput:
    return BadUserInput(
        f"`{argument}` of `{field}` is {length} characters long; the limit is {cap}", argument
    )


class _Plan:
    """One operation's capped positions: a refused literal, if any, and the variables to check
    on every request."""

    def __init__(self, schema: GraphQLSchema, document: Any, operation: Any) -> None:
        self.operation = operation  # kept alive so that its id() stays unique in the cache
        self.refused: BadUserInput | None = None
        self.uses: list[_Use] = []
        self._defaults = {
            d.variable.name.value: d.default_value
            for d in operation.variable_definitions or ()
            if d.default_value is not None
        }
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        root = schema.get_root_type(operation.operation)
        if root is not None:
            self._walk(schema, fragments, operation.selection_set, root, frozenset())

    def _walk(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        selection_set: SelectionSetNode,
        parent: Any,
        seen: frozenset[str],
    ) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                definition = (getattr(parent, "fields", None) or {}).get(selection.name.value)
                if definition is None:
                    continue
                field = selection.name.value
                for arg in selection.arguments or ():
                    arg_def = definition.args.get(arg.name.value)
                    if arg_def is not None:
                        coordinate = f"{parent.name}.{field}({arg.name.value}:)"
                        self._value(arg.value, arg_def.type, coordinate, arg.name.value, field)
                if selection.selection_set is not None:
                    named = get_named_type(definition.type)
                    self._walk(schema, fragments, selection.selection_set, named, seen)
            elif isinstance(selection, InlineFragmentNode):
                target = parent
                if selection.type_condition is not None:
                    target = schema.get_type(selection.type_condition.name.value) or parent
                self._walk(schema, fragments, selection.selection_set, target, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is None or name in seen:
                    continue
                target = schema.get_type(fragment.type_condition.name.value) or parent
                self._walk(schema, fragments, fragment.selection_set, target, seen | {name})

    def _value(
        self, node: ValueNode, type_: Any, coordinate: str, argument: str, field: str
    ) -> None:
        while isinstance(type_, GraphQLNonNull):
            type_ = type_.of_type
        if isinstance(node, VariableNode):
            name = node.name.value
            self.uses.append(_Use(name, type_, coordinate, argument, field))
            default = self._defaults.get(name)
            if default is not None:
                self._value(default, type_, coordinate, argument, field)
        elif isinstance(node, ListValueNode):
            item_type = type_.of_type if isinstance(type_, GraphQLList) else type_
            for item in node.values:
                self._value(item, item_type, coordinate, argument, field)
        elif isinstance(node, ObjectValueNode) and isinstance(type_, GraphQLInputObjectType):
            for field_node in node.fields:
                name = field_node.name.value
                input_field = type_.fields.get(name)
                if input_field is not None:
                    self._value(
                        field_node.value,
                        input_field.type,
                        f"{type_.name}.{name}",
                        f"{argument}.{name}",
                        field,
                    )
        elif isinstance(node, StringValueNode) and self.refused is None:
            cap = cap_for(get_named_type(type_).name, coordinate)
            if cap is not None and len(node.value) > cap:
                self.refused = _refuse(field, argument, len(node.value), cap)


def _check_value(value: Any, type_: Any, coordinate: str, argument: str, field: str) -> None:
    """Refuse a variable's raw value (before coercion) that holds over-long text anywhere."""
    while isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    if isinstance(type_, GraphQLList):
        for item in value if isinstance(value, list) else (value,):
            _check_value(item, type_.of_type, coordinate, argument, field)
    elif isinstance(type_, GraphQLInputObjectType):
        if isinstance(value, Mapping):
            for name, input_field in type_.fields.items():
                if name in value:
                    _check_value(
                        value[name],
                        input_field.type,
                        f"{type_.name}.{name}",
                        f"{argument}.{name}",
                        field,
                    )
    elif isinstance(value, str):
        cap = cap_for(type_.name, coordinate)
        if cap is not None and len(value) > cap:
            raise _refuse(field, argument, len(value), cap)


# id(operation) -> its plan; the parser cache keeps operations alive across requests, so an
# operation is walked once, and its variables checked on every request.
_plans: dict[int, _Plan] = {}
_MAX_PLANS = 512


def check_inputs(
    schema: GraphQLSchema,
    document: Any,
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any],
) -> None:
    """Raise BadUserInput for the first text over its cap in the operation's arguments."""
    plan = _plans.get(id(operation))
    if plan is None or plan.operation is not operation:
        if len(_plans) >= _MAX_PLANS:
            _plans.clear()
        plan = _plans[id(operation)] = _Plan(schema, document, operation)
    if plan.refused is not None:
        raise plan.refused
    for use in plan.uses:
        if use.variable in variables:
            _check_value(variables[use.variable], use.type, use.coordinate, use.argument, use.field)


def before_execute(ctx: ExecutionContext) -> None:
    """The operation hook (schema/execution/hooks.py) that refuses over-long text arguments
    after validation, before execution."""
    document = ctx.graphql_document
    if document is not None:
        operation = documents.operation_of(document, ctx.operation_name)
        check_inputs(graphql_schema(ctx.schema), document, operation, ctx.variables or {})


# --- timestamps in range --------------------------------------------------------------------


# asyncpg writes these two as PostgreSQL's -infinity and infinity, and reads them back as
# naive datetimes that no aware one can be compared with.
_ENDS = (datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC))


def _timestamp_in_range(value: object) -> object:
    """Strawberry's DateTime parsing, refusing a timestamp whose UTC form is not strictly
    inside Python's range (years 1 to 9999): `9999-12-31T23:00:00-05:00` is year 10000 in
    UTC and fails in asyncpg; the range's two ends become +-infinity in PostgreSQL. A naive
    timestamp is read as UTC, as the resolvers do."""
    parsed = DateTimeDefinition.parse_value(value)  # type: ignore[misc]  # set by Strawberry
    assert isinstance(parsed, datetime)
    try:
        utc = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError:
        utc = _ENDS[0]
    if utc in _ENDS:
        raise StrawberryInputCoercionError(
            f'Value cannot represent a DateTime: "{value}". It falls outside the years 1 to '
            "9999 in UTC."
        )
    return parsed


# The wire formats, stated for typed clients (graphql-codegen's `scalars`, Relay's
# `customScalarTypes`: README, "Typed clients"); parsing and output are Strawberry's.
RFC_3339 = "https://www.rfc-editor.org/rfc/rfc3339"
DATETIME_SCALAR = dataclasses.replace(
    DateTimeDefinition,
    parse_value=_timestamp_in_range,
    implementation=None,
    description="A point in time: an RFC 3339 string with its UTC offset, e.g. "
    "`2026-12-06T10:37:00+00:00` (with fractional seconds when they are not zero). Sent in "
    "UTC; accepted with any offset, and read as UTC without one.",
    specified_by_url=RFC_3339,
)
DATE_SCALAR = dataclasses.replace(
    DateDefinition,
    implementation=None,
    description="A calendar day (a UTC day): an RFC 3339 full-date string `YYYY-MM-DD`, e.g. "
    "`2026-12-06`, sent and accepted as such.",
    specified_by_url=RFC_3339,
)
DECIMAL_SCALAR = dataclasses.replace(
    DecimalDefinition,
    implementation=None,
    description='An exact decimal number. Sent as a JSON string, e.g. `"12.50"` (never a '
    'float); accepted as a string or a JSON number, e.g. `"12.5"` or `12.5`.',
    specified_by_url="https://speleotrove.com/decimal/decarith.html",
)
