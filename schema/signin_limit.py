"""At most one sign-in per HTTP request: `login`, `refreshToken`, `completePasswordReset`.

Without it, one request could try dozens of passwords: aliases in one operation, and several
operations in a batch. Both are refused before any resolver runs (so before any password
work), with SIGN_IN_LIMIT_EXCEEDED: an operation by its operation hook (`before_execute`), a
batch by the HTTP view, which counts its operations' sign-in fields together.
"""

from __future__ import annotations

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
)
from strawberry.types import ExecutionContext

from schema import documents, limits
from schema.limits import LimitExceeded

SIGN_IN_FIELDS = frozenset({"login", "refreshToken", "completePasswordReset"})
MAX_SIGN_INS = 1
CODE = "SIGN_IN_LIMIT_EXCEEDED"


def refusal(count: int) -> LimitExceeded:
    return LimitExceeded(
        CODE,
        f"The request has {count} sign-in fields (login, refreshToken, completePasswordReset,"
        f" aliases and batched operations included); the limit is {MAX_SIGN_INS} per request",
    )


def count(document: DocumentNode, operation: OperationDefinitionNode) -> int:
    """Sign-in fields at the root of `operation` (through fragments; cycles cut)."""
    if operation.operation is not OperationType.MUTATION:
        return 0
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }

    def walk(selections: SelectionSetNode, seen: frozenset[str]) -> int:
        found = 0
        for s in selections.selections:
            if isinstance(s, FieldNode):
                found += s.name.value in SIGN_IN_FIELDS
            elif isinstance(s, InlineFragmentNode):
                found += walk(s.selection_set, seen)
            elif isinstance(s, FragmentSpreadNode):
                fragment = fragments.get(s.name.value)
                if fragment is not None and s.name.value not in seen:
                    found += walk(fragment.selection_set, seen | {s.name.value})
        return found

    return walk(operation.selection_set, frozenset())


def count_in_source(query: str, operation_name: str | None) -> int:
    """`count` for a batch's operation, not parsed yet; 0 if it is refused or does not parse
    (executing it reports why). Parsed once with the rest (schema/documents.py)."""
    try:
        limits.check_source_cached(query, limits.LIMITS)  # never parse an abusive document
    except GraphQLError:
        return 0
    document = documents.parse_once(query).document
    if document is None:
        return 0
    return count(document, documents.operation_of(document, operation_name))


def before_execute(ctx: ExecutionContext) -> None:
    """The operation hook (schema/execution/hooks.py) that refuses an operation with more
    than one sign-in field before it executes."""
    document = ctx.graphql_document
    if document is not None:
        found = count(document, documents.operation_of(document, ctx.operation_name))
        if found > MAX_SIGN_INS:
            raise refusal(found)
