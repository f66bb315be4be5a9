"""Credits: tenant.balance / autoRecharge / creditTransactions / invoices / billingProfile /
creditLimit / webhook, the fields of a balance, an invoice and a transaction; invoice and
notifications. The mutations are in `billing` (the tenant's) and `operator_credits`."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import strawberry
from strawberry.types import Info

from commcredits.models import CreditLot as CreditLotRow
from commcredits.models import Invoice as InvoiceRow
from commcredits.models import LedgerEntry as LedgerEntryRow
from commcredits.models import Notification as NotificationRow
from commcredits.models import Tenant as TenantRow
from commcredits.money import Money as MoneyValue
from commcredits.resolvers.common import ctx, paginate
from commcredits.schema.billing import BillingProfile
from commcredits.schema.common import Connection, to_global_id
from commcredits.schema.credits import (
    AutoRechargeSettings,
    BalancePoint,
    CreditBalance,
    CreditForecast,
    CreditLimit,
    CreditLot,
    CreditSplit,
    CreditTransaction,
    CreditTransactionFilter,
    ExpiringCredits,
    Money,
)
from commcredits.schema.invoices import Invoice
from commcredits.schema.notifications import Notification, Webhook
from commcredits.services import billing, credits, invoices, notifications, webhooks
from commcredits.services.access import Permission, require_tenant
from commcredits.services.credits.rules import check_currency
from commcredits.services.errors import DomainError


def _tenant_row(pk: int, info: Info) -> TenantRow:
    return ctx(info).tenant_row(pk)


# -- fields on Tenant (schema/tenants.py calls these) -------------------------------------------
async def tenant_balance(tenant_pk: int, currency: str, info: Info) -> CreditBalance:
    minor = await ctx(info).loaders.balance.load(tenant_pk)
    return CreditBalance(
        amount=MoneyValue.from_minor(minor, currency).amount,
        currency=currency,
        as_of=ctx(info).now,
        tenant_pk=tenant_pk,
    )


def tenant_auto_recharge(tenant_pk: int, info: Info) -> AutoRechargeSettings:
    tenant = _tenant_row(tenant_pk, info)
    return AutoRechargeSettings.from_row(credits.auto_recharge_settings(tenant), tenant.currency)


def tenant_transactions(
    tenant_pk: int,
    info: Info,
    first: int | None,
    after: str | None,
    flt: CreditTransactionFilter | None,
) -> Connection[CreditTransaction]:
    tenant = _tenant_row(tenant_pk, info)
    query = credits.transactions_query(
        tenant,
        kinds=[k.value for k in flt.kinds] if flt and flt.kinds else None,
        reference=flt.reference if flt else None,
        since=flt.from_ if flt else None,
        until=flt.to if flt else None,
    )
    return paginate(
        query,
        key=LedgerEntryRow.id,
        first=first,
        after=after,
        to_node=CreditTransaction.from_row,
        descending=True,
    )


def tenant_invoices(
    tenant_pk: int, info: Info, first: int | None, after: str | None
) -> Connection[Invoice]:
    return paginate(
        invoices.invoices_query(_tenant_row(tenant_pk, info)),
        key=InvoiceRow.id,
        first=first,
        after=after,
        to_node=Invoice.from_row,
        descending=True,
    )


def tenant_billing_profile(tenant_pk: int, info: Info) -> BillingProfile:
    return BillingProfile.from_row(billing.billing_profile(_tenant_row(tenant_pk, info)))


def tenant_credit_limit(tenant_pk: int, info: Info) -> CreditLimit | None:
    tenant = _tenant_row(tenant_pk, info)
    if tenant.agreement_type != "MCA":
        return None
    return credit_limit(tenant, ctx(info).now)


def tenant_webhook(tenant_pk: int, info: Info) -> Webhook | None:
    hook = webhooks.webhook_for(_tenant_row(tenant_pk, info))
    return Webhook.from_row(hook) if hook else None


def credit_limit(tenant: TenantRow, now: dt.datetime) -> CreditLimit:
    state = credits.credit_state(tenant, now=now)
    return CreditLimit(
        period=state["period"],
        limit=Money.of(state["limit"]) if state["limit"] is not None else None,
        used=Money.of(state["used"]),
        available=Money.of(state["available"]),
    )


# -- fields on CreditBalance, Invoice, CreditTransaction -----------------------------------------
def balance_lots(
    balance: CreditBalance,
    info: Info,
    *,
    first: int | None,
    after: str | None,
    include_expired: bool,
) -> Connection[CreditLot]:
    now = ctx(info).now
    tenant = _tenant_row(balance.tenant_pk, info)
    return paginate(
        credits.lots_query(tenant, now=now, include_expired=include_expired),
        key=CreditLotRow.id,
        first=first,
        after=after,
        to_node=lambda row: CreditLot.from_row(row, now),
    )


def balance_expiring(balance: CreditBalance, info: Info, days: int) -> ExpiringCredits:
    amount, lots = credits.expiring_within(
        _tenant_row(balance.tenant_pk, info), days, now=ctx(info).now
    )
    return ExpiringCredits(amount=Money.of(amount), lots=lots)


def balance_forecast(balance: CreditBalance, info: Info) -> CreditForecast:
    daily, days_left = credits.forecast(_tenant_row(balance.tenant_pk, info), now=ctx(info).now)
    return CreditForecast(daily_burn=Money.of(daily), days_left=days_left)


def balance_history(balance: CreditBalance, info: Info, days: int) -> list[BalancePoint]:
    points = credits.balance_history(
        _tenant_row(balance.tenant_pk, info), now=ctx(info).now, days=days
    )
    return [BalancePoint(date=p.day, balance=Money.of(p.balance)) for p in points]


async def invoice_lot(invoice: Invoice, info: Info) -> CreditLot | None:
    if invoice.pk is None:
        return None
    row = await ctx(info).loaders.invoice_lot.load(invoice.pk)
    return CreditLot.from_row(row, ctx(info).now) if row else None


async def transaction_splits(tx: CreditTransaction, info: Info) -> list[CreditSplit]:
    rows = await ctx(info).loaders.splits.load((tx.tenant_pk, tx.sequence))
    return [
        CreditSplit(
            lot_id=to_global_id("CreditLot", r.lot_id),
            amount=Money.minor(r.amount_minor, tx.amount.currency),
        )
        for r in rows
    ]


# -- for the mutations (resolvers/billing.py, resolvers/operator_credits.py) -------------------
def balance_of(tenant: TenantRow, amount: MoneyValue, now: dt.datetime) -> CreditBalance:
    return CreditBalance(
        amount=amount.quantized().amount, currency=amount.currency, as_of=now, tenant_pk=tenant.id
    )


def money_arg(tenant: TenantRow, amount: Decimal, currency: str | None) -> Decimal:
    """The amount, after checking an explicitly given currency is the tenant's."""
    check_currency(tenant, currency)
    return amount


@strawberry.type
class CreditsQuery:
    @strawberry.field(description="One of the tenant's invoices by its number; null if none.")
    def invoice(self, info: Info, number: int) -> Invoice | None:
        tenant = require_tenant(ctx(info).principal, Permission.READ)
        try:
            return Invoice.from_row(invoices.get_invoice(tenant, number))
        except DomainError as error:
            if error.code == "NOT_FOUND":
                return None
            raise

    @strawberry.field(description="The tenant's notifications, newest first.")
    def notifications(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Notification]:
        tenant = require_tenant(ctx(info).principal, Permission.READ)
        return paginate(
            notifications.notifications_query(tenant.id),
            key=NotificationRow.id,
            first=first,
            after=after,
            to_node=Notification.from_row,
            descending=True,
        )
