"""Tenant."""

import datetime as dt
import enum

import strawberry
from strawberry.types import Info

from commcredits.models import Invoice as InvoiceRow
from commcredits.models import LedgerEntry as LedgerEntryRow
from commcredits.models import Tenant as TenantRow
from commcredits.money import Money as MoneyValue
from commcredits.schema.billing import BillingProfile
from commcredits.schema.common import CappedConnection, Connection, Node, UserError, to_global_id
from commcredits.schema.credits import (
    AutoRechargeSettings,
    CreditBalance,
    CreditLimit,
    CreditTransaction,
    CreditTransactionFilter,
    Money,
)
from commcredits.schema.input_limits import NAME, limited_field
from commcredits.schema.invoices import Invoice
from commcredits.schema.notifications import Webhook
from commcredits.schema.pages import paginate
from commcredits.services import billing, credits, invoices, webhooks


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

    # Nested fields resolve here (schema/ never imports resolvers/), the tenant's row read
    # once per request by the context.
    def _row(self, info: Info) -> TenantRow:
        return info.context.tenant_row(self.pk)

    @strawberry.field(description="Prepaid credit balance (materialized; lots, forecast).")
    async def balance(self, info: Info) -> CreditBalance:
        minor = await info.context.loaders.balance.load(self.pk)
        value = MoneyValue.from_minor(minor, self.currency)
        return CreditBalance(
            remaining=Money.of(value),
            amount=value.amount,
            currency=self.currency,
            as_of=info.context.now,
            tenant_pk=self.pk,
        )

    @strawberry.field(description="Automatic recharge settings.")
    def auto_recharge(self, info: Info) -> AutoRechargeSettings:
        settings = credits.auto_recharge_settings(self._row(info))
        return AutoRechargeSettings.from_row(settings, self.currency)

    @strawberry.field(description="Ledger entries, newest first.")
    def credit_transactions(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: CreditTransactionFilter | None = None,
    ) -> CappedConnection[CreditTransaction]:
        tenant = self._row(info)
        spec = {
            "kinds": [k.value for k in filter.kinds] if filter and filter.kinds else None,
            "reference": filter.reference if filter else None,
            "since": filter.from_ if filter else None,
            "until": filter.to if filter else None,
        }
        return paginate(
            credits.transactions_query(tenant, **spec),
            key=LedgerEntryRow.id,
            first=first,
            after=after,
            to_node=CreditTransaction.from_row,
            descending=True,
            count=lambda: credits.count_transactions(tenant, **spec),
        )

    @strawberry.field(description="Invoices, newest first.")
    def invoices(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Invoice]:
        tenant = self._row(info)
        return paginate(
            invoices.invoices_query(tenant),
            key=InvoiceRow.id,
            first=first,
            after=after,
            to_node=Invoice.from_row,
            descending=True,
            total=lambda: invoices.count_invoices(tenant),
        )

    @strawberry.field(description="Billing details (Abrechnungsdetails) and payment method.")
    def billing_profile(self, info: Info) -> BillingProfile:
        return BillingProfile.from_row(billing.billing_profile(self._row(info)))

    @strawberry.field(description="MCA tenants: monthly postpaid credit limit and usage.")
    def credit_limit(self, info: Info) -> CreditLimit | None:
        if self.agreement_type is not AgreementType.MCA:
            return None
        return CreditLimit.of(self._row(info), info.context.now)

    @strawberry.field(description="Where notifications are POSTed (the secret is never shown).")
    def webhook(self, info: Info) -> Webhook | None:
        hook = webhooks.webhook_for(self._row(info))
        return Webhook.from_row(hook) if hook else None


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
