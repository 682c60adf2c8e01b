"""Opaque Relay global IDs: base64("Type:pk"). Clients must treat them as opaque strings."""

from __future__ import annotations

import base64
import binascii

from resolvers.errors import BadUserInput

# Primary keys are bigint: a larger number names no row, and PostgreSQL refuses it as a
# parameter (asyncpg raises OverflowError), so it is malformed input.
MAX_BIGINT = 2**63 - 1


class InvalidGlobalId(ValueError):
    """The string is not a global ID, or names a different type than expected."""


def to_global_id(type_name: str, pk: int) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


def decode(global_id: str) -> tuple[str, int]:
    """Split a global ID into (type name, primary key) or raise InvalidGlobalId."""
    try:
        raw = base64.b64decode(global_id.encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise InvalidGlobalId(f"{global_id!r} is not a valid ID") from exc
    type_name, sep, pk = raw.partition(":")
    # isascii: str.isdigit() also accepts digits such as '²' that int() refuses.
    if not sep or not type_name or not (pk.isascii() and pk.isdigit()) or len(pk) > 19:
        raise InvalidGlobalId(f"{global_id!r} is not a valid ID")
    if int(pk) > MAX_BIGINT:
        raise InvalidGlobalId(f"{global_id!r} is not a valid ID (its key is out of range)")
    return type_name, int(pk)


def from_global_id(global_id: str, expected_type: str) -> int:
    """The primary key in `global_id`, which must name `expected_type`."""
    type_name, pk = decode(global_id)
    if type_name != expected_type:
        raise InvalidGlobalId(f"{global_id!r} is not a {expected_type} ID")
    return pk


def argument_pk(global_id: str, type_name: str, argument: str) -> int:
    """The primary key in a query argument's global ID, or BAD_USER_INPUT naming the argument.

    A nested argument (`filter.merchantId`) is named in the message too, since the ID alone
    would not say where it came from.
    """
    try:
        return from_global_id(global_id, type_name)
    except InvalidGlobalId as exc:
        message = f"{argument}: {exc}" if "." in argument else str(exc)
        raise BadUserInput(message, argument) from exc
