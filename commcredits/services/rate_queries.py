"""Reading rate cards: the cards, newest first, and one card's rows, filtered."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

import peewee

from commcredits.models.rating import Rate, RateCard
from commcredits.services.call_fields import parse_call_type
from commcredits.services.errors import DomainError
from commcredits.services.list_counts import Count, capped_count, exact_count
from commcredits.services.rate_tables import card_in_force


@dataclass
class RateFilter:
    call_type: str | None = None
    country: str | None = None
    currency: str | None = None
    prefix: str | None = None  # rows whose prefix starts with these digits
    card_id: int | None = None  # default: the card in force at `now`
    card: RateCard | None = None  # that card's row, when `with_card` read it


def with_card(flt: RateFilter | None, *, now: dt.datetime) -> RateFilter:
    """The filter naming its card: the one asked, else the card in force at `now` (for the
    filter's currency, if it names one), looked up once for a page and its count."""
    flt = flt or RateFilter()
    if flt.card_id is not None:
        return flt
    # With a currency, the card its tenants' calls are priced by now (rate_tables).
    currency = flt.currency.strip().upper() if flt.currency else None
    current = card_in_force(currency, now).first()
    return dataclasses.replace(flt, card_id=current.id if current else 0, card=current)


def rates_query(flt: RateFilter | None, *, now: dt.datetime) -> peewee.ModelSelect:
    """Rows of one card (by default the card in force at `now`), filtered."""
    flt = with_card(flt, now=now)
    card_id = flt.card_id
    # The rows alone: a page is read through rate_in_id_order on PostgreSQL (migration 0031),
    # which returns rate rows; their one card is the caller's to read once (`card_of`).
    query = Rate.select().where(Rate.card == card_id)
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
        query = query.where(Rate.prefix.startswith(digits) & (Rate.prefix >= digits))
        # The same rows as a range, so (card_id, prefix, id) reads only them (migration 0013).
        upper = _next_prefix(digits)
        if upper:
            query = query.where(Rate.prefix < upper)
    return query


def card_of(flt: RateFilter) -> RateCard | None:
    """The card a filter (as `with_card` completed it) reads: the one every row of its page
    belongs to (read here only if the filter named it)."""
    if flt.card is not None:
        return flt.card
    return RateCard.get_or_none(RateCard.id == flt.card_id)


def count_rates(flt: RateFilter | None, *, now: dt.datetime) -> Count:
    """How many rows `rates_query` matches: a whole card's kept `row_count`; with a filter,
    counted up to COUNT_CAP."""
    flt = with_card(flt, now=now)
    if not (flt.call_type or flt.country or flt.currency or flt.prefix):
        card = card_of(flt)
        return exact_count(card.row_count if card else 0)
    return capped_count(rates_query(flt, now=now))


def _next_prefix(digits: str) -> str:
    """The first digit string after every one starting with `digits` ("49" → "5", "199" → "2");
    "" when there is none ("99")."""
    stem = digits.rstrip("9")
    return stem[:-1] + str(int(stem[-1]) + 1) if stem else ""


def rate_cards() -> list[RateCard]:
    return list(RateCard.select().order_by(RateCard.effective_from.desc(), RateCard.id.desc()))


def rate_cards_query() -> peewee.ModelSelect:
    """Every card, for a page (the caller orders by id)."""
    return RateCard.select()
