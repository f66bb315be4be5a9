"""Credits: Money, balance, lots, transactions, invoices, auto-recharge, billing, notifications."""

import datetime as dt
import enum
from decimal import Decimal

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from commcredits.models import AutoRecharge as AutoRechargeRow
from commcredits.models import BillingProfile as BillingProfileRow
from commcredits.models import CreditLot as CreditLotRow
from commcredits.models import Invoice as InvoiceRow
from commcredits.models import LedgerEntry as LedgerEntryRow
from commcredits.models import Notification as NotificationRow
from commcredits.models import Webhook as WebhookRow
from commcredits.money import Money as MoneyValue
from commcredits.schema.common import Connection, Node, UserError, to_global_id
from commcredits.schema.input_limits import limited_field
from commcredits.services import billing


@strawberry.type(name="Money", description="An exact amount (a Decimal string) and its currency.")
class Money:
    amount: Decimal
    currency: str

    @classmethod
    def of(cls, value: MoneyValue) -> "Money":
        return cls(amount=value.quantized().amount, currency=value.currency)

    @classmethod
    def minor(cls, minor: int, currency: str) -> "Money":
        return cls.of(MoneyValue.from_minor(minor, currency))


@strawberry.enum
class LotSource(enum.Enum):
    PURCHASE = "PURCHASE"
    AUTO_RECHARGE = "AUTO_RECHARGE"
    ADJUSTMENT = "ADJUSTMENT"


@strawberry.type(
    description="Credits bought at one time: spent oldest first, expire after 12 months."
)
class CreditLot(Node):
    amount: Money
    remaining: Money
    purchased_at: dt.datetime
    expires_at: dt.datetime
    source: LotSource
    expired: bool = strawberry.field(description="Its 12 months have passed (as of the request).")

    @classmethod
    def from_row(cls, row: CreditLotRow, now: dt.datetime) -> "CreditLot":
        return cls(
            id=to_global_id("CreditLot", row.id),
            amount=Money.minor(row.amount_minor, row.currency),
            remaining=Money.minor(row.remaining_minor, row.currency),
            purchased_at=row.purchased_at,
            expires_at=row.expires_at,
            source=LotSource(row.source),
            expired=row.expires_at <= now,
        )


@strawberry.type
class ExpiringCredits:
    amount: Money
    lots: int


@strawberry.type
class CreditForecast:
    daily_burn: Money = strawberry.field(description="Average spend per day, last 30 days.")
    days_left: int | None = strawberry.field(
        description="Whole days the balance lasts at that rate; null when nothing is spent."
    )


@strawberry.type(description="Σ remaining of the lots not expired at `asOf` (kept materialized).")
class CreditBalance:
    amount: Decimal
    currency: str
    as_of: dt.datetime
    tenant_pk: strawberry.Private[int]

    @strawberry.field(description="Lots, oldest first (the order they are spent in).")
    def lots(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        include_expired: bool = False,
    ) -> Connection[CreditLot]:
        from commcredits.resolvers.credits import balance_lots

        return balance_lots(self, info, first=first, after=after, include_expired=include_expired)

    @strawberry.field(description="Credit that expires within the next `days` days.")
    def expiring_within(self, info: Info, days: int) -> ExpiringCredits:
        from commcredits.resolvers.credits import balance_expiring

        return balance_expiring(self, info, days)

    @strawberry.field
    def forecast(self, info: Info) -> CreditForecast:
        from commcredits.resolvers.credits import balance_forecast

        return balance_forecast(self, info)


@strawberry.type(description='"Add this amount" when "the balance falls below" the trigger.')
class AutoRechargeSettings:
    enabled: bool
    recharge_amount: Decimal | None
    trigger_balance: Decimal | None
    max_recharges_per_day: int
    currency: str

    @classmethod
    def from_row(cls, row: AutoRechargeRow, currency: str) -> "AutoRechargeSettings":
        def dec(minor: int | None) -> Decimal | None:
            return None if minor is None else MoneyValue.from_minor(minor, currency).amount

        return cls(
            enabled=bool(row.enabled),
            recharge_amount=dec(row.recharge_minor),
            trigger_balance=dec(row.trigger_minor),
            max_recharges_per_day=row.max_per_day,
            currency=currency,
        )


@strawberry.enum
class InvoiceStatus(enum.Enum):
    DRAFT = "DRAFT"  # whatIf: the invoice an order would issue
    PENDING = "PENDING"  # written before the payment provider was asked; settled shortly
    ISSUED = "ISSUED"  # payable (payment method INVOICE, MCA months)
    PAID = "PAID"
    FAILED = "FAILED"  # the charge was declined


@strawberry.enum
class InvoiceReason(enum.Enum):
    PURCHASE = "PURCHASE"
    AUTO_RECHARGE = "AUTO_RECHARGE"
    POSTPAID = "POSTPAID"


@strawberry.enum
class PaymentMethod(enum.Enum):
    INVOICE = "INVOICE"
    CARD = "CARD"


@strawberry.type
class Invoice(Node):
    number: int = strawberry.field(description="Per tenant, 1, 2, 3, … without gaps.")
    issued_at: dt.datetime
    amount: Money
    reason: InvoiceReason
    status: InvoiceStatus
    payment_method: PaymentMethod
    period: str | None = strawberry.field(description="POSTPAID: the month billed (YYYY-MM).")
    failure_reason: str | None = strawberry.field(
        description="FAILED: why, in the payment provider's words (e.g. Stripe's decline code)."
    )
    billed_to: JSON | None = strawberry.field(description="The billing profile as it was.")
    pk: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: InvoiceRow) -> "Invoice":
        return cls(
            id=to_global_id("Invoice", row.id if row.id else f"draft-{row.number}"),
            pk=row.id,
            number=row.number,
            issued_at=row.issued_at,
            amount=Money.minor(row.amount_minor, row.currency),
            reason=InvoiceReason(row.reason),
            status=InvoiceStatus(row.status),
            payment_method=PaymentMethod(row.payment_method),
            period=row.period,
            failure_reason=row.failure_reason or None,
            billed_to=row.billing_snapshot,
        )

    @strawberry.field(description="The lot this invoice paid for (none for failed or MCA).")
    async def lot(self, info: Info) -> CreditLot | None:
        from commcredits.resolvers.credits import invoice_lot

        return await invoice_lot(self, info)


@strawberry.enum
class TransactionKind(enum.Enum):
    FUNDED = "FUNDED"
    CONSUMED = "CONSUMED"
    EXPIRED = "EXPIRED"
    ADJUSTED = "ADJUSTED"
    POSTPAID = "POSTPAID"


@strawberry.type(description="The part of a debit one lot paid.")
class CreditSplit:
    lot_id: strawberry.ID
    amount: Money


@strawberry.type(description="One ledger entry: every change of the balance is one.")
class CreditTransaction(Node):
    sequence: int = strawberry.field(description="Per tenant, in commit order.")
    kind: TransactionKind
    amount: Money = strawberry.field(description="Signed change of the prepaid balance.")
    postpaid: Money = strawberry.field(description="MCA: usage billed in arrears.")
    balance_after: Money
    reference: str
    usage_kind: str | None
    reason: str | None
    period: str | None
    created_at: dt.datetime
    tenant_pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: LedgerEntryRow) -> "CreditTransaction":
        return cls(
            id=to_global_id("CreditTransaction", row.id),
            tenant_pk=row.tenant_id,
            sequence=row.seq,
            kind=TransactionKind(row.kind),
            amount=Money.minor(row.amount_minor, row.currency),
            postpaid=Money.minor(row.postpaid_minor, row.currency),
            balance_after=Money.minor(row.balance_after_minor, row.currency),
            reference=row.reference,
            usage_kind=row.usage_kind or None,
            reason=row.reason or None,
            period=row.period,
            created_at=row.created_at,
        )

    @strawberry.field(description="Which lots paid for this debit, oldest first.")
    async def splits(self, info: Info) -> list[CreditSplit]:
        from commcredits.resolvers.credits import transaction_splits

        return await transaction_splits(self, info)


@strawberry.input
class CreditTransactionFilter:
    kinds: list[TransactionKind] | None = None
    reference: str | None = limited_field(200, default=None)  # the column's width


@strawberry.type
class BillingProfile:
    company_name: str
    address_line1: str
    address_line2: str
    postal_code: str
    city: str
    country: str
    vat_id: str
    contact_email: str
    payment_method: PaymentMethod
    card_token_hint: str | None = strawberry.field(description="The token's last characters.")
    updated_at: dt.datetime | None

    @classmethod
    def from_row(cls, row: BillingProfileRow) -> "BillingProfile":
        from commcredits.services.billing import token_hint

        return cls(
            company_name=row.company_name or "",
            address_line1=row.address_line1 or "",
            address_line2=row.address_line2 or "",
            postal_code=row.postal_code or "",
            city=row.city or "",
            country=row.country or "",
            vat_id=row.vat_id or "",
            contact_email=row.contact_email or "",
            payment_method=PaymentMethod(row.payment_method or "INVOICE"),
            card_token_hint=token_hint(row.card_token),
            updated_at=row.updated_at,
        )


@strawberry.input
class BillingProfileInput:
    company_name: str | None = limited_field(billing.TEXT_LIMITS["company_name"], default=None)
    address_line1: str | None = limited_field(billing.TEXT_LIMITS["address_line1"], default=None)
    address_line2: str | None = limited_field(billing.TEXT_LIMITS["address_line2"], default=None)
    postal_code: str | None = limited_field(billing.TEXT_LIMITS["postal_code"], default=None)
    city: str | None = limited_field(billing.TEXT_LIMITS["city"], default=None)
    country: str | None = None
    vat_id: str | None = limited_field(billing.MAX_VAT_ID, default=None)
    contact_email: str | None = limited_field(billing.MAX_EMAIL, default=None)
    payment_method: PaymentMethod | None = None
    card_token: str | None = limited_field(
        billing.MAX_CARD_TOKEN,
        default=None,
        description="The payment provider's token; a card number is refused.",
    )


@strawberry.type(description="MCA: the monthly postpaid credit limit and this month's usage.")
class CreditLimit:
    period: str
    limit: Money | None
    used: Money
    available: Money


@strawberry.type
class Notification(Node):
    kind: str
    payload: JSON
    created_at: dt.datetime
    delivery_status: str

    @classmethod
    def from_row(cls, row: NotificationRow) -> "Notification":
        return cls(
            id=to_global_id("Notification", row.id),
            kind=row.kind,
            payload=row.payload,
            created_at=row.created_at,
            delivery_status=row.delivery_status,
        )


@strawberry.type
class Webhook:
    url: str
    updated_at: dt.datetime

    @classmethod
    def from_row(cls, row: WebhookRow) -> "Webhook":
        return cls(url=row.url, updated_at=row.updated_at)


@strawberry.type
class ExpiredCredits:
    tenant_id: strawberry.ID
    tenant_name: str
    amount: Money
    lots: int


# -- payloads ----------------------------------------------------------------------------------


@strawberry.type
class PurchaseCreditsPayload:
    lot: CreditLot | None = None
    invoice: Invoice | None = None
    balance: CreditBalance | None = None
    what_if: bool = False
    replayed: bool = strawberry.field(
        default=False,
        description="The idempotency key matched an earlier purchase: nothing was bought now "
        "(with whatIf: nothing would be), and invoice is the one it matched.",
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ConfigureAutoRechargePayload:
    auto_recharge: AutoRechargeSettings | None = None
    what_if: bool = strawberry.field(
        default=False, description="The settings as they would be saved; nothing was."
    )
    recharges: list[Invoice] = strawberry.field(
        default_factory=list, description="Invoices of a recharge that saving set off."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class AdjustCreditsPayload:
    transaction: CreditTransaction | None = None
    lot: CreditLot | None = None
    balance: CreditBalance | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ExpireCreditsPayload:
    expired: list[ExpiredCredits] = strawberry.field(default_factory=list)
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class SetCreditLimitPayload:
    credit_limit: CreditLimit | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class CloseBillingPeriodPayload:
    period: str | None = None
    invoice: Invoice | None = None
    already_closed: bool = False
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class SetWebhookPayload:
    webhook: Webhook | None = None
    secret: str | None = strawberry.field(
        default=None, description="The signing secret: shown in this response only."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class UpdateBillingProfilePayload:
    billing_profile: BillingProfile | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
