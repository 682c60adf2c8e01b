"""The GraphQL schema: Query and Mutation assembled from one class per domain."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import strawberry
from strawberry.types.scalar import ScalarDefinition

from schema import (
    errors,
    inputs,
    limits,
    list_lengths,
    logs,
    permissions,
    signin_limit,
    telemetry,
)
from schema.abtests import AbTestQuery
from schema.admin import AdminQuery
from schema.admin_mutations import AdminMutation
from schema.analytics import AnalyticsQuery
from schema.auth import AuthMutation
from schema.campaigns import CampaignMutation, CampaignQuery
from schema.execution import Executor, Schema
from schema.execution.adapter import graphql_schema
from schema.execution.hooks import Hooks, operation_hooks
from schema.inputs import DATE_SCALAR, DATETIME_SCALAR, DECIMAL_SCALAR
from schema.merchants import MerchantMutation, MerchantQuery
from schema.relay import NodeQuery
from schema.subscriptions import Subscription
from schema.users import UserQuery


@strawberry.type(description="Read the platform.")
class Query(
    NodeQuery, CampaignQuery, MerchantQuery, UserQuery, AbTestQuery, AnalyticsQuery, AdminQuery
):
    pass


@strawberry.type(description="Change the platform. Expected failures come back as `userErrors`.")
class Mutation(CampaignMutation, MerchantMutation, AuthMutation, AdminMutation):
    pass


# Every field's access rule, from the one table in schema/permissions.py.
permissions.apply(Query, Mutation, Subscription)


# Every operation's hooks, in order (schema/execution/hooks.py). The limits also parse and
# validate each document once (schema/documents.py), in place of Strawberry's ParserCache and
# ValidationCache.
HOOKS = Hooks(
    before_operation=[telemetry.before_operation],
    before_parse=[logs.before_parse, limits.before_parse],
    before_validate=[logs.before_validate, limits.before_validate],
    before_execute=[
        logs.before_execute,
        limits.before_execute,
        inputs.before_execute,
        signin_limit.before_execute,
        telemetry.before_execute,  # last: the operation passed every limit
    ],
    after_operation=[errors.mask_internal_errors, logs.summarize, telemetry.after_operation],
    each_result=[errors.mask_streamed_errors, telemetry.each_result],
)

# Our scalars: Strawberry's parsing and output, with their wire formats described.
SCALAR_OVERRIDES: dict[object, ScalarDefinition] = {
    datetime: DATETIME_SCALAR,
    date: DATE_SCALAR,
    Decimal: DECIMAL_SCALAR,
}

schema = Schema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    extensions=[operation_hooks(HOOKS)],
    execution_context_class=Executor,
    scalar_overrides=SCALAR_OVERRIDES,
)
# Every list field has a worst-case length for the query cost, or the server does not start.
list_lengths.check(graphql_schema(schema))
