"""SQL expressions that make PostgreSQL write a row's JSON: exactly the bytes our GraphQL
layer would write for the same values, so a page of rows can be sent as it comes.

Each function returns an expression of type `text` holding one JSON value. Objects are
written by concatenation rather than `json_build_object`, which puts spaces around its
separators (and jsonb would reorder the keys): `'{"id":' || ... || '}'`, keys in the order
given. Values go through `to_json`, which escapes strings as orjson does (tests compare the
two byte for byte), or are formatted the way Python's serializers format them:

- a timestamp as `datetime.isoformat()` of what asyncpg returns (UTC, microseconds only
  when not zero; the infinities as asyncpg's naive `datetime.max` and `datetime.min`);
- money in minor units as `str(Decimal(cents).scaleb(-2))` (`cents * 0.01` has scale 2);
- a global ID as base64 of "Type:pk" (`resolvers/ids.py`).

A null gives `null`. The expressions name columns unqualified: they are evaluated in a
SELECT over the table.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

_KEY = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")  # a GraphQL name: never needs escaping


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _nullable(expression: str, json: str) -> str:
    return f"coalesce({json.format(expression)}, 'null')"


def value(expression: str) -> str:
    """A string, number or boolean, as `to_json` writes it."""
    return _nullable(expression, "to_json({})::text")


def timestamp(expression: str) -> str:
    """A timestamptz as Python's `isoformat()` of the datetime asyncpg decodes it to."""
    utc = "({0}) AT TIME ZONE 'UTC'"
    return _nullable(
        expression,
        "CASE WHEN ({0}) = 'infinity' THEN '\"9999-12-31T23:59:59.999999\"'"
        " WHEN ({0}) = '-infinity' THEN '\"0001-01-01T00:00:00\"'"
        f" ELSE '\"' || to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS')"
        f" || CASE WHEN date_trunc('second', ({{0}})) = ({{0}}) THEN ''"
        f" ELSE to_char({utc}, '.US') END || '+00:00\"' END",
    )


def cents_as_decimal(expression: str) -> str:
    """An integer amount in minor units as the Decimal string of major units ("12.34"):
    digits, a point and a sign never need escaping."""
    return _nullable(expression, "'\"' || (({})::numeric * 0.01)::text || '\"'")


# base64 wraps its output every 76 characters: "Type:pk" with a bigint pk (at most 20
# characters) encodes on one line while the type name has at most this many characters.
_MAX_ID_TYPE_NAME = 36


def global_id(type_name: str, expression: str) -> str:
    """base64("Type:pk") of an integer key, as `resolvers.ids.to_global_id` writes it. The
    text is ASCII without backslashes, so its bytes are the bytea's."""
    if not _KEY.fullmatch(type_name) or len(type_name) > _MAX_ID_TYPE_NAME:
        raise ValueError(f"not a type name (at most {_MAX_ID_TYPE_NAME} characters): {type_name!r}")
    return _nullable(
        expression,
        f"'\"' || encode(('{type_name}:' || ({{}})::bigint)::bytea, 'base64') || '\"'",
    )


def enum(expression: str, names: Mapping[str, str]) -> str:
    """A stored value as its GraphQL enum name (`names`: stored value -> name); a value not
    in `names` gives null."""
    cases = " ".join(
        f"WHEN {_literal(stored)} THEN {_literal(_json_string(name))}"
        for stored, name in names.items()
    )
    return _nullable(expression, f"CASE {{}} {cases} END")


def constant(text: str) -> str:
    """A fixed string (`__typename`)."""
    return _literal(_json_string(text))


def constant_text(json: str) -> str:
    """Fixed JSON text, as it is."""
    return _literal(json)


def object_of(fields: Sequence[tuple[str, str]]) -> str:
    """An object of (response key, JSON expression) pairs, in that order."""
    parts: list[str] = []
    separator = "{"
    for key, expression in fields:
        if not _KEY.fullmatch(key):
            raise ValueError(f"not a GraphQL name: {key!r}")
        parts.append(_literal(f'{separator}"{key}":'))
        parts.append(f"({expression})")
        separator = ","
    if not parts:
        return "'{}'"
    parts.append("'}'")
    return " || ".join(parts)


def _json_string(text: str) -> str:
    if not _KEY.fullmatch(text):
        raise ValueError(f"not a GraphQL name: {text!r}")
    return f'"{text}"'
