"""A card's price (micros per minute) as shown, and charges in the currency's minor unit."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from commcredits.services.tenants import CURRENCY_MINOR_UNITS

MICROS = Decimal(1_000_000)


def price_from_micros(micros: int) -> Decimal:
    """A card price as shown: at least 4 decimal places, 6 when the card needs them."""
    price = Decimal(micros).scaleb(-6)
    four = price.quantize(Decimal("0.0001"))
    return four if four == price else price.quantize(Decimal("0.000001"))


def charge_for(price_micros: int, minutes: int, currency: str) -> Decimal:
    """Minutes × price, rounded half up to the currency's minor unit."""
    exponent = Decimal(1).scaleb(-CURRENCY_MINOR_UNITS[currency])
    return (Decimal(price_micros * minutes) / MICROS).quantize(exponent, rounding=ROUND_HALF_UP)


def from_minor_units(value: int, currency: str) -> Decimal:
    places = CURRENCY_MINOR_UNITS[currency]
    return Decimal(value).scaleb(-places).quantize(Decimal(1).scaleb(-places))
