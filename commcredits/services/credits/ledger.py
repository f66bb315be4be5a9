"""The ledger: a tenant's credits as one unit of work, inside the tenant lock.

`Ledger.open` only loads: the account, the recharge settings, the pending recharges and the
first page of live lots (more pages only when a debit reaches them). Debits, funding, expiry,
adjustments, recharge *intents* and invoice settlements change the state in memory; `flush()`
writes everything they produced — invoices, lots, entries, splits, lot remainders, account,
settings, MCA period, notifications, audit — in one place. Nothing else writes money tables.

Invariant at every commit, checked by `commcredits audit`:
    CreditAccount.balance_minor = Σ CreditLot.remaining_minor = Σ LedgerEntry.amount_minor.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from commcredits import events, metrics
from commcredits.models import AutoRecharge, BillingProfile, PostpaidPeriod, Tenant
from commcredits.money import Money
from commcredits.services import audit, notifications
from commcredits.services.billing import billing_summary
from commcredits.services.credits import recharge, store
from commcredits.services.credits.lots import LotBook, LotState
from commcredits.services.credits.postpaid import debit_postpaid
from commcredits.services.credits.results import DebitResult
from commcredits.services.credits.rules import (
    day_of,
    insufficient,
    lot_expiry,
    period_of,
    positive_minor,
)
from commcredits.services.credits.seats import ensure_credit_seats
from commcredits.services.errors import DomainError, ErrorDetail
from commcredits.services.principal import Principal


@dataclass
class NewInvoice:
    """An invoice issued in this unit of work; flush writes it and fills `id`."""

    number: int
    values: dict
    id: int | None = None


@dataclass
class _Changes:
    entries: list[list] = field(default_factory=list)  # ENTRY_COLUMNS order; lot may be LotState
    splits: list[tuple[int, LotState, int]] = field(default_factory=list)
    invoices: list[NewInvoice] = field(default_factory=list)
    invoice_updates: list[tuple[int, dict]] = field(default_factory=list)
    emptied: list[int] = field(default_factory=list)  # expired lots (never loaded as live)
    periods: list[tuple[PostpaidPeriod, NewInvoice | None]] = field(default_factory=list)
    notes: list[dict] = field(default_factory=list)
    audits: list[dict] = field(default_factory=list)


class Ledger:
    """A tenant's credit state for one transaction (see the module docstring)."""

    def __init__(self, tenant: Tenant, principal: Principal, now: dt.datetime):  # use open()
        self.tenant, self.principal, self.now = tenant, principal, now
        self.currency = tenant.currency
        self.mca = tenant.agreement_type == "MCA"
        self.settings: AutoRecharge | None = None
        self.pending = recharge.Pending()
        self.period: PostpaidPeriod | None = None
        self.started: list[NewInvoice] = []  # recharge intents, charged after commit
        self.expired: list[tuple[int, Money]] = []
        self.warnings: list[ErrorDetail] = []
        self._account_id: int | None = None
        self._balance = self._seq = self._invoice_no = 0
        self.credit_limit_minor: int | None = None
        self.lots = LotBook(tenant.id, now)
        self._profile: BillingProfile | None | bool = False  # False: not loaded yet
        self._changes = _Changes()
        self._dirty = self._settings_dirty = self._funded = False
        # False for a ledger dated in the past (an operator's expiry as of an earlier time):
        # a recharge is charged now, so it is started by a ledger of now (expire_credits).
        self.recharging = True

    # -- loading ------------------------------------------------------------------------------
    @classmethod
    def open(cls, tenant: Tenant, *, now: dt.datetime, principal: Principal) -> Ledger:
        """Load the tenant's state (inside `db.tenant_lock(tenant.id)`); nothing is written."""
        self = cls(tenant, principal, now)
        row = store.load_account(tenant.id)
        if row[0] is not None:
            self._account_id, self._balance, self._seq, self._invoice_no = row[:4]
            self.credit_limit_minor = row[4]
        self.pending = recharge.Pending(int(row[5] or 0), int(row[6] or 0))
        self.settings = store.settings_from(row, tenant.id)
        if self.mca:
            self.period = PostpaidPeriod.get_or_none(
                (PostpaidPeriod.tenant == tenant.id) & (PostpaidPeriod.period == period_of(now))
            )
        return self

    # -- reading ------------------------------------------------------------------------------
    def money(self, minor: int) -> Money:
        return Money.from_minor(minor, self.currency)

    def balance(self) -> Money:
        return self.money(self._balance)

    @property
    def balance_minor(self) -> int:
        return self._balance

    @property
    def last_seq(self) -> int:
        return self._seq

    # -- rules --------------------------------------------------------------------------------
    def expire_due(self) -> list[tuple[int, Money]]:
        """EXPIRED entries for lots past their 12 months (the first step of every money
        write); a recharge intent follows if that took the balance below the trigger."""
        due = store.load_due_lots(self.tenant.id, now=self.now)
        for lot_id, cents in due:
            self._balance -= cents
            self.entry("EXPIRED", -cents, reference=f"lot:{lot_id}", lot=lot_id)
            self._changes.emptied.append(lot_id)
            self.expired.append((lot_id, self.money(cents)))
        if due:
            self.after_change()
        return self.expired

    def debit(self, amount: Money, *, reference: str, kind: str = "CALL") -> DebitResult:
        """Spend `amount` FIFO over the lots, all or nothing. When the balance cannot cover
        it, a recharge that could is started (an intent, charged after commit) and the debit
        is refused: it never waits for the gateway inside the lock."""
        cents = positive_minor(amount, self.currency)
        if self.mca:
            return debit_postpaid(self, cents, reference=reference, kind=kind)
        if self._balance < cents:
            count = recharge.to_cover(self.settings, self._balance, cents, self.pending, self.now)
            if count is None:
                self._report_cap()
            for _ in range(count or 0):
                self._start_recharge()
            refusal = insufficient(self.balance(), self.money(cents))
            raise DomainError.many([*refusal.details, *self.warnings])
        before = self._balance
        splits = self.take(cents)
        seq = self.entry("CONSUMED", -cents, reference=reference, usage_kind=kind)
        self.record_splits(seq, splits)
        self.after_change()
        if before > 0 and self._balance == 0:
            self.note("BALANCE_ZERO", {"balance": "0", "currency": self.currency})
        return self.debit_result(cents, seq, splits, reference=reference)

    def debit_result(
        self,
        cents: int,
        seq: int,
        splits: list[tuple[LotState, int]],
        *,
        reference: str,
        postpaid: int = 0,
    ) -> DebitResult:
        return DebitResult(
            amount=self.money(cents),
            splits=[(lot.id, self.money(c)) for lot, c in splits],
            entry_seq=seq,
            reference=reference,
            balance_after=self.balance(),
            postpaid=self.money(postpaid),
            warnings=list(self.warnings),
        )

    @property
    def awaiting_recharge(self) -> bool:
        """A recharge is pending (written, not settled): a refused debit may be paid later."""
        return self.pending.count > 0

    def fund(
        self, cents: int, *, source: str, invoice_id: int | None, reference: str, reason: str = ""
    ) -> LotState:
        """A new lot purchased now, with its FUNDED (or ADJUSTED) entry."""
        lot = LotState(None, cents, cents, cents, self.now, lot_expiry(self.now))
        lot.insert = {
            "tenant": self.tenant.id,
            "currency": self.currency,
            "amount_minor": cents,
            "remaining_minor": cents,
            "purchased_at": self.now,
            "expires_at": lot.expires_at,
            "source": source,
            "invoice": invoice_id,
        }
        self.lots.add(lot)
        self._balance += cents
        kind = "ADJUSTED" if source == "ADJUSTMENT" else "FUNDED"
        self.entry(kind, cents, reference=reference, lot=lot, invoice=invoice_id, reason=reason)
        self._funded = True
        return lot

    def take(self, cents: int) -> list[tuple[LotState, int]]:
        """Spend from the oldest lots; the caller has checked the balance covers it."""
        taken = self.lots.take(cents)
        self._balance -= cents
        return taken

    def after_change(self) -> None:
        """After a debit or expiry: one recharge intent if the balance fell below the trigger."""
        if not self.recharging:
            return
        count = recharge.for_trigger(self.settings, self._balance, self.pending, self.now)
        if count is None:
            self._report_cap()
        elif count:
            self._start_recharge()

    def _start_recharge(self) -> NewInvoice:
        cents = self.settings.recharge_minor
        invoice = self.new_invoice(reason="AUTO_RECHARGE", amount_minor=cents)
        self.pending = recharge.Pending(self.pending.count + 1, self.pending.minor + cents)
        self.started.append(invoice)
        return invoice

    def new_invoice(
        self, *, reason: str, amount_minor: int, status: str = "PENDING", period: str | None = None
    ) -> NewInvoice:
        """The tenant's next invoice, numbered 1, 2, 3, … with no gap (under the lock). A
        PENDING one carries the idempotency key its charge will be made with."""
        method, token = self.payment_method()
        pending = status == "PENDING"
        self._invoice_no += 1
        invoice = NewInvoice(
            self._invoice_no,
            {
                "tenant": self.tenant.id,
                "number": self._invoice_no,
                "issued_at": self.now,
                "amount_minor": amount_minor,
                "currency": self.currency,
                "reason": reason,
                "status": status,
                "payment_method": method,
                "period": period,
                "billing_snapshot": self.billing_snapshot(),
                "payment_key": f"cc_{uuid.uuid4().hex}" if pending else None,
                "payment_token": token if pending and method == "CARD" else None,
            },
        )
        self._changes.invoices.append(invoice)
        self._dirty = True
        return invoice

    def _report_cap(self) -> None:
        s = self.settings
        if not any(w.code == "RECHARGE_CAPPED" for w in self.warnings):
            self.warnings.append(
                ErrorDetail(
                    "RECHARGE_CAPPED",
                    f"Auto-recharge reached its limit of {s.max_per_day} recharges today; "
                    f"raise maxRechargesPerDay or add credits by hand.",
                    None,
                )
            )
        day = day_of(self.now)
        if s.capped_on != day:  # reported once a day, not once a debit
            s.capped_on = day
            self._settings_dirty = True
            payload = {"maxRechargesPerDay": s.max_per_day, "day": day}
            self.note("RECHARGE_CAPPED", payload)
            self.audit("autoRechargeCapped", s, before=None, after=payload)

    # -- recording ----------------------------------------------------------------------------
    def note(self, kind: str, payload: dict[str, Any]) -> None:
        self._changes.notes.append(notifications.row(self.tenant.id, kind, payload, now=self.now))

    def audit(self, action: str, target: Any, *, before: Any, after: Any) -> None:
        self._changes.audits.append(
            {"action": action, "target": target, "before": before, "after": after}
        )

    def entry(
        self,
        kind: str,
        cents: int,
        *,
        reference: str = "",
        usage_kind: str = "",
        lot: LotState | int | None = None,
        invoice: int | None = None,
        postpaid: int = 0,
        period: str | None = None,
        reason: str = "",
    ) -> int:
        """A ledger entry of `kind` for `cents` (signed), numbered in this tenant's sequence;
        its lot may be one this unit of work funds (flush fills in the id)."""
        self._seq += 1
        self._changes.entries.append(
            [
                self.tenant.id,
                self._seq,
                kind,
                cents,
                postpaid,
                self._balance,
                self.currency,
                reference[:200],
                usage_kind[:32],
                lot,
                invoice,
                period,
                reason[:500],
                store.TS.db_value(self.now),
            ]
        )
        self._dirty = True
        return self._seq

    def record_splits(self, seq: int, splits: list[tuple[LotState, int]]) -> None:
        self._changes.splits.extend((seq, lot, cents) for lot, cents in splits)

    def payment_method(self) -> tuple[str, str | None]:
        profile = self._billing_profile()
        if profile is None:
            return "INVOICE", None
        return profile.payment_method, profile.card_token

    def billing_snapshot(self) -> dict | None:
        profile = self._billing_profile()
        return None if profile is None else billing_summary(profile)

    def _billing_profile(self) -> BillingProfile | None:
        if self._profile is False:
            self._profile = BillingProfile.get_or_none(BillingProfile.tenant == self.tenant.id)
        return self._profile  # type: ignore[return-value]

    def save_period(self, row: PostpaidPeriod, invoice: NewInvoice | None = None) -> None:
        """An MCA period changed (usage recorded, or closed with its invoice)."""
        self._changes.periods.append((row, invoice))

    def set_credit_limit(self, minor: int | None) -> None:
        self.credit_limit_minor = minor
        self._dirty = True

    def update_invoice(self, invoice_id: int, **values: Any) -> None:
        self._changes.invoice_updates.append((invoice_id, values))
        self._dirty = True

    def mark_settings(self) -> None:
        self._settings_dirty = True

    # -- writing ------------------------------------------------------------------------------
    def flush(self) -> None:
        """Write everything this unit of work did, in one place (then start afresh)."""
        changes, self._changes = self._changes, _Changes()
        tenant_id = self.tenant.id
        if self._account_id is None and (self._dirty or self.credit_limit_minor is not None):
            self._account_id = store.insert_account(tenant_id, self.currency, now=self.now)
            self._dirty = True
        for invoice in changes.invoices:
            invoice.id = store.insert_invoice(invoice.values)
        for invoice_id, values in changes.invoice_updates:
            store.update_invoice(invoice_id, values)
        for lot in self.lots.new():
            lot.insert["remaining_minor"] = lot.remaining  # spent from already, perhaps
            lot.id, lot.insert = store.insert_lot(lot.insert), None
            lot.stored = lot.remaining
        for entry in changes.entries:
            if isinstance(entry[9], LotState):
                entry[9] = entry[9].id
        store.insert_entries(changes.entries)  # type: ignore[arg-type]
        store.insert_splits([(tenant_id, seq, lot.id, c) for seq, lot, c in changes.splits])
        updates = self.lots.changed()
        store.update_remaining(updates + [(lot_id, 0) for lot_id in changes.emptied])
        if self._dirty:
            store.update_account(
                self._account_id,
                balance=self._balance,
                last_entry_seq=self._seq,
                last_invoice_number=self._invoice_no,
                credit_limit=self.credit_limit_minor,
                now=self.now,
            )
        if self._settings_dirty and self.settings is not None:
            self.settings.save()
        for row, invoice in {id(r): (r, i) for r, i in changes.periods}.values():
            if invoice is not None:
                row.invoice = invoice.id
            row.save()
        notifications.emit_many(changes.notes)
        # Money moved, recharges started and capped: counted when this transaction commits.
        metrics.ledger_flushed(changes.entries, changes.invoices, changes.notes, self.currency)
        if changes.entries:  # subscribers' balanceChanged, delivered after commit (events.py)
            events.balance_changed(
                tenant_id,
                balance_minor=self._balance,
                currency=self.currency,
                seq=self._seq,
                kind=changes.entries[-1][2],
                at=self.now,
            )
        if changes.audits:
            for entry in changes.audits:
                entry["tenant_id"] = tenant_id
                if isinstance(entry["after"], dict) and isinstance(
                    entry["after"].get("lot"), LotState
                ):
                    entry["after"]["lot"] = entry["after"]["lot"].id
            audit.record_many(self.principal, changes.audits, now=self.now)
        if self._funded:
            ensure_credit_seats(self.tenant, self.principal, now=self.now)
        self._dirty = self._settings_dirty = self._funded = False
        self.lots.drop_spent()
