"""Which objects a viewer may see: one rule per kind of object, decided from the object alone.

A rule answers for one object (`sees`) and for every object of its kind at once (`sees_all`,
which lets the schema skip per-object checks and answer a missing object plainly). A viewer
who may not see every object of a kind gets the same answer for a missing object as for a
forbidden one, so IDs cannot be probed. `schema/permissions.py` says which GraphQL type
follows which rule; nothing else decides who sees what.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from db.campaigns import CampaignStatus
from db.users import Role, UserRow

STAFF_ROLES = frozenset({Role.MANAGER, Role.ADMIN})
MEMBER_CAMPAIGN_STATUSES = (CampaignStatus.ACTIVE,)


@dataclass(frozen=True)
class ObjectRule:
    """Who may see an object of one kind. The viewer is a signed-in, active user; a caller
    who is not signed in sees no object at all."""

    name: str
    sees_all: Callable[[UserRow], bool]
    sees_one: Callable[[UserRow, Any], bool]
    # `sees_one` as an SQL predicate over the expression of the row's fact (what `sees_one`
    # reads: the owner's id, the key, the status), for rows PostgreSQL writes.
    sees_one_sql: Callable[[UserRow, str], str]

    def sees(self, viewer: UserRow | None, obj: Any) -> bool:
        if viewer is None:
            return False
        return self.sees_all(viewer) or self.sees_one(viewer, obj)


def _is_admin(viewer: UserRow) -> bool:
    return viewer.role is Role.ADMIN


def _is_staff(viewer: UserRow) -> bool:
    return viewer.role in STAFF_ROLES


def _nobody_else(viewer: UserRow, obj: Any) -> bool:
    return False


def _nobody_else_sql(viewer: UserRow, fact: str) -> str:
    return "FALSE"


def _is_viewer_sql(viewer: UserRow, fact: str) -> str:
    return f"({fact}) = {int(viewer.id)}"


SIGNED_IN = ObjectRule("any signed-in user", lambda viewer: True, _nobody_else, _nobody_else_sql)
STAFF = ObjectRule("managers and admins", _is_staff, _nobody_else, _nobody_else_sql)
ADMIN = ObjectRule("admins", _is_admin, _nobody_else, _nobody_else_sql)
# A member's financial data (accounts, transactions, rewards, affinities, spending): the
# objects carry their owner's user id as `owner_pk`.
OWNER_OR_ADMIN = ObjectRule(
    "the member it belongs to and admins",
    _is_admin,
    lambda viewer, obj: obj.owner_pk == viewer.id,
    _is_viewer_sql,
)
# A User object (its `pk`): staff see everyone, a member only themself.
SELF_OR_STAFF = ObjectRule(
    "the user themself, managers and admins",
    _is_staff,
    lambda viewer, obj: obj.pk == viewer.id,
    _is_viewer_sql,
)
# A Campaign (its `status`): staff see every campaign, members the ACTIVE ones.
ACTIVE_OR_STAFF = ObjectRule(
    "managers and admins; members see ACTIVE campaigns",
    _is_staff,
    lambda viewer, obj: obj.status in MEMBER_CAMPAIGN_STATUSES,
    lambda viewer, fact: (
        f"({fact}) IN ({', '.join(repr(s.value) for s in MEMBER_CAMPAIGN_STATUSES)})"
    ),
)


@dataclass(frozen=True, slots=True)
class Owned:
    """What an owner rule reads of a row that is not an object (a row whose JSON PostgreSQL
    wrote in a list): the user it belongs to."""

    owner_pk: int


@dataclass(frozen=True, slots=True)
class Keyed:
    """What a self rule reads of a row that is not an object: its primary key."""

    pk: int


@dataclass(frozen=True, slots=True)
class WithStatus:
    """What a status rule reads of a campaign row that is not an object."""

    status: CampaignStatus

    @classmethod
    def of(cls, status: str) -> WithStatus:
        return cls(CampaignStatus(status))


@dataclass(frozen=True)
class Missing:
    """What a lookup by ID returns when no object of `cls` (a GraphQL type) has the ID. It is
    answered as null for a viewer who may see every object of the type, and exactly like a
    forbidden object for anyone else, so a missing ID cannot be told from a forbidden one."""

    cls: type
