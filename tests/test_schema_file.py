"""schema.graphql is generated from the code (`make schema`) and must not drift from it."""

from __future__ import annotations

from graphql import GraphQLNamedType

from schema import schema
from tests.conftest import repo_root


def test_schema_graphql_matches_the_code() -> None:
    committed = (repo_root() / "schema.graphql").read_text()
    assert committed == schema.as_str() + "\n", "schema.graphql is stale: run `make schema`"


def test_every_type_field_argument_and_enum_value_is_described() -> None:
    missing: list[str] = []
    for name, named in schema._schema.type_map.items():
        if name.startswith("__") or name in ("String", "Int", "Float", "Boolean", "ID"):
            continue
        assert isinstance(named, GraphQLNamedType)
        if not named.description:
            missing.append(name)
        for field_name, fld in getattr(named, "fields", {}).items():
            if not fld.description:
                missing.append(f"{name}.{field_name}")
            for arg_name, arg in getattr(fld, "args", {}).items():
                if not arg.description:
                    missing.append(f"{name}.{field_name}({arg_name})")
        for value_name, value in getattr(named, "values", {}).items():
            if not value.description:
                missing.append(f"{name}.{value_name}")
    assert missing == [], "\n".join(missing)
