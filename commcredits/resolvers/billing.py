"""The tenant's billing mutations: purchaseCredits, configureAutoRecharge,
updateBillingProfile, setWebhook."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import strawberry
from strawberry.types import Info

from commcredits.models import Invoice as InvoiceRow
from commcredits.resolvers.common import ctx
from commcredits.resolvers.credits import money_arg
from commcredits.resolvers.permissions import permission
from commcredits.schema.billing import BillingProfile, BillingProfileInput
from commcredits.schema.credit_payloads import (
    ConfigureAutoRechargePayload,
    PurchaseCreditsPayload,
    SetWebhookPayload,
    UpdateBillingProfilePayload,
)
from commcredits.schema.credits import AutoRechargeSettings, CreditBalance, CreditLot
from commcredits.schema.input_limits import IDEMPOTENCY_KEY, WEBHOOK_URL, limited_arg
from commcredits.schema.invoices import Invoice
from commcredits.schema.notifications import Webhook
from commcredits.services import billing, credits, webhooks
from commcredits.services.access import Permission


@strawberry.type
class BillingMutation:
    @strawberry.mutation(
        description="Buy credits: a lot that expires in 12 months, an invoice, and Communication "
        "Credits seats for every user. whatIf is the order review: nothing is written."
    )
    @permission(Permission.MANAGE_BILLING, tenant=True)
    def purchase_credits(
        self,
        info: Info,
        amount: Decimal,
        idempotency_key: Annotated[str, limited_arg(IDEMPOTENCY_KEY)],
        what_if: bool | None = False,
        currency: str | None = None,
    ) -> PurchaseCreditsPayload:
        c = ctx(info)
        tenant = c.tenant
        result = credits.purchase_credits(
            tenant,
            c.principal,
            money_arg(tenant, amount, currency),
            idempotency_key=idempotency_key,
            now=c.now,
            what_if=bool(what_if),
        )
        return PurchaseCreditsPayload(
            lot=None if result.what_if else CreditLot.from_row(result.lot, c.now),
            invoice=Invoice.from_row(result.invoice),
            balance=CreditBalance.of(tenant, result.balance, c.now),
            what_if=result.what_if,
            replayed=result.replayed,
        )

    @strawberry.mutation(
        description='Automatic recharge: "add this amount" (rechargeAmount) "when the balance '
        'falls below" (triggerBalance), at most maxRechargesPerDay (default 5) a day. whatIf '
        "checks the settings as for real and saves nothing."
    )
    @permission(Permission.MANAGE_BILLING, tenant=True)
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
        tenant = c.tenant
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
        ids = [r.invoice_id for r in result.recharges]
        rows = InvoiceRow.select().where(InvoiceRow.id.in_(ids)) if ids else []
        by_id = {row.id: row for row in rows}
        fired = [by_id[i] for i in ids]
        return ConfigureAutoRechargePayload(
            auto_recharge=AutoRechargeSettings.from_row(result.settings, tenant.currency),
            recharges=[Invoice.from_row(i) for i in fired],
            what_if=bool(what_if),
        )

    @strawberry.mutation(description="Set the billing details (payment by invoice or card token).")
    @permission(Permission.MANAGE_BILLING, tenant=True)
    def update_billing_profile(
        self, info: Info, input: BillingProfileInput
    ) -> UpdateBillingProfilePayload:
        c = ctx(info)
        tenant = c.tenant
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

    @strawberry.mutation(
        description="Send notifications to this URL (signed POST, retried); the signing secret "
        "is in this response only. No URL removes the webhook."
    )
    @permission(Permission.MANAGE_BILLING, tenant=True)
    def set_webhook(
        self, info: Info, url: Annotated[str | None, limited_arg(WEBHOOK_URL)] = None
    ) -> SetWebhookPayload:
        c = ctx(info)
        tenant = c.tenant
        hook, secret = webhooks.set_webhook(tenant, c.principal, url, now=c.now)
        return SetWebhookPayload(webhook=Webhook.from_row(hook) if hook else None, secret=secret)
