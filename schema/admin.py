"""The `Admin` type (`Query.admin`): health, users, audit logs and settings. Admins only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, cast

import strawberry
from strawberry.scalars import JSON

from db.audit import AuditFilter as DbAuditFilter
from db.audit import AuditRow
from db.users import UserFilter as DbUserFilter
from resolvers import admin as logic
from resolvers.context import Info
from resolvers.errors import BadUserInput
from resolvers.ids import InvalidGlobalId, argument_pk, decode, to_global_id
from resolvers.settings import KNOWN
from schema.common import After, Connection, First, Node
from schema.users import Role, User, UserStatus


@strawberry.type(description="How this server process and its database are doing.")
class AdminHealth:
    database_reachable: bool = strawberry.field(
        description="A round trip to the database succeeded within 1 second."
    )
    latency_ms: float | None = strawberry.field(
        description="That round trip in milliseconds; null when unreachable."
    )
    pool_size: int = strawberry.field(description="Connections this process's pool holds.")
    pool_in_use: int = strawberry.field(description="Of those, how many are busy now.")
    migration_version: int | None = strawberry.field(
        description="Latest migration applied to the database; null when unreachable."
    )
    expected_migration_version: int = strawberry.field(
        description="Latest migration this server version ships."
    )
    server_version: str = strawberry.field(description="This server's version.")
    uptime_seconds: float = strawberry.field(description="Seconds since this process started.")


@strawberry.type(description="One recorded change: who did what to which object, and when.")
class AuditLogEntry(Node):
    action: str = strawberry.field(description="What happened, e.g. `campaign.launch`.")
    target_type: str = strawberry.field(description="Type of the changed object, e.g. Campaign.")
    target_id: strawberry.ID | None = strawberry.field(
        description="Global ID of the changed object; null for changes to no single object."
    )
    before: JSON | None = strawberry.field(description="The changed fields before the change.")
    after: JSON | None = strawberry.field(description="The changed fields after the change.")
    request_id: str | None = strawberry.field(
        description="The server's id of the request that made the change (its log lines and "
        "errors carry the same id)."
    )
    client_request_id: str | None = strawberry.field(
        description="The X-Request-ID the caller sent with that request, if any (at most 128 "
        "printable ASCII characters): the caller's claim, for matching its own logs."
    )
    created_at: datetime = strawberry.field(description="When it happened.")
    actor_pk: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: AuditRow) -> AuditLogEntry:
        return cls(
            id=strawberry.ID(to_global_id("AuditLogEntry", row.id)),
            action=row.action,
            target_type=row.target_type,
            target_id=(
                strawberry.ID(to_global_id(row.target_type, row.target_id))
                if row.target_id is not None
                else None
            ),
            before=cast(JSON, row.before),
            after=cast(JSON, row.after),
            request_id=row.request_id,
            client_request_id=row.client_request_id,
            created_at=row.created_at,
            actor_pk=row.actor_id,
        )

    @strawberry.field(
        description="Who made the change; null for the command line or a removed user."
    )
    async def actor(self, info: Info) -> User | None:
        return await User.by_pk(info, self.actor_pk)


@strawberry.type(description="A runtime setting, shared by every server process.")
class Setting:
    key: str = strawberry.field(description="The setting's name, as `updateSettings` takes it.")
    value: JSON = strawberry.field(description="Current value (the default until changed).")
    default_value: JSON = strawberry.field(description="Value when never changed.")
    minimum: int = strawberry.field(description="Smallest value accepted.")
    maximum: int = strawberry.field(description="Largest value accepted.")
    description: str = strawberry.field(description="What the setting controls.")
    updated_at: datetime | None = strawberry.field(
        description="When it was last changed; null while it has its default."
    )
    updated_by_pk: strawberry.Private[int | None]

    @classmethod
    def of(cls, s: logic.Setting) -> Setting:
        return cls(
            key=s.spec.key,
            value=s.value,
            default_value=cast(JSON, s.spec.default),
            minimum=s.spec.minimum,
            maximum=s.spec.maximum,
            description=s.spec.description,
            updated_at=logic.updated_at(s),
            updated_by_pk=s.row.updated_by if s.row else None,
        )

    @strawberry.field(description="Who last changed it; null while it has its default.")
    async def updated_by(self, info: Info) -> User | None:
        return await User.by_pk(info, self.updated_by_pk)


@strawberry.input(description="Which users to list; conditions combine with AND.")
class UserFilter:
    search: str | None = strawberry.field(
        default=None, description="Case-insensitive substring of the email or name."
    )
    role: Role | None = strawberry.field(default=None, description="Only this role.")
    status: UserStatus | None = strawberry.field(default=None, description="Only this status.")


@strawberry.input(description="Which audit-log entries to list; conditions combine with AND.")
class AuditLogFilter:
    action: str | None = strawberry.field(default=None, description="Exactly this action.")
    actor_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only changes made by this user."
    )
    target_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only changes to this object (any type's global ID)."
    )
    from_: datetime | None = strawberry.field(
        name="from", default=None, description="At or after this time."
    )
    to: datetime | None = strawberry.field(default=None, description="Before this time.")

    def to_db(self) -> DbAuditFilter:
        actor = target_type = target = None
        if self.actor_id is not None:
            actor = argument_pk(self.actor_id, "User", "filter.actorId")
        try:
            if self.target_id is not None:
                target_type, target = decode(self.target_id)
        except InvalidGlobalId as exc:
            raise BadUserInput(f"filter.targetId: {exc}", "filter.targetId") from exc
        return DbAuditFilter(
            action=self.action,
            actor_id=actor,
            target_type=target_type,
            target_id=target,
            since=_aware(self.from_),
            until=_aware(self.to),
        )


def _aware(value: datetime | None) -> datetime | None:
    """Naive timestamps from clients are taken as UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


@strawberry.type(description="Running the platform. Admins only.")
class Admin:
    @strawberry.field(description="Database reachability and latency, pool, versions, uptime.")
    async def health(self, info: Info) -> AdminHealth:
        h = await logic.health(info.context)
        return AdminHealth(**vars(h))

    @strawberry.field(
        description="Every user, oldest first. Page size: `first` default 20, at most the "
        "`max_page_size` setting (default 100)."
    )
    async def users(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        filter: Annotated[
            UserFilter | None, strawberry.argument(description="Which users.")
        ] = None,
    ) -> Connection[User]:
        ctx = info.context
        flt = DbUserFilter(
            search=filter.search or None if filter else None,
            role=filter.role if filter else None,
            status=filter.status if filter else None,
        )
        return await Connection.read(
            info,
            User,
            lambda how: logic.list_users(ctx, first=first, after=after, flt=flt, how=how),
            User.from_row,
            logic.user_cursor,
            lambda: logic.count_users(ctx, flt),
        )

    @strawberry.field(
        description="The audit log, newest first. Page size: `first` default 20, at most the "
        "`max_page_size` setting (default 100)."
    )
    async def audit_logs(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        filter: Annotated[
            AuditLogFilter | None, strawberry.argument(description="Which entries.")
        ] = None,
    ) -> Connection[AuditLogEntry]:
        ctx = info.context
        flt = filter.to_db() if filter else DbAuditFilter()
        return await Connection.read(
            info,
            AuditLogEntry,
            # AuditLogEntry is not declared in schema/render.py: never asked to write it.
            lambda _how: logic.list_audit_logs(ctx, first=first, after=after, flt=flt),
            AuditLogEntry.from_row,
            logic.audit_cursor,
            lambda: logic.count_audit_logs(ctx, flt),
        )

    @strawberry.field(description=f"Every known setting ({len(KNOWN)}) with its current value.")
    async def settings(self, info: Info) -> list[Setting]:
        return [Setting.of(s) for s in await logic.list_settings(info.context)]


@strawberry.type
class AdminQuery:
    @strawberry.field(description="The admin surface. Admins only: others get FORBIDDEN.")
    def admin(self) -> Admin | None:
        return Admin()
