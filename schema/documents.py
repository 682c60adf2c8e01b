"""Each document text parsed once and validated once.

Strawberry's pipeline reads the entry through the limits' operation hooks, in place of
Strawberry's ParserCache and ValidationCache; the batch check (schema/limits.py) reads the
same entry, so a batched document is not parsed again.

Validation is the expensive step (the overlapping-fields rule compares every pair of fields
with the same response name, so its time grows with the square of a repeated field's count),
so the fields are counted on the parsed document, before validation, and `limits` refuses a
document over its cap first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    parse,
)
from strawberry.schema.schema import validate_document

_MAX_DOCUMENTS = 256  # entries remembered, as Strawberry's parser and validation caches


@dataclass
class Parsed:
    """A document text's parse: the document (None when it does not parse) and its fields."""

    document: DocumentNode | None
    fields: int = 0
    repeats: int = 0  # the most fields of one selection set sharing a response name
    # validation rules -> the errors they found (rules differ only if an extension adds some)
    errors: dict[tuple[Any, ...], list[GraphQLError]] = field(default_factory=dict)


_parsed: dict[str, Parsed] = {}


def parse_once(query: str) -> Parsed:
    """The document of `query`, parsed the first time it is seen. Call only on a document
    that passed `limits.check_source` (size, tokens, nesting): the parser is recursive."""
    found = _parsed.get(query)
    if found is not None:
        return found
    try:
        document = parse(query)
    except (GraphQLError, RecursionError):
        # Not remembered as a document: Strawberry parses it again to report the error
        # where it reports parse errors (a parse is linear, unlike validation).
        found = Parsed(None)
    else:
        found = Parsed(document, count_fields(document), most_repeated(document))
    if len(_parsed) >= _MAX_DOCUMENTS:
        _parsed.clear()
    _parsed[query] = found
    return found


def validate_once(schema: Any, parsed: Parsed, rules: Sequence[Any]) -> list[GraphQLError]:
    """Strawberry's validation of a parsed document, run once per document and rule set."""
    assert parsed.document is not None
    key = tuple(rules)
    errors = parsed.errors.get(key)
    if errors is None:
        errors = parsed.errors[key] = validate_document(schema, parsed.document, key)
    return errors


def count_fields(document: DocumentNode) -> int:
    """Field selections in the document, each counted every time it is used: a fragment's
    fields once per spread (a fragment spread nowhere counts once). Fragment cycles are cut
    (validation reports them); each fragment's count is worked out once, so a fragment
    spread twice inside one spread twice... costs no more to count than to parse."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    counts: dict[str, int] = {}

    def of_fragment(name: str) -> int:
        if name not in counts:
            counts[name] = 0  # while it is counted: a cycle back to it adds nothing
            counts[name] = of_selections(fragments[name].selection_set)
        return counts[name]

    def of_selections(selection_set: SelectionSetNode) -> int:
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FragmentSpreadNode):
                if selection.name.value in fragments:
                    total += of_fragment(selection.name.value)
                continue
            if isinstance(selection, FieldNode):
                total += 1
            if (
                isinstance(selection, FieldNode | InlineFragmentNode)
                and selection.selection_set is not None
            ):
                total += of_selections(selection.selection_set)
        return total

    total = sum(
        of_selections(d.selection_set)
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode)
    )
    return total + sum(of_fragment(name) for name in fragments if name not in counts)


def most_repeated(document: DocumentNode) -> int:
    """The most fields sharing one response name in any selection set, with its inline
    fragments and fragment spreads merged in, as the overlapping-fields validation rule
    merges them: the rule compares every pair of them, so its time grows with the square of
    this number (200 `me { ... on User { id } }` took 0.17 s to validate)."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    merged: dict[str, Counter[str]] = {}

    def keys_of_fragment(name: str) -> Counter[str]:
        if name not in merged:
            merged[name] = Counter()  # while it is merged: a cycle back to it adds nothing
            merged[name] = keys(fragments[name].selection_set)
        return merged[name]

    def keys(selection_set: SelectionSetNode) -> Counter[str]:
        found: Counter[str] = Counter()
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                found[(selection.alias or selection.name).value] += 1
            elif isinstance(selection, InlineFragmentNode):
                found.update(keys(selection.selection_set))
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value in fragments:
                found.update(keys_of_fragment(selection.name.value))
        return found

    most = 0
    pending = [d.selection_set for d in document.definitions if hasattr(d, "selection_set")]
    while pending:
        selection_set = pending.pop()
        most = max(most, max(keys(selection_set).values(), default=0))
        for selection in selection_set.selections:
            inner = getattr(selection, "selection_set", None)  # fields, inline fragments
            if inner is not None:
                pending.append(inner)
    return most


class OperationNotChosen(GraphQLError):
    """The request does not say which of its document's operations to run (or names one the
    document lacks): refused before anything runs, as the GraphQL spec requires."""

    def __init__(self, message: str) -> None:
        super().__init__(message, extensions={"code": "OPERATION_NOT_CHOSEN"})


def operation_of(document: DocumentNode, operation_name: str | None) -> OperationDefinitionNode:
    """The operation a request runs: the one named, or the document's only one. Every check
    (cost, text caps, sign-in count) and the executor must see the same one, so an ambiguous
    or unknown name is an error here rather than a guess (the first operation once went
    uncounted by the cost limit while the executor ran it)."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is None:
        if len(operations) == 1:
            return operations[0]
        raise OperationNotChosen(
            "The document has several operations: name the one to run in `operationName`"
            if operations
            else "The document has no operation"
        )
    for operation in operations:
        if operation.name is not None and operation.name.value == operation_name:
            return operation
    raise OperationNotChosen(f"The document has no operation named {operation_name!r}")
