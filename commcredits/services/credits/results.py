"""What the credit operations return (plain values; the API maps them to its types)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from commcredits.models import AutoRecharge, CreditLot, Invoice, LedgerEntry, PostpaidPeriod
from commcredits.money import Money
from commcredits.services.errors import ErrorDetail


@dataclass(frozen=True)
class RechargeOutcome:
    """One automatic recharge as it ended: `ok` with its lot, declined, or still pending
    (the gateway did not answer; the sweeper finishes it)."""

    ok: bool
    amount: Money
    invoice_id: int
    invoice_number: int
    lot_id: int | None
    decline_reason: str = ""
    pending: bool = False


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
    # The balance could not cover the debit at first: it waited for the recharge it started
    # (or one already pending) to settle, outside the lock, and was then paid.
    held_for_recharge: bool = False

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
class PurchaseResult:
    lot: CreditLot | None
    invoice: Invoice
    balance: Money
    what_if: bool = False
    replayed: bool = False


@dataclass
class AutoRechargeResult:
    settings: AutoRecharge
    recharges: list[RechargeOutcome]


@dataclass
class AdjustResult:
    entry: LedgerEntry
    lot: CreditLot | None
    balance: Money
    replayed: bool = False


@dataclass
class ExpiryResult:
    tenant_id: int
    tenant_name: str
    expired: Money
    lots: int


@dataclass
class CloseResult:
    period: PostpaidPeriod
    invoice: Invoice | None
    already_closed: bool
