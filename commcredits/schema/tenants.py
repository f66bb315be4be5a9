"""Tenant."""

import datetime as dt
import enum

import strawberry
from strawberry.types import Info

from commcredits.models import Tenant as TenantRow
from commcredits.schema.billing import BillingProfile
from commcredits.schema.common import Connection, Node, UserError, to_global_id
from commcredits.schema.credits import (
    AutoRechargeSettings,
    CreditBalance,
    CreditLimit,
    CreditTransaction,
    CreditTransactionFilter,
)
from commcredits.schema.input_limits import NAME, limited_field
from commcredits.schema.invoices import Invoice
from commcredits.schema.notifications import Webhook


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

    # Credits (issue 3): resolvers live in resolvers/credits.py, imported late (it imports us).
    @strawberry.field(description="Prepaid credit balance (materialized; lots, forecast).")
    async def balance(self, info: Info) -> CreditBalance:
        from commcredits.resolvers import credits

        return await credits.tenant_balance(self.pk, self.currency, info)

    @strawberry.field(description="Automatic recharge settings.")
    def auto_recharge(self, info: Info) -> AutoRechargeSettings:
        from commcredits.resolvers import credits

        return credits.tenant_auto_recharge(self.pk, info)

    @strawberry.field(description="Ledger entries, newest first.")
    def credit_transactions(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: CreditTransactionFilter | None = None,
    ) -> Connection[CreditTransaction]:
        from commcredits.resolvers import credits

        return credits.tenant_transactions(self.pk, info, first, after, filter)

    @strawberry.field(description="Invoices, newest first.")
    def invoices(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Invoice]:
        from commcredits.resolvers import credits

        return credits.tenant_invoices(self.pk, info, first, after)

    @strawberry.field(description="Billing details (Abrechnungsdetails) and payment method.")
    def billing_profile(self, info: Info) -> BillingProfile:
        from commcredits.resolvers import credits

        return credits.tenant_billing_profile(self.pk, info)

    @strawberry.field(description="MCA tenants: monthly postpaid credit limit and usage.")
    def credit_limit(self, info: Info) -> CreditLimit | None:
        from commcredits.resolvers import credits

        return credits.tenant_credit_limit(self.pk, info)

    @strawberry.field(description="Where notifications are POSTed (the secret is never shown).")
    def webhook(self, info: Info) -> Webhook | None:
        from commcredits.resolvers import credits

        return credits.tenant_webhook(self.pk, info)


@strawberry.input
class CreateTenantInput:
    name: str = limited_field(NAME)
    country: str
    currency: str
    agreement_type: AgreementType


@strawberry.type
class CreateTenantPayload:
    tenant: Tenant | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
