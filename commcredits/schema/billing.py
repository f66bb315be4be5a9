"""The billing profile: who is billed, and how (by invoice or card token)."""

import datetime as dt

import strawberry

from commcredits.models import BillingProfile as BillingProfileRow
from commcredits.schema.input_limits import limited_field
from commcredits.schema.invoices import PaymentMethod
from commcredits.services import billing


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
            card_token_hint=billing.token_hint(row.card_token),
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
