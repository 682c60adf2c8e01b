"""The GraphQL schema: Query and Mutation assembled from one class per domain."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from schema import compiled, limits, list_lengths, permissions, prepared
from schema.abtests import AbTestQuery
from schema.admin import AdminQuery
from schema.admin_mutations import AdminMutation
from schema.analytics import AnalyticsQuery
from schema.auth import AuthMutation
from schema.campaigns import CampaignMutation, CampaignQuery
from schema.errors import MaskInternalErrors, hide_suggestions, log_errors
from schema.fast_execution import FastExecutionContext
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


class Schema(strawberry.Schema):
    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        """A prepared query runs without Strawberry's pipeline (schema/prepared.py); anything
        else, and any query that would produce an error, goes through it."""
        if query is not None and operation_name is None:
            # Strawberry would run the first of several operations (its execution context
            # names it when the request does not): refused here, as the spec requires.
            refusal = limits.unchosen_operation(query, limits.LIMITS)
            if refusal is not None:
                return ExecutionResult(data=None, errors=[refusal])
        tried = (
            query is not None
            and root_value is None
            and operation_extensions is None
            and (allowed_operation_types is None or OperationType.QUERY in allowed_operation_types)
            and self.execution_context_class is FastExecutionContext  # not when tests swap it
        )
        if tried and query is not None:
            data = await prepared.run(
                self._schema, query, variable_values, operation_name, context_value
            )
            if data is not None:
                return ExecutionResult(data=data, errors=None)
        # When the compiled path already had its go, straight to the fast executor.
        skip = compiled.SKIP.set(tried)
        try:
            return await super().execute(
                query,
                variable_values,
                context_value,
                root_value,
                operation_name,
                allowed_operation_types,
                operation_extensions,
            )
        finally:
            compiled.SKIP.reset(skip)

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        hide_suggestions(errors)
        log_errors(errors, execution_context)


schema = Schema(
    query=Query,
    mutation=Mutation,
    # QueryLimits also parses and validates each document once (schema/documents.py), in
    # place of Strawberry's ParserCache and ValidationCache.
    extensions=[QueryLimits, InputLimits, SignInLimit, MaskInternalErrors],
    execution_context_class=FastExecutionContext,
    scalar_overrides={datetime: DATETIME_SCALAR},
)
# Every list field has a worst-case length for the query cost, or the server does not start.
list_lengths.check(schema._schema)
