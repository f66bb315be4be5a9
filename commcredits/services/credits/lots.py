"""A ledger's lots: the live lots of a tenant, oldest purchase first, loaded a page at a time
only as far as a debit reaches, plus the lots funded in the unit of work (written by flush).
A debit on a tenant with 10,000 live lots reads the few it spends from, not all of them."""

from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass

from commcredits.services.credits import store
from commcredits.services.credits.rules import fifo_plan

_FRESH_ID = 1 << 62  # sorts a lot not yet written after every written lot of the same instant


@dataclass
class LotState:
    id: int | None  # None until flush writes a new lot
    amount: int
    remaining: int
    stored: int  # remaining as the database has it
    purchased_at: dt.datetime
    expires_at: dt.datetime
    insert: dict | None = None  # a new lot's row, written by flush

    def key(self) -> tuple[dt.datetime, int]:
        return (self.purchased_at, _FRESH_ID if self.id is None else self.id)


class LotBook:
    def __init__(self, tenant_id: int, now: dt.datetime):
        self.tenant_id, self.now = tenant_id, now
        self._lots: list[LotState] = []  # loaded and placed new lots, in FIFO order
        self._fresh: list[LotState] = []  # new lots not yet placed among the loaded ones
        self._head = 0  # lots before it are spent
        self._after: tuple[dt.datetime, int] | None = None  # key of the last lot loaded
        self._all_loaded = False

    def _load_page(self) -> None:
        rows, self._all_loaded, end = store.load_lots(
            self.tenant_id, now=self.now, after=self._after
        )
        self._lots.extend(LotState(i, a, r, r, b, e) for i, a, r, b, e in rows)
        if end is not None:
            self._after = end
        self._place_fresh()

    def _place_fresh(self) -> None:
        """Put new lots among the loaded ones once no unloaded lot can be older than them (a
        clock set back may date a new lot before lots already written)."""
        keep = []
        for lot in self._fresh:
            if self._all_loaded or (self._after is not None and lot.key() <= self._after):
                at = bisect.bisect_right([x.key() for x in self._lots], lot.key())
                self._lots.insert(at, lot)
                self._head = min(self._head, at)
            else:
                keep.append(lot)
        self._fresh = keep

    def add(self, lot: LotState) -> None:
        self._fresh.append(lot)
        self._place_fresh()

    def take(self, cents: int) -> list[tuple[LotState, int]]:
        """Spend `cents` FIFO (`fifo_plan`), loading pages only as far as the amount reaches;
        ValueError if all the lots cannot cover it. Returns (lot, taken) pairs."""
        lots = self._lots
        while True:
            try:
                plan = fifo_plan(lots, cents, start=self._head)
                break
            except ValueError:
                if self._all_loaded:
                    raise
                self._load_page()
        for position, taken in plan:
            lots[position].remaining -= taken
        i = plan[-1][0]
        while i < len(lots) and not lots[i].remaining:
            i += 1
        self._head = i
        return [(lots[position], taken) for position, taken in plan]

    def new(self) -> list[LotState]:
        """Lots funded in this unit of work, not written yet."""
        return [lot for lot in (*self._lots, *self._fresh) if lot.insert is not None]

    def changed(self) -> list[tuple[int, int]]:
        """(id, remaining) of written lots whose remainder changed; marks them stored."""
        found = [(lot.id, lot.remaining) for lot in self._lots if lot.remaining != lot.stored]
        for lot in self._lots:
            lot.stored = lot.remaining
        return found

    def drop_spent(self) -> None:
        """After a flush: a long-lived ledger does not walk spent lots again."""
        self._lots = [lot for lot in self._lots if lot.remaining > 0]
        self._head = 0
