"""Tenant."""

import datetime as dt
import enum

import strawberry

from commcredits.models import Tenant as TenantRow
from commcredits.schema.common import Node, UserError, to_global_id


@strawberry.enum
class AgreementType(enum.Enum):
    MCA = "MCA"
    MOSA = "MOSA"
    EA = "EA"


@strawberry.type
class Tenant(Node):
    name: str
    country: str
    currency: str
    agreement_type: AgreementType
    created_at: dt.datetime
    pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: TenantRow) -> "Tenant":
        return cls(
            id=to_global_id("Tenant", row.id),
            pk=row.id,
            name=row.name,
            country=row.country,
            currency=row.currency,
            agreement_type=AgreementType(row.agreement_type),
            created_at=row.created_at,
        )


@strawberry.input
class CreateTenantInput:
    name: str
    country: str
    currency: str
    agreement_type: AgreementType


@strawberry.type
class CreateTenantPayload:
    tenant: Tenant | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
