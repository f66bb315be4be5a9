"""The read side of credits: balances, spendable credit, lots, transactions, expiring credit,
the forecast. Nothing here opens a ledger, takes a lock, writes a row or calls the gateway.

Every figure is as of `now`: a lot past `expires_at` counts for nothing even before its
`EXPIRED` entry is written (by `expire`, `expireCredits`, or the tenant's next money write).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import peewee

from commcredits.clock import utc_instant
from commcredits.models import (
    AutoRecharge,
    BillingProfile,
    CreditAccount,
    CreditLot,
    DebitSplit,
    Invoice,
    LedgerEntry,
    PostpaidPeriod,
    Tenant,
)
from commcredits.money import Money
from commcredits.services.billing import billing_summary
from commcredits.services.credits import recharge, store
from commcredits.services.credits.results import PurchaseResult
from commcredits.services.credits.rules import (
    DEFAULT_MAX_RECHARGES_PER_DAY,
    FORECAST_DAYS,
    lot_expiry,
    period_of,
)
from commcredits.services.errors import DomainError
from commcredits.services.list_counts import Count, capped_count, exact_count


def _due_minor(tenant_ids: list[int], now: dt.datetime) -> dict[int, int]:
    """Credit in lots past their expiry whose EXPIRED entry is not written yet."""
    query = (
        CreditLot.select(CreditLot.tenant, peewee.fn.SUM(CreditLot.remaining_minor))
        .where(
            CreditLot.tenant.in_(tenant_ids)
            & (CreditLot.expires_at <= now)
            & (CreditLot.remaining_minor > 0)
        )
        .group_by(CreditLot.tenant)
    )
    return {tenant_id: int(due or 0) for tenant_id, due in query.tuples()}


def current_balance(tenant: Tenant, *, now: dt.datetime) -> Money:
    """Σ remaining of lots not expired at `now` (the materialized balance less lots due)."""
    return Money.from_minor(balances([tenant.id], now=now)[tenant.id], tenant.currency)


def balances(tenant_ids: list[int], *, now: dt.datetime) -> dict[int, int]:
    """Balances (minor units) of many tenants at `now`, in two queries (the dataloader's)."""
    found = {
        a.tenant_id: a.balance_minor
        for a in CreditAccount.select(CreditAccount.tenant, CreditAccount.balance_minor).where(
            CreditAccount.tenant.in_(tenant_ids)
        )
    }
    for tenant_id, due in _due_minor(tenant_ids, now).items():
        found[tenant_id] = found.get(tenant_id, 0) - due
    return {t: found.get(t, 0) for t in tenant_ids}


@dataclass(frozen=True)
class Spendable:
    balance: Money  # the balance as of now
    spendable: Money  # what debits could take now (see `spendable_credit`)


def spendable_credit(tenant: Tenant, *, now: dt.datetime) -> Spendable:
    """What a call may spend now, read without the lock: the balance plus the pending
    recharges and those today's cap still allows (prepaid), or the lots (operator
    adjustments, which a postpaid debit takes first: credits/postpaid.py) plus what is left of
    this month's credit limit (MCA). One statement (two for MCA)."""
    row = store.load_account(tenant.id, due_at=now)
    minor = (row[1] or 0) - int(row[-1] or 0)  # less lots past expiry, not yet written EXPIRED
    balance = Money.from_minor(minor, tenant.currency)
    if tenant.agreement_type == "MCA":
        limit = row[4]
        left = 0 if limit is None else max(0, limit - _postpaid_used(tenant, now))
        return Spendable(balance, Money.from_minor(max(minor, 0) + left, tenant.currency))
    pending = recharge.Pending(int(row[5] or 0), int(row[6] or 0))
    extra = recharge.spendable_extra(store.settings_from(row, tenant.id), pending, now)
    return Spendable(balance, Money.from_minor(minor + extra, tenant.currency))


def _postpaid_used(tenant: Tenant, now: dt.datetime) -> int:
    row = PostpaidPeriod.get_or_none(
        (PostpaidPeriod.tenant == tenant.id) & (PostpaidPeriod.period == period_of(now))
    )
    return row.used_minor if row else 0


def credit_state(tenant: Tenant, *, now: dt.datetime) -> dict[str, Any]:
    """MCA: the limit, this month's postpaid usage, and what is left of it."""
    account = CreditAccount.get_or_none(CreditAccount.tenant == tenant.id)
    limit = account.credit_limit_minor if account else None
    used = _postpaid_used(tenant, now)
    return {
        "period": period_of(now),
        "limit": None if limit is None else Money.from_minor(limit, tenant.currency),
        "used": Money.from_minor(used, tenant.currency),
        "available": Money.from_minor(max((limit or 0) - used, 0), tenant.currency),
    }


def auto_recharge_settings(tenant: Tenant) -> AutoRecharge:
    row = AutoRecharge.get_or_none(AutoRecharge.tenant == tenant.id)
    return row or AutoRecharge(
        tenant=tenant.id, enabled=False, max_per_day=DEFAULT_MAX_RECHARGES_PER_DAY
    )


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
    tenant: Tenant,
    *,
    kinds: list[str] | None = None,
    reference: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
):
    """The tenant's ledger entries: of these kinds, with this reference, made at or after
    `since` and before `until` (a half-open range, so consecutive ranges never overlap)."""
    query = LedgerEntry.select().where(LedgerEntry.tenant == tenant.id)
    if kinds:
        query = query.where(LedgerEntry.kind.in_(kinds))
    if reference:
        query = query.where(LedgerEntry.reference == reference)
    if since is not None:
        query = query.where(LedgerEntry.created_at >= utc_instant(since, "from"))
    if until is not None:
        query = query.where(LedgerEntry.created_at < utc_instant(until, "to"))
    return query


def count_transactions(
    tenant: Tenant,
    *,
    kinds: list[str] | None = None,
    reference: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> Count:
    """How many entries `transactions_query` matches: all of them is the last sequence number
    (1, 2, 3, … without gaps); with a filter, counted up to COUNT_CAP."""
    if not (kinds or reference or since is not None or until is not None):
        last = LedgerEntry.select(peewee.fn.MAX(LedgerEntry.seq))
        return exact_count(last.where(LedgerEntry.tenant == tenant.id).scalar())
    query = transactions_query(tenant, kinds=kinds, reference=reference, since=since, until=until)
    return capped_count(query)


def splits_for(tenant_id: int, seqs: list[int]) -> dict[int, list[DebitSplit]]:
    found: dict[int, list[DebitSplit]] = {s: [] for s in seqs}
    for start in range(0, len(seqs), store.CHUNK):
        for row in (
            DebitSplit.select()
            .where(
                (DebitSplit.tenant == tenant_id)
                & DebitSplit.entry_seq.in_(seqs[start : start + store.CHUNK])
            )
            .order_by(DebitSplit.id)
        ):
            found[row.entry_seq].append(row)
    return found


def purchase_preview(tenant: Tenant, money: Money, *, now: dt.datetime) -> PurchaseResult:
    """`purchaseCredits(whatIf: true)`, the order review: the invoice and lot a purchase would
    make, unsaved."""
    account = CreditAccount.get_or_none(CreditAccount.tenant == tenant.id)
    profile = BillingProfile.get_or_none(BillingProfile.tenant == tenant.id)
    invoice = Invoice(
        tenant=tenant.id,
        number=(account.last_invoice_number if account else 0) + 1,
        issued_at=now,
        amount_minor=money.minor,
        currency=money.currency,
        reason="PURCHASE",
        status="DRAFT",
        payment_method=profile.payment_method if profile else "INVOICE",
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
