"""Looking prices up (SPEC §5): a card's rows in memory for longest-prefix lookups, the cards
in force over a batch (`RateBook`), and one destination's rows for a single lookup
(`table_for`). Importing and validating cards is in `rates.py`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import peewee

from commcredits.db import db
from commcredits.models.rating import Rate, RateCard
from commcredits.services.call_fields import CALL_TYPES


@dataclass(frozen=True)
class PriceRow:
    id: int
    call_type: str
    prefix: str
    country: str
    price_micros: int
    zone: str
    premium: bool
    emergency: bool = False


class RateTable:
    """One card's rows in one currency, for longest-prefix lookups in memory."""

    def __init__(self, card: RateCard | None, rows: Iterable[PriceRow]):
        self.card = card
        self.by_type: dict[str, dict[str, PriceRow]] = {t: {} for t in CALL_TYPES}
        # The numbering plan: prefix → row of any call type (for the country and zone).
        self.numbering: dict[str, PriceRow] = {}
        # Emergency numbers, matched whole: +49112 is emergency, +4911234567 is not.
        self.emergency: dict[str, PriceRow] = {}
        for row in rows:
            if row.emergency:
                self.emergency[row.prefix] = row
                continue
            self.by_type[row.call_type][row.prefix] = row
            self.numbering.setdefault(row.prefix, row)
        self._longest = max((len(p) for p in self.numbering), default=0)

    @staticmethod
    def _match(table: dict[str, PriceRow], digits: str, longest: int) -> PriceRow | None:
        for length in range(min(len(digits), longest), 0, -1):
            row = table.get(digits[:length])
            if row is not None:
                return row
        return None

    def find(self, call_type: str, digits: str) -> PriceRow | None:
        """The price row for a call type and destination: the longest matching prefix."""
        return self._match(self.by_type[call_type], digits, self._longest)

    def emergency_number(self, digits: str) -> PriceRow | None:
        """The card's emergency row for exactly this number, if it is one."""
        return self.emergency.get(digits)

    def place(self, digits: str) -> PriceRow | None:
        """The destination's country, from the longest prefix of any type: what a call to it
        is classified by (DOMESTIC or INTERNATIONAL) before its own row can be looked up."""
        return self._match(self.numbering, digits, self._longest)


def pool_terms(rate: PriceRow | None, place: PriceRow) -> PriceRow:
    """The row a call's pool terms (zone, premium) come from: `rate`, the row that prices it
    (its type's longest prefix), as the card wrote them beside its price; the numbering
    plan's `place` when the card does not price that type there (the call is then NO_RATE if
    charged). A dial-out's zone A is not lost to a longer DOMESTIC row that names no zone."""
    return rate or place


_PRICE_COLUMNS = (
    Rate.id,
    Rate.call_type,
    Rate.prefix,
    Rate.country,
    Rate.price_micros,
    Rate.zone,
    Rate.premium,
    Rate.emergency,
)


def cards_pricing(currency: str | None) -> peewee.ModelSelect:
    """The cards that price calls in `currency` (every card for None), newest first: the card
    in force for a currency at an instant is the first of them effective by then. A card of
    another currency alone (an operator's USD carrier card) takes no EUR tenant's rates away.
    Each card's EXISTS is one seek of rate's unique (card, currency, …) index."""
    query = RateCard.select().order_by(RateCard.effective_from.desc(), RateCard.id.desc())
    if currency is None:
        return query
    priced = Rate.select(Rate.id).where((Rate.card == RateCard.id) & (Rate.currency == currency))
    return query.where(peewee.fn.EXISTS(priced))


def card_in_force(currency: str | None, at: dt.datetime) -> peewee.ModelSelect:
    """The card in force for `currency` at `at`, as a query of its one row (or none)."""
    return cards_pricing(currency).where(RateCard.effective_from <= at).limit(1)


def table_for(currency: str, at: dt.datetime, digits: str) -> RateTable:
    """The card in force at `at`, holding only the rows one destination can match (its
    prefixes), in one statement through the unique index: what a single lookup needs
    (`authorizeCall` asks about one number) instead of the whole card."""
    p = db.param
    prefixes = [digits[:n] for n in range(1, min(len(digits), 15) + 1)]
    card_sql, card_params = card_in_force(currency, at).select(RateCard.id).sql()
    rows = db.execute_sql(
        f"SELECT r.id, r.call_type, r.prefix, r.country, r.price_micros, r.zone, r.premium, "
        f"r.emergency FROM {Rate._meta.table_name} r WHERE r.card_id = ({card_sql}) "
        f"AND r.currency = {p} AND r.call_type IN ({', '.join(p for _ in CALL_TYPES)}) "
        f"AND r.prefix IN ({', '.join(p for _ in prefixes)})",
        (*card_params, currency, *CALL_TYPES, *prefixes),
    ).fetchall()
    return RateTable(
        None,
        (PriceRow(i, t, pre, c, m, z, bool(pr), bool(em)) for i, t, pre, c, m, z, pr, em in rows),
    )


class RateBook:
    """The cards in force over a batch, per currency; each card's rows loaded once, on demand."""

    def __init__(self, currency: str):
        self.currency = currency
        self.cards = list(cards_pricing(currency))
        self._tables: dict[int, RateTable] = {}
        self._empty = RateTable(None, [])

    def card_at(self, at: dt.datetime) -> RateCard | None:
        for card in self.cards:
            if card.effective_from <= at:
                return card
        return None

    def table_at(self, at: dt.datetime) -> RateTable:
        card = self.card_at(at)
        if card is None:
            return self._empty
        table = self._tables.get(card.id)
        if table is None:
            query = (
                Rate.select(*_PRICE_COLUMNS)
                .where((Rate.card == card.id) & (Rate.currency == self.currency))
                .tuples()
            )
            table = RateTable(card, (PriceRow(*t) for t in query))
            self._tables[card.id] = table
        return table
