"""apiKeys, auditLog, createApiKey, revokeApiKey."""

from typing import Annotated

import strawberry
from strawberry.types import Info

from commcredits.models import ApiKey as ApiKeyRow
from commcredits.models import AuditEntry as AuditEntryRow
from commcredits.resolvers.common import ctx, decode_id, paginate
from commcredits.resolvers.permissions import permission
from commcredits.schema.access import (
    ApiKey,
    AuditEntry,
    AuditLogFilter,
    CreateApiKeyPayload,
    RevokeApiKeyPayload,
    Role,
)
from commcredits.schema.common import CappedConnection, Connection
from commcredits.schema.input_limits import NAME, TENANT_ID, limited_arg
from commcredits.services import access, audit, tenants
from commcredits.services.access import Permission
from commcredits.services.errors import DomainError


@strawberry.type
class AccessQuery:
    @strawberry.field(
        description="The tenant's API keys (never their secrets).",
        deprecation_reason="Use `apiKeysConnection`: a list that grows is a connection.",
    )
    @permission(Permission.MANAGE_KEYS, tenant=True)
    def api_keys(self, info: Info) -> list[ApiKey]:
        return [ApiKey.from_row(k) for k in access.list_api_keys(ctx(info).tenant)]

    @strawberry.field(
        description="The tenant's API keys, oldest first, revoked ones too (never secrets)."
    )
    @permission(Permission.MANAGE_KEYS, tenant=True)
    def api_keys_connection(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[ApiKey]:
        return paginate(
            access.api_keys_query(ctx(info).tenant),
            key=ApiKeyRow.id,
            first=first,
            after=after,
            to_node=ApiKey.from_row,
        )

    @strawberry.field(description="Every change made to the tenant, newest first.")
    @permission(Permission.READ)
    def audit_log(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: AuditLogFilter | None = None,
    ) -> CappedConnection[AuditEntry]:
        query = audit.entries_for(ctx(info).principal.tenant)  # an operator sees every tenant's
        if filter is not None and filter.action:
            query = query.where(AuditEntryRow.action == filter.action)
        if filter is not None and filter.target_type:
            query = query.where(AuditEntryRow.target_type == filter.target_type)
        return paginate(
            query,
            key=AuditEntryRow.id,
            first=first,
            after=after,
            to_node=AuditEntry.from_row,
            descending=True,
            capped=True,
        )


@strawberry.type
class AccessMutation:
    @strawberry.mutation(
        description="Create an API key; its secret is in this response only. An operator key "
        "names the tenant (tenantId); a tenant admin creates its own."
    )
    @permission(Permission.MANAGE_KEYS)
    def create_api_key(
        self,
        info: Info,
        role: Role,
        name: Annotated[str, limited_arg(NAME)] = "",
        tenant_id: Annotated[strawberry.ID | None, limited_arg(NAME, description=TENANT_ID)] = None,
    ) -> CreateApiKeyPayload:
        c = ctx(info)
        principal = c.principal
        tenant = principal.tenant
        if principal.is_operator and tenant_id:
            try:
                ref: int | str = decode_id(tenant_id, "Tenant", field="tenantId")
            except DomainError:
                ref = tenant_id
            tenant = tenants.find_tenant(ref)
        row, secret = access.create_api_key(
            principal, role=access.Role(role.value), tenant=tenant, name=name, now=c.now
        )
        return CreateApiKeyPayload(api_key=ApiKey.from_row(row), key=secret)

    @strawberry.mutation(description="Revoke a key at once; revoking twice is harmless.")
    @permission(Permission.MANAGE_KEYS)
    def revoke_api_key(self, info: Info, id: strawberry.ID) -> RevokeApiKeyPayload:
        c = ctx(info)
        row = access.revoke_api_key(c.principal, decode_id(id, "ApiKey"), now=c.now)
        return RevokeApiKeyPayload(api_key=ApiKey.from_row(row))
