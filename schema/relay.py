"""`node(id:)` and `nodes(ids:)`: fetch any object by its global ID."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import strawberry

from resolvers.context import Info
from resolvers.errors import BadUserInput
from resolvers.ids import InvalidGlobalId, decode
from resolvers.loaders import Loader, Loaders
from resolvers.visibility import Missing
from schema.abtests import AbTest
from schema.admin import AuditLogEntry
from schema.campaigns import Campaign
from schema.common import Node
from schema.members import Account, Reward, Transaction
from schema.merchants import Merchant
from schema.render import Rendered, one, reads_one
from schema.users import User

MAX_NODES = 100


@dataclass(frozen=True)
class NodeKind:
    loader: Callable[[Loaders], Loader]
    cls: Any  # the Node type, with its `from_row`


NODE_KINDS: dict[str, NodeKind] = {
    "Campaign": NodeKind(lambda ls: ls.campaign_by_id, Campaign),
    "Merchant": NodeKind(lambda ls: ls.merchant_by_id, Merchant),
    "User": NodeKind(lambda ls: ls.user_by_id, User),
    "AbTest": NodeKind(lambda ls: ls.ab_test_by_id, AbTest),
    "Account": NodeKind(lambda ls: ls.account_by_id, Account),
    "Reward": NodeKind(lambda ls: ls.reward_by_id, Reward),
    "Transaction": NodeKind(lambda ls: ls.transaction_by_id, Transaction),
    "AuditLogEntry": NodeKind(lambda ls: ls.audit_entry_by_id, AuditLogEntry),
}


def _parse(global_id: str, argument: str) -> tuple[NodeKind, int]:
    try:
        type_name, pk = decode(global_id)
    except InvalidGlobalId as exc:
        raise BadUserInput(str(exc), argument) from exc
    kind = NODE_KINDS.get(type_name)
    if kind is None:
        raise BadUserInput(f"{global_id!r} is not the ID of any object", argument)
    return kind, pk


async def _load(info: Info, kind: NodeKind, pk: int) -> Node | Rendered | Missing:
    """The object (written by PostgreSQL when the executor asked: schema/render.py), or
    Missing."""
    found = await one(info, kind.cls, pk, kind.loader(info.context.loaders).load)
    if found is None:
        return Missing(kind.cls)
    return found if isinstance(found, Rendered) else kind.cls.from_row(found)


reads_one("Query.node", "Query.nodes")


@strawberry.type
class NodeQuery:
    @strawberry.field(
        description="Any object by its global ID; null when none has it (with a FORBIDDEN "
        "error, as for an object you may not see, unless you may see every object of its type)."
    )
    async def node(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="A global ID.")],
    ) -> Node | None:
        kind, pk = _parse(id, "id")
        # The Guard answers Missing as null or FORBIDDEN (schema/permissions.py).
        return await _load(info, kind, pk)  # type: ignore[return-value]

    @strawberry.field(
        description=f"Objects by global ID, in the order asked, null where none has the ID "
        f"(answered as `node` does). At most {MAX_NODES} IDs."
    )
    async def nodes(
        self,
        info: Info,
        ids: Annotated[list[strawberry.ID], strawberry.argument(description="Global IDs.")],
    ) -> list[Node | None]:
        if len(ids) > MAX_NODES:
            raise BadUserInput(f"`ids` may hold at most {MAX_NODES} IDs (got {len(ids)})", "ids")
        parsed = [_parse(i, "ids") for i in ids]
        found = await asyncio.gather(*(_load(info, k, pk) for k, pk in parsed))
        return list(found)  # type: ignore[arg-type]  # Missing: see `node`
