"""Credits (SPEC §4, §6): lots, FIFO debits, expiry, auto-recharge, adjustments, MCA usage.

The `Ledger` is a tenant's credit state inside one write transaction: lots are loaded once,
any number of debits run in memory (FIFO, all or nothing each), and `flush()` writes the lot
updates, ledger entries, per-lot splits, notifications and audit entries with a few bulk
statements. Every public function here is one rule and opens its own `tenant_lock`; call
rating (issue 4) holds the lock itself and drives a `Ledger` directly.

Invariant at every commit, checked by `commcredits audit`:
    CreditAccount.balance_minor = Σ CreditLot.remaining_minor = Σ LedgerEntry.amount_minor.
"""

from __future__ import annotations

import bisect
import calendar
import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

import peewee

from commcredits.db import db, insert_values, tenant_lock
from commcredits.models import (
    AutoRecharge,
    BillingProfile,
    CreditAccount,
    CreditLot,
    DebitSplit,
    IdempotencyRecord,
    Invoice,
    LedgerEntry,
    PostpaidPeriod,
    Sku,
    Subscription,
    Tenant,
    User,
)
from commcredits.models.base import UTCDateTimeField
from commcredits.money import Money, minor_unit
from commcredits.services import audit, notifications, payments, seats
from commcredits.services.access import SYSTEM, Principal
from commcredits.services.errors import DomainError, ErrorDetail

MAX_AMOUNT = Decimal("1000000")  # per purchase, recharge, trigger, adjustment, credit limit
LOT_LIFETIME_MONTHS = 12
DECLINE_PAUSE = dt.timedelta(hours=1)
DEFAULT_MAX_RECHARGES_PER_DAY = 5
MAX_RECHARGES_PER_DAY = 100
CREDITS_SKU = "MCOPSTNC"
_CHUNK = 500
# The hot path (open, flush) runs hand-written SQL: building peewee queries cost ~5× the
# statements themselves. Same tables, same conversions (`_TS` is the models' datetime field).
_TS = UTCDateTimeField()
_ENTRY_COLUMNS = (
    "tenant_id, seq, kind, amount_minor, postpaid_minor, balance_after_minor, currency, "
    "reference, usage_kind, lot_id, invoice_id, period, reason, created_at"
).split(", ")
_SPLIT_COLUMNS = ("tenant_id", "entry_seq", "lot_id", "amount_minor")


# -- pure rules ------------------------------------------------------------------------------


def add_months(at: dt.datetime, months: int) -> dt.datetime:
    """`at` plus calendar months; the day is clamped to the month's last (Feb 29 → Feb 28)."""
    month_index = at.month - 1 + months
    year, month = at.year + month_index // 12, month_index % 12 + 1
    day = min(at.day, calendar.monthrange(year, month)[1])
    return at.replace(year=year, month=month, day=day)


def lot_expiry(purchased_at: dt.datetime) -> dt.datetime:
    """Credits not used within 12 months of purchase expire (seed: "Überlegungen")."""
    return add_months(purchased_at, LOT_LIFETIME_MONTHS)


def is_expired(expires_at: dt.datetime, now: dt.datetime) -> bool:
    return expires_at <= now


class _HasRemaining(Protocol):
    remaining: int


def fifo_plan(
    lots: Sequence[_HasRemaining], amount: int, *, start: int = 0
) -> list[tuple[int, int]]:
    """Take `amount` from `lots` (oldest first), beginning at position `start`.

    Returns `(position, taken)` pairs and changes nothing; all or nothing: ValueError if the
    lots cannot cover it. It reads only as many lots as the amount needs.
    """
    if amount <= 0:
        raise ValueError("a debit takes a positive amount")
    plan: list[tuple[int, int]] = []
    left = amount
    for position in range(start, len(lots)):
        remaining = lots[position].remaining
        if remaining > 0:
            take = remaining if remaining < left else left
            plan.append((position, take))
            left -= take
            if not left:
                return plan
    raise ValueError("insufficient")


def period_of(at: dt.datetime) -> str:
    return f"{at.year:04d}-{at.month:02d}"


def _day_of(at: dt.datetime) -> str:
    return at.date().isoformat()


def check_amount(
    tenant: Tenant,
    value: Decimal | Money | None,
    *,
    field: str = "amount",
    allow_zero: bool = False,
    allow_negative: bool = False,
    invalid_code: str = "INVALID_AMOUNT",
) -> Money:
    """A client amount as tenant-currency Money, or a DomainError naming what is wrong."""
    if value is None:
        raise DomainError(invalid_code, "An amount is required.", field)
    if isinstance(value, Money):
        if value.currency != tenant.currency:
            raise DomainError(
                "CURRENCY_MISMATCH",
                f"This tenant is billed in {tenant.currency}, not {value.currency}.",
                field,
            )
        amount = value.amount
    else:
        if isinstance(value, float) or not isinstance(value, Decimal | int):
            raise DomainError(invalid_code, "Amounts are decimal strings, never floats.", field)
        amount = Decimal(value)
    if not amount.is_finite():
        raise DomainError(invalid_code, "An amount must be a finite number.", field)
    if (amount < 0 and not allow_negative) or (amount == 0 and not allow_zero):
        bound = "≥ 0" if allow_zero else "above 0"
        raise DomainError(invalid_code, f"The amount must be {bound}; got {amount}.", field)
    if abs(amount) > MAX_AMOUNT:
        raise DomainError(
            "AMOUNT_TOO_LARGE",
            f"An amount is at most {MAX_AMOUNT:,} {tenant.currency}; got {amount}.",
            field,
        )
    money = Money(amount, tenant.currency)
    if not money.is_exact:
        raise DomainError(
            "INVALID_PRECISION",
            f"{tenant.currency} amounts have at most {minor_unit(tenant.currency)} decimals; "
            f"got {amount}.",
            field,
        )
    return money


def check_idempotency_key(key: str | None) -> str:
    clean = (key or "").strip()
    if not clean or len(clean) > 200:
        raise DomainError(
            "INVALID_IDEMPOTENCY_KEY",
            "An idempotency key has 1 to 200 characters.",
            "idempotencyKey",
        )
    return clean


# -- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RechargeOutcome:
    ok: bool
    amount: Money
    invoice_id: int
    invoice_number: int
    lot_id: int | None
    decline_reason: str = ""


@dataclass
class DebitResult:
    amount: Money
    splits: list[tuple[int, Money]]  # (lot id, amount taken), oldest lot first
    entry_seq: int  # the ledger entry's per-tenant number
    reference: str
    balance_after: Money
    postpaid: Money  # MCA: the part recorded as usage billed in arrears
    recharges: list[RechargeOutcome] = field(default_factory=list)
    warnings: list[ErrorDetail] = field(default_factory=list)  # e.g. RECHARGE_CAPPED

    @property
    def ledger_entry(self) -> int:
        return self.entry_seq

    def to_json(self) -> dict[str, Any]:
        return {
            "amount": str(self.amount.amount),
            "currency": self.amount.currency,
            "splits": [[lot, str(m.amount)] for lot, m in self.splits],
            "entrySeq": self.entry_seq,
            "reference": self.reference,
            "balanceAfter": str(self.balance_after.amount),
            "postpaid": str(self.postpaid.amount),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DebitResult:
        cur = data["currency"]
        return cls(
            amount=Money(Decimal(data["amount"]), cur),
            splits=[(lot, Money(Decimal(a), cur)) for lot, a in data["splits"]],
            entry_seq=data["entrySeq"],
            reference=data["reference"],
            balance_after=Money(Decimal(data["balanceAfter"]), cur),
            postpaid=Money(Decimal(data["postpaid"]), cur),
        )


@dataclass
class _Lot:
    id: int
    amount: int
    remaining: int
    stored: int  # remaining as the database has it
    purchased_at: dt.datetime
    expires_at: dt.datetime

    def key(self) -> tuple[dt.datetime, int]:
        return (self.purchased_at, self.id)


# -- the ledger ------------------------------------------------------------------------------


class Ledger:
    """A tenant's credit state for one transaction: lots loaded once, many debits in memory,
    written by flush()."""

    def __init__(self) -> None:  # use Ledger.open
        self.tenant: Tenant
        self.principal: Principal
        self.now: dt.datetime
        self.currency: str
        self.mca: bool
        self._account: CreditAccount
        self._settings: AutoRecharge | None
        self._profile: BillingProfile | None | bool = False  # False: not loaded yet
        self._lots: list[_Lot] = []
        self._head = 0  # lots before it are spent
        self._balance = 0
        self._entries: list[tuple] = []  # rows in _ENTRY_COLUMNS order
        self._splits: list[tuple] = []  # rows in _SPLIT_COLUMNS order
        self._notes: list[dict] = []
        self._audits: list[dict] = []
        self._account_dirty = False
        self._settings_dirty = False
        self._funded = False
        self._period: PostpaidPeriod | None = None
        self._period_dirty = False
        self.expired: list[tuple[int, Money]] = []  # lots expired when opened

    # -- loading ------------------------------------------------------------------------------
    @classmethod
    def open(cls, tenant: Tenant, *, now: dt.datetime, principal: Principal) -> Ledger:
        """Load the tenant's state; call inside `db.tenant_lock(tenant.id)`.

        Lots whose time has passed are expired here (in memory, written by flush), and if that
        took the balance below the trigger, one recharge follows (SPEC §6).
        """
        self = cls()
        self.tenant, self.principal, self.now = tenant, principal, now
        self._now_db = _TS.db_value(now)
        self.currency = tenant.currency
        self.mca = tenant.agreement_type == "MCA"
        p = db.param
        row = db.execute_sql(
            "SELECT a.id, a.balance_minor, a.last_entry_seq, a.last_invoice_number, "
            "a.credit_limit_minor, s.id, s.enabled, s.recharge_minor, s.trigger_minor, "
            "s.max_per_day, s.retry_after, s.capped_on, s.count_day, s.count_on_day, "
            "s.updated_at FROM credit_account a LEFT OUTER JOIN auto_recharge s "
            f"ON s.tenant_id = a.tenant_id WHERE a.tenant_id = {p}",
            (tenant.id,),
        ).fetchone()
        if row is None:
            self._account = _create_account(tenant, now)
            self._settings = AutoRecharge.get_or_none(AutoRecharge.tenant == tenant.id)
        else:
            self._account = CreditAccount(
                id=row[0],
                tenant=tenant.id,
                currency=tenant.currency,
                balance_minor=row[1],
                last_entry_seq=row[2],
                last_invoice_number=row[3],
                credit_limit_minor=row[4],
            )
            self._settings = None
            if row[5] is not None:
                self._settings = AutoRecharge(
                    id=row[5],
                    tenant=tenant.id,
                    enabled=bool(row[6]),
                    recharge_minor=row[7],
                    trigger_minor=row[8],
                    max_per_day=row[9],
                    retry_after=_TS.python_value(row[10]),
                    capped_on=row[11],
                    count_day=row[12],
                    count_on_day=row[13],
                    updated_at=_TS.python_value(row[14]),
                )
        self._balance = self._account.balance_minor
        lots = db.execute_sql(
            "SELECT id, amount_minor, remaining_minor, purchased_at, expires_at FROM credit_lot "
            f"WHERE tenant_id = {p} AND remaining_minor > 0 ORDER BY purchased_at, id",
            (tenant.id,),
        ).fetchall()
        convert = _TS.python_value
        self._lots = [
            _Lot(lot_id, amount, remaining, remaining, convert(bought), convert(expires))
            for lot_id, amount, remaining, bought, expires in lots
        ]
        if self.mca:
            self._period = PostpaidPeriod.get_or_none(
                (PostpaidPeriod.tenant == tenant.id) & (PostpaidPeriod.period == period_of(now))
            )
        if self._expire_due():
            self._after_change([], [])
        return self

    # -- reading ------------------------------------------------------------------------------
    def money(self, minor: int) -> Money:
        return Money.from_minor(minor, self.currency)

    def balance(self) -> Money:
        return self.money(self._balance)

    @property
    def auto_recharge_enabled(self) -> bool:
        s = self._settings
        return bool(
            s is not None and s.enabled and s.recharge_minor and s.trigger_minor is not None
        )

    @property
    def recharges_today(self) -> int:
        s = self._settings
        if s is None or s.count_day != _day_of(self.now):
            return 0
        return s.count_on_day

    @property
    def credit_limit(self) -> Money | None:
        limit = self._account.credit_limit_minor
        return None if limit is None else self.money(limit)

    @property
    def postpaid_used(self) -> Money:
        return self.money(self._period.used_minor if self._period is not None else 0)

    def spendable(self) -> Money:
        """What debits could take now: the balance plus the auto-recharges today's cap still
        allows (prepaid), or what is left of this month's credit limit (MCA)."""
        if self.mca:
            limit = self.credit_limit
            if limit is None:
                return self.money(0)
            return self.money(max(0, limit.minor - self.postpaid_used.minor))
        extra = 0
        if self.auto_recharge_enabled and not self._paused():
            s = self._settings
            extra = max(0, s.max_per_day - self.recharges_today) * s.recharge_minor
        return self.money(self._balance + extra)

    # -- rules --------------------------------------------------------------------------------
    def debit(self, amount: Money, *, reference: str, kind: str = "CALL") -> DebitResult:
        """Spend `amount` FIFO over the lots, all or nothing (see the module docstring)."""
        cents = self._positive(amount)
        recharges: list[RechargeOutcome] = []
        warnings: list[ErrorDetail] = []
        if self.mca:
            return self._debit_postpaid(cents, reference, kind, recharges, warnings)
        if self._balance < cents:
            self._recharge_to_cover(cents - self._balance, recharges, warnings)
        if self._balance < cents:
            raise DomainError.many(
                [
                    ErrorDetail(
                        "INSUFFICIENT_BALANCE",
                        f"The credit balance {self.balance()} cannot cover {self.money(cents)}.",
                        "amount",
                    ),
                    *warnings,
                ]
            )
        before = self._balance
        splits = self._take(cents)
        seq = self._entry("CONSUMED", -cents, reference=reference, usage_kind=kind)
        self._record_splits(seq, splits)
        self._after_change(recharges, warnings)
        if before > 0 and self._balance == 0:
            self._note("BALANCE_ZERO", {"balance": "0", "currency": self.currency})
        return DebitResult(
            amount=self.money(cents),
            splits=[(lot, self.money(c)) for lot, c in splits],
            entry_seq=seq,
            reference=reference,
            balance_after=self.balance(),
            postpaid=self.money(0),
            recharges=recharges,
            warnings=warnings,
        )

    def fund(
        self, amount: Money, *, source: str, invoice_id: int | None, reference: str = ""
    ) -> int:
        """A new lot of `amount` purchased now (with its FUNDED entry); returns the lot id."""
        cents = self._positive(amount)
        lot_id = self._insert_lot(cents, source=source, invoice_id=invoice_id)
        self._entry("FUNDED", cents, reference=reference, lot=lot_id, invoice=invoice_id)
        return lot_id

    def adjust(self, amount: Money, *, reason: str, reference: str) -> tuple[int, int | None]:
        """Operator correction: a positive amount is a new lot, a negative one a FIFO debit.

        Returns (ledger entry seq, new lot id or None).
        """
        self._same_currency(amount)
        cents = amount.minor
        if cents > 0:
            lot_id = self._insert_lot(cents, source="ADJUSTMENT", invoice_id=None)
            seq = self._entry("ADJUSTED", cents, reference=reference, lot=lot_id, reason=reason)
            return seq, lot_id
        if self._balance < -cents:
            raise DomainError(
                "INSUFFICIENT_BALANCE",
                f"The credit balance {self.balance()} cannot cover {self.money(-cents)}.",
                "amount",
            )
        splits = self._take(-cents)
        seq = self._entry("ADJUSTED", cents, reference=reference, reason=reason)
        self._record_splits(seq, splits)
        self._after_change([], [])
        return seq, None

    def check_trigger(self) -> list[RechargeOutcome]:
        """If auto-recharge is on and the balance is below its trigger, one recharge."""
        recharges: list[RechargeOutcome] = []
        self._after_change(recharges, [])
        return recharges

    def new_invoice(
        self,
        *,
        reason: str,
        amount_minor: int,
        status: str,
        method: str,
        payment_reference: str = "",
        failure_reason: str = "",
        period: str | None = None,
    ) -> Invoice:
        """The next invoice of the tenant: numbers run 1, 2, 3, … with no gap, under the lock."""
        self._account.last_invoice_number += 1
        self._account_dirty = True
        invoice = Invoice.create(
            tenant=self.tenant.id,
            number=self._account.last_invoice_number,
            issued_at=self.now,
            amount_minor=amount_minor,
            currency=self.currency,
            reason=reason,
            status=status,
            payment_method=method,
            payment_reference=payment_reference,
            failure_reason=failure_reason,
            period=period,
            billing_snapshot=self.billing_snapshot(),
        )
        return invoice

    def payment_method(self) -> tuple[str, str | None]:
        profile = self._billing_profile()
        if profile is None:
            return "INVOICE", None
        return profile.payment_method, profile.card_token

    def billing_snapshot(self) -> dict | None:
        profile = self._billing_profile()
        return None if profile is None else billing_summary(profile)

    # -- writing ------------------------------------------------------------------------------
    def flush(self) -> None:
        """Write everything pending with a bounded number of bulk statements."""
        insert_values("ledger_entry", _ENTRY_COLUMNS, self._entries)
        insert_values("debit_split", _SPLIT_COLUMNS, self._splits)
        changed = [lot for lot in self._lots if lot.remaining != lot.stored]
        for start in range(0, len(changed), _CHUNK):
            chunk = changed[start : start + _CHUNK]
            CreditLot.update(
                remaining_minor=peewee.Case(
                    CreditLot.id, [(lot.id, lot.remaining) for lot in chunk]
                )
            ).where(CreditLot.id.in_([lot.id for lot in chunk])).execute()
            for lot in chunk:
                lot.stored = lot.remaining
        if self._entries or self._account_dirty:
            acc = self._account
            p = db.param
            db.execute_sql(
                f"UPDATE credit_account SET balance_minor = {p}, last_entry_seq = {p}, "
                f"last_invoice_number = {p}, updated_at = {p} WHERE id = {p}",
                (
                    self._balance,
                    acc.last_entry_seq,
                    acc.last_invoice_number,
                    _TS.db_value(self.now),
                    acc.id,
                ),
            )
            acc.balance_minor = self._balance
        if self._settings_dirty and self._settings is not None:
            self._settings.save()
        if self._period_dirty and self._period is not None:
            self._period.save()
        notifications.emit_many(self._notes)
        if self._audits:
            audit.record_many(self.principal, self._audits, now=self.now)
        if self._funded:
            _ensure_credit_seats(self.tenant, self.principal, now=self.now)
        self._entries, self._splits, self._notes, self._audits = [], [], [], []
        self._account_dirty = self._settings_dirty = self._period_dirty = self._funded = False
        # Spent lots are dropped so a long-lived ledger does not walk them again.
        self._lots = [lot for lot in self._lots if lot.remaining > 0]
        self._head = 0

    # -- internals ----------------------------------------------------------------------------
    def _same_currency(self, amount: Money) -> None:
        if amount.currency != self.currency:
            raise DomainError(
                "CURRENCY_MISMATCH",
                f"This tenant is billed in {self.currency}, not {amount.currency}.",
                "amount",
            )

    def _positive(self, amount: Money) -> int:
        self._same_currency(amount)
        if not amount.is_exact:
            raise DomainError(
                "INVALID_PRECISION",
                f"{self.currency} amounts have at most {minor_unit(self.currency)} decimals.",
                "amount",
            )
        cents = amount.minor
        if cents <= 0:
            raise DomainError("INVALID_AMOUNT", "The amount must be above 0.", "amount")
        return cents

    def _take(self, cents: int) -> list[tuple[int, int]]:
        """Spend from the oldest lots (`fifo_plan`); the caller has checked the balance covers
        it. Returns `(lot id, taken)` pairs. Spent lots before `_head` are not read again."""
        lots = self._lots
        plan = fifo_plan(lots, cents, start=self._head)
        for position, take in plan:
            lots[position].remaining -= take
        i = plan[-1][0]
        while i < len(lots) and not lots[i].remaining:
            i += 1
        self._head = i
        self._balance -= cents
        return [(lots[position].id, take) for position, take in plan]

    def _entry(
        self,
        kind: str,
        cents: int,
        *,
        reference: str = "",
        usage_kind: str = "",
        lot: int | None = None,
        invoice: int | None = None,
        postpaid: int = 0,
        period: str | None = None,
        reason: str = "",
    ) -> int:
        if kind in ("FUNDED",) or kind == "ADJUSTED" and cents > 0:
            self._balance += cents
        self._account.last_entry_seq += 1
        seq = self._account.last_entry_seq
        self._entries.append(
            (
                self.tenant.id,
                seq,
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
                self._now_db,
            )
        )
        return seq

    def _record_splits(self, seq: int, splits: list[tuple[int, int]]) -> None:
        tenant_id = self.tenant.id
        self._splits.extend((tenant_id, seq, lot, cents) for lot, cents in splits)

    def _insert_lot(self, cents: int, *, source: str, invoice_id: int | None) -> int:
        lot_id = CreditLot.insert(
            tenant=self.tenant.id,
            currency=self.currency,
            amount_minor=cents,
            remaining_minor=cents,
            purchased_at=self.now,
            expires_at=lot_expiry(self.now),
            source=source,
            invoice=invoice_id,
        ).execute()
        lot = _Lot(lot_id, cents, cents, cents, self.now, lot_expiry(self.now))
        if not self._lots or self._lots[-1].key() <= lot.key():
            self._lots.append(lot)
        else:  # a clock set back: keep purchase order
            keys = [x.key() for x in self._lots]
            self._lots.insert(bisect.bisect_right(keys, lot.key()), lot)
            self._head = 0
        self._funded = True
        return lot_id

    def _expire_due(self) -> bool:
        expired = False
        for lot in self._lots:
            if lot.remaining and is_expired(lot.expires_at, self.now):
                cents = lot.remaining
                lot.remaining = 0
                self._balance -= cents
                self._entry("EXPIRED", -cents, reference=f"lot:{lot.id}", lot=lot.id)
                self.expired.append((lot.id, self.money(cents)))
                expired = True
        return expired

    def _note(self, kind: str, payload: dict[str, Any]) -> None:
        self._notes.append(notifications.row(self.tenant.id, kind, payload, now=self.now))

    def _after_change(self, recharges: list[RechargeOutcome], warnings: list[ErrorDetail]) -> None:
        s = self._settings
        if self.auto_recharge_enabled and self._balance < s.trigger_minor:
            self._recharge(recharges, warnings)

    def _recharge_to_cover(
        self, needed: int, recharges: list[RechargeOutcome], warnings: list[ErrorDetail]
    ) -> None:
        if not self.auto_recharge_enabled or self._paused():
            return
        s = self._settings
        count = -(-needed // s.recharge_minor)
        if self.recharges_today + count > s.max_per_day:
            # Recharging part of the way would spend money on a debit that still fails.
            self._report_cap(warnings)
            return
        for _ in range(count):
            if not self._recharge(recharges, warnings):
                return

    def _paused(self) -> bool:
        s = self._settings
        return s is not None and s.retry_after is not None and self.now < s.retry_after

    def _recharge(self, recharges: list[RechargeOutcome], warnings: list[ErrorDetail]) -> bool:
        s = self._settings
        if not self.auto_recharge_enabled or self._paused():
            return False
        if self.recharges_today >= s.max_per_day:
            self._report_cap(warnings)
            return False
        cents = s.recharge_minor
        amount = self.money(cents)
        method, token = self.payment_method()
        charge = payments.gateway().charge(
            tenant_id=self.tenant.id,
            method=method,
            token=token,
            amount=amount,
            reference=f"auto-recharge:{self._account.last_invoice_number + 1}",
        )
        if not charge.ok:
            invoice = self.new_invoice(
                reason="AUTO_RECHARGE",
                amount_minor=cents,
                status="FAILED",
                method=method,
                failure_reason=charge.decline_reason or "declined",
            )
            s.retry_after = self.now + DECLINE_PAUSE
            self._settings_dirty = True
            payload = {
                "invoiceNumber": invoice.number,
                "amount": str(amount.amount),
                "currency": self.currency,
                "reason": charge.decline_reason,
                "retryAfter": s.retry_after.isoformat(),
            }
            self._note("RECHARGE_FAILED", payload)
            self._audits.append(
                {
                    "action": "autoRechargeFailed",
                    "target": invoice,
                    "tenant_id": self.tenant.id,
                    "before": None,
                    "after": payload,
                }
            )
            recharges.append(
                RechargeOutcome(
                    False, amount, invoice.id, invoice.number, None, charge.decline_reason
                )
            )
            warnings.append(
                ErrorDetail(
                    "RECHARGE_FAILED",
                    f"The automatic recharge of {amount} was declined; no new try before "
                    f"{s.retry_after.isoformat()}.",
                    None,
                )
            )
            return False
        invoice = self.new_invoice(
            reason="AUTO_RECHARGE",
            amount_minor=cents,
            status="PAID" if method == "CARD" else "ISSUED",
            method=method,
            payment_reference=charge.reference,
        )
        lot_id = self.fund(
            amount, source="AUTO_RECHARGE", invoice_id=invoice.id, reference="auto-recharge"
        )
        day = _day_of(self.now)
        s.count_on_day = (s.count_on_day if s.count_day == day else 0) + 1
        s.count_day = day
        self._settings_dirty = True
        payload = {
            "invoiceNumber": invoice.number,
            "amount": str(amount.amount),
            "currency": self.currency,
            "balance": str(self.balance().amount),
        }
        self._note("RECHARGE_SUCCEEDED", payload)
        self._audits.append(
            {
                "action": "autoRecharge",
                "target": invoice,
                "tenant_id": self.tenant.id,
                "before": None,
                "after": payload | {"lot": lot_id},
            }
        )
        recharges.append(RechargeOutcome(True, amount, invoice.id, invoice.number, lot_id))
        return True

    def _report_cap(self, warnings: list[ErrorDetail]) -> None:
        s = self._settings
        if not any(w.code == "RECHARGE_CAPPED" for w in warnings):
            warnings.append(
                ErrorDetail(
                    "RECHARGE_CAPPED",
                    f"Auto-recharge reached its limit of {s.max_per_day} recharges today; "
                    f"raise maxRechargesPerDay or add credits by hand.",
                    None,
                )
            )
        day = _day_of(self.now)
        if s.capped_on != day:  # reported once a day, not once a debit
            s.capped_on = day
            self._settings_dirty = True
            payload = {"maxRechargesPerDay": s.max_per_day, "day": day}
            self._note("RECHARGE_CAPPED", payload)
            self._audits.append(
                {
                    "action": "autoRechargeCapped",
                    "target": s,
                    "tenant_id": self.tenant.id,
                    "before": None,
                    "after": payload,
                }
            )

    def _debit_postpaid(
        self,
        cents: int,
        reference: str,
        kind: str,
        recharges: list[RechargeOutcome],
        warnings: list[ErrorDetail],
    ) -> DebitResult:
        """MCA: lots (operator adjustments) first, the rest as usage billed in arrears."""
        from_lots = min(self._balance, cents)
        rest = cents - from_lots
        period = period_of(self.now)
        if rest:
            if self._period is not None and self._period.closed_at is not None:
                raise DomainError(
                    "PERIOD_CLOSED", f"The billing period {period} is already invoiced.", "amount"
                )
            limit = self._account.credit_limit_minor or 0
            used = self._period.used_minor if self._period is not None else 0
            if used + rest > limit:
                self._report_limit(period, limit)
                raise DomainError(
                    "CREDIT_LIMIT_REACHED",
                    f"This usage of {self.money(rest)} would take {period}'s postpaid usage past "
                    f"the credit limit of {self.money(limit)} ({self.money(used)} used).",
                    "amount",
                )
            if self._period is None:
                self._period = PostpaidPeriod(
                    tenant=self.tenant.id, period=period, used_minor=0, currency=self.currency
                )
            self._period.used_minor += rest
            self._period_dirty = True
        splits = self._take(from_lots) if from_lots else []
        seq = self._entry(
            "POSTPAID" if rest else "CONSUMED",
            -from_lots,
            reference=reference,
            usage_kind=kind,
            postpaid=rest,
            period=period if rest else None,
        )
        self._record_splits(seq, splits)
        if rest and self._period.used_minor == (self._account.credit_limit_minor or 0):
            self._report_limit(period, self._period.used_minor)
        return DebitResult(
            amount=self.money(cents),
            splits=[(lot, self.money(c)) for lot, c in splits],
            entry_seq=seq,
            reference=reference,
            balance_after=self.balance(),
            postpaid=self.money(rest),
            recharges=recharges,
            warnings=warnings,
        )

    def _report_limit(self, period: str, limit: int) -> None:
        if self._period is None:
            self._period = PostpaidPeriod(
                tenant=self.tenant.id, period=period, used_minor=0, currency=self.currency
            )
        if not self._period.limit_reported:
            self._period.limit_reported = True
            self._period_dirty = True
            self._note(
                "CREDIT_LIMIT_REACHED",
                {"period": period, "creditLimit": str(self.money(limit).amount)},
            )

    def _billing_profile(self) -> BillingProfile | None:
        if self._profile is False:
            self._profile = BillingProfile.get_or_none(BillingProfile.tenant == self.tenant.id)
        return self._profile  # type: ignore[return-value]


def _create_account(tenant: Tenant, now: dt.datetime) -> CreditAccount:
    account = CreditAccount(
        tenant=tenant.id, currency=tenant.currency, balance_minor=0, updated_at=now
    )
    account.save(force_insert=True)
    return account


def _ensure_credit_seats(tenant: Tenant, principal: Principal, *, now: dt.datetime) -> None:
    """Funding adds Communication Credits seats so every user can hold one (seed 2.4.2)."""
    users = User.select().where(User.tenant == tenant.id).count()
    before = (
        Subscription.select(Subscription.enabled_units)
        .join(Sku)
        .where((Subscription.tenant == tenant.id) & (Sku.part_number == CREDITS_SKU))
        .scalar()
    )
    if before is not None and before >= users:
        return
    sub = seats.ensure_seats(tenant, CREDITS_SKU, users, now=now)
    audit.record(
        principal,
        "addCreditSeats",
        sub,
        tenant_id=tenant.id,
        before=None if before is None else {"sku": CREDITS_SKU, "enabled": before},
        after={"sku": CREDITS_SKU, "enabled": sub.enabled_units},
        now=now,
    )


def billing_summary(profile: BillingProfile) -> dict:
    return {
        "companyName": profile.company_name,
        "address": [
            line
            for line in (
                profile.address_line1,
                profile.address_line2,
                f"{profile.postal_code} {profile.city}".strip(),
                profile.country,
            )
            if line
        ],
        "vatId": profile.vat_id,
        "contactEmail": profile.contact_email,
        "paymentMethod": profile.payment_method,
    }


# -- idempotency -----------------------------------------------------------------------------


def _request_hash(operation: str, args: dict[str, Any]) -> str:
    raw = json.dumps({"op": operation, "args": args}, sort_keys=True, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


def _replay(tenant: Tenant, key: str, operation: str, args: dict[str, Any]) -> dict | None:
    """The stored result for a repeated key, None for a new one; refuses a reused key."""
    record = IdempotencyRecord.get_or_none(
        (IdempotencyRecord.tenant == tenant.id) & (IdempotencyRecord.key == key)
    )
    if record is None:
        return None
    if record.operation != operation or record.request_hash != _request_hash(operation, args):
        raise DomainError(
            "IDEMPOTENCY_KEY_REUSED",
            f"The idempotency key '{key}' was used for a different request.",
            "idempotencyKey",
        )
    return record.result


def _remember(
    tenant: Tenant,
    key: str,
    operation: str,
    args: dict[str, Any],
    result: dict,
    *,
    now: dt.datetime,
) -> None:
    IdempotencyRecord.create(
        tenant=tenant.id,
        key=key,
        operation=operation,
        request_hash=_request_hash(operation, args),
        result=result,
        created_at=now,
    )


# -- service functions -----------------------------------------------------------------------


def debit(
    tenant: Tenant,
    principal: Principal,
    amount: Money,
    *,
    reference: str,
    idempotency_key: str | None,
    now: dt.datetime,
    kind: str = "CALL",
) -> DebitResult:
    """One debit in its own transaction (open + debit + flush under the tenant lock).

    A refused debit changes no balance; a recharge attempt it caused (a declined charge, the
    cap reached) is still recorded, as it really happened.
    """
    args = {"amount": str(amount.amount), "currency": amount.currency, "reference": reference}
    key = check_idempotency_key(idempotency_key) if idempotency_key is not None else None
    error: DomainError | None = None
    with tenant_lock(tenant.id):
        if key is not None:
            prior = _replay(tenant, key, "debit", args)
            if prior is not None:
                return DebitResult.from_json(prior)
        ledger = Ledger.open(tenant, now=now, principal=principal)
        try:
            result = ledger.debit(amount, reference=reference, kind=kind)
        except DomainError as refused:
            error = refused
        ledger.flush()
        if error is None and key is not None:
            _remember(tenant, key, "debit", args, result.to_json(), now=now)
    if error is not None:
        raise error
    return result


@dataclass
class PurchaseResult:
    lot: CreditLot | None
    invoice: Invoice
    balance: Money
    what_if: bool = False
    replayed: bool = False


def purchase_credits(
    tenant: Tenant,
    principal: Principal,
    amount: Decimal | Money,
    *,
    idempotency_key: str,
    now: dt.datetime,
    what_if: bool = False,
) -> PurchaseResult:
    """Buy a lot of credits now (12-month expiry), invoiced; adds Communication Credits seats.

    `what_if` is the order review: the invoice it would issue, nothing written.
    """
    if tenant.agreement_type == "MCA":
        raise DomainError(
            "MCA_NO_PURCHASE_NEEDED",
            "Microsoft Customer Agreement tenants do not buy credits: usage is billed in "
            "arrears up to the credit limit.",
            "amount",
        )
    money = check_amount(tenant, amount)
    key = check_idempotency_key(idempotency_key)
    args = {"amount": str(money.amount), "currency": money.currency}
    if what_if:
        return _purchase_preview(tenant, money, now=now)
    with tenant_lock(tenant.id):
        prior = _replay(tenant, key, "purchaseCredits", args)
        if prior is not None:
            lot = CreditLot.get_by_id(prior["lot"])
            return PurchaseResult(
                lot=lot,
                invoice=Invoice.get_by_id(prior["invoice"]),
                balance=current_balance(tenant, now=now),
                replayed=True,
            )
        ledger = Ledger.open(tenant, now=now, principal=principal)
        method, token = ledger.payment_method()
        charge = payments.gateway().charge(
            tenant_id=tenant.id, method=method, token=token, amount=money, reference=key
        )
        if not charge.ok:
            raise DomainError(
                "PAYMENT_DECLINED",
                f"The payment method declined the charge of {money} ({charge.decline_reason}).",
                "paymentMethod",
            )
        invoice = ledger.new_invoice(
            reason="PURCHASE",
            amount_minor=money.minor,
            status="PAID" if method == "CARD" else "ISSUED",
            method=method,
            payment_reference=charge.reference,
        )
        lot_id = ledger.fund(money, source="PURCHASE", invoice_id=invoice.id, reference=key)
        audit.record(
            principal,
            "purchaseCredits",
            invoice,
            tenant_id=tenant.id,
            before={"balance": str(ledger.balance().amount - money.amount)},
            after={
                "balance": str(ledger.balance().amount),
                "amount": str(money.amount),
                "currency": money.currency,
                "invoiceNumber": invoice.number,
                "lot": lot_id,
            },
            now=now,
        )
        ledger.flush()
        _remember(
            tenant, key, "purchaseCredits", args, {"lot": lot_id, "invoice": invoice.id}, now=now
        )
        balance = ledger.balance()
    return PurchaseResult(lot=CreditLot.get_by_id(lot_id), invoice=invoice, balance=balance)


def _purchase_preview(tenant: Tenant, money: Money, *, now: dt.datetime) -> PurchaseResult:
    account = CreditAccount.get_or_none(CreditAccount.tenant == tenant.id)
    profile = BillingProfile.get_or_none(BillingProfile.tenant == tenant.id)
    method = profile.payment_method if profile else "INVOICE"
    invoice = Invoice(
        tenant=tenant.id,
        number=(account.last_invoice_number if account else 0) + 1,
        issued_at=now,
        amount_minor=money.minor,
        currency=money.currency,
        reason="PURCHASE",
        status="DRAFT",
        payment_method=method,
        billing_snapshot=billing_summary(profile) if profile else None,
    )
    lot = CreditLot(
        tenant=tenant.id,
        currency=money.currency,
        amount_minor=money.minor,
        remaining_minor=money.minor,
        purchased_at=now,
        expires_at=lot_expiry(now),
        source="PURCHASE",
    )
    return PurchaseResult(
        lot=lot, invoice=invoice, balance=current_balance(tenant, now=now) + money, what_if=True
    )


@dataclass
class AutoRechargeResult:
    settings: AutoRecharge
    recharges: list[RechargeOutcome]


def configure_auto_recharge(
    tenant: Tenant,
    principal: Principal,
    *,
    enabled: bool,
    recharge_amount: Decimal | Money | None = None,
    trigger_balance: Decimal | Money | None = None,
    max_recharges_per_day: int | None = None,
    now: dt.datetime,
) -> AutoRechargeResult:
    """Save the settings ("add this amount", "when the balance falls below"); if that leaves
    the balance below the trigger, one recharge follows at once."""
    if enabled and tenant.agreement_type == "MCA":
        raise DomainError(
            "MCA_AUTO_RECHARGE_NOT_SUPPORTED",
            "Microsoft Customer Agreement tenants are billed in arrears: automatic recharge "
            "stays off.",
            "enabled",
        )
    recharge = trigger = None
    if recharge_amount is not None:
        recharge = check_amount(
            tenant, recharge_amount, field="rechargeAmount", invalid_code="INVALID_RECHARGE_AMOUNT"
        )
    if trigger_balance is not None:
        trigger = check_amount(
            tenant,
            trigger_balance,
            field="triggerBalance",
            allow_zero=True,
            invalid_code="INVALID_TRIGGER_BALANCE",
        )
    if max_recharges_per_day is not None and not (
        1 <= max_recharges_per_day <= MAX_RECHARGES_PER_DAY
    ):
        raise DomainError(
            "INVALID_MAX_RECHARGES_PER_DAY",
            f"maxRechargesPerDay is between 1 and {MAX_RECHARGES_PER_DAY}.",
            "maxRechargesPerDay",
        )
    with tenant_lock(tenant.id):
        row = AutoRecharge.get_or_none(AutoRecharge.tenant == tenant.id)
        if row is None:
            row = AutoRecharge(
                tenant=tenant.id, enabled=False, max_per_day=DEFAULT_MAX_RECHARGES_PER_DAY
            )
        before = describe_auto_recharge(row, tenant.currency) if row.id else None
        row.enabled = enabled
        if recharge is not None:
            row.recharge_minor = recharge.minor
        if trigger is not None:
            row.trigger_minor = trigger.minor
        if max_recharges_per_day is not None:
            row.max_per_day = max_recharges_per_day
        if enabled and (row.recharge_minor is None or row.trigger_minor is None):
            missing = "rechargeAmount" if row.recharge_minor is None else "triggerBalance"
            raise DomainError(
                "RECHARGE_SETTINGS_INCOMPLETE",
                "Automatic recharge needs an amount to add and a balance that triggers it.",
                missing,
            )
        row.updated_at = now
        row.save()
        audit.record(
            principal,
            "configureAutoRecharge",
            row,
            tenant_id=tenant.id,
            before=before,
            after=describe_auto_recharge(row, tenant.currency),
            now=now,
        )
        recharges: list[RechargeOutcome] = []
        if enabled:
            ledger = Ledger.open(tenant, now=now, principal=principal)
            recharges = ledger.check_trigger()
            ledger.flush()
        row = AutoRecharge.get_by_id(row.id)
    return AutoRechargeResult(settings=row, recharges=recharges)


def describe_auto_recharge(row: AutoRecharge, currency: str) -> dict:
    def dec(minor: int | None) -> str | None:
        return None if minor is None else str(Money.from_minor(minor, currency).amount)

    return {
        "enabled": row.enabled,
        "rechargeAmount": dec(row.recharge_minor),
        "triggerBalance": dec(row.trigger_minor),
        "maxRechargesPerDay": row.max_per_day,
        "currency": currency,
    }


def auto_recharge_settings(tenant: Tenant) -> AutoRecharge:
    row = AutoRecharge.get_or_none(AutoRecharge.tenant == tenant.id)
    return row or AutoRecharge(
        tenant=tenant.id, enabled=False, max_per_day=DEFAULT_MAX_RECHARGES_PER_DAY
    )


@dataclass
class AdjustResult:
    entry: LedgerEntry
    lot: CreditLot | None
    balance: Money
    replayed: bool = False


def adjust_credits(
    tenant: Tenant,
    principal: Principal,
    amount: Decimal | Money,
    *,
    reason: str,
    idempotency_key: str,
    now: dt.datetime,
) -> AdjustResult:
    """Operator correction with a reason: + adds a lot (no invoice), − takes FIFO."""
    money = check_amount(tenant, amount, allow_negative=True)
    clean_reason = (reason or "").strip()
    if not clean_reason or len(clean_reason) > 500:
        raise DomainError("REASON_REQUIRED", "An adjustment needs a reason (1–500 characters).")
    key = check_idempotency_key(idempotency_key)
    args = {"amount": str(money.amount), "currency": money.currency, "reason": clean_reason}
    with tenant_lock(tenant.id):
        prior = _replay(tenant, key, "adjustCredits", args)
        if prior is not None:
            entry = LedgerEntry.get(
                (LedgerEntry.tenant == tenant.id) & (LedgerEntry.seq == prior["seq"])
            )
            lot = CreditLot.get_by_id(prior["lot"]) if prior.get("lot") else None
            return AdjustResult(entry, lot, current_balance(tenant, now=now), replayed=True)
        ledger = Ledger.open(tenant, now=now, principal=principal)
        before = ledger.balance()
        seq, lot_id = ledger.adjust(money, reason=clean_reason, reference=key)
        audit.record(
            principal,
            "adjustCredits",
            ("LedgerEntry", seq),
            tenant_id=tenant.id,
            before={"balance": str(before.amount)},
            after={
                "balance": str(ledger.balance().amount),
                "amount": str(money.amount),
                "reason": clean_reason,
            },
            now=now,
        )
        ledger.flush()
        _remember(tenant, key, "adjustCredits", args, {"seq": seq, "lot": lot_id}, now=now)
        balance = ledger.balance()
        entry = LedgerEntry.get((LedgerEntry.tenant == tenant.id) & (LedgerEntry.seq == seq))
    return AdjustResult(entry, CreditLot.get_by_id(lot_id) if lot_id else None, balance)


@dataclass
class ExpiryResult:
    tenant_id: int
    tenant_name: str
    expired: Money
    lots: int


def expire_credits(
    *, now: dt.datetime, principal: Principal = SYSTEM, tenant: Tenant | None = None
) -> list[ExpiryResult]:
    """Expire every lot whose 12 months have passed at `now` (one tenant, or all)."""
    query = (
        CreditLot.select(CreditLot.tenant)
        .where((CreditLot.remaining_minor > 0) & (CreditLot.expires_at <= now))
        .distinct()
    )
    if tenant is not None:
        query = query.where(CreditLot.tenant == tenant.id)
    tenant_ids = sorted({row.tenant_id for row in query})
    results = []
    for tenant_id in tenant_ids:
        row = tenant if tenant is not None else Tenant.get_by_id(tenant_id)
        with tenant_lock(tenant_id):
            ledger = Ledger.open(row, now=now, principal=principal)
            if ledger.expired:
                total = sum((m for _, m in ledger.expired), Money.zero(row.currency))
                audit.record(
                    principal,
                    "expireCredits",
                    ("Tenant", tenant_id),
                    tenant_id=tenant_id,
                    before=None,
                    after={
                        "expired": str(total.amount),
                        "currency": row.currency,
                        "lots": [lot for lot, _ in ledger.expired],
                    },
                    now=now,
                )
                results.append(ExpiryResult(tenant_id, row.name, total, len(ledger.expired)))
            ledger.flush()
    return results


def set_credit_limit(
    tenant: Tenant, principal: Principal, limit: Decimal | Money | None, *, now: dt.datetime
) -> Money | None:
    """Operator: an MCA tenant's monthly postpaid credit limit (None removes it: no usage)."""
    if tenant.agreement_type != "MCA":
        raise DomainError(
            "NOT_MCA_TENANT",
            "Only Microsoft Customer Agreement tenants are billed in arrears; this tenant prepays.",
            "tenantId",
        )
    money = None if limit is None else check_amount(tenant, limit, field="limit", allow_zero=True)
    with tenant_lock(tenant.id):
        account = CreditAccount.get_or_none(CreditAccount.tenant == tenant.id)
        if account is None:
            account = _create_account(tenant, now)
        before = account.credit_limit_minor
        account.credit_limit_minor = None if money is None else money.minor
        account.updated_at = now
        account.save()
        audit.record(
            principal,
            "setCreditLimit",
            ("Tenant", tenant.id),
            tenant_id=tenant.id,
            before={
                "creditLimit": None
                if before is None
                else str(Money.from_minor(before, tenant.currency).amount)
            },
            after={"creditLimit": None if money is None else str(money.amount)},
            now=now,
        )
    return money


@dataclass
class CloseResult:
    period: PostpaidPeriod
    invoice: Invoice | None
    already_closed: bool


def close_billing_period(
    tenant: Tenant, principal: Principal, month: str, *, now: dt.datetime
) -> CloseResult:
    """Operator: invoice an MCA tenant's postpaid usage of an ended month, exactly once."""
    if tenant.agreement_type != "MCA":
        raise DomainError(
            "NOT_MCA_TENANT",
            "Only Microsoft Customer Agreement tenants have billing periods.",
            "tenantId",
        )
    try:
        start = dt.datetime.strptime((month or "").strip(), "%Y-%m").replace(tzinfo=dt.UTC)
    except ValueError:
        raise DomainError(
            "INVALID_MONTH", f"'{month}' is not a month (YYYY-MM).", "month"
        ) from None
    period = period_of(start)
    if add_months(start, 1) > now:
        raise DomainError(
            "PERIOD_NOT_ENDED", f"The billing period {period} has not ended yet.", "month"
        )
    with tenant_lock(tenant.id):
        row = PostpaidPeriod.get_or_none(
            (PostpaidPeriod.tenant == tenant.id) & (PostpaidPeriod.period == period)
        )
        if row is not None and row.closed_at is not None:
            invoice = Invoice.get_by_id(row.invoice_id) if row.invoice_id else None
            return CloseResult(row, invoice, already_closed=True)
        if row is None:
            row = PostpaidPeriod(
                tenant=tenant.id, period=period, used_minor=0, currency=tenant.currency
            )
        ledger = Ledger.open(tenant, now=now, principal=principal)
        invoice = None
        if row.used_minor > 0:
            method, _ = ledger.payment_method()
            invoice = ledger.new_invoice(
                reason="POSTPAID",
                amount_minor=row.used_minor,
                status="ISSUED",
                method=method,
                period=period,
            )
            row.invoice = invoice.id
        row.closed_at = now
        row.save()
        audit.record(
            principal,
            "closeBillingPeriod",
            row,
            tenant_id=tenant.id,
            before=None,
            after={
                "period": period,
                "used": str(Money.from_minor(row.used_minor, tenant.currency).amount),
                "invoiceNumber": invoice.number if invoice else None,
            },
            now=now,
        )
        ledger.flush()
    return CloseResult(row, invoice, already_closed=False)


# -- reading ---------------------------------------------------------------------------------


def current_balance(tenant: Tenant, *, now: dt.datetime) -> Money:
    """Σ remaining of lots not expired at `now`: the materialized balance minus any lot whose
    expiry has not been written yet (an index range, never the ledger)."""
    account = CreditAccount.get_or_none(CreditAccount.tenant == tenant.id)
    if account is None:
        return Money.zero(tenant.currency)
    due = (
        CreditLot.select(peewee.fn.COALESCE(peewee.fn.SUM(CreditLot.remaining_minor), 0))
        .where(
            (CreditLot.tenant == tenant.id)
            & (CreditLot.expires_at <= now)
            & (CreditLot.remaining_minor > 0)
        )
        .scalar()
    )
    return Money.from_minor(account.balance_minor - int(due or 0), tenant.currency)


def balances(tenant_ids: list[int], *, now: dt.datetime) -> dict[int, int]:
    """Balances (minor units) of many tenants at `now`, in two queries (the dataloader's)."""
    found = {
        a.tenant_id: a.balance_minor
        for a in CreditAccount.select(CreditAccount.tenant, CreditAccount.balance_minor).where(
            CreditAccount.tenant.in_(tenant_ids)
        )
    }
    for tenant_id, due in (
        CreditLot.select(CreditLot.tenant, peewee.fn.SUM(CreditLot.remaining_minor))
        .where(
            CreditLot.tenant.in_(tenant_ids)
            & (CreditLot.expires_at <= now)
            & (CreditLot.remaining_minor > 0)
        )
        .group_by(CreditLot.tenant)
        .tuples()
    ):
        found[tenant_id] = found.get(tenant_id, 0) - int(due)
    return {t: found.get(t, 0) for t in tenant_ids}


def lots_query(tenant: Tenant, *, now: dt.datetime, include_expired: bool = False):
    query = CreditLot.select().where(CreditLot.tenant == tenant.id)
    if not include_expired:
        query = query.where((CreditLot.expires_at > now) & (CreditLot.remaining_minor > 0))
    return query


def expiring_within(tenant: Tenant, days: int, *, now: dt.datetime) -> tuple[Money, int]:
    """Credit that will expire in the next `days` days, and in how many lots."""
    if days < 0 or days > 3660:
        raise DomainError("INVALID_DAYS", "days is between 0 and 3660.", "days")
    total, count = (
        CreditLot.select(
            peewee.fn.COALESCE(peewee.fn.SUM(CreditLot.remaining_minor), 0),
            peewee.fn.COUNT(CreditLot.id),
        )
        .where(
            (CreditLot.tenant == tenant.id)
            & (CreditLot.remaining_minor > 0)
            & (CreditLot.expires_at > now)
            & (CreditLot.expires_at <= now + dt.timedelta(days=days))
        )
        .tuples()
        .first()
    )
    return Money.from_minor(int(total or 0), tenant.currency), int(count or 0)


FORECAST_DAYS = 30


def forecast(tenant: Tenant, *, now: dt.datetime) -> tuple[Money, int | None]:
    """Average daily spend over the last 30 days, and the whole days the balance lasts at it."""
    spent = (
        LedgerEntry.select(
            peewee.fn.COALESCE(
                peewee.fn.SUM(LedgerEntry.postpaid_minor - LedgerEntry.amount_minor), 0
            )
        )
        .where(
            (LedgerEntry.tenant == tenant.id)
            & (LedgerEntry.kind.in_(["CONSUMED", "POSTPAID"]))
            & (LedgerEntry.created_at > now - dt.timedelta(days=FORECAST_DAYS))
        )
        .scalar()
    )
    spent_minor = int(spent or 0)
    daily = Money(
        Money.from_minor(spent_minor, tenant.currency).amount / FORECAST_DAYS, tenant.currency
    ).quantized()
    if spent_minor <= 0:
        return daily, None
    balance = current_balance(tenant, now=now).minor
    return daily, max(balance, 0) * FORECAST_DAYS // spent_minor


def transactions_query(
    tenant: Tenant, *, kinds: list[str] | None = None, reference: str | None = None
):
    query = LedgerEntry.select().where(LedgerEntry.tenant == tenant.id)
    if kinds:
        query = query.where(LedgerEntry.kind.in_(kinds))
    if reference:
        query = query.where(LedgerEntry.reference == reference)
    return query


def splits_for(tenant_id: int, seqs: list[int]) -> dict[int, list[DebitSplit]]:
    found: dict[int, list[DebitSplit]] = {s: [] for s in seqs}
    for start in range(0, len(seqs), _CHUNK):
        for row in (
            DebitSplit.select()
            .where(
                (DebitSplit.tenant == tenant_id)
                & DebitSplit.entry_seq.in_(seqs[start : start + _CHUNK])
            )
            .order_by(DebitSplit.id)
        ):
            found[row.entry_seq].append(row)
    return found


def credit_state(tenant: Tenant, *, now: dt.datetime) -> dict[str, Any]:
    """MCA: the limit, this month's postpaid usage, and what is left of it."""
    account = CreditAccount.get_or_none(CreditAccount.tenant == tenant.id)
    limit = account.credit_limit_minor if account else None
    row = PostpaidPeriod.get_or_none(
        (PostpaidPeriod.tenant == tenant.id) & (PostpaidPeriod.period == period_of(now))
    )
    used = row.used_minor if row else 0
    return {
        "period": period_of(now),
        "limit": None if limit is None else Money.from_minor(limit, tenant.currency),
        "used": Money.from_minor(used, tenant.currency),
        "available": Money.from_minor(max((limit or 0) - used, 0), tenant.currency),
    }


# -- audit -----------------------------------------------------------------------------------


@dataclass
class AuditRow:
    tenant_id: int
    tenant_name: str
    currency: str
    account: int
    lots: int
    ledger: int
    invoices: int
    last_invoice_number: int
    invoice_gap: bool
    postpaid_mismatch: bool

    @property
    def ok(self) -> bool:
        return (
            self.account == self.lots == self.ledger
            and not self.invoice_gap
            and not self.postpaid_mismatch
        )


def audit_balances() -> list[AuditRow]:
    """Recompute every tenant's balance from lots and from the ledger, one pass each table."""

    def sums(query) -> dict[int, int]:
        return {t: int(v or 0) for t, v in query.tuples()}

    accounts = {a.tenant_id: a for a in CreditAccount.select(CreditAccount, Tenant).join(Tenant)}
    lots = sums(
        CreditLot.select(CreditLot.tenant, peewee.fn.SUM(CreditLot.remaining_minor)).group_by(
            CreditLot.tenant
        )
    )
    ledger = sums(
        LedgerEntry.select(LedgerEntry.tenant, peewee.fn.SUM(LedgerEntry.amount_minor)).group_by(
            LedgerEntry.tenant
        )
    )
    invoice_stats = {
        t: (int(c), int(lo or 0), int(hi or 0))
        for t, c, lo, hi in Invoice.select(
            Invoice.tenant,
            peewee.fn.COUNT(peewee.fn.DISTINCT(Invoice.number)),
            peewee.fn.MIN(Invoice.number),
            peewee.fn.MAX(Invoice.number),
        )
        .group_by(Invoice.tenant)
        .tuples()
    }
    postpaid_ledger = {
        (t, p): int(v or 0)
        for t, p, v in LedgerEntry.select(
            LedgerEntry.tenant, LedgerEntry.period, peewee.fn.SUM(LedgerEntry.postpaid_minor)
        )
        .where(LedgerEntry.period.is_null(False))
        .group_by(LedgerEntry.tenant, LedgerEntry.period)
        .tuples()
    }
    postpaid_periods = {(p.tenant_id, p.period): p.used_minor for p in PostpaidPeriod.select()}
    rows = []
    tenant_ids = sorted(set(accounts) | set(lots) | set(ledger) | set(invoice_stats))
    names = (
        {t.id: t for t in Tenant.select().where(Tenant.id.in_(tenant_ids))} if tenant_ids else {}
    )
    for tenant_id in tenant_ids:
        account = accounts.get(tenant_id)
        count, low, high = invoice_stats.get(tenant_id, (0, 0, 0))
        last = account.last_invoice_number if account else 0
        keys = {k for k in set(postpaid_ledger) | set(postpaid_periods) if k[0] == tenant_id}
        rows.append(
            AuditRow(
                tenant_id=tenant_id,
                tenant_name=names[tenant_id].name,
                currency=names[tenant_id].currency,
                account=account.balance_minor if account else 0,
                lots=lots.get(tenant_id, 0),
                ledger=ledger.get(tenant_id, 0),
                invoices=count,
                last_invoice_number=last,
                invoice_gap=not (count == high == last and (count == 0 or low == 1)),
                postpaid_mismatch=any(
                    postpaid_ledger.get(k, 0) != postpaid_periods.get(k, 0) for k in keys
                ),
            )
        )
    return rows


__all__ = [
    "DebitResult",
    "Ledger",
    "Money",
    "debit",
    "expire_credits",
    "purchase_credits",
]
