"""Abuse limits: every GraphQL document is measured and refused before any resolver runs.

Before parsing: document size in bytes, token count and bracket nesting (the parser is
recursive, so a deeply nested document must be refused before it reaches it). After validation,
before execution: query depth, aliases, introspection (off in production) and the query cost
(GitHub-style: `first`/`last` of a connection multiply down the tree; the cost is the worst-case
number of objects the query may return). Each refusal is a top-level error with its own
`extensions.code` and a message naming the limit and its value.

Limits come from the environment (see `Limits.from_env` and the README); `LIMITS` is read on
every operation, so tests may replace it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
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
    OperationDefinitionNode,
    SelectionSetNode,
    Source,
    TokenKind,
    ValueNode,
    VariableNode,
    get_named_type,
    is_composite_type,
)
from graphql.language import Lexer
from strawberry.extensions import SchemaExtension

from resolvers.pagination import DEFAULT_PAGE_SIZE
from resolvers.settings import MAX_PAGE_SIZE

PRODUCTION = "production"
INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})
OPENING = frozenset({TokenKind.BRACE_L, TokenKind.BRACKET_L, TokenKind.PAREN_L})
CLOSING = frozenset({TokenKind.BRACE_R, TokenKind.BRACKET_R, TokenKind.PAREN_R})


def _env_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = int(raw)
    if value < 1:
        raise ValueError(f"{name} must be a positive integer (got {raw})")
    return value


@dataclass(frozen=True)
class Limits:
    """Each limit, its environment variable, and its default (documented in the README)."""

    max_depth: int = 12  # GRAPHQL_MAX_DEPTH
    max_aliases: int = 30  # GRAPHQL_MAX_ALIASES
    max_tokens: int = 2000  # GRAPHQL_MAX_TOKENS
    max_document_bytes: int = 20_000  # GRAPHQL_MAX_DOCUMENT_BYTES
    max_cost: int = 10_000  # GRAPHQL_MAX_COST
    max_batch: int = 10  # GRAPHQL_MAX_BATCH
    max_body_bytes: int = 1_000_000  # HTTP_MAX_BODY_BYTES
    introspection: bool = True  # off when APP_ENV=production

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Limits:
        env = os.environ if env is None else env
        d = cls()
        return cls(
            max_depth=_env_int(env, "GRAPHQL_MAX_DEPTH", d.max_depth),
            max_aliases=_env_int(env, "GRAPHQL_MAX_ALIASES", d.max_aliases),
            max_tokens=_env_int(env, "GRAPHQL_MAX_TOKENS", d.max_tokens),
            max_document_bytes=_env_int(env, "GRAPHQL_MAX_DOCUMENT_BYTES", d.max_document_bytes),
            max_cost=_env_int(env, "GRAPHQL_MAX_COST", d.max_cost),
            max_batch=_env_int(env, "GRAPHQL_MAX_BATCH", d.max_batch),
            max_body_bytes=_env_int(env, "HTTP_MAX_BODY_BYTES", d.max_body_bytes),
            introspection=env.get("APP_ENV", "").strip().lower() != PRODUCTION,
        )


LIMITS = Limits.from_env()


class LimitExceeded(GraphQLError):
    """A refused document: shown to the client as it is (never masked)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, extensions={"code": code})


@functools.lru_cache(maxsize=256)
def _source_passes(query: str, limits: Limits) -> bool:
    check_source(query, limits)
    return True


def check_source_cached(query: str, limits: Limits) -> None:
    """`check_source`, remembering documents that passed (as the parser cache remembers their
    parse): a client sends the same few documents again and again, and lexing a Q2-sized
    one costs ~0.3 ms. A refused document raises, is not cached and is checked every time."""
    _source_passes(query, limits)


def check_source(query: str, limits: Limits) -> None:
    """Size, tokens and nesting of the raw document, without running the recursive parser."""
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
            if tokens > limits.max_tokens:
                raise LimitExceeded(
                    "TOKEN_LIMIT_EXCEEDED",
                    f"The document has more than {limits.max_tokens} tokens, the limit",
                )
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
        return  # a syntax error: the parser reports it with its location


@dataclass
class _Measure:
    depth: int = 0
    aliases: int = 0
    cost: int = 0
    introspection: bool = False


def _shape(value: Any) -> Any:
    """What the walk reads of a variable: an int (not a bool), a list's length, or nothing."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, list):
        return ("list", len(value))
    return None


# id(operation) -> (the operation, kept alive so its id stays unique; the variables its walk
# read; measure by the shapes of those variables). The parser cache keeps operations alive
# across requests, so a document's walk runs once per distinct page size, not per request.
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
    cached = _measures.get(id(operation))
    if cached is not None and cached[0] is operation:
        _op, names, by_shape = cached
        shapes = tuple(_shape(variables.get(n)) for n in names)
        found = by_shape.get(shapes)
        if found is not None:
            return found
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    root = schema.get_root_type(operation.operation)
    read = _ReadVariables(variables)
    walker = _Walker(schema, fragments, read)
    walker.walk(operation.selection_set, root, 1, 1, frozenset())
    names = tuple(sorted(read.names))
    if cached is None or cached[0] is not operation or cached[1] != names:
        if len(_measures) >= _MAX_MEASURED:
            _measures.clear()
        cached = (operation, names, {})
        _measures[id(operation)] = cached
    by_shape = cached[2]
    if len(by_shape) < 64:  # a client paging with ever new sizes: stop remembering
        by_shape[tuple(_shape(variables.get(n)) for n in names)] = walker.measure
    return walker.measure


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
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
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
        if "first" in definition.args or "last" in definition.args:
            multiplier *= self._page_size(node)
        elif "ids" in definition.args:
            multiplier *= self._list_length(node, "ids")
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

    def _int_value(self, value: ValueNode) -> int | None:
        if isinstance(value, IntValueNode):
            return int(value.value)
        if isinstance(value, VariableNode):
            given = self.variables.get(value.name.value)
            return given if isinstance(given, int) and not isinstance(given, bool) else None
        return None


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


class QueryLimits(SchemaExtension):
    """Refuses over-limit documents: raw checks before parsing, shape checks before executing."""

    def on_parse(self) -> Iterator[None]:
        query = self.execution_context.query
        if query is not None:
            check_source_cached(query, LIMITS)
        yield

    def on_execute(self) -> Iterator[None]:
        ctx = self.execution_context
        document = ctx.graphql_document
        if document is not None:
            operation = next(
                (
                    d
                    for d in document.definitions
                    if isinstance(d, OperationDefinitionNode)
                    and (
                        ctx.operation_name is None
                        or (d.name and d.name.value == ctx.operation_name)
                    )
                ),
                None,
            )
            if operation is not None:
                root = ctx.schema._schema  # the graphql-core schema behind Strawberry's
                check_operation(root, document, operation, ctx.variables or {}, LIMITS)
        yield
