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


def minutes_affordable(price_micros: int, spendable: Decimal, currency: str) -> int:
    """The most whole minutes whose charge (`charge_for`, rounded half up) fits in
    `spendable`: what rating would rate for it. A charge rounds to at most S while minutes ×
    price < S + half a minor unit, so a call whose charge rounds to nothing is always
    affordable (rating debits nothing for it)."""
    half_unit = Decimal(1).scaleb(-CURRENCY_MINOR_UNITS[currency]) / 2
    ceiling = (max(spendable, Decimal(0)) + half_unit) * MICROS  # a whole number of micros
    return int((ceiling - 1) // price_micros)


def from_minor_units(value: int, currency: str) -> Decimal:
    places = CURRENCY_MINOR_UNITS[currency]
    return Decimal(value).scaleb(-places).quantize(Decimal(1).scaleb(-places))
