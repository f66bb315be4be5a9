"""Invoices: what a purchase, a recharge or an MCA month billed, and how it was paid."""

import datetime as dt
import enum

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from commcredits.models import Invoice as InvoiceRow
from commcredits.schema.common import Node, to_global_id
from commcredits.schema.credits import CreditLot, Money


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
        if self.pk is None:
            return None
        row = await info.context.loaders.invoice_lot.load(self.pk)
        return CreditLot.from_row(row, info.context.now) if row else None
