"""The GraphQL schema: Query and Mutation assembled from one class per domain."""

from __future__ import annotations

from datetime import datetime

import strawberry

from schema import list_lengths, permissions
from schema.abtests import AbTestQuery
from schema.admin import AdminQuery
from schema.admin_mutations import AdminMutation
from schema.analytics import AnalyticsQuery
from schema.auth import AuthMutation
from schema.campaigns import CampaignMutation, CampaignQuery
from schema.errors import MaskInternalErrors
from schema.execution import Executor, Schema
from schema.execution.adapter import graphql_schema
from schema.inputs import DATETIME_SCALAR, InputLimits
from schema.limits import QueryLimits
from schema.merchants import MerchantMutation, MerchantQuery
from schema.relay import NodeQuery
from schema.signin_limit import SignInLimit
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
permissions.apply(Query, Mutation)


schema = Schema(
    query=Query,
    mutation=Mutation,
    # QueryLimits also parses and validates each document once (schema/documents.py), in
    # place of Strawberry's ParserCache and ValidationCache.
    extensions=[QueryLimits, InputLimits, SignInLimit, MaskInternalErrors],
    execution_context_class=Executor,
    scalar_overrides={datetime: DATETIME_SCALAR},
)
# Every list field has a worst-case length for the query cost, or the server does not start.
list_lengths.check(graphql_schema(schema))
