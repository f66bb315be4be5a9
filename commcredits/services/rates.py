"""The rate card (SPEC §5): prices per call type and destination prefix, longest prefix wins.

A card is imported whole and never edited; it applies to calls *started* at or after its
`effective_from` until a card with a later `effective_from` takes over, so a new card never
rewrites history (and a rated call keeps the price it was rated at anyway). A card is also the
numbering plan: each row names the country its prefix dials, which decides whether a call is
domestic and whether a dial-out goes to a Zone A country.

This module imports cards, all or nothing: from rows, from a file, the shipped SAMPLE card. A
card's rows are checked in `rate_rows`, call types and destinations parsed in `call_fields`,
prices worked out in `prices`, cards read in `rate_queries`, prefixes looked up in
`rate_tables`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from commcredits.clock import utc_instant
from commcredits.db import db, write
from commcredits.models.rating import Rate, RateCard
from commcredits.services import audit
from commcredits.services.errors import DomainError
from commcredits.services.prices import MICROS
from commcredits.services.principal import Principal
from commcredits.services.rate_rows import validate_rows

SAMPLE_CARD_NAME = "SAMPLE rate card (not Microsoft's prices)"
SAMPLE_EFFECTIVE_FROM = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
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
    "emergency": "emergency",
}
REQUIRED_COLUMNS = ("call_type", "prefix", "country", "price_per_minute", "currency")


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
        if _has_emergency_column():
            for value, r in zip(values, rows, strict=True):
                value["emergency"] = r.emergency
        else:
            # Migration 0004 loads the sample card before 0014 adds the column: the card
            # goes in without its emergency rows, which 0014 then adds.
            values = [v for v, r in zip(values, rows, strict=True) if not r.emergency]
            card.row_count = len(values)
            card.save(only=[RateCard.row_count])
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


def _has_emergency_column() -> bool:
    return any(c.name == "emergency" for c in db.get_columns(Rate._meta.table_name))


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
