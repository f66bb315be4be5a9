"""Catalog and seats: Sku, SubscribedSku."""

import strawberry

from commcredits.models import Sku as SkuRow
from commcredits.models import Subscription
from commcredits.schema.common import Node, UserError, to_global_id
from commcredits.services.countries import ISO_COUNTRIES
from commcredits.services.seats import capability_status


@strawberry.type
class ServicePlanInfo:
    service_plan_id: strawberry.ID
    service_plan_name: str


@strawberry.type
class Sku(Node):
    sku_id: strawberry.ID
    sku_part_number: str
    display_name: str
    service_plans: list[ServicePlanInfo]
    available_countries: list[str] = strawberry.field(
        description="Usage-location countries where this SKU may be assigned."
    )

    @classmethod
    def from_row(cls, row: SkuRow) -> "Sku":
        return cls(
            id=to_global_id("Sku", row.id),
            sku_id=strawberry.ID(row.sku_id),
            sku_part_number=row.part_number,
            display_name=row.name,
            service_plans=[
                ServicePlanInfo(
                    service_plan_id=strawberry.ID(p["servicePlanId"]),
                    service_plan_name=p["servicePlanName"],
                )
                for p in row.service_plans
            ],
            available_countries=sorted(
                row.countries if row.countries is not None else ISO_COUNTRIES
            ),
        )


@strawberry.type
class LicenseUnitsDetail:
    enabled: int
    suspended: int
    warning: int
    locked_out: int


@strawberry.type(description="A tenant's seats of one SKU (Graph's subscribedSku).")
class SubscribedSku(Node):
    sku_id: strawberry.ID
    sku_part_number: str
    applies_to: str
    capability_status: str
    consumed_units: int
    available_units: int
    prepaid_units: LicenseUnitsDetail

    @classmethod
    def from_row(cls, row: Subscription, sku: SkuRow) -> "SubscribedSku":
        return cls(
            id=to_global_id("SubscribedSku", row.id),
            sku_id=strawberry.ID(sku.sku_id),
            sku_part_number=sku.part_number,
            applies_to="User",
            capability_status=capability_status(row),
            consumed_units=row.consumed_units,
            available_units=row.enabled_units - row.consumed_units,
            prepaid_units=LicenseUnitsDetail(
                enabled=row.enabled_units,
                suspended=row.suspended_units,
                warning=row.warning_units,
                locked_out=row.locked_out_units,
            ),
        )


@strawberry.type
class SubscribedSkuPayload:
    subscribed_sku: SubscribedSku | None = None
    replayed: bool = strawberry.field(
        default=False,
        description="purchaseSeats: this answers an earlier purchase with the same "
        "idempotency key; nothing was bought now.",
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class SkuPayload:
    sku: Sku | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
