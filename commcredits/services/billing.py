"""Billing profile (seed step 2.5, "Abrechnungsdetails"): who is invoiced and how they pay.

The payment method is `INVOICE` or a card *token* from the payment provider. A card number is
refused outright, so that none is ever stored.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, fields

from commcredits.db import tenant_lock
from commcredits.models import BillingProfile, Tenant
from commcredits.services import audit
from commcredits.services.countries import normalize_country
from commcredits.services.errors import DomainError, ErrorDetail
from commcredits.services.principal import Principal

PAYMENT_METHODS = ("INVOICE", "CARD")
# Both patterns are bounded and have one way to match each character, so they run in linear
# time; the e-mail address is checked without a pattern (is_email).
_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9_\-]{3,199}")
_VAT = re.compile(r"[A-Z]{2}[A-Z0-9+*]{2,13}")
TEXT_LIMITS = {  # characters, as the columns hold them (the API declares the same limits)
    "company_name": 200,
    "address_line1": 200,
    "address_line2": 200,
    "postal_code": 20,
    "city": 100,
}
MAX_EMAIL = 254  # RFC 5321's longest path, and the column
MAX_EMAIL_LOCAL = 64
MAX_CARD_TOKEN = 200
MAX_VAT_ID = 40  # with the spaces, dots and dashes people write in it


def is_email(value: str) -> bool:
    """local@domain: 1–64 characters before the only '@', and a domain with a '.' that has at
    least one character before it and two after it; no whitespace anywhere.

    Written with string methods: the pattern it replaces (`[^@\\s]+\\.[^@\\s]{2,}` for the
    domain) backtracked quadratically, 3 s for "a@" + "." * 30,000 + "@".
    """
    # split() is the whitespace test in C: a value without any splits into itself alone.
    if len(value) > MAX_EMAIL or value.split() != [value]:
        return False
    local, at, domain = value.partition("@")
    if not at or "@" in domain or not 1 <= len(local) <= MAX_EMAIL_LOCAL:
        return False
    # The first '.' after the domain's first character leaves the most after it.
    dot = domain.find(".", 1)
    return dot > 0 and len(domain) - dot - 1 >= 2


@dataclass
class BillingFields:
    """What `updateBillingProfile` may change; None leaves a field as it is."""

    company_name: str | None = None
    address_line1: str | None = None
    address_line2: str | None = None
    postal_code: str | None = None
    city: str | None = None
    country: str | None = None
    vat_id: str | None = None
    contact_email: str | None = None
    payment_method: str | None = None
    card_token: str | None = None


def looks_like_card_number(value: str) -> bool:
    """12–19 digits (spaces and dashes ignored) passing the Luhn check: a PAN, not a token."""
    digits = re.sub(r"[\s-]", "", value)
    if not (digits.isascii() and digits.isdigit()) or not 12 <= len(digits) <= 19:
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def _validate(values: BillingFields, current: BillingProfile) -> dict:
    errors: list[ErrorDetail] = []
    clean: dict = {}
    for name, limit in TEXT_LIMITS.items():
        value = getattr(values, name)
        if value is not None:
            value = value.strip()
            if len(value) > limit:
                errors.append(
                    ErrorDetail(
                        "VALUE_TOO_LONG",
                        f"{_camel(name)} has at most {limit} characters.",
                        _camel(name),
                    )
                )
            clean[name] = value
    if values.country is not None:
        try:
            code = normalize_country(values.country) if values.country.strip() else ""
        except ValueError:
            code = None
        if code is None:
            errors.append(
                ErrorDetail("INVALID_COUNTRY", f"'{values.country}' is not a country.", "country")
            )
        clean["country"] = code or ""
    if values.vat_id is not None:
        # Bounded before any pattern runs (the API bounds it too; the CLI and tests call here).
        vat = ""
        if len(values.vat_id) > MAX_VAT_ID:
            message = f"vatId has at most {MAX_VAT_ID} characters."
            errors.append(ErrorDetail("VALUE_TOO_LONG", message, "vatId"))
        else:
            vat = re.sub(r"[\s.\-]", "", values.vat_id).upper()
            if vat and not _VAT.fullmatch(vat):
                errors.append(
                    ErrorDetail("INVALID_VAT_ID", f"'{values.vat_id}' is not a VAT id.", "vatId")
                )
        clean["vat_id"] = vat
    if values.contact_email is not None:
        email = values.contact_email.strip()
        if email and not is_email(email):
            shown = email if len(email) <= MAX_EMAIL else email[:40] + "…"
            errors.append(
                ErrorDetail("INVALID_EMAIL", f"'{shown}' is not an e-mail address.", "contactEmail")
            )
        clean["contact_email"] = email
    if values.card_token is not None:
        token = values.card_token.strip()
        if len(token) > MAX_CARD_TOKEN:
            errors.append(
                ErrorDetail(
                    "VALUE_TOO_LONG",
                    f"cardToken has at most {MAX_CARD_TOKEN} characters.",
                    "cardToken",
                )
            )
        elif looks_like_card_number(token) or re.sub(r"[\s-]", "", token).isdigit():
            errors.append(
                ErrorDetail(
                    "CARD_NUMBER_NOT_ALLOWED",
                    "Send the payment provider's card token, never a card number.",
                    "cardToken",
                )
            )
        elif token and not _TOKEN.fullmatch(token):
            errors.append(
                ErrorDetail("INVALID_CARD_TOKEN", "That is not a card token.", "cardToken")
            )
        clean["card_token"] = token or None
    if values.payment_method is not None:
        method = values.payment_method.strip().upper()
        if method not in PAYMENT_METHODS:
            errors.append(
                ErrorDetail(
                    "INVALID_PAYMENT_METHOD",
                    f"The payment method is one of {', '.join(PAYMENT_METHODS)}.",
                    "paymentMethod",
                )
            )
        clean["payment_method"] = method
    method = clean.get("payment_method", current.payment_method)
    token = clean.get("card_token", current.card_token)
    if not errors and method == "CARD" and not token:
        errors.append(
            ErrorDetail("CARD_TOKEN_REQUIRED", "Paying by card needs a card token.", "cardToken")
        )
    if errors:
        raise DomainError.many(errors)
    return clean


def describe(profile: BillingProfile) -> dict:
    data = {
        _camel(f.name): getattr(profile, f.name)
        for f in fields(BillingFields)
        if f.name != "card_token"
    }
    data["cardToken"] = token_hint(profile.card_token)
    return data


def billing_summary(profile: BillingProfile) -> dict:
    """Who is billed, as an invoice keeps it (the profile may change later)."""
    return {
        "companyName": profile.company_name,
        "address": [
            line
            for line in (
                profile.address_line1,
                profile.address_line2,
                f"{profile.postal_code} {profile.city}".strip(),
                profile.country,
            )
            if line
        ],
        "vatId": profile.vat_id,
        "contactEmail": profile.contact_email,
        "paymentMethod": profile.payment_method,
    }


def token_hint(token: str | None) -> str | None:
    return None if not token else "…" + token[-4:]


def billing_profile(tenant: Tenant) -> BillingProfile:
    """The tenant's profile (an unsaved empty one, paying by invoice, if none was entered)."""
    found = BillingProfile.get_or_none(BillingProfile.tenant == tenant.id)
    return found or BillingProfile(tenant=tenant.id, payment_method="INVOICE")


def update_billing_profile(
    tenant: Tenant, principal: Principal, values: BillingFields, *, now: dt.datetime
) -> BillingProfile:
    with tenant_lock(tenant.id):
        profile = billing_profile(tenant)
        before = describe(profile) if profile.id else None
        for name, value in _validate(values, profile).items():
            setattr(profile, name, value)
        if profile.payment_method == "INVOICE":
            profile.card_token = None
        profile.updated_at = now
        profile.save()
        audit.record(
            principal,
            "updateBillingProfile",
            profile,
            tenant_id=tenant.id,
            before=before,
            after=describe(profile),
            now=now,
        )
    return profile
