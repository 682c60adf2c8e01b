"""The GraphQL schema: Query and Mutation assembled from one class per domain."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import ParserCache, ValidationCache

from schema import permissions
from schema.abtests import AbTestQuery
from schema.admin import AdminQuery
from schema.admin_mutations import AdminMutation
from schema.analytics import AnalyticsQuery
from schema.auth import AuthMutation
from schema.campaigns import CampaignMutation, CampaignQuery
from schema.errors import MaskInternalErrors, log_errors
from schema.fast_execution import FastExecutionContext
from schema.limits import QueryLimits
from schema.merchants import MerchantMutation, MerchantQuery
from schema.relay import NodeQuery
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


class Schema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        log_errors(errors, execution_context)


schema = Schema(
    query=Query,
    mutation=Mutation,
    extensions=[
        QueryLimits,
        MaskInternalErrors,
        lambda: ParserCache(maxsize=256),
        lambda: ValidationCache(maxsize=256),
    ],
    execution_context_class=FastExecutionContext,
)
