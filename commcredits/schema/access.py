"""API keys, the viewer and the audit log."""

import datetime as dt

import strawberry
from strawberry.scalars import JSON

from commcredits.models import ApiKey as ApiKeyRow
from commcredits.models import AuditEntry as AuditEntryRow
from commcredits.schema.common import Node, UserError, to_global_id
from commcredits.schema.input_limits import limited_field
from commcredits.schema.tenants import Tenant
from commcredits.services.access import Role as RoleEnum

Role = strawberry.enum(RoleEnum, name="Role")


@strawberry.type
class ApiKey(Node):
    name: str
    role: Role
    prefix: str = strawberry.field(description="The first characters, to recognise a key.")
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None

    @classmethod
    def from_row(cls, row: ApiKeyRow) -> "ApiKey":
        return cls(
            id=to_global_id("ApiKey", row.id),
            name=row.name,
            role=RoleEnum(row.role),
            prefix=row.prefix,
            created_at=row.created_at,
            revoked_at=row.revoked_at,
            last_used_at=row.last_used_at,
        )


@strawberry.type
class Viewer:
    tenant: Tenant | None
    api_key: ApiKey | None
    role: Role


@strawberry.type
class AuditEntry(Node):
    actor: str
    action: str
    target_type: str
    target_id: strawberry.ID = strawberry.field(
        description="The target's key as recorded: its database id, the first…last ids of a"
        " batch, or an unknown key's prefix."
    )
    before: JSON | None
    after: JSON | None
    at: dt.datetime

    @classmethod
    def from_row(cls, row: AuditEntryRow) -> "AuditEntry":
        return cls(
            id=to_global_id("AuditEntry", row.id),
            actor=row.actor,
            action=row.action,
            target_type=row.target_type,
            target_id=row.target_id,
            before=row.before,
            after=row.after,
            at=row.at,
        )


@strawberry.input
class AuditLogFilter:
    # The columns' widths: nothing longer was ever recorded.
    action: str | None = limited_field(64, default=strawberry.UNSET)
    target_type: str | None = limited_field(64, default=strawberry.UNSET)


@strawberry.type
class CreateApiKeyPayload:
    api_key: ApiKey | None = None
    key: str | None = strawberry.field(
        default=None, description="The secret: shown in this response only, stored hashed."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RevokeApiKeyPayload:
    api_key: ApiKey | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
