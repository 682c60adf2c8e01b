"""What a mutation resolver hands back to the schema: the changed object or problems."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

from resolvers.errors import ErrorCode, Problem

T = TypeVar("T")


@dataclass(frozen=True)
class Outcome(Generic[T]):
    value: T | None = None
    problems: list[Problem] = field(default_factory=list)

    @classmethod
    def refuse(cls, field_name: str | None, message: str, code: ErrorCode) -> Outcome[T]:
        path = (field_name,) if field_name else None
        return cls(None, [Problem(path, message, code)])
