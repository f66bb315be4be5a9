"""skus, subscribedSkus, purchaseSeats, setSeats, setSkuCountries."""

from typing import Annotated

import strawberry
from strawberry.types import Info

from commcredits.resolvers.common import ctx
from commcredits.resolvers.permissions import permission
from commcredits.schema.catalog import Sku, SkuPayload, SubscribedSku, SubscribedSkuPayload
from commcredits.schema.input_limits import IDEMPOTENCY_KEY, SKU_REF, limited_arg
from commcredits.services import catalog, seats
from commcredits.services.access import Permission


@strawberry.type
class CatalogQuery:
    @strawberry.field(description="The SKU catalog with service plans and where each is sold.")
    @permission(Permission.READ)
    def skus(self, info: Info) -> list[Sku]:
        return [Sku.from_row(s) for s in ctx(info).catalog().skus]

    @strawberry.field(description="The tenant's seats per SKU (Graph's subscribedSkus).")
    @permission(Permission.READ, tenant=True)
    def subscribed_skus(self, info: Info) -> list[SubscribedSku]:
        tenant = ctx(info).tenant
        by_pk = ctx(info).catalog().by_pk
        return [SubscribedSku.from_row(s, by_pk[s.sku_id]) for s in seats.subscriptions(tenant)]


@strawberry.type
class CatalogMutation:
    @strawberry.mutation(
        description="Buy more seats of a SKU. With an idempotencyKey, a retry after a lost "
        "answer (same key, SKU and quantity) answers the first purchase (replayed: true) "
        "instead of buying again."
    )
    @permission(Permission.MANAGE_BILLING, tenant=True)
    def purchase_seats(
        self,
        info: Info,
        sku_part_number: Annotated[str, limited_arg(SKU_REF)],
        quantity: int,
        idempotency_key: Annotated[str | None, limited_arg(IDEMPOTENCY_KEY)] = None,
    ) -> SubscribedSkuPayload:
        c = ctx(info)
        bought = seats.buy_seats(
            c.tenant,
            c.principal,
            sku_part_number,
            quantity,
            idempotency_key=idempotency_key,
            now=c.now,
        )
        sub = bought.subscription
        return SubscribedSkuPayload(
            subscribed_sku=SubscribedSku.from_row(sub, sub.sku), replayed=bought.replayed
        )

    @strawberry.mutation(description="Set the seats of a SKU; never below those assigned.")
    @permission(Permission.MANAGE_BILLING, tenant=True)
    def set_seats(
        self,
        info: Info,
        sku_part_number: Annotated[str, limited_arg(SKU_REF)],
        enabled_units: int,
    ) -> SubscribedSkuPayload:
        c = ctx(info)
        tenant = c.tenant
        sub = seats.set_seats(tenant, c.principal, sku_part_number, enabled_units, now=c.now)
        return SubscribedSkuPayload(subscribed_sku=SubscribedSku.from_row(sub, sub.sku))

    @strawberry.mutation(description="Operator: the usage-location countries where a SKU is sold.")
    @permission(Permission.OPERATE)
    def set_sku_countries(
        self,
        info: Info,
        sku_part_number: Annotated[str, limited_arg(SKU_REF)],
        countries: list[str],
    ) -> SkuPayload:
        c = ctx(info)
        principal = c.principal
        sku = catalog.set_sku_countries(principal, sku_part_number, countries, now=c.now)
        return SkuPayload(sku=Sku.from_row(sku))
