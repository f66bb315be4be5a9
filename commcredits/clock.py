"""Time as a parameter: services take `now`; the app and CLI get it from a Clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from commcredits.services.errors import DomainError

Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def as_utc(value: dt.datetime) -> dt.datetime:
    """Naive datetimes are taken as UTC; aware ones are converted."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def utc_instant(value: dt.datetime, field: str) -> dt.datetime:
    """`as_utc` for a client's value: a moment with no UTC instant (year 1 at +01:00, year
    9999 at -01:00) is refused as that field's error, never an overflow deeper down."""
    try:
        return as_utc(value)
    except (OverflowError, ValueError):
        raise DomainError(
            "INVALID_DATETIME",
            f"{field} {value.isoformat()} is out of range: it has no UTC instant.",
            field,
        ) from None
