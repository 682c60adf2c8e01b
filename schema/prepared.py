"""Prepared queries: a query document that has passed the limits, parsing and validation runs
compiled (schema/compiled.py) without Strawberry's per-request pipeline.

Why: for a small query such as one campaign by id, Strawberry's `Schema.execute` around the
execution (an execution context, four schema extensions entered and left as generators, the
parser and validation caches looked up through them, result processing) costs about as much
as executing it (bench/README.md).

What `Schema.execute` (schema/__init__.py) does first, for a query: the same steps in the same
order, each remembered where the extensions remember them. The document's raw limits
(`limits.check_source_cached`), its parse, its field count and its validation (with
Strawberry's validation rules) are remembered per document text, in the entry the pipeline
reads too (schema/documents.py), so a document handed on to the pipeline is not validated
again; the operation's shape limits (`limits.check_operation`) are checked on every request,
as the QueryLimits extension does. Then the compiled executor runs. Whenever any step would
produce an error (a refused or invalid document, a variable that does not coerce, an unknown
operation name, a mutation, a compiled run that bails out), or the operation cannot be
planned, this returns None and the request goes through Strawberry's full pipeline from the
start, which reports the error exactly as before. Queries
only read, so running one again is harmless. A success has no errors, so error masking has
nothing to do, and no extension of ours adds response `extensions`.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    OperationType,
    Undefined,
    coerce_input_value,
    specified_rules,
)
from graphql.execution.get_variable_signature import (
    GraphQLVariableSignature,
    get_variable_signature,
)
from graphql.execution.values import (
    VariableValues,
    VariableValueSource,
    input_is_nested_too_deeply,
)
from graphql.pyutils import Path
from strawberry.execution import optimized_is_awaitable
from strawberry.schema.schema import _OperationContextAwareGraphQLResolveInfo

from resolvers.context import Context
from resolvers.errors import BadUserInput
from resolvers.warm import start_common_reads
from schema import compiled, documents, inputs, limits
from schema.fast_execution import FastExecutionContext

_MAX_DOCUMENTS = 256  # operations remembered, as Strawberry's parser and validation caches
_RULES = tuple(specified_rules)  # Strawberry's default validation rules


def _document(graphql_schema: Any, query: str) -> DocumentNode | None:
    """The parsed, valid document, or None: it does not parse, selects more fields than the
    limit, or is invalid (the pipeline then reports why, without validating it again)."""
    parsed = documents.parse_once(query)
    if parsed.document is None:
        return None
    try:
        limits.check_fields(parsed, limits.LIMITS)
    except limits.LimitExceeded:
        return None
    if documents.validate_once(graphql_schema, parsed, _RULES):
        return None
    return parsed.document


class _Operation:
    """What one (document, operation name) needs per request, worked out once: the operation,
    its fragments, its variables' signatures (graphql-core rebuilds those, and their wrapper
    types, on every request) and its compiled plan."""

    __slots__ = ("fragment_definitions", "fragments", "operation", "plan", "signatures")

    def __init__(self, executor: FastExecutionContext, plan: compiled.Plan) -> None:
        self.plan = plan
        self.operation = executor.operation
        self.fragment_definitions = executor.fragment_definitions
        self.fragments = executor.fragments
        signatures = []
        for var_def in executor.operation.variable_definitions or ():
            signature = get_variable_signature(executor.schema, var_def)
            if isinstance(signature, GraphQLError):  # validation refuses these
                raise TypeError(signature.message)
            signatures.append((signature, var_def.default_value is not None))
        self.signatures: list[tuple[GraphQLVariableSignature, bool]] = signatures

    def variables(self, inputs: dict[str, Any]) -> VariableValues | None:
        """`coerce_variable_values` for variables that are given or nullable and have no
        default; None (the full pipeline) for anything else, including any coercion error."""
        sources: dict[str, VariableValueSource] = {}
        coerced: dict[str, Any] = {}
        for signature, has_default in self.signatures:
            name = signature.name
            value = inputs.get(name, Undefined)
            if value is Undefined:
                if has_default or isinstance(signature.type, GraphQLNonNull):
                    return None
                sources[name] = VariableValueSource(signature)
                continue
            sources[name] = VariableValueSource(signature, value)
            if input_is_nested_too_deeply(value, signature.type):
                return None
            coerced_value = coerce_input_value(value, signature.type)
            if coerced_value is Undefined:
                return None
            coerced[name] = coerced_value
        return VariableValues(sources, coerced)


class _Run:
    """The executor attributes the compiled path reads (schema/compiled.py), without the
    rest of graphql-core's executor state (~8 % of a one-campaign query to set up)."""

    __slots__ = (
        "context_value",
        "fragment_definitions",
        "fragments",
        "operation",
        "schema",
        "variable_values",
    )

    abort_signal = None
    async_helpers = None
    root_value = None
    is_awaitable = staticmethod(optimized_is_awaitable)

    def __init__(
        self, schema: Any, operation: _Operation, variables: VariableValues, context: Any
    ) -> None:
        self.schema = schema
        self.operation = operation.operation
        self.fragment_definitions = operation.fragment_definitions
        self.fragments = operation.fragments
        self.variable_values = variables
        self.context_value = context

    def build_resolve_info(
        self,
        field_def: GraphQLField,
        field_nodes: list[FieldNode],
        parent_type: GraphQLObjectType,
        path: Path,
    ) -> Any:
        """As Strawberry's executor builds it (StrawberryGraphQLCoreExecutionContext)."""
        return _OperationContextAwareGraphQLResolveInfo(
            field_nodes[0].name.value,
            field_nodes,
            field_def.type,
            parent_type,
            path,
            self.schema,
            self.fragment_definitions,
            None,
            self.operation,
            self.variable_values.coerced,
            self.context_value,
            optimized_is_awaitable,
            None,
            None,
            None,  # type: ignore[arg-type]  # no operation extensions, as Strawberry's default
        )


# (document text, operation name) -> its _Operation, or None when it is not a plannable query.
_operations: dict[tuple[str, str | None], _Operation | None] = {}


def _operation(
    graphql_schema: Any,
    query: str,
    document: DocumentNode,
    variables: dict[str, Any] | None,
    operation_name: str | None,
    context: Any,
) -> _Operation | None:
    key = (query, operation_name)
    if key in _operations:
        return _operations[key]
    executor = FastExecutionContext.build(
        graphql_schema,
        document,
        None,
        context,
        variables,
        operation_name,
        is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]
    )
    if isinstance(executor, list):  # variables that do not coerce, an unknown operation...
        return None  # not remembered: other variables may do
    assert isinstance(executor, FastExecutionContext)
    found = None
    if executor.operation.operation is OperationType.QUERY:
        plan = compiled.plan_for(executor)
        if plan is not None:
            found = _Operation(executor, plan)
    if len(_operations) >= _MAX_DOCUMENTS:
        _operations.clear()
    _operations[key] = found
    return found


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
    operation = _operation(graphql_schema, query, document, variables, operation_name, context)
    if operation is None:
        return None
    try:  # before the variables are coerced: a refused list is not converted first
        limits.check_operation(
            graphql_schema, document, operation.operation, variables or {}, limits.LIMITS
        )
        inputs.check_inputs(graphql_schema, document, operation.operation, variables or {})
    except (limits.LimitExceeded, BadUserInput):
        return None
    variable_values = operation.variables(variables or {})
    if variable_values is None:
        return None
    executor = _Run(graphql_schema, operation, variable_values, context)
    if isinstance(context, Context):
        start_common_reads(context, operation.plan.paged)
    try:
        return await compiled.execute(executor, operation.plan)  # type: ignore[arg-type]
    except compiled.Bailout:
        return None
