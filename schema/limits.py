"""Abuse limits: every GraphQL document is measured and refused before any resolver runs.

Before parsing: document size in bytes, token count and bracket nesting (the parser is
recursive, so a deeply nested document must be refused before it reaches it). After parsing,
before validation (which is quadratic in repeated fields): the number of field selections.
After validation, before execution: query depth, aliases, introspection (off in production)
and the query cost (GitHub-style: the cost is the worst-case number of objects the query may
return; `first`/`last` of a connection and the worst-case length of every list field,
schema/list_lengths.py, multiply down the tree). A batch shares one cost and one field budget
(`check_batch`). Each refusal is a top-level error with its own `extensions.code` and a message
naming the limit and its value. The response-size and time budgets are enforced by the HTTP
view (schema/http.py).

Limits come from the environment (see `Limits.from_env` and the README); `LIMITS` is read on
every operation, so tests may replace it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    NullValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    Source,
    StringValueNode,
    TokenKind,
    ValueNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_composite_type,
    is_list_type,
    value_from_ast_untyped,
)
from graphql.language import Lexer
from strawberry.types import ExecutionContext

from resolvers.env import is_production, positive_float, positive_int
from resolvers.errors import BadUserInput
from resolvers.pagination import DEFAULT_PAGE_SIZE
from resolvers.settings import MAX_PAGE_SIZE
from schema import documents, list_lengths
from schema.execution.adapter import graphql_schema

INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})
OPENING = frozenset({TokenKind.BRACE_L, TokenKind.BRACKET_L, TokenKind.PAREN_L})
CLOSING = frozenset({TokenKind.BRACE_R, TokenKind.BRACKET_R, TokenKind.PAREN_R})


@dataclass(frozen=True)
class Limits:
    """Each limit, its environment variable, and its default (documented in the README)."""

    max_depth: int = 12  # GRAPHQL_MAX_DEPTH
    max_aliases: int = 30  # GRAPHQL_MAX_ALIASES
    max_tokens: int = 2000  # GRAPHQL_MAX_TOKENS
    max_document_bytes: int = 20_000  # GRAPHQL_MAX_DOCUMENT_BYTES
    max_cost: int = 10_000  # GRAPHQL_MAX_COST
    max_fields: int = 400  # GRAPHQL_MAX_FIELDS
    max_repeated_fields: int = 30  # GRAPHQL_MAX_REPEATED_FIELDS
    max_batch: int = 10  # GRAPHQL_MAX_BATCH
    max_body_bytes: int = 1_000_000  # HTTP_MAX_BODY_BYTES
    max_response_bytes: int = 10_000_000  # GRAPHQL_MAX_RESPONSE_BYTES
    request_timeout_s: float = 10.0  # GRAPHQL_REQUEST_TIMEOUT_S
    introspection: bool = True  # off when APP_ENV=production

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Limits:
        env = os.environ if env is None else env
        d = cls()
        return cls(
            max_depth=positive_int(env, "GRAPHQL_MAX_DEPTH", d.max_depth),
            max_aliases=positive_int(env, "GRAPHQL_MAX_ALIASES", d.max_aliases),
            max_tokens=positive_int(env, "GRAPHQL_MAX_TOKENS", d.max_tokens),
            max_document_bytes=positive_int(
                env, "GRAPHQL_MAX_DOCUMENT_BYTES", d.max_document_bytes
            ),
            max_cost=positive_int(env, "GRAPHQL_MAX_COST", d.max_cost),
            max_fields=positive_int(env, "GRAPHQL_MAX_FIELDS", d.max_fields),
            max_repeated_fields=positive_int(
                env, "GRAPHQL_MAX_REPEATED_FIELDS", d.max_repeated_fields
            ),
            max_batch=positive_int(env, "GRAPHQL_MAX_BATCH", d.max_batch),
            max_body_bytes=positive_int(env, "HTTP_MAX_BODY_BYTES", d.max_body_bytes),
            max_response_bytes=positive_int(
                env, "GRAPHQL_MAX_RESPONSE_BYTES", d.max_response_bytes
            ),
            request_timeout_s=positive_float(env, "GRAPHQL_REQUEST_TIMEOUT_S", d.request_timeout_s),
            introspection=not is_production(env),
        )


LIMITS = Limits.from_env()


class LimitExceeded(GraphQLError):
    """A refused document: shown to the client as it is (never masked)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, extensions={"code": code})


# (document, limits) -> its token count, for documents that passed `check_source`.
_passed: dict[tuple[str, Limits], int] = {}
_MAX_PASSED = 256


def check_source_cached(query: str, limits: Limits, max_tokens: int | None = None) -> int:
    """`check_source`, remembering documents that passed (as the parser cache remembers their
    parse): a client sends the same few documents again and again, and lexing a Q2-sized
    one costs ~0.3 ms. A refused document raises, is not cached and is checked every time."""
    tokens = _passed.get((query, limits))
    if tokens is not None:
        if max_tokens is not None and tokens > max_tokens:
            _refuse_tokens(max_tokens)
        return tokens
    tokens = check_source(query, limits, max_tokens)
    if max_tokens is None or max_tokens >= limits.max_tokens:
        if len(_passed) >= _MAX_PASSED:
            _passed.clear()
        _passed[(query, limits)] = tokens
    return tokens


def _refuse_tokens(max_tokens: int) -> None:
    raise LimitExceeded(
        "TOKEN_LIMIT_EXCEEDED", f"The document has more than {max_tokens} tokens, the limit"
    )


def check_source(query: str, limits: Limits, max_tokens: int | None = None) -> int:
    """Size, tokens and nesting of the raw document, without running the recursive parser;
    returns its token count. `max_tokens` (at most the limit's) is what is left of a batch's
    token budget: lexing stops as soon as it is spent."""
    max_tokens = limits.max_tokens if max_tokens is None else min(max_tokens, limits.max_tokens)
    size = len(query.encode("utf-8", "surrogatepass"))
    if size > limits.max_document_bytes:
        raise LimitExceeded(
            "DOCUMENT_TOO_LARGE",
            f"The document is {size} bytes; the limit is {limits.max_document_bytes} bytes",
        )
    # Brackets also nest input values, so allow twice the field depth here; the exact field
    # depth is checked after parsing.
    max_nesting = 2 * limits.max_depth + 2
    lexer = Lexer(Source(query))
    tokens = nesting = 0
    try:
        token = lexer.advance()
        while token.kind is not TokenKind.EOF:
            tokens += 1
            if tokens > max_tokens:
                _refuse_tokens(max_tokens)
            if token.kind in OPENING:
                nesting += 1
                if nesting > max_nesting:
                    raise LimitExceeded(
                        "DEPTH_LIMIT_EXCEEDED",
                        f"The document nests deeper than the query depth limit of "
                        f"{limits.max_depth}",
                    )
            elif token.kind in CLOSING:
                nesting -= 1
            token = lexer.advance()
    except LimitExceeded:
        raise
    except GraphQLError:
        pass  # a syntax error: the parser reports it with its location
    return tokens


@dataclass
class _Measure:
    depth: int = 0
    aliases: int = 0
    cost: int = 0
    introspection: bool = False


def _shape(value: Any) -> Any:
    """What the walk reads of a variable: an int (not a bool), a list's length, a string (a
    date), or nothing."""
    if isinstance(value, int | str) and not isinstance(value, bool):
        return value
    if isinstance(value, list):
        return ("list", len(value))
    return None


def _today() -> date:
    """Today as the resolvers see it (a missing `to` is today, UTC)."""
    return datetime.now(UTC).date()


# id(operation) -> (the operation, kept alive so its id stays unique; the variables its walk
# read; measure by today's date and the shapes of those variables). The parser cache keeps
# operations alive across requests, so a document's walk runs once per distinct page size
# (or date range, or day), not per request.
_measures: dict[
    int, tuple[OperationDefinitionNode, tuple[str, ...], dict[tuple[Any, ...], _Measure]]
] = {}
_MAX_MEASURED = 512


def _measure(
    schema: GraphQLSchema,
    document: Any,
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any],
) -> _Measure:
    today = _today()
    variables = _with_defaults(operation, variables)
    cached = _measures.get(id(operation))
    if cached is not None and cached[0] is operation:
        _op, names, by_shape = cached
        shapes = (today, *(_shape(variables.get(n)) for n in names))
        found = by_shape.get(shapes)
        if found is not None:
            return found
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    root = schema.get_root_type(operation.operation)
    read = _ReadVariables(variables)
    walker = _Walker(schema, fragments, read, today)
    walker.walk(operation.selection_set, root, 1, 1, frozenset())
    names = tuple(sorted(read.names))
    if cached is None or cached[0] is not operation or cached[1] != names:
        if len(_measures) >= _MAX_MEASURED:
            _measures.clear()
        cached = (operation, names, {})
        _measures[id(operation)] = cached
    by_shape = cached[2]
    if len(by_shape) < 64:  # a client paging with ever new sizes: stop remembering
        by_shape[(today, *(_shape(variables.get(n)) for n in names))] = walker.measure
    return walker.measure


def _with_defaults(
    operation: OperationDefinitionNode, variables: Mapping[str, Any]
) -> Mapping[str, Any]:
    """The variables, with the operation's defaults for those not given (`$n: Int = 100`)."""
    defaults = {
        d.variable.name.value: value_from_ast_untyped(d.default_value)
        for d in operation.variable_definitions or ()
        if d.default_value is not None and d.variable.name.value not in variables
    }
    return {**variables, **defaults} if defaults else variables


class _ReadVariables:
    """The variables, noting which ones the walk reads."""

    def __init__(self, variables: Mapping[str, Any]) -> None:
        self.variables = variables
        self.names: set[str] = set()

    def get(self, name: str) -> Any:
        self.names.add(name)
        return self.variables.get(name)


class _Walker:
    """Walks one operation with its fragments; fragment cycles are cut (validation reports
    them), so the walk always ends."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: _ReadVariables,
        today: date,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.today = today
        self.measure = _Measure()

    def walk(
        self,
        selection_set: SelectionSetNode,
        parent: Any,
        depth: int,
        multiplier: int,
        seen: frozenset[str],
    ) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                self._field(selection, parent, depth, multiplier, seen)
            elif isinstance(selection, InlineFragmentNode):
                target = parent
                if selection.type_condition is not None:
                    target = self.schema.get_type(selection.type_condition.name.value) or parent
                self.walk(selection.selection_set, target, depth, multiplier, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in seen:
                    continue
                target = self.schema.get_type(fragment.type_condition.name.value) or parent
                self.walk(fragment.selection_set, target, depth, multiplier, seen | {name})

    def _field(
        self, node: FieldNode, parent: Any, depth: int, multiplier: int, seen: frozenset[str]
    ) -> None:
        m = self.measure
        name = node.name.value
        if node.alias is not None:
            m.aliases += 1
        if name.startswith("__"):
            # Introspection is bounded by the token limit and switched off in production.
            m.introspection = m.introspection or name in INTROSPECTION_FIELDS
            return
        m.depth = max(m.depth, depth)
        fields = getattr(parent, "fields", None) or {}
        definition = fields.get(name)
        if definition is None or node.selection_set is None:
            return
        named = get_named_type(definition.type)
        if is_list_type(get_nullable_type(definition.type)):
            multiplier *= self._length(list_lengths.length_of(parent.name, name), node)
        elif "first" in definition.args or "last" in definition.args:  # a connection
            multiplier *= self._page_size(node)
        if is_composite_type(named):
            m.cost += multiplier
        self.walk(node.selection_set, named, depth + 1, multiplier, seen)

    def _page_size(self, node: FieldNode) -> int:
        """The worst case page: the larger of `first`/`last` asked, else the default size."""
        sizes = [
            self._int_value(arg.value)
            for arg in node.arguments or ()
            if arg.name.value in ("first", "last")
        ]
        given = [s for s in sizes if s is not None]
        size = max(given) if given else DEFAULT_PAGE_SIZE
        # Larger sizes are refused by the connection itself (BAD_USER_INPUT), before SQL.
        return max(0, min(size, MAX_PAGE_SIZE.maximum))

    def _length(self, length: list_lengths.ListLength, node: FieldNode) -> int:
        """The worst-case length of a list field as asked for here."""
        if isinstance(length, list_lengths.Cap):
            return length.cap
        if isinstance(length, list_lengths.CountOf):
            # More than the cap is refused here, as the resolver would, but before graphql-core
            # and Strawberry convert the list once per field that uses it.
            given = self._list_length(node, length.argument)
            if given > length.cap:
                raise BadUserInput(
                    f"`{length.argument}` may hold at most {length.cap} {length.items} "
                    f"(got {given})",
                    length.argument,
                )
            return given
        if isinstance(length, list_lengths.IntArgument):
            value = self._argument(node, length.argument)
            if value is None or isinstance(value, NullValueNode):
                return length.default
            number = self._int_value(value)
            return length.cap if number is None else max(0, min(number, length.cap))
        if isinstance(length, list_lengths.DayRange):
            return self._days(node, length)
        return 1  # Page: counted at the connection field; Leaves: no objects

    def _argument(self, node: FieldNode, name: str) -> ValueNode | None:
        """The argument's value node; a variable that was not given counts as absent."""
        for arg in node.arguments or ():
            if arg.name.value == name:
                if isinstance(arg.value, VariableNode):
                    if self.variables.get(arg.value.name.value) is None:
                        return None
                return arg.value
        return None

    def _list_length(self, node: FieldNode, name: str) -> int:
        """How many objects a list argument (`nodes(ids:)`) asks for."""
        for arg in node.arguments or ():
            if arg.name.value == name:
                if isinstance(arg.value, ListValueNode):
                    return len(arg.value.values)
                if isinstance(arg.value, VariableNode):
                    given = self.variables.get(arg.value.name.value)
                    return len(given) if isinstance(given, list) else 1
        return 1

    def _date(self, node: FieldNode, name: str) -> date | None | bool:
        """A Date argument: the date, None when absent or null, False when it is not a date
        (then the query is refused when its variables are coerced, or its argument read)."""
        value = self._argument(node, name)
        if value is None or isinstance(value, NullValueNode):
            return None
        if isinstance(value, StringValueNode):
            text: Any = value.value
        elif isinstance(value, VariableNode):
            text = self.variables.get(value.name.value)
        else:
            return False
        try:
            # As Strawberry's Date scalar parses it.
            return date.fromisoformat(text) if isinstance(text, str) else False
        except ValueError:
            return False

    def _days(self, node: FieldNode, length: list_lengths.DayRange) -> int:
        """Days in the `from`..`to` range as resolvers/periods.py works it out; a range the
        resolver refuses (over `max_days`, or backwards) returns nothing."""
        start, end = self._date(node, "from"), self._date(node, "to")
        if start is False or end is False:
            return length.max_days
        assert not isinstance(start, bool) and not isinstance(end, bool)
        end = end or self.today
        try:
            start = start or end - timedelta(days=length.default_days - 1)
        except OverflowError:  # a default period before year 1: the resolver refuses it
            return 0
        days = (end - start).days + 1
        return days if 0 < days <= length.max_days else 0

    def _int_value(self, value: ValueNode) -> int | None:
        if isinstance(value, IntValueNode):
            return int(value.value)
        if isinstance(value, VariableNode):
            given = self.variables.get(value.name.value)
            if isinstance(given, float) and given.is_integer():
                return int(given)  # graphql-core coerces 100.0 to the Int 100
            return given if isinstance(given, int) and not isinstance(given, bool) else None
        return None


def check_fields(parsed: documents.Parsed, limits: Limits) -> None:
    """The field selections of a parsed document (`documents.count_fields`), then its
    repeats (`check_repeats`)."""
    if parsed.fields > limits.max_fields:
        raise LimitExceeded(
            "FIELD_LIMIT_EXCEEDED",
            f"The document selects {parsed.fields} fields; the limit is {limits.max_fields}",
        )
    check_repeats(parsed, limits)


def check_repeats(parsed: documents.Parsed, limits: Limits) -> None:
    """The most fields sharing a response name in one selection set
    (`documents.most_repeated`)."""
    if parsed.repeats > limits.max_repeated_fields:
        raise LimitExceeded(
            "FIELD_LIMIT_EXCEEDED",
            f"The document selects one field {parsed.repeats} times in one place (through "
            f"fragments); the limit is {limits.max_repeated_fields}",
        )


def check_operation(
    schema: GraphQLSchema,
    document: Any,
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any],
    limits: Limits,
) -> None:
    """Depth, aliases, introspection and cost of the operation about to run."""
    m = _measure(schema, document, operation, variables)
    if m.introspection and not limits.introspection:
        raise LimitExceeded(
            "INTROSPECTION_DISABLED",
            "Introspection is disabled on this server (APP_ENV=production)",
        )
    if m.depth > limits.max_depth:
        raise LimitExceeded(
            "DEPTH_LIMIT_EXCEEDED",
            f"The query is {m.depth} levels deep; the depth limit is {limits.max_depth}",
        )
    if m.aliases > limits.max_aliases:
        raise LimitExceeded(
            "ALIAS_LIMIT_EXCEEDED",
            f"The query uses {m.aliases} aliases; the alias limit is {limits.max_aliases}",
        )
    if m.cost > limits.max_cost:
        raise LimitExceeded(
            "COST_LIMIT_EXCEEDED",
            f"The query may return up to {m.cost} objects; the cost limit is {limits.max_cost}",
        )


def check_batch(
    schema: GraphQLSchema,
    operations: Iterable[tuple[str, Mapping[str, Any], str | None]],
    limits: Limits,
) -> None:
    """One token, field and cost budget for all operations of a batch, checked before any of
    them is parsed, validated or run: without it, a batch of N operations may cost N times
    each limit, and lexing and parsing take time in proportion to the tokens. An operation
    refused on its own otherwise (too large, too deep, not parsing) is left out of the sums:
    it is refused with its own error when it runs."""
    tokens = fields = cost = 0
    measured: list[tuple[Any, Mapping[str, Any], str | None]] = []
    for query, variables, operation_name in operations:
        try:
            tokens += check_source_cached(query, limits, limits.max_tokens - tokens)
        except LimitExceeded as exc:
            if (exc.extensions or {}).get("code") == "TOKEN_LIMIT_EXCEEDED":
                raise LimitExceeded(
                    "TOKEN_LIMIT_EXCEEDED",
                    f"The batch has more than {limits.max_tokens} tokens; the limit is for the "
                    "whole request",
                ) from None
            continue
        parsed = documents.parse_once(query)
        if parsed.document is None:
            continue
        fields += parsed.fields
        if fields > limits.max_fields:
            raise LimitExceeded(
                "FIELD_LIMIT_EXCEEDED",
                f"The batch selects more than {limits.max_fields} fields, the limit for the "
                "whole request",
            )
        check_repeats(parsed, limits)
        measured.append((parsed.document, variables, operation_name))
    # The cost once the whole batch is within its token and field budgets.
    for document, variables, operation_name in measured:
        operation = documents.operation_of(document, operation_name)
        cost += _measure(schema, document, operation, variables).cost
    if cost > limits.max_cost:
        raise LimitExceeded(
            "COST_LIMIT_EXCEEDED",
            f"The batch may return up to {cost} objects; the cost limit is {limits.max_cost} "
            "for the whole request",
        )


# The operation hooks of the limits (schema/execution/hooks.py): raw checks before parsing,
# the field count before validation, shape checks before executing. Each document is parsed
# and validated once (schema/documents.py), in place of Strawberry's ParserCache and
# ValidationCache.


def before_parse(ctx: ExecutionContext) -> None:
    if ctx.query is not None:
        check_source_cached(ctx.query, LIMITS)
        parsed = documents.parse_once(ctx.query)
        if parsed.document is not None:
            check_fields(parsed, LIMITS)
            ctx.graphql_document = parsed.document


def before_validate(ctx: ExecutionContext) -> None:
    if ctx.query is not None and ctx.pre_execution_errors is None:
        parsed = documents.parse_once(ctx.query)
        if parsed.document is ctx.graphql_document:
            ctx.pre_execution_errors = documents.validate_once(
                graphql_schema(ctx.schema), parsed, ctx.validation_rules
            )


def before_execute(ctx: ExecutionContext) -> None:
    document = ctx.graphql_document
    if document is not None:
        operation = documents.operation_of(document, ctx.operation_name)
        root = graphql_schema(ctx.schema)
        check_operation(root, document, operation, ctx.variables or {}, LIMITS)


def unchosen_operation(query: str, limits: Limits) -> documents.OperationNotChosen | None:
    """The refusal of a request that names no operation for a document with several; None
    for any other document (one over the raw limits, or that does not parse, is refused by
    the pipeline with its own error)."""
    try:
        check_source_cached(query, limits)
    except LimitExceeded:
        return None
    document = documents.parse_once(query).document
    if document is None:
        return None
    try:
        documents.operation_of(document, None)
    except documents.OperationNotChosen as refusal:
        return refusal
    return None
