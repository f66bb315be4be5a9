"""Reading rate cards: the cards, newest first, and one card's rows, filtered."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import peewee

from commcredits.models.rating import Rate, RateCard
from commcredits.services.call_fields import parse_call_type
from commcredits.services.errors import DomainError


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


def rate_cards_query() -> peewee.ModelSelect:
    """Every card, for a page (the caller orders by id)."""
    return RateCard.select()
