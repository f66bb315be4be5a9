"""A rate card's rows, checked and normalized: any bad row refuses the whole card."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from commcredits.services.call_fields import parse_call_type
from commcredits.services.countries import ISO_COUNTRIES
from commcredits.services.errors import DomainError, ErrorDetail
from commcredits.services.tenants import CURRENCY_MINOR_UNITS

MAX_PRICE = Decimal(1000)  # per minute; anything above is a typo, not a price
MAX_RATE_ROWS = 200_000
# Used with fullmatch ('$' would also take a trailing newline).
_PREFIX = re.compile(r"[1-9][0-9]{0,14}")
_TRUE = {"true", "yes", "y", "1", "x", "premium"}
_FALSE = {"false", "no", "n", "0", ""}


@dataclass(frozen=True)
class RateRow:
    call_type: str
    prefix: str
    country: str
    price: Decimal
    currency: str
    zone: str = ""
    premium: bool = False
    description: str = ""
    emergency: bool = False


def validate_row(raw: dict[str, Any], label: str) -> RateRow:
    """One row, checked and normalized; `label` names it in errors ("row 7")."""

    def fail(code: str, message: str, column: str) -> DomainError:
        return DomainError(code, f"{label}: {message}", f"{label}.{column}")

    text = {k: ("" if v is None else str(v).strip()) for k, v in raw.items()}
    try:
        call_type = parse_call_type(text.get("call_type", ""))
    except DomainError as error:
        raise fail(error.code, str(error), "callType") from None
    prefix = text.get("prefix", "").removeprefix("+")
    if prefix.endswith(".0"):  # a spreadsheet that stored the prefix as a number
        prefix = prefix[:-2]
    if not _PREFIX.fullmatch(prefix):
        raise fail(
            "INVALID_PREFIX",
            f"prefix '{text.get('prefix', '')}' is not 1 to 15 E.164 digits (country code first).",
            "prefix",
        )
    country = text.get("country", "").upper()
    if country not in ISO_COUNTRIES:
        raise fail(
            "INVALID_COUNTRY",
            f"country '{text.get('country', '')}' is not an ISO 3166-1 alpha-2 code.",
            "country",
        )
    try:
        price = Decimal(text.get("price_per_minute", ""))
    except InvalidOperation:
        price = None
    if price is None or not price.is_finite():
        raise fail(
            "INVALID_PRICE",
            f"price '{text.get('price_per_minute', '')}' is not a number.",
            "pricePerMinute",
        )
    if price < 0:
        raise fail("INVALID_PRICE", f"price {price} is negative.", "pricePerMinute")
    if price > MAX_PRICE:
        raise fail(
            "INVALID_PRICE", f"price {price} is above {MAX_PRICE} per minute.", "pricePerMinute"
        )
    if price != price.quantize(Decimal("0.000001")):
        raise fail(
            "INVALID_PRICE", f"price {price} has more than 6 decimal places.", "pricePerMinute"
        )
    currency = text.get("currency", "").upper()
    if currency not in CURRENCY_MINOR_UNITS:
        raise fail(
            "INVALID_CURRENCY",
            f"currency '{text.get('currency', '')}' is not one we bill in "
            f"({', '.join(sorted(CURRENCY_MINOR_UNITS))}).",
            "currency",
        )
    zone = text.get("zone", "").upper()
    if len(zone) > 8:
        raise fail("INVALID_ZONE", f"zone '{zone}' is longer than 8 characters.", "zone")
    premium_text = text.get("premium", "").lower()
    if premium_text not in _TRUE | _FALSE:
        raise fail(
            "INVALID_PREMIUM", f"premium '{text.get('premium')}' is not true or false.", "premium"
        )
    emergency_text = text.get("emergency", "").lower()
    if emergency_text not in _TRUE | _FALSE | {"emergency"}:
        raise fail(
            "INVALID_EMERGENCY",
            f"emergency '{text.get('emergency')}' is not true or false.",
            "emergency",
        )
    emergency = emergency_text in _TRUE | {"emergency"}
    if emergency and price != 0:
        raise fail(
            "INVALID_EMERGENCY",
            f"an emergency number is free, not {price} per minute.",
            "emergency",
        )
    return RateRow(
        call_type=call_type,
        prefix=prefix,
        country=country,
        price=price,
        currency=currency,
        zone=zone,
        premium=premium_text in _TRUE,
        description=text.get("description", "")[:200],
        emergency=emergency,
    )


def validate_rows(raws: Iterable[dict[str, Any]], *, first_row: int = 1) -> list[RateRow]:
    """Every row checked; any bad row refuses the whole card, each bad row named (up to 20)."""
    rows: list[RateRow] = []
    errors: list[ErrorDetail] = []
    seen: dict[tuple[str, str, str], int] = {}
    for n, raw in enumerate(raws, start=first_row):
        try:
            row = validate_row(raw, f"row {n}")
        except DomainError as error:
            errors.extend(error.details)
        else:
            key = (row.currency, row.call_type, row.prefix)
            if key in seen:
                errors.append(
                    ErrorDetail(
                        "DUPLICATE_RATE",
                        f"row {n}: {row.call_type} +{row.prefix} in {row.currency} is already "
                        f"priced in row {seen[key]}.",
                        f"row {n}.prefix",
                    )
                )
            seen[key] = n
            rows.append(row)
        if len(errors) >= 20:
            break
    if errors:
        raise DomainError.many(errors)
    if not rows:
        raise DomainError("EMPTY_RATE_CARD", "The rate card has no rows.", "rows")
    if len(rows) > MAX_RATE_ROWS:
        raise DomainError(
            "RATE_CARD_TOO_LARGE", f"A rate card has at most {MAX_RATE_ROWS:,} rows.", "rows"
        )
    return rows
