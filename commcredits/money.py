"""Money: an exact `Decimal` amount in one ISO 4217 currency (py-moneyed's shape, smaller).

The database keeps integer minor units; code and the API keep `Money`. A float never becomes
money, and two currencies never meet in one sum.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

# ISO 4217 codes we bill in, with their minor units (SPEC §4: amounts quantized to these).
CURRENCY_MINOR_UNITS: dict[str, int] = {
    "EUR": 2,
    "USD": 2,
    "GBP": 2,
    "CHF": 2,
    "CAD": 2,
    "AUD": 2,
    "NZD": 2,
    "DKK": 2,
    "NOK": 2,
    "SEK": 2,
    "PLN": 2,
    "CZK": 2,
    "HUF": 2,
    "RON": 2,
    "BGN": 2,
    "JPY": 0,
}


# The one text form of an amount, for every way money comes in as text (the GraphQL Decimal
# scalar among them): plain ASCII digits, an optional leading '-' and one '.'. Decimal()
# itself would also take exponents ("1e999999999", which overflows later arithmetic),
# NaN/Infinity, '+', surrounding whitespace, '_' and non-ASCII digits ("١٢").
AMOUNT_FORMAT = (
    "Decimal amounts are written as plain digits with an optional '-' and '.', e.g. 12.50"
)
MAX_AMOUNT_TEXT = 40  # characters; checked before anything else looks at the text
MAX_AMOUNT_DIGITS = 18  # significant digits: integer minor units live in a 64-bit column


def _ascii_digits(text: str) -> bool:
    return bool(text) and text.isascii() and text.isdigit()


def parse_amount(text: str) -> Decimal:
    """An amount from its text form; raises ValueError saying what is wrong.

    Linear in the text and bounded before Decimal sees it. More decimals than a currency's
    minor unit is a domain rule (INVALID_PRECISION), checked where the currency is known.
    """
    if not isinstance(text, str):
        raise ValueError(f"{AMOUNT_FORMAT} (a string, not {type(text).__name__}).")
    if len(text) > MAX_AMOUNT_TEXT:
        raise ValueError(
            f"An amount has at most {MAX_AMOUNT_TEXT} characters; this one has {len(text):,}."
        )
    whole, dot, fraction = text.removeprefix("-").partition(".")
    if not _ascii_digits(whole) or (dot and not _ascii_digits(fraction)):
        raise ValueError(f"{text!r} is not an amount. {AMOUNT_FORMAT}.")
    digits = len(whole.lstrip("0")) + len(fraction)
    if digits > MAX_AMOUNT_DIGITS:
        raise ValueError(
            f"{text!r} has {digits} significant digits; an amount has at most {MAX_AMOUNT_DIGITS}."
        )
    return Decimal(text)


class CurrencyMismatch(ValueError):
    """Two currencies met in one operation."""


def minor_unit(currency: str) -> int:
    try:
        return CURRENCY_MINOR_UNITS[currency]
    except KeyError:
        raise ValueError(f"unsupported currency {currency!r}") from None


def _exponent(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_unit(currency))


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount, float) or not isinstance(self.amount, Decimal | int):
            raise TypeError(
                f"Money needs a Decimal or int amount, not {type(self.amount).__name__}"
            )
        if isinstance(self.amount, int) and not isinstance(self.amount, bool):
            object.__setattr__(self, "amount", Decimal(self.amount))
        if not self.amount.is_finite():
            raise ValueError("Money must be finite")
        minor_unit(self.currency)

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls.from_minor(0, currency)

    @classmethod
    def from_minor(cls, minor: int, currency: str) -> Money:
        return cls(Decimal(int(minor)).scaleb(-minor_unit(currency)), currency)

    @classmethod
    def parse(cls, value: str | Decimal | int, currency: str) -> Money:
        """From a string (`parse_amount`'s form), Decimal or int (never a float); raises
        ValueError on anything else."""
        if isinstance(value, float):
            raise TypeError("Money never comes from a float")
        if isinstance(value, str):
            return cls(parse_amount(value), currency)
        return cls(value, currency)

    # -- views --------------------------------------------------------------------------------
    @property
    def is_exact(self) -> bool:
        """True when the amount has no more decimals than the currency's minor unit."""
        return self.amount == self.amount.quantize(_exponent(self.currency))

    @property
    def minor(self) -> int:
        """Integer minor units; refuses an amount finer than the currency's minor unit."""
        if not self.is_exact:
            raise ValueError(
                f"{self.amount} has more decimals than {self.currency} allows "
                f"({minor_unit(self.currency)})"
            )
        return int(self.amount.scaleb(minor_unit(self.currency)))

    def quantized(self) -> Money:
        """Rounded half-even to the currency's minor unit."""
        return Money(
            self.amount.quantize(_exponent(self.currency), rounding=ROUND_HALF_EVEN), self.currency
        )

    def display(self) -> str:
        return f"{self.quantized().amount} {self.currency}"

    def __str__(self) -> str:
        return self.display()

    # -- arithmetic ---------------------------------------------------------------------------
    def _same(self, other: object) -> Money:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatch(f"{self.currency} and {other.currency} do not mix")
        return other

    def __add__(self, other: Money) -> Money:
        return Money(self.amount + self._same(other).amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        return Money(self.amount - self._same(other).amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __mul__(self, factor: int | Decimal) -> Money:
        if isinstance(factor, float) or not isinstance(factor, int | Decimal):
            raise TypeError("Money is multiplied by an int or Decimal only")
        return Money(self.amount * factor, self.currency)

    __rmul__ = __mul__

    def __lt__(self, other: Money) -> bool:
        return self.amount < self._same(other).amount

    def __le__(self, other: Money) -> bool:
        return self.amount <= self._same(other).amount

    def __gt__(self, other: Money) -> bool:
        return self.amount > self._same(other).amount

    def __ge__(self, other: Money) -> bool:
        return self.amount >= self._same(other).amount

    def __bool__(self) -> bool:
        return bool(self.amount)
