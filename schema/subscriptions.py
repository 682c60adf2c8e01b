"""`Subscription`: live events over WebSocket, from the audit log (resolvers/live.py).

Each field's access rule is in RULES (schema/permissions.py) like any root field's, but it
is checked by the event stream itself, when subscribing and again before every event, so a
viewer cut off meanwhile gets no further event. The objects an event points to (`campaign`,
`actor`) are checked by their object rules like anywhere else.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Annotated, Any, cast

import strawberry

from db.audit import AuditRow
from db.users import UserRow
from resolvers import live
from resolvers.context import Info
from resolvers.ids import argument_pk
from resolvers.visibility import Missing, WithStatus
from schema.admin import AuditLogEntry
from schema.campaigns import Campaign, CampaignStatus
from schema.permissions import RULES, guarded_stream, visible
from schema.users import User

# The audit actions of a campaign's lifecycle (db/campaigns.py's transitions).
TRANSITIONS = frozenset({"campaign.launch", "campaign.pause", "campaign.complete"})


@strawberry.type(description="A campaign launched, paused or completed.")
class CampaignStatusChange:
    previous_status: CampaignStatus = strawberry.field(description="Its status before.")
    status: CampaignStatus = strawberry.field(description="Its status after the change.")
    version: int = strawberry.field(
        description="The campaign's version after the change: one campaign's events arrive in "
        "version order."
    )
    at: datetime = strawberry.field(description="When the change was committed.")
    campaign_pk: strawberry.Private[int]
    actor_pk: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: AuditRow) -> CampaignStatusChange:
        before = cast(dict[str, Any], row.before)
        after = cast(dict[str, Any], row.after)
        assert row.target_id is not None  # a transition's row names its campaign
        return cls(
            previous_status=CampaignStatus(before["status"]),
            status=CampaignStatus(after["status"]),
            version=int(after["version"]),
            at=row.created_at,
            campaign_pk=row.target_id,
            actor_pk=row.actor_id,
        )

    @strawberry.field(
        description="The campaign as it is now (null with FORBIDDEN for a member once it is "
        "no longer ACTIVE)."
    )
    async def campaign(self, info: Info) -> Campaign | None:
        row = await info.context.loaders.campaign_by_id.load(self.campaign_pk)
        if row is None:
            return Missing(Campaign)  # type: ignore[return-value]
        return Campaign.from_row(row)

    @strawberry.field(description="Who made the change; null for the command line.")
    async def actor(self, info: Info) -> User | None:
        return await User.by_pk(info, self.actor_pk)


def _status_of(snapshot: Any) -> CampaignStatus | None:
    if isinstance(snapshot, dict) and isinstance(snapshot.get("status"), str):
        return CampaignStatus(snapshot["status"])
    return None


@strawberry.type(description="Live events, over WebSocket (graphql-transport-ws or graphql-ws).")
class Subscription:
    @strawberry.subscription(
        description="Every launch, pause and completion of the campaign `id` (of every "
        "campaign without it) that the viewer could see before or after the change, once it "
        "is committed. Signed-in users."
    )
    @guarded_stream("Subscription.campaignStatusChanged")
    async def campaign_status_changed(
        self,
        info: Info,
        id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="One campaign's ID; omit it for every campaign."),
        ] = None,
    ) -> AsyncGenerator[CampaignStatusChange, None]:
        pk = None if id is None else argument_pk(id, "Campaign", "id")

        def topic(row: AuditRow) -> bool:
            return row.action in TRANSITIONS and (pk is None or row.target_id == pk)

        def wants(viewer: UserRow, row: AuditRow) -> bool:
            return any(
                status is not None and visible(viewer, WithStatus(status), Campaign)
                for status in (_status_of(row.before), _status_of(row.after))
            )

        rule = RULES["Subscription.campaignStatusChanged"]
        async for row in live.events(info.context, rule, topic, wants):
            yield CampaignStatusChange.from_row(row)

    @strawberry.subscription(
        description="The audit log as it is appended to: every recorded change, once it is "
        "committed. Admins only."
    )
    @guarded_stream("Subscription.auditLogAppended")
    async def audit_log_appended(self, info: Info) -> AsyncGenerator[AuditLogEntry, None]:
        rule = RULES["Subscription.auditLogAppended"]
        # Every row, for every admin: each entry is checked by its object rule on the way out.
        async for row in live.events(
            info.context, rule, lambda _row: True, lambda _viewer, _row: True
        ):
            yield AuditLogEntry.from_row(row)
