"""The invariant audit (`commcredits audit`): every tenant's money recomputed from scratch.

- account balance = Σ lot remainders = Σ ledger amounts;
- invoice numbers 1…n without a gap;
- MCA periods agree with their POSTPAID entries;
- each invoice PAID or ISSUED (PURCHASE, AUTO_RECHARGE) created exactly one lot, and no lot
  belongs to an invoice that is PENDING or FAILED.
"""

from __future__ import annotations

from dataclasses import dataclass

import peewee

from commcredits.models import (
    CreditAccount,
    CreditLot,
    Invoice,
    LedgerEntry,
    PostpaidPeriod,
    Tenant,
)


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
    lot_mismatch: bool = False  # a paid invoice without its one lot, or a lot of an unpaid one

    @property
    def ok(self) -> bool:
        return (
            self.account == self.lots == self.ledger
            and not self.invoice_gap
            and not self.postpaid_mismatch
            and not self.lot_mismatch
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
    lot_counts = peewee.fn.COUNT(CreditLot.id)
    funded = (
        Invoice.select(Invoice.tenant, Invoice.status, lot_counts)
        .join(CreditLot, peewee.JOIN.LEFT_OUTER, on=(CreditLot.invoice == Invoice.id))
        .where(Invoice.reason.in_(["PURCHASE", "AUTO_RECHARGE"]))
        .group_by(Invoice.id, Invoice.tenant, Invoice.status)
        .tuples()
    )
    bad_lots = {t for t, status, n in funded if n != (1 if status in ("PAID", "ISSUED") else 0)}
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
                lot_mismatch=tenant_id in bad_lots,
            )
        )
    return rows
