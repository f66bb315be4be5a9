"""Credits tables (SPEC §4, §6): lots, the ledger, debit splits, invoices, recharge settings,
billing profiles, MCA periods, idempotency records, notifications (the webhook outbox).

Every amount is an integer of the currency's minor units (`*_minor`) next to its currency.
"""

from __future__ import annotations

import peewee

from commcredits.models.base import BaseModel, JSONField, UTCDateTimeField
from commcredits.models.tenants import Tenant


class CreditAccount(BaseModel):
    """A tenant's materialized credit state, changed only under the tenant lock.

    `balance_minor` = Σ remaining of the tenant's lots = Σ ledger amounts (checked by
    `commcredits audit`), so reading a balance never scans the ledger.
    """

    tenant = peewee.ForeignKeyField(Tenant, unique=True, on_delete="CASCADE")
    currency = peewee.CharField(max_length=3)
    balance_minor = peewee.BigIntegerField(default=0)
    last_entry_seq = peewee.BigIntegerField(default=0)  # ledger entries are numbered per tenant
    last_invoice_number = peewee.IntegerField(default=0)  # invoices too, without gaps
    credit_limit_minor = peewee.BigIntegerField(null=True)  # MCA: postpaid usage per month
    updated_at = UTCDateTimeField()

    class Meta:
        table_name = "credit_account"
        constraints = [peewee.Check("balance_minor >= 0")]


class Invoice(BaseModel):
    tenant = peewee.ForeignKeyField(Tenant, on_delete="CASCADE")
    number = peewee.IntegerField()
    issued_at = UTCDateTimeField()
    amount_minor = peewee.BigIntegerField()
    currency = peewee.CharField(max_length=3)
    reason = peewee.CharField(max_length=16)  # PURCHASE, AUTO_RECHARGE, POSTPAID
    # PENDING (written before the gateway is asked), PAID, ISSUED (payable), FAILED (declined)
    status = peewee.CharField(max_length=16)
    payment_method = peewee.CharField(max_length=16)  # INVOICE, CARD
    payment_reference = peewee.CharField(max_length=200, default="")
    failure_reason = peewee.CharField(max_length=200, default="")
    period = peewee.CharField(max_length=7, null=True)  # POSTPAID: YYYY-MM
    billing_snapshot = JSONField(null=True)  # who was billed, as the profile was then
    # The idempotency key the gateway is charged with: asking again with it never charges twice.
    payment_key = peewee.CharField(max_length=100, null=True, unique=True)
    payment_token = peewee.CharField(max_length=200, null=True)  # the card token charged

    class Meta:
        table_name = "invoice"
        indexes = (
            (("tenant", "number"), True),
            (("tenant", "reason", "issued_at"), False),
            (("status", "tenant"), False),
            (("tenant", "id"), False),  # pages in id order (migration 0013)
        )


class CreditLot(BaseModel):
    tenant = peewee.ForeignKeyField(Tenant, on_delete="CASCADE")
    currency = peewee.CharField(max_length=3)
    amount_minor = peewee.BigIntegerField()
    remaining_minor = peewee.BigIntegerField()
    purchased_at = UTCDateTimeField()
    expires_at = UTCDateTimeField()
    source = peewee.CharField(max_length=16)  # PURCHASE, AUTO_RECHARGE, ADJUSTMENT
    invoice = peewee.ForeignKeyField(Invoice, null=True, unique=True, on_delete="RESTRICT")

    class Meta:
        table_name = "credit_lot"
        indexes = (
            (("tenant", "purchased_at", "id"), False),
            (("tenant", "expires_at"), False),
        )
        constraints = [
            peewee.Check("remaining_minor >= 0"),
            peewee.Check("remaining_minor <= amount_minor"),
            peewee.Check("amount_minor > 0"),
        ]


class LedgerEntry(BaseModel):
    tenant = peewee.ForeignKeyField(Tenant, on_delete="CASCADE")
    seq = peewee.BigIntegerField()  # per tenant, 1, 2, 3, … in commit order
    kind = peewee.CharField(max_length=16)  # FUNDED, CONSUMED, EXPIRED, ADJUSTED, POSTPAID
    amount_minor = peewee.BigIntegerField()  # signed change of the prepaid balance
    postpaid_minor = peewee.BigIntegerField(default=0)  # MCA usage billed in arrears
    balance_after_minor = peewee.BigIntegerField()
    currency = peewee.CharField(max_length=3)
    reference = peewee.CharField(max_length=200, default="")
    usage_kind = peewee.CharField(max_length=32, default="")  # CALL, … for consumption
    lot = peewee.ForeignKeyField(CreditLot, null=True, on_delete="RESTRICT")  # FUNDED, EXPIRED
    invoice = peewee.ForeignKeyField(Invoice, null=True, on_delete="RESTRICT")
    period = peewee.CharField(max_length=7, null=True)  # POSTPAID: YYYY-MM
    reason = peewee.CharField(max_length=500, default="")  # ADJUSTED: the operator's words
    created_at = UTCDateTimeField()

    class Meta:
        table_name = "ledger_entry"
        indexes = (
            (("tenant", "seq"), True),
            (("tenant", "kind", "created_at"), False),
            (("tenant", "period"), False),
            # Pages in id order, all, by reference or by time (migration 0013).
            (("tenant", "id"), False),
            (("tenant", "reference", "id"), False),
            (("tenant", "created_at", "id"), False),
        )


class LedgerDay(BaseModel):
    """A tenant's ledger at the end of one UTC day of `created_at`: that day's last entry in
    commit order (highest seq) and the balance it left, kept in the transaction that writes
    the entries (store.insert_entries; migration 0030), so the balance history reads a row
    per day, never the day's entries."""

    tenant = peewee.ForeignKeyField(Tenant, on_delete="CASCADE", index=False)
    day = peewee.CharField(max_length=10)  # YYYY-MM-DD, UTC
    last_seq = peewee.BigIntegerField()
    balance_after_minor = peewee.BigIntegerField()
    last_at = UTCDateTimeField()  # that entry's created_at

    class Meta:
        table_name = "ledger_day"
        # The opening balance is the highest seq before the window: read in last_seq order.
        indexes = ((("tenant", "day"), True), (("tenant", "last_seq"), False))


class DebitSplit(BaseModel):
    """Which lot paid how much of one debit: every cent of a lot traced to its spender."""

    tenant = peewee.ForeignKeyField(Tenant, on_delete="CASCADE")
    entry_seq = peewee.BigIntegerField()  # LedgerEntry.seq of the debit
    lot = peewee.ForeignKeyField(CreditLot, on_delete="RESTRICT")
    amount_minor = peewee.BigIntegerField()

    class Meta:
        table_name = "debit_split"
        indexes = ((("tenant", "entry_seq"), False), (("lot",), False))
        constraints = [peewee.Check("amount_minor > 0")]


class AutoRecharge(BaseModel):
    tenant = peewee.ForeignKeyField(Tenant, unique=True, on_delete="CASCADE")
    enabled = peewee.BooleanField(default=False)
    recharge_minor = peewee.BigIntegerField(null=True)  # "add this amount"
    trigger_minor = peewee.BigIntegerField(null=True)  # "when the balance falls below"
    max_per_day = peewee.IntegerField(default=5)
    retry_after = UTCDateTimeField(null=True)  # a declined charge blocks tries until then
    # Successful recharges on one UTC day, kept here so a debit need not count invoices.
    count_day = peewee.CharField(max_length=10, null=True)
    count_on_day = peewee.IntegerField(default=0)
    capped_on = peewee.CharField(max_length=10, null=True)  # UTC day the cap was last reported
    updated_at = UTCDateTimeField()

    class Meta:
        table_name = "auto_recharge"


class BillingProfile(BaseModel):
    tenant = peewee.ForeignKeyField(Tenant, unique=True, on_delete="CASCADE")
    company_name = peewee.CharField(max_length=200, default="")
    address_line1 = peewee.CharField(max_length=200, default="")
    address_line2 = peewee.CharField(max_length=200, default="")
    postal_code = peewee.CharField(max_length=20, default="")
    city = peewee.CharField(max_length=100, default="")
    country = peewee.CharField(max_length=2, default="")
    vat_id = peewee.CharField(max_length=20, default="")
    contact_email = peewee.CharField(max_length=254, default="")
    payment_method = peewee.CharField(max_length=16, default="INVOICE")  # INVOICE, CARD
    card_token = peewee.CharField(max_length=200, null=True)  # a gateway token, never a number
    updated_at = UTCDateTimeField()

    class Meta:
        table_name = "billing_profile"


class PostpaidPeriod(BaseModel):
    """An MCA tenant's usage in one calendar month, billed once when the month is closed."""

    tenant = peewee.ForeignKeyField(Tenant, on_delete="CASCADE")
    period = peewee.CharField(max_length=7)  # YYYY-MM (UTC)
    used_minor = peewee.BigIntegerField(default=0)
    currency = peewee.CharField(max_length=3)
    limit_reported = peewee.BooleanField(default=False)
    invoice = peewee.ForeignKeyField(Invoice, null=True, on_delete="RESTRICT")
    closed_at = UTCDateTimeField(null=True)

    class Meta:
        table_name = "postpaid_period"
        indexes = ((("tenant", "period"), True),)
        constraints = [peewee.Check("used_minor >= 0")]


class IdempotencyRecord(BaseModel):
    tenant = peewee.ForeignKeyField(Tenant, on_delete="CASCADE")
    key = peewee.CharField(max_length=200)
    operation = peewee.CharField(max_length=64)
    request_hash = peewee.CharField(max_length=64)
    result = JSONField()
    created_at = UTCDateTimeField()

    class Meta:
        table_name = "idempotency_record"
        indexes = ((("tenant", "key"), True),)


class Webhook(BaseModel):
    tenant = peewee.ForeignKeyField(Tenant, unique=True, on_delete="CASCADE")
    url = peewee.CharField(max_length=2000)
    # Kept as is: signing needs it. Shown to the tenant once, when set.
    secret = peewee.CharField(max_length=100)
    created_at = UTCDateTimeField()
    updated_at = UTCDateTimeField()

    class Meta:
        table_name = "webhook"


class Notification(BaseModel):
    """An event for the tenant (the e-mails Microsoft sends), and its webhook delivery state."""

    tenant = peewee.ForeignKeyField(Tenant, on_delete="CASCADE")
    kind = peewee.CharField(max_length=32)
    payload = JSONField()
    created_at = UTCDateTimeField()
    delivery_status = peewee.CharField(max_length=16, default="PENDING")  # DELIVERED, FAILED, NONE
    attempts = peewee.IntegerField(default=0)
    next_attempt_at = UTCDateTimeField(null=True)
    last_error = peewee.CharField(max_length=500, default="")
    delivered_at = UTCDateTimeField(null=True)

    class Meta:
        table_name = "notification"
        indexes = (
            (("tenant", "id"), False),
            (("delivery_status", "next_attempt_at"), False),
        )


CREDIT_MODELS: list[type[BaseModel]] = [
    CreditAccount,
    Invoice,
    CreditLot,
    LedgerEntry,
    DebitSplit,
    AutoRecharge,
    BillingProfile,
    PostpaidPeriod,
    IdempotencyRecord,
    Webhook,
    Notification,
]
