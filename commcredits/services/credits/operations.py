"""The locked money writes: debit, adjust, expire, auto-recharge settings.

Each is one unit of work under the tenant lock (`open` → expiry due → the change → `flush`).
Recharges a unit of work started are charged afterwards, with the lock released
(`charges.settle_recharges`).

A debit the balance cannot cover while a recharge could (one it starts, or one already
pending) is *held*: it is refused inside the lock, the recharge is charged outside it, and the
debit is tried again in a new unit of work (and again, up to HELD_ATTEMPTS in all, while each
round settles a recharge: under contention other debits may spend it first and start the
next). If the recharge was declined, capped or got no
answer, the debit is refused with `INSUFFICIENT_BALANCE` and a warning saying why
(`RECHARGE_FAILED`, `RECHARGE_CAPPED`, `RECHARGE_PENDING`). Call rating does the same per
call (`heldForRecharge` on the call's result).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from commcredits.db import tenant_lock
from commcredits.models import AutoRecharge, CreditLot, LedgerEntry, Tenant
from commcredits.money import Money
from commcredits.services.credits import charges, idempotency
from commcredits.services.credits.ledger import Ledger
from commcredits.services.credits.reads import current_balance
from commcredits.services.credits.results import (
    AdjustResult,
    AutoRechargeResult,
    DebitResult,
    ExpiryResult,
    RechargeOutcome,
)
from commcredits.services.credits.rules import (
    DEFAULT_MAX_RECHARGES_PER_DAY,
    MAX_RECHARGES_PER_DAY,
    check_amount,
    check_idempotency_key,
    insufficient,
)
from commcredits.services.errors import DomainError, ErrorDetail
from commcredits.services.principal import SYSTEM, Principal


def open_for_write(tenant: Tenant, principal: Principal, *, now: dt.datetime) -> Ledger:
    """A ledger for a money write: loaded, with the expiry that is due recorded first."""
    ledger = Ledger.open(tenant, now=now, principal=principal)
    ledger.expire_due()
    return ledger


def recharge_warnings(outcomes: list[RechargeOutcome]) -> list[ErrorDetail]:
    """What a caller is told about recharges that did not add credit."""
    found = []
    for o in outcomes:
        if o.pending:
            found.append(
                ErrorDetail(
                    "RECHARGE_PENDING",
                    f"The automatic recharge of {o.amount} (invoice {o.invoice_number}) has no "
                    "answer from the payment provider yet; it completes or fails on its own.",
                    None,
                )
            )
        elif not o.ok:
            found.append(
                ErrorDetail(
                    "RECHARGE_FAILED",
                    f"The automatic recharge of {o.amount} was declined ({o.decline_reason}); "
                    "no new try for an hour.",
                    None,
                )
            )
    return found


# A held debit is tried again after each recharge it saw settled, this many times in all.
HELD_ATTEMPTS = 4


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
    """One debit (FIFO, all or nothing), held for a recharge when one could cover it (see the
    module docstring). A refused debit changes no balance; the recharges it caused are
    recorded, as they really happened."""
    args = idempotency.money_args(amount, reference=reference)
    key = check_idempotency_key(idempotency_key) if idempotency_key is not None else None
    outcomes: list[RechargeOutcome] = []
    for attempt in range(1, HELD_ATTEMPTS + 1):
        error: DomainError | None = None
        result: DebitResult | None = None
        with tenant_lock(tenant.id):
            if key is not None:
                prior = idempotency.replay(tenant, key, "debit", args)
                if prior is not None:
                    return DebitResult.from_json(prior)
            ledger = open_for_write(tenant, principal, now=now)
            try:
                result = ledger.debit(amount, reference=reference, kind=kind)
            except DomainError as refused:
                error = refused
            ledger.flush()
            if result is not None and key is not None:
                idempotency.remember(tenant, key, "debit", args, result.to_json(), now=now)
        held = (
            error is not None and error.code == "INSUFFICIENT_BALANCE" and attempt < HELD_ATTEMPTS
        )
        started = [i.id for i in ledger.started]
        awaited = held and ledger.awaiting_recharge  # a recharge was pending in the lock
        if awaited:
            started = sorted({*started, *charges.pending_recharge_ids(tenant)})
        settled = charges.settle_recharges(tenant, principal, started, now=now) if started else []
        outcomes += settled
        if result is not None:
            result.recharges = outcomes
            result.warnings += recharge_warnings(outcomes)
            result.held_for_recharge = attempt > 1
            if outcomes:
                result.balance_after = current_balance(tenant, now=now)
            return result
        # Tried again only after a recharge settled: one this attempt settled (under contention
        # the other debits may spend it first and start the next one: a few rounds at most), or
        # the one it waited for, which another worker settled between the lock and the look
        # (nothing pending any more): the next attempt sees what that brought.
        if not (held and (any(o.ok for o in settled) or (awaited and not started))):
            break
    details = list(error.details)
    details += [w for w in recharge_warnings(outcomes) if w not in details]
    raise DomainError.many(details)


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
    args = idempotency.money_args(money, reason=clean_reason)
    with tenant_lock(tenant.id):
        prior = idempotency.replay(tenant, key, "adjustCredits", args)
        if prior is None:
            ledger = open_for_write(tenant, principal, now=now)
            before = ledger.balance()
            lot = None
            if money.minor > 0:
                lot = ledger.fund(
                    money.minor,
                    source="ADJUSTMENT",
                    invoice_id=None,
                    reference=key,
                    reason=clean_reason,
                )
                seq = ledger.last_seq
            else:
                if ledger.balance_minor < -money.minor:
                    raise insufficient(before, -money)
                splits = ledger.take(-money.minor)
                seq = ledger.entry("ADJUSTED", money.minor, reference=key, reason=clean_reason)
                ledger.record_splits(seq, splits)
                ledger.after_change()
            ledger.audit(
                "adjustCredits",
                ("LedgerEntry", seq),
                before={"balance": str(before.amount)},
                after={
                    "balance": str(ledger.balance().amount),
                    "amount": str(money.amount),
                    "reason": clean_reason,
                },
            )
            ledger.flush()
            prior = {"seq": seq, "lot": lot.id if lot else None}
            idempotency.remember(tenant, key, "adjustCredits", args, prior, now=now)
            replayed = False
        else:
            replayed = True
    if not replayed and ledger.started:
        charges.settle_recharges(tenant, principal, [i.id for i in ledger.started], now=now)
    entry = LedgerEntry.get((LedgerEntry.tenant == tenant.id) & (LedgerEntry.seq == prior["seq"]))
    lot_row = CreditLot.get_by_id(prior["lot"]) if prior.get("lot") else None
    return AdjustResult(entry, lot_row, current_balance(tenant, now=now), replayed=replayed)


def expire_credits(
    *,
    now: dt.datetime,
    as_of: dt.datetime | None = None,
    principal: Principal = SYSTEM,
    tenant: Tenant | None = None,
) -> list[ExpiryResult]:
    """Expire every lot whose 12 months have passed at `as_of` (default `now`; one tenant, or
    all), its entries dated then. A recharge this starts (the balance fell below its trigger)
    is charged now and dated `now`: an invoice, a lot and its 12 months from the day it is
    paid, never from an earlier `as_of`."""
    at = now if as_of is None else as_of
    query = (
        CreditLot.select(CreditLot.tenant)
        .where((CreditLot.remaining_minor > 0) & (CreditLot.expires_at <= at))
        .distinct()
    )
    if tenant is not None:
        query = query.where(CreditLot.tenant == tenant.id)
    results = []
    for tenant_id in sorted({row.tenant_id for row in query}):
        row = tenant if tenant is not None else Tenant.get_by_id(tenant_id)
        with tenant_lock(tenant_id):
            ledger = Ledger.open(row, now=at, principal=principal)
            ledger.recharging = at >= now
            ledger.expire_due()
            if ledger.expired:
                total = sum((m for _, m in ledger.expired), Money.zero(row.currency))
                ledger.audit(
                    "expireCredits",
                    ("Tenant", tenant_id),
                    before=None,
                    after={
                        "expired": str(total.amount),
                        "currency": row.currency,
                        "lots": [lot for lot, _ in ledger.expired],
                    },
                )
                results.append(ExpiryResult(tenant_id, row.name, total, len(ledger.expired)))
            ledger.flush()
            if not ledger.recharging and ledger.expired:
                # The balance as it is now (what else is due by now expires too), and the
                # recharge it calls for, started now.
                ledger = open_for_write(row, principal, now=now)
                ledger.after_change()
                ledger.flush()
        if ledger.started:
            charges.settle_recharges(row, principal, [i.id for i in ledger.started], now=now)
    return results


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


def configure_auto_recharge(
    tenant: Tenant,
    principal: Principal,
    *,
    enabled: bool,
    recharge_amount: Decimal | Money | None = None,
    trigger_balance: Decimal | Money | None = None,
    max_recharges_per_day: int | None = None,
    now: dt.datetime,
    what_if: bool = False,
) -> AutoRechargeResult:
    """Save the settings ("add this amount", "when the balance falls below"); if that leaves
    the balance below the trigger, one recharge follows (charged after commit).

    With `what_if`, every check runs as for real against the stored settings and the result
    holds the settings as they would be saved; nothing is written or charged.
    """
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
        # The new settings go in before the expiry due is recorded: a recharge that expiry
        # calls for follows what the admin just saved, not what they replaced.
        ledger = Ledger.open(tenant, now=now, principal=principal)
        row = ledger.settings or AutoRecharge(
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
        if what_if:
            # Leaving the block commits a transaction that wrote nothing: only reads ran.
            return AutoRechargeResult(settings=row, recharges=[])
        row.updated_at = now
        ledger.settings = row
        ledger.mark_settings()
        ledger.audit(
            "configureAutoRecharge",
            row,
            before=before,
            after=describe_auto_recharge(row, tenant.currency),
        )
        if not ledger.expire_due() and enabled:
            ledger.after_change()  # (expiry, when there was any, considered a recharge already)
        ledger.flush()
    recharges: list[RechargeOutcome] = []
    if ledger.started:
        recharges = charges.settle_recharges(
            tenant, principal, [i.id for i in ledger.started], now=now
        )
    return AutoRechargeResult(settings=AutoRecharge.get_by_id(row.id), recharges=recharges)
