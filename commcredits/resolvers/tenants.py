"""viewer, tenant, tenants, createTenant."""

from typing import Annotated

import strawberry
from strawberry.types import Info

from commcredits.models import ApiKey as ApiKeyRow
from commcredits.models import Tenant as TenantRow
from commcredits.resolvers.common import ctx, paginate
from commcredits.resolvers.permissions import permission
from commcredits.schema.access import ApiKey, Viewer
from commcredits.schema.common import Connection
from commcredits.schema.input_limits import NAME, limited_arg
from commcredits.schema.tenants import CreateTenantInput, CreateTenantPayload, Tenant
from commcredits.services import tenants
from commcredits.services.access import Permission


@strawberry.type
class TenantQuery:
    @strawberry.field(description="Who is calling: the key's tenant and role.")
    @permission(Permission.READ)
    def viewer(self, info: Info) -> Viewer:
        principal = ctx(info).principal
        key = ApiKeyRow.get_or_none(ApiKeyRow.id == principal.key_id) if principal.key_id else None
        return Viewer(
            tenant=Tenant.from_row(principal.tenant) if principal.tenant else None,
            api_key=ApiKey.from_row(key) if key else None,
            role=principal.role,
        )

    @strawberry.field(description="The caller's tenant.")
    @permission(Permission.READ, tenant=True)
    def tenant(self, info: Info) -> Tenant:
        return Tenant.from_row(ctx(info).tenant)

    @strawberry.field(description="Operator: every tenant, oldest first.")
    @permission(Permission.OPERATE)
    def tenants(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        search: Annotated[
            str | None,
            limited_arg(
                NAME,
                description="Only the tenants whose name contains this, case and accents aside.",
            ),
        ] = None,
    ) -> Connection[Tenant]:
        return paginate(
            tenants.tenants_query(search),
            key=TenantRow.id,
            first=first,
            after=after,
            to_node=Tenant.from_row,
        )


@strawberry.type
class TenantMutation:
    @strawberry.mutation(description="Operator: create a tenant (currency and agreement fixed).")
    @permission(Permission.OPERATE)
    def create_tenant(self, info: Info, input: CreateTenantInput) -> CreateTenantPayload:
        c = ctx(info)
        principal = c.principal
        row = tenants.create_tenant(
            principal,
            name=input.name,
            country=input.country,
            currency=input.currency,
            agreement_type=input.agreement_type.value,
            now=c.now,
        )
        return CreateTenantPayload(tenant=Tenant.from_row(row))
