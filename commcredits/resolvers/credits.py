"""Credits: tenant.balance / autoRecharge / creditTransactions / invoices / billingProfile /
creditLimit, invoice, notifications; purchaseCredits, configureAutoRecharge, adjustCredits,
expireCredits, setCreditLimit, closeBillingPeriod, setWebhook, updateBillingProfile."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

import strawberry
from strawberry.types import Info

from commcredits.models import CreditLot as CreditLotRow
from commcredits.models import Invoice as InvoiceRow
from commcredits.models import LedgerEntry as LedgerEntryRow
from commcredits.models import Notification as NotificationRow
from commcredits.models import Tenant as TenantRow
from commcredits.money import Money as MoneyValue
from commcredits.resolvers.common import ctx, decode_id, guard, paginate
from commcredits.schema.common import Connection, to_global_id
from commcredits.schema.credits import (
    AdjustCreditsPayload,
    AutoRechargeSettings,
    BillingProfile,
    BillingProfileInput,
    CloseBillingPeriodPayload,
    ConfigureAutoRechargePayload,
    CreditBalance,
    CreditForecast,
    CreditLimit,
    CreditLot,
    CreditSplit,
    CreditTransaction,
    CreditTransactionFilter,
    ExpireCreditsPayload,
    ExpiredCredits,
    ExpiringCredits,
    Invoice,
    Money,
    Notification,
    PurchaseCreditsPayload,
    SetCreditLimitPayload,
    SetWebhookPayload,
    UpdateBillingProfilePayload,
    Webhook,
)
from commcredits.schema.input_limits import (
    ADJUSTMENT_REASON,
    IDEMPOTENCY_KEY,
    WEBHOOK_URL,
    limited_arg,
)
from commcredits.services import billing, credits, invoices, notifications, webhooks
from commcredits.services.access import Permission, require, require_tenant
from commcredits.services.credits.rules import currency_mismatch
from commcredits.services.errors import DomainError, not_found


def _tenant_row(pk: int, info: Info) -> TenantRow:
    return ctx(info).tenant_row(pk)


def _balance(tenant: TenantRow, amount: MoneyValue, now: dt.datetime) -> CreditBalance:
    return CreditBalance(
        amount=amount.quantized().amount, currency=amount.currency, as_of=now, tenant_pk=tenant.id
    )


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
    return _credit_limit(tenant, ctx(info).now)


def tenant_webhook(tenant_pk: int, info: Info) -> Webhook | None:
    hook = webhooks.webhook_for(_tenant_row(tenant_pk, info))
    return Webhook.from_row(hook) if hook else None


def _credit_limit(tenant: TenantRow, now: dt.datetime) -> CreditLimit:
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


# -- operator helpers --------------------------------------------------------------------------
def _operator_tenant(info: Info, tenant_id: str) -> TenantRow:
    require(ctx(info).principal, Permission.OPERATE)
    tenant = TenantRow.get_or_none(TenantRow.id == decode_id(tenant_id, "Tenant", field="tenantId"))
    if tenant is None:
        raise not_found("Tenant", tenant_id, "tenantId")
    return tenant


def _money_arg(tenant: TenantRow, amount: Decimal, currency: str | None) -> Decimal:
    """The amount, after checking an explicitly given currency is the tenant's."""
    if currency is not None and currency.strip().upper() != tenant.currency:
        raise currency_mismatch(tenant.currency, repr(currency.strip()[:3]), "currency")
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


@strawberry.type
class CreditsMutation:
    @strawberry.mutation(
        description="Buy credits: a lot that expires in 12 months, an invoice, and Communication "
        "Credits seats for every user. whatIf is the order review: nothing is written."
    )
    def purchase_credits(
        self,
        info: Info,
        amount: Decimal,
        idempotency_key: Annotated[str, limited_arg(IDEMPOTENCY_KEY)],
        what_if: bool | None = False,
        currency: str | None = None,
    ) -> PurchaseCreditsPayload:
        c = ctx(info)

        def run() -> PurchaseCreditsPayload:
            tenant = require_tenant(c.principal, Permission.MANAGE_BILLING)
            result = credits.purchase_credits(
                tenant,
                c.principal,
                _money_arg(tenant, amount, currency),
                idempotency_key=idempotency_key,
                now=c.now,
                what_if=bool(what_if),
            )
            return PurchaseCreditsPayload(
                lot=None if result.what_if else CreditLot.from_row(result.lot, c.now),
                invoice=Invoice.from_row(result.invoice),
                balance=_balance(tenant, result.balance, c.now),
                what_if=result.what_if,
                replayed=result.replayed,
            )

        return guard(PurchaseCreditsPayload, run)

    @strawberry.mutation(
        description='Automatic recharge: "add this amount" (rechargeAmount) "when the balance '
        'falls below" (triggerBalance), at most maxRechargesPerDay (default 5) a day. whatIf '
        "checks the settings as for real and saves nothing."
    )
    def configure_auto_recharge(
        self,
        info: Info,
        enabled: bool,
        recharge_amount: Decimal | None = None,
        trigger_balance: Decimal | None = None,
        max_recharges_per_day: int | None = None,
        what_if: bool | None = False,
    ) -> ConfigureAutoRechargePayload:
        c = ctx(info)

        def run() -> ConfigureAutoRechargePayload:
            tenant = require_tenant(c.principal, Permission.MANAGE_BILLING)
            result = credits.configure_auto_recharge(
                tenant,
                c.principal,
                enabled=enabled,
                recharge_amount=recharge_amount,
                trigger_balance=trigger_balance,
                max_recharges_per_day=max_recharges_per_day,
                now=c.now,
                what_if=bool(what_if),
            )
            fired = [InvoiceRow.get_by_id(r.invoice_id) for r in result.recharges]
            return ConfigureAutoRechargePayload(
                auto_recharge=AutoRechargeSettings.from_row(result.settings, tenant.currency),
                recharges=[Invoice.from_row(i) for i in fired],
                what_if=bool(what_if),
            )

        return guard(ConfigureAutoRechargePayload, run)

    @strawberry.mutation(description="Set the billing details (payment by invoice or card token).")
    def update_billing_profile(
        self, info: Info, input: BillingProfileInput
    ) -> UpdateBillingProfilePayload:
        c = ctx(info)

        def run() -> UpdateBillingProfilePayload:
            tenant = require_tenant(c.principal, Permission.MANAGE_BILLING)
            values = billing.BillingFields(
                **{
                    name: getattr(input, name)
                    for name in billing.BillingFields.__dataclass_fields__
                    if name != "payment_method"
                },
                payment_method=input.payment_method.value if input.payment_method else None,
            )
            row = billing.update_billing_profile(tenant, c.principal, values, now=c.now)
            return UpdateBillingProfilePayload(billing_profile=BillingProfile.from_row(row))

        return guard(UpdateBillingProfilePayload, run)

    @strawberry.mutation(
        description="Send notifications to this URL (signed POST, retried); the signing secret "
        "is in this response only. No URL removes the webhook."
    )
    def set_webhook(
        self, info: Info, url: Annotated[str | None, limited_arg(WEBHOOK_URL)] = None
    ) -> SetWebhookPayload:
        c = ctx(info)

        def run() -> SetWebhookPayload:
            tenant = require_tenant(c.principal, Permission.MANAGE_BILLING)
            hook, secret = webhooks.set_webhook(tenant, c.principal, url, now=c.now)
            return SetWebhookPayload(
                webhook=Webhook.from_row(hook) if hook else None, secret=secret
            )

        return guard(SetWebhookPayload, run)

    @strawberry.mutation(description="Operator: add (+) or take (−, FIFO) credits, with a reason.")
    def adjust_credits(
        self,
        info: Info,
        tenant_id: strawberry.ID,
        amount: Decimal,
        reason: Annotated[str, limited_arg(ADJUSTMENT_REASON)],
        idempotency_key: Annotated[str, limited_arg(IDEMPOTENCY_KEY)],
        currency: str | None = None,
    ) -> AdjustCreditsPayload:
        c = ctx(info)

        def run() -> AdjustCreditsPayload:
            tenant = _operator_tenant(info, tenant_id)
            result = credits.adjust_credits(
                tenant,
                c.principal,
                _money_arg(tenant, amount, currency),
                reason=reason,
                idempotency_key=idempotency_key,
                now=c.now,
            )
            return AdjustCreditsPayload(
                transaction=CreditTransaction.from_row(result.entry),
                lot=CreditLot.from_row(result.lot, c.now) if result.lot else None,
                balance=_balance(tenant, result.balance, c.now),
            )

        return guard(AdjustCreditsPayload, run)

    @strawberry.mutation(
        description="Operator: expire every lot whose 12 months have passed at asOf (default "
        "now), for one tenant or all."
    )
    def expire_credits(
        self,
        info: Info,
        as_of: dt.datetime | None = None,
        tenant_id: strawberry.ID | None = None,
    ) -> ExpireCreditsPayload:
        c = ctx(info)

        def run() -> ExpireCreditsPayload:
            principal = require(c.principal, Permission.OPERATE)
            tenant = _operator_tenant(info, tenant_id) if tenant_id else None
            results = credits.expire_credits(
                now=credits.check_as_of(as_of, now=c.now), principal=principal, tenant=tenant
            )
            return ExpireCreditsPayload(
                expired=[
                    ExpiredCredits(
                        tenant_id=to_global_id("Tenant", r.tenant_id),
                        tenant_name=r.tenant_name,
                        amount=Money.of(r.expired),
                        lots=r.lots,
                    )
                    for r in results
                ]
            )

        return guard(ExpireCreditsPayload, run)

    @strawberry.mutation(
        description="Operator, MCA tenants: the monthly limit of usage billed in arrears "
        "(null: none allowed)."
    )
    def set_credit_limit(
        self, info: Info, tenant_id: strawberry.ID, limit: Decimal | None = None
    ) -> SetCreditLimitPayload:
        c = ctx(info)

        def run() -> SetCreditLimitPayload:
            tenant = _operator_tenant(info, tenant_id)
            credits.set_credit_limit(tenant, c.principal, limit, now=c.now)
            return SetCreditLimitPayload(credit_limit=_credit_limit(tenant, c.now))

        return guard(SetCreditLimitPayload, run)

    @strawberry.mutation(
        description="Operator, MCA tenants: invoice an ended month's postpaid usage, once."
    )
    def close_billing_period(
        self, info: Info, tenant_id: strawberry.ID, month: str
    ) -> CloseBillingPeriodPayload:
        c = ctx(info)

        def run() -> CloseBillingPeriodPayload:
            tenant = _operator_tenant(info, tenant_id)
            result = credits.close_billing_period(tenant, c.principal, month, now=c.now)
            return CloseBillingPeriodPayload(
                period=result.period.period,
                invoice=Invoice.from_row(result.invoice) if result.invoice else None,
                already_closed=result.already_closed,
            )

        return guard(CloseBillingPeriodPayload, run)
