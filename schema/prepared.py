"""Prepared queries: a query document that has passed the limits, parsing and validation runs
compiled (schema/compiled.py) without Strawberry's per-request pipeline.

Why: for a small query such as one campaign by id, Strawberry's `Schema.execute` around the
execution (an execution context, four schema extensions entered and left as generators, the
parser and validation caches looked up through them, result processing) costs about as much
as executing it (bench/README.md).

What `Schema.execute` (schema/__init__.py) does first, for a query: the same steps in the same
order, each remembered where the extensions remember them. The document's raw limits
(`limits.check_source_cached`), its parse and its validation (with Strawberry's validation
rules) are remembered per document text; the operation's shape limits (`limits.check_operation`)
are checked on every request, as the QueryLimits extension does. Then the compiled executor
runs. Whenever any step would produce an error (a refused or invalid document, a variable
that does not coerce, an unknown operation name, a mutation, a compiled run that bails out),
or the operation cannot be planned, this returns None and the request goes through
Strawberry's full pipeline from the start, which reports the error exactly as before. Queries
only read, so running one again is harmless. A success has no errors, so error masking has
nothing to do, and no extension of ours adds response `extensions`.
"""

from __future__ import annotations

from typing import Any

from graphql import DocumentNode, GraphQLError, OperationType, parse, specified_rules
from strawberry.execution import optimized_is_awaitable
from strawberry.schema.schema import validate_document

from schema import compiled, limits
from schema.fast_execution import FastExecutionContext

# Document text -> its parsed, valid document, or None when it failed to parse or validate.
# Bounded like Strawberry's parser and validation caches (256 each).
_documents: dict[str, DocumentNode | None] = {}
_MAX_DOCUMENTS = 256
_RULES = tuple(specified_rules)


def _document(graphql_schema: Any, query: str) -> DocumentNode | None:
    if query in _documents:
        return _documents[query]
    try:
        document: DocumentNode | None = parse(query)
    except (GraphQLError, RecursionError):
        document = None
    if document is not None and validate_document(graphql_schema, document, _RULES):
        document = None
    if len(_documents) >= _MAX_DOCUMENTS:
        _documents.clear()
    _documents[query] = document
    return document


async def run(
    graphql_schema: Any,
    query: str,
    variables: dict[str, Any] | None,
    operation_name: str | None,
    context: Any,
) -> dict[str, Any] | None:
    """The query's data, or None: then Strawberry's pipeline must answer (see the module doc)."""
    if not compiled.ENABLED:
        return None
    try:
        limits.check_source_cached(query, limits.LIMITS)
    except limits.LimitExceeded:
        return None
    document = _document(graphql_schema, query)
    if document is None:
        return None
    executor = FastExecutionContext.build(
        graphql_schema,
        document,
        None,
        context,
        variables,
        operation_name,
        is_awaitable=optimized_is_awaitable,
    )
    if isinstance(executor, list):  # variables that do not coerce, an unknown operation...
        return None
    operation = executor.operation
    if operation.operation is not OperationType.QUERY:
        return None
    try:
        limits.check_operation(graphql_schema, document, operation, variables or {}, limits.LIMITS)
    except limits.LimitExceeded:
        return None
    plan = compiled.plan_for(executor)
    if plan is None:
        return None
    try:
        data = await compiled.execute(executor, plan)
    except compiled.Bailout:
        return None
    executor.finish(executor.build_response(data))
    return data
