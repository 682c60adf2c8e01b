"""The worst-case length of every list field, for the query cost (schema/limits.py).

Each list field of an object or interface type has one line in `LIST_LENGTHS`, and each
length is a real bound: the resolver or its SQL never returns more (the caps live beside the
SQL or the resolver that enforces them, and each field's description states its cap).
`check(schema)` runs when the schema is assembled: a list field without a line stops the
server from starting, and tests/test_attack_cost.py fails, naming the line to add.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    get_nullable_type,
    is_list_type,
)

from db.abtests import MAX_TESTS_PER_CAMPAIGN, MAX_VARIANTS_PER_TEST
from db.accounts import MAX_ACCOUNTS_PER_USER
from db.transactions import MAX_SPENDING_GROUPS
from resolvers.analytics import MAX_TOP_MERCHANTS
from resolvers.members import DEFAULT_AFFINITIES, MAX_AFFINITIES
from resolvers.periods import DEFAULT_DAYS, MAX_DAYS
from resolvers.settings import KNOWN
from schema.common import MAX_USER_ERRORS
from schema.relay import MAX_NODES


@dataclass(frozen=True)
class Page:
    """`edges`/`nodes` of a connection: the page size, counted at the connection field."""


@dataclass(frozen=True)
class Cap:
    """At most `cap` items, whatever the arguments."""

    cap: int


@dataclass(frozen=True)
class CountOf:
    """As many items as the list argument holds (more than `cap` is refused)."""

    argument: str
    cap: int
    items: str = "items"  # what the refusal calls them


@dataclass(frozen=True)
class IntArgument:
    """As many items as the Int argument asks for, `default` without it (more than `cap` is
    refused)."""

    argument: str
    default: int
    cap: int


@dataclass(frozen=True)
class DayRange:
    """One item per day of the `from`..`to` range, with its defaults (`to` today, `from`
    `default_days` before); a range over `max_days` is refused by the resolver."""

    default_days: int
    max_days: int


@dataclass(frozen=True)
class Leaves:
    """A list of scalars: no objects, so no cost (the response-size cap bounds it)."""


ListLength = Page | Cap | CountOf | IntArgument | DayRange | Leaves

PAGE = Page()

# "Type.field" -> its worst case; "*.field" covers that field on every type (every payload's
# `userErrors`, built by UserError.all).
LIST_LENGTHS: dict[str, ListLength] = {
    "Query.nodes": CountOf("ids", MAX_NODES, "IDs"),
    "AbTest.variants": Cap(MAX_VARIANTS_PER_TEST),
    "Admin.settings": Cap(len(KNOWN)),
    "AffinitySummary.topMerchants": Cap(MAX_TOP_MERCHANTS),
    "Campaign.abTests": Cap(MAX_TESTS_PER_CAMPAIGN),
    "Campaign.dailyAnalytics": DayRange(DEFAULT_DAYS, MAX_DAYS),
    "UpdateSettingsPayload.settings": Cap(len(KNOWN)),  # each known key at most once
    "User.accounts": Cap(MAX_ACCOUNTS_PER_USER),
    "User.merchantAffinities": IntArgument("first", DEFAULT_AFFINITIES, MAX_AFFINITIES),
    "User.spending": Cap(MAX_SPENDING_GROUPS),
    "UserError.field": Leaves(),
    "*.userErrors": Cap(MAX_USER_ERRORS),
    "AbTestConnection.edges": PAGE,
    "AbTestConnection.nodes": PAGE,
    "AuditLogEntryConnection.edges": PAGE,
    "AuditLogEntryConnection.nodes": PAGE,
    "CampaignConnection.edges": PAGE,
    "CampaignConnection.nodes": PAGE,
    "MerchantConnection.edges": PAGE,
    "MerchantConnection.nodes": PAGE,
    "RewardConnection.edges": PAGE,
    "RewardConnection.nodes": PAGE,
    "TransactionConnection.edges": PAGE,
    "TransactionConnection.nodes": PAGE,
    "UserConnection.edges": PAGE,
    "UserConnection.nodes": PAGE,
}


def length_of(type_name: str, field_name: str) -> ListLength:
    found = LIST_LENGTHS.get(f"{type_name}.{field_name}")
    return found if found is not None else LIST_LENGTHS[f"*.{field_name}"]


def list_fields(schema: GraphQLSchema) -> list[tuple[str, str, Any]]:
    """(type, field, its definition) for every list field of an object or interface type,
    introspection types aside."""
    found = []
    for type_name, named in sorted(schema.type_map.items()):
        if type_name.startswith("__") or not isinstance(
            named, GraphQLObjectType | GraphQLInterfaceType
        ):
            continue
        for field_name, field in named.fields.items():
            if is_list_type(get_nullable_type(field.type)):
                found.append((type_name, field_name, field))
    return found


def missing(schema: GraphQLSchema) -> list[str]:
    """The list fields without a worst case, each as the line to add to LIST_LENGTHS."""
    return [
        f'"{t}.{f}": <Cap(n) | CountOf | IntArgument | DayRange | PAGE | Leaves()>,'
        for t, f, _ in list_fields(schema)
        if f"{t}.{f}" not in LIST_LENGTHS and f"*.{f}" not in LIST_LENGTHS
    ]


def check(schema: GraphQLSchema) -> None:
    """Refuse a schema with a list field that has no worst case."""
    lines = missing(schema)
    if lines:
        raise LookupError(
            "List fields without a worst-case length for the query cost; add to "
            "LIST_LENGTHS in schema/list_lengths.py (and enforce the cap):\n" + "\n".join(lines)
        )
