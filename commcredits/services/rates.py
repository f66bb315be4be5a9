"""The rate card (SPEC §5): prices per call type and destination prefix, longest prefix wins.

A card is imported whole and never edited; it applies to calls *started* at or after its
`effective_from` until a card with a later `effective_from` takes over, so a new card never
rewrites history (and a rated call keeps the price it was rated at anyway). A card is also the
numbering plan: each row names the country its prefix dials, which decides whether a call is
domestic and whether a dial-out goes to a Zone A country.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Any

import peewee

from commcredits.clock import utc_instant
from commcredits.db import write
from commcredits.models.rating import Rate, RateCard
from commcredits.services import audit
from commcredits.services.countries import ISO_COUNTRIES
from commcredits.services.errors import DomainError, ErrorDetail
from commcredits.services.principal import Principal
from commcredits.services.tenants import CURRENCY_MINOR_UNITS

CALL_TYPES: tuple[str, ...] = (
    "DOMESTIC",
    "INTERNATIONAL",
    "CONFERENCE_DIAL_OUT",
    "TOLL_FREE_INBOUND",
)
MICROS = Decimal(1_000_000)
MAX_PRICE = Decimal(1000)  # per minute; anything above is a typo, not a price
MAX_RATE_ROWS = 200_000
SAMPLE_CARD_NAME = "SAMPLE rate card (not Microsoft's prices)"
SAMPLE_EFFECTIVE_FROM = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
# Bounded, one way to match each character: linear. Used with fullmatch ('$' would also take a
# trailing newline).
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_PREFIX = re.compile(r"[1-9][0-9]{0,14}")
_TRUE = {"true", "yes", "y", "1", "x", "premium"}
_FALSE = {"false", "no", "n", "0", ""}
# Header spellings accepted in files: compared lower-cased without spaces, '_' or '-'.
_COLUMNS = {
    "calltype": "call_type",
    "type": "call_type",
    "prefix": "prefix",
    "destinationprefix": "prefix",
    "country": "country",
    "countryorregion": "country",
    "pricepermin": "price_per_minute",
    "priceperminute": "price_per_minute",
    "price": "price_per_minute",
    "currency": "currency",
    "zone": "zone",
    "premium": "premium",
    "description": "description",
}
REQUIRED_COLUMNS = ("call_type", "prefix", "country", "price_per_minute", "currency")


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


def parse_destination(value: str | None, *, field: str = "destination") -> str:
    """E.164 digits (no '+') of `+<country code><number>`, 7–15 digits; else INVALID_DESTINATION."""
    text = (value or "").strip()
    if not _E164.fullmatch(text):
        raise DomainError(
            "INVALID_DESTINATION",
            f"'{value}' is not an E.164 number: '+', a country code and 7 to 15 digits in all, "
            f"no spaces (e.g. +4930123456).",
            field,
        )
    return text[1:]


def parse_call_type(value: str | None, *, field: str = "callType") -> str:
    code = (value or "").strip().upper()
    if code not in CALL_TYPES:
        raise DomainError(
            "INVALID_CALL_TYPE",
            f"'{value}' is not a call type ({', '.join(CALL_TYPES)}).",
            field,
        )
    return code


def price_from_micros(micros: int) -> Decimal:
    """A card price as shown: at least 4 decimal places, 6 when the card needs them."""
    price = Decimal(micros).scaleb(-6)
    four = price.quantize(Decimal("0.0001"))
    return four if four == price else price.quantize(Decimal("0.000001"))


def charge_for(price_micros: int, minutes: int, currency: str) -> Decimal:
    """Minutes × price, rounded half up to the currency's minor unit."""
    exponent = Decimal(1).scaleb(-CURRENCY_MINOR_UNITS[currency])
    return (Decimal(price_micros * minutes) / MICROS).quantize(exponent, rounding=ROUND_HALF_UP)


def minor_units(amount: Decimal, currency: str) -> int:
    return int(amount.scaleb(CURRENCY_MINOR_UNITS[currency]))


def from_minor_units(value: int, currency: str) -> Decimal:
    places = CURRENCY_MINOR_UNITS[currency]
    return Decimal(value).scaleb(-places).quantize(Decimal(1).scaleb(-places))


# --- validating and importing a card -----------------------------------------------------


def validate_row(raw: dict[str, Any], label: str) -> RateRow:
    """One row, checked and normalized; `label` names it in errors ("row 7")."""

    def fail(code: str, message: str, column: str) -> DomainError:
        return DomainError(code, f"{label}: {message}", f"{label}.{column}")

    text = {k: ("" if v is None else str(v).strip()) for k, v in raw.items()}
    call_type = text.get("call_type", "").upper()
    if call_type not in CALL_TYPES:
        raise fail(
            "INVALID_CALL_TYPE",
            f"call type '{text.get('call_type', '')}' is not one of {', '.join(CALL_TYPES)}.",
            "callType",
        )
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
    return RateRow(
        call_type=call_type,
        prefix=prefix,
        country=country,
        price=price,
        currency=currency,
        zone=zone,
        premium=premium_text in _TRUE,
        description=text.get("description", "")[:200],
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


def import_rates(
    principal: Principal,
    raws: Iterable[dict[str, Any]],
    *,
    name: str,
    effective_from: dt.datetime | None = None,
    source: str = "",
    sample: bool = False,
    first_row: int = 1,
    now: dt.datetime,
) -> RateCard:
    """Validate every row, then import the card all or nothing (effective from `now` if unset)."""
    rows = validate_rows(raws, first_row=first_row)
    label = (name or "").strip() or f"Rate card {now:%Y-%m-%d %H:%M}"
    if len(label) > 200:
        raise DomainError("VALUE_TOO_LONG", "A card name has at most 200 characters.", "name")
    effective = utc_instant(effective_from, "effectiveFrom") if effective_from else now
    if effective.tzinfo is None:
        effective = effective.replace(tzinfo=dt.UTC)
    with write():
        card = RateCard.create(
            name=label,
            effective_from=effective,
            imported_at=now,
            source=source[:300],
            sample=sample,
            row_count=len(rows),
        )
        values = [
            {
                "card": card.id,
                "call_type": r.call_type,
                "prefix": r.prefix,
                "country": r.country,
                "price_micros": int(r.price * MICROS),
                "currency": r.currency,
                "zone": r.zone,
                "premium": r.premium,
                "description": r.description,
            }
            for r in rows
        ]
        for start in range(0, len(values), 1000):
            Rate.insert_many(values[start : start + 1000]).execute()
        audit.record(
            principal,
            "importRates",
            card,
            tenant_id=None,
            before=None,
            after={
                "name": label,
                "effectiveFrom": effective.isoformat(),
                "rows": len(rows),
                "currencies": sorted({r.currency for r in rows}),
                "source": source,
            },
            now=now,
        )
    return card


def read_rate_file(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a CSV, XLSX or Parquet file (polars), headers matched loosely; all as text."""
    import polars as pl

    file = Path(path)
    suffix = file.suffix.lower()
    if not file.exists():
        raise DomainError("FILE_NOT_FOUND", f"{file} does not exist.", "file")
    if suffix == ".csv":
        frame = pl.read_csv(file, comment_prefix="#", infer_schema=False)
    elif suffix in (".xlsx", ".xls"):
        frame = pl.read_excel(file, infer_schema_length=0)
    elif suffix == ".parquet":
        frame = pl.read_parquet(file)
    else:
        raise DomainError(
            "UNSUPPORTED_FILE", f"{file.name}: use a .csv, .xlsx or .parquet file.", "file"
        )
    renames: dict[str, str] = {}
    for column in frame.columns:
        key = re.sub(r"[\s_\-]", "", column.lower())
        if key in _COLUMNS:
            renames[column] = _COLUMNS[key]
    frame = frame.rename(renames)
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise DomainError(
            "MISSING_COLUMNS",
            f"{file.name} lacks the column(s) {', '.join(missing)} (found: "
            f"{', '.join(frame.columns)}).",
            "file",
        )
    frame = frame.select([pl.col(c).cast(pl.Utf8) for c in frame.columns if c in _COLUMNS.values()])
    return frame.to_dicts()


def import_rate_file(
    principal: Principal,
    path: str | Path,
    *,
    name: str | None = None,
    effective_from: dt.datetime | None = None,
    now: dt.datetime,
) -> RateCard:
    """`commcredits import-rates FILE`: rows are named by their line in the file (header = 1)."""
    file = Path(path)
    return import_rates(
        principal,
        read_rate_file(file),
        name=name or file.stem,
        effective_from=effective_from,
        source=file.name,
        first_row=2,
        now=now,
    )


def sample_card_path() -> Path:
    return Path(str(resources.files("commcredits") / "data" / "sample_rates.csv"))


def ensure_sample_card(principal: Principal, *, now: dt.datetime) -> RateCard | None:
    """Load the shipped SAMPLE card once (effective since 2000), so a fresh install can rate."""
    if RateCard.select().where(RateCard.sample == True).exists():  # noqa: E712 - peewee
        return None
    return import_rates(
        principal,
        read_rate_file(sample_card_path()),
        name=SAMPLE_CARD_NAME,
        effective_from=SAMPLE_EFFECTIVE_FROM,
        source="commcredits/data/sample_rates.csv",
        sample=True,
        first_row=2,
        now=now,
    )


@dataclass
class RateFilter:
    call_type: str | None = None
    country: str | None = None
    currency: str | None = None
    prefix: str | None = None  # rows whose prefix starts with these digits
    card_id: int | None = None  # default: the card in force at `now`


def rates_query(flt: RateFilter | None, *, now: dt.datetime) -> peewee.ModelSelect:
    """Rows of one card (by default the card in force at `now`), filtered."""
    flt = flt or RateFilter()
    card_id = flt.card_id
    if card_id is None:
        current = (
            RateCard.select(RateCard.id)
            .where(RateCard.effective_from <= now)
            .order_by(RateCard.effective_from.desc(), RateCard.id.desc())
            .first()
        )
        card_id = current.id if current else 0
    query = Rate.select(Rate, RateCard).join(RateCard).where(Rate.card == card_id)
    if flt.call_type:
        query = query.where(Rate.call_type == parse_call_type(flt.call_type))
    if flt.country:
        query = query.where(Rate.country == flt.country.strip().upper())
    if flt.currency:
        query = query.where(Rate.currency == flt.currency.strip().upper())
    if flt.prefix:
        digits = flt.prefix.strip().removeprefix("+")
        if not (digits.isascii() and digits.isdigit()):
            raise DomainError("INVALID_PREFIX", f"'{flt.prefix}' is not E.164 digits.", "prefix")
        query = query.where(Rate.prefix.startswith(digits))
    return query


def rate_cards() -> list[RateCard]:
    return list(RateCard.select().order_by(RateCard.effective_from.desc(), RateCard.id.desc()))
