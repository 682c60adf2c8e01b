"""Every position where a client passes an argument value, read from the schema: the
operation, the fields that reach the field taking the argument, the argument and the path inside
it; and a minimal document and variables that put a value there (tests/test_attack_inputs.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    get_named_type,
    is_composite_type,
    is_enum_type,
)

from schema import schema as app_schema

GRAPHQL = app_schema._schema  # graphql-core's schema behind Strawberry's


@dataclass(frozen=True)
class Position:
    """Where an argument value sits: the operation, the fields to reach the field that takes
    the argument, the argument, and the path inside it (input object fields)."""

    operation: str  # "query" | "mutation"
    fields: tuple[str, ...]
    argument: str
    inner: tuple[str, ...]
    arg_type: Any  # the argument's GraphQL type
    coordinate: str  # schema coordinate of the value: `Type.field(arg:)` or `Input.field`
    scalar: str  # the named scalar at the position

    @property
    def path(self) -> str:
        return ".".join((self.argument, *self.inner))


def _routes() -> dict[str, tuple[str, tuple[str, ...]]]:
    """Each object type reachable from Query or Mutation through fields without required
    arguments: its operation and the shortest field path."""
    found: dict[str, tuple[str, tuple[str, ...]]] = {}
    queue: list[tuple[str, GraphQLObjectType, tuple[str, ...]]] = [
        ("query", GRAPHQL.query_type, ()),
        ("mutation", GRAPHQL.mutation_type, ()),
        ("subscription", GRAPHQL.subscription_type, ()),
    ]
    while queue:
        operation, type_, path = queue.pop(0)
        if type_.name in found:
            continue
        found[type_.name] = (operation, path)
        if operation != "query":
            # Mutation payloads and events are not followed: their inputs are the positions
            # (what an event holds is reached from Query too).
            continue
        for name, field in type_.fields.items():
            named = get_named_type(field.type)
            required = any(isinstance(a.type, GraphQLNonNull) for a in field.args.values())
            if isinstance(named, GraphQLObjectType) and not required:
                queue.append((operation, named, (*path, name)))
    return found


def _values(type_: Any, inner: tuple[str, ...], coordinate: str) -> Iterator[Any]:
    """(inner path, coordinate, scalar name) of every scalar position inside an input type."""
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        type_ = type_.of_type
    if isinstance(type_, GraphQLInputObjectType):
        for name, field in type_.fields.items():
            yield from _values(field.type, (*inner, name), f"{type_.name}.{name}")
    elif not is_enum_type(type_):
        yield inner, coordinate, type_.name


def positions() -> list[Position]:
    routes = _routes()
    found = []
    for type_name, (operation, path) in routes.items():
        type_ = GRAPHQL.get_type(type_name)
        for field_name, field in type_.fields.items():
            for arg_name, arg in field.args.items():
                top = f"{type_name}.{field_name}({arg_name}:)"
                for inner, coordinate, scalar in _values(arg.type, (), top):
                    found.append(
                        Position(
                            operation,
                            (*path, field_name),
                            arg_name,
                            inner,
                            arg.type,
                            coordinate,
                            scalar,
                        )
                    )
    return found


def all_coordinates(scalar: str) -> set[str]:
    """Every schema coordinate whose value is of the named scalar, reachable or not."""
    out = set()
    for type_ in GRAPHQL.type_map.values():
        if type_.name.startswith("__"):
            continue
        if isinstance(type_, GraphQLInputObjectType):
            for name, field in type_.fields.items():
                if get_named_type(field.type).name == scalar:
                    out.add(f"{type_.name}.{name}")
        elif isinstance(type_, GraphQLObjectType):
            for name, field in type_.fields.items():
                for arg_name, arg in field.args.items():
                    if get_named_type(arg.type).name == scalar:
                        out.add(f"{type_.name}.{name}({arg_name}:)")
    return out


def document_for(position: Position, value_type: str) -> str:
    """`query ($v: T) { a { b(arg: $v) { __typename } } }` for the position."""
    field = {
        "query": GRAPHQL.query_type,
        "mutation": GRAPHQL.mutation_type,
        "subscription": GRAPHQL.subscription_type,
    }[position.operation]
    definitions: list[GraphQLField] = []
    for name in position.fields:
        definition = field.fields[name]
        definitions.append(definition)
        field = get_named_type(definition.type)
    others = []
    for name, arg in definitions[-1].args.items():
        named = get_named_type(arg.type)
        if name != position.argument and isinstance(arg.type, GraphQLNonNull):
            if is_enum_type(named):
                others.append(f"{name}: {next(iter(named.values))}")
            else:
                assert named.name == "Date", f"{position.coordinate}: fill required {name}"
                others.append(f'{name}: "2026-01-01"')
    call = ", ".join([f"{position.argument}: $v", *others])
    selection = " { __typename }" if is_composite_type(get_named_type(field)) else ""
    inner = f"{position.fields[-1]}({call}){selection}"
    for name in reversed(position.fields[:-1]):
        inner = f"{name} {{ {inner} }}"
    return f"{position.operation} ($v: {value_type}) {{ {inner} }}"


def variable_for(position: Position, value: Any, base: dict[str, Any] | None = None) -> Any:
    type_ = position.arg_type
    while isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    if not position.inner:
        return [value] if isinstance(type_, GraphQLList) else value
    out: dict[str, Any] = json.loads(json.dumps(base or {}))
    target = out
    for name in position.inner[:-1]:
        target = target.setdefault(name, {})
    target[position.inner[-1]] = value
    return out
