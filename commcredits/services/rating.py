"""Rating call records (SPEC §5): pool minutes first, the rest charged to credits FIFO.

A batch (≤ 1,000 records) is rated in input order against one in-memory picture of the tenant
(users, their licenses, the month's pools, the rate card, the credit lots), so its cost in SQL
statements does not grow with its size; the results are written with a few bulk inserts.

Per record:
1. Bad input (call id, duration, destination, call type, start time, user) fails that item
   with a userError and writes nothing for it.
2. A call id rated before returns its first result (`duplicate`), changing nothing.
3. DOMESTIC / INTERNATIONAL are decided by destination country vs the caller's usage location
   (US, CA and PR count as one domestic area); the record's own choice of the two is not taken.
4. Minutes = started minutes; the pool the call type draws from gives what it has left; the
   rest is charged at the card's price (rounded half up to the minor unit) and debited from
   credits through the ledger (FIFO, auto-recharge, MCA credit limit all happen there).
5. An emergency number (a card row flagged `emergency`, matched whole) is RATED at 0, no pool
   minutes; an outgoing call or dial-out of a user blocked from PSTN calls is BLOCKED
   `USER_BLOCKED` (services/pstn_blocks.py), and one the user's dial-out policy forbids is
   BLOCKED `DIAL_OUT_RESTRICTED` (services/dial_out.py), both before pools and credits.
6. A call whose charged part cannot be paid — no calling licence for the call type, no
   Communication Credits licence, no price, balance or credit limit short — is recorded as
   `BLOCKED` with that reason and uses neither pool minutes nor credits.
7. A call with a part charged to credits, of a user whose calling policy sets a spend limit
   that the user's spend this month (DOMESTIC, INTERNATIONAL, CONFERENCE_DIAL_OUT charges) has
   reached, is BLOCKED `SPEND_LIMIT_REACHED`; one starting below the limit is rated whole
   (services/spend_limits.py). The spend is tracked across the batch in input order.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from commcredits import events
from commcredits.db import tenant_lock
from commcredits.models import Tenant
from commcredits.money import Money
from commcredits.services import (
    audit,
    credits,
    dial_out,
    pstn_blocks,
    rating_policies,
    spend_limits,
)
from commcredits.services.call_fields import MIN_SUBSCRIBER_DIGITS
from commcredits.services.calls import (  # noqa: F401 - rating's names, re-exported
    CHUNK,
    CREDIT_LIMIT_REACHED,
    INSUFFICIENT_BALANCE,
    MAX_DURATION_SECONDS,
    NO_CALLING_LICENSE,
    NO_CREDITS_LICENSE,
    NO_RATE,
    START_SKEW,
    Caller,
    CallInput,
    CallOutcome,
    CheckedCall,
    RatedCall,
    check_input,
    insert_calls,
    load_callers,
    recorded_calls,
    unknown_user,
)
from commcredits.services.catalog import Catalog
from commcredits.services.errors import DomainError, check_batch_size
from commcredits.services.pools import (
    NO_ENTITLEMENTS,
    Entitlements,
    PoolBook,
    PoolKey,
    PoolState,
    calling_location,
    entitlements_for_users,
    is_domestic,
    pool_key_for_call,
)
from commcredits.services.prices import charge_for, from_minor_units
from commcredits.services.principal import Principal
from commcredits.services.rate_tables import RateBook, pool_terms
from commcredits.services.users import upn_key

HELD = "HELD"  # not a reason a call ends with: rated again once the recharge is charged


class _Picture:
    """What a batch needs, loaded once under the tenant lock."""

    def __init__(
        self,
        tenant: Tenant,
        principal: Principal,
        checked: list[CheckedCall],
        *,
        now: dt.datetime,
        hold: bool = True,
    ):
        self.hold = hold
        self.tenant = tenant
        self.principal = principal
        self.now = now
        self.catalog = Catalog.load()
        self.recorded: dict[str, RatedCall] = recorded_calls(
            tenant.id, sorted({c.call_id for c in checked})
        )
        fresh = [c for c in checked if c.call_id not in self.recorded]
        ids = sorted({c.user for c in fresh if isinstance(c.user, int)})
        upns = sorted({upn_key(c.user) for c in fresh if isinstance(c.user, str)})
        self.users_by_id, self.users_by_upn = load_callers(tenant.id, ids, upns)
        self.entitlements: dict[int, Entitlements] = entitlements_for_users(
            self.catalog, sorted(self.users_by_id)
        )
        # Dial-out policies, spend limits and PSTN blocks (issues 17, 18): only what the
        # tenant has configured is looked up.
        policies = rating_policies.for_batch(tenant, self.users_by_id)
        self.dial_out = policies.dial_out
        self.pstn_blocked = policies.blocked
        self.limits = policies.limits
        months = {c.month for c in fresh}
        self.pools = PoolBook(tenant, self.catalog, months)
        self.spend = spend_limits.SpendBook(tenant, self.limits, months)
        self.rates = RateBook(tenant.currency)
        self._ledger = None
        self.debits = 0

    def user(self, ref: int | str) -> Caller | None:
        if isinstance(ref, int):
            return self.users_by_id.get(ref)
        return self.users_by_upn.get(upn_key(ref))

    def ledger(self) -> credits.Ledger:
        if self._ledger is None:
            self._ledger = credits.open_for_write(self.tenant, self.principal, now=self.now)
        return self._ledger

    def charge(self, amount: Decimal, *, reference: str) -> credits.DebitResult | str:
        """Debit credits: the debit's result, or the refusal's code (the BLOCKED reason, or
        HELD when a recharge could pay for it once charged)."""
        ledger = self.ledger()
        try:
            result = ledger.debit(Money(amount, self.tenant.currency), reference=reference)
        except DomainError as error:
            if self.hold and error.code == INSUFFICIENT_BALANCE and ledger.awaiting_recharge:
                return HELD
            return error.code
        self.debits += 1
        return result

    def recharges(self) -> list[int]:
        """Recharge intents this batch's debits started (charged after commit)."""
        return [] if self._ledger is None else [i.id for i in self._ledger.started]

    def flush(self) -> None:
        if self._ledger is not None:
            self._ledger.flush()


def _rate_one(pic: _Picture, c: CheckedCall, user: Caller) -> tuple[RatedCall, PoolState | None]:
    """Rate one fresh call against the picture (which it updates when the call is RATED)."""
    currency = pic.tenant.currency
    location = calling_location(user.usage_location, pic.tenant.country)
    table = pic.rates.table_at(c.started_at)
    place = table.place(c.digits)
    country = place.country if place else ""
    domestic = is_domestic(location, country)
    call_type = c.call_type
    if call_type in ("DOMESTIC", "INTERNATIONAL") and place is not None:
        call_type = "DOMESTIC" if domestic else "INTERNATIONAL"
    minutes = -(-c.duration_seconds // 60)
    month = c.month
    call = RatedCall(
        call_id=c.call_id,
        user_id=user.id,
        user_principal_name=user.user_principal_name,
        display_name=user.display_name,
        usage_location=location,
        started_at=c.started_at,
        month=month,
        duration_seconds=c.duration_seconds,
        destination="+" + c.digits,
        destination_country=country,
        call_type=call_type,
        domestic=domestic,
        status="RATED",
        reason=None,
        minutes=minutes,
        pool_minutes=0,
        charged_minutes=0,
        pool_plan="",
        rate_id=None,
        price_micros=None,
        charge_minor=0,
        currency=currency,
        rated_at=pic.now,
    )
    ent = pic.entitlements.get(user.id, NO_ENTITLEMENTS)
    reason = calling_license_missing(ent, call_type)
    if reason:
        return _blocked(call, reason), None
    emergency = table.emergency_number(c.digits)
    if emergency is not None:
        # Never restricted by a policy, never charged, no pool minutes (issue 17).
        call.rate_id, call.price_micros = emergency.id, 0
        return call, None
    if user.id in pic.pstn_blocked and pstn_blocks.blocks(call_type):
        return _blocked(call, pstn_blocks.USER_BLOCKED), None
    policy = pic.dial_out.get(user.id)
    reason = dial_out_restriction(policy, call_type, domestic if place else None)
    if reason:
        return _blocked(call, reason), None
    if place is None or len(c.digits) < MIN_SUBSCRIBER_DIGITS:
        # Unknown destination (or a short code the card does not list as emergency): not
        # even domestic vs international can be told.
        return _blocked(call, NO_RATE), None
    rate = table.find(call_type, c.digits)
    terms = pool_terms(rate, place)
    key = pool_key_for_call(ent, location, call_type, zone=terms.zone, premium=terms.premium)
    state = pic.pools.state(month, key) if key else None
    from_pool = min(minutes, state.left) if state else 0
    charged = minutes - from_pool
    if charged:
        if not ent.credits:
            return _blocked(call, NO_CREDITS_LICENSE), None
        if rate is None:
            return _blocked(call, NO_RATE), None
        call.rate_id, call.price_micros = rate.id, rate.price_micros
        amount = charge_for(rate.price_micros, charged, currency)
        if amount:
            counted = spend_limits.counts(call_type)
            limit = spend_limit(pic, user.id) if counted else None
            upn = user.user_principal_name
            if pic.spend.refuses(user.id, upn, month, limit):
                return _blocked(call, spend_limits.SPEND_LIMIT_REACHED), None
            debit = pic.charge(amount, reference=f"call:{c.call_id}")
            if isinstance(debit, str):
                return _blocked(call, debit), None
            # What the ledger took (prepaid and postpaid alike) is what the call cost.
            call.charge_minor = debit.amount.minor
            if counted:
                pic.spend.add(user.id, upn, month, call.charge_minor, limit)
    call.pool_minutes, call.charged_minutes = from_pool, charged
    if from_pool:
        call.pool_plan = key.plan
        pic.pools.use(state, from_pool)
    return call, state


def calling_license_missing(ent: Entitlements, call_type: str) -> str | None:
    """NO_CALLING_LICENSE when the user's licenses do not cover the call type at all."""
    if call_type in ("DOMESTIC", "INTERNATIONAL"):
        ok = ent.calling_plan is not None
    elif call_type == "CONFERENCE_DIAL_OUT":
        ok = ent.audio_conferencing
    else:  # TOLL_FREE_INBOUND: a number of a Calling Plan user or an Audio Conferencing bridge
        ok = ent.calling_plan is not None or ent.audio_conferencing
    return None if ok else NO_CALLING_LICENSE


def dial_out_restriction(
    policy: dial_out.EffectivePolicy | None, call_type: str, domestic: bool | None
) -> str | None:
    """DIAL_OUT_RESTRICTED when the user's effective dial-out policy forbids the call (which
    setting follows from the call type: CONFERENCE_DIAL_OUT the conferencing one, DOMESTIC and
    INTERNATIONAL the outbound one). A destination the card does not place is neither domestic
    nor international: only a Disabled setting refuses it here, NO_RATE does otherwise."""
    if policy is None:
        return None
    setting = dial_out.restricted(policy.policy, call_type, domestic=domestic)
    return dial_out.DIAL_OUT_RESTRICTED if setting else None


def spend_limit(pic: _Picture, user_id: int) -> int | None:
    """The monthly spend limit in force for the user (minor units; None: not limited)."""
    return pic.limits.get(user_id)


def _blocked(call: RatedCall, reason: str) -> RatedCall:
    call.status, call.reason = "BLOCKED", reason
    call.pool_minutes = call.charged_minutes = call.charge_minor = 0
    call.pool_plan = ""
    return call


def record_calls(
    tenant: Tenant, principal: Principal, items: list[CallInput], *, now: dt.datetime
) -> list[CallOutcome]:
    """Rate and record a batch of calls; one outcome per item, in input order."""
    check_batch_size(len(items))
    outcomes: list[CallOutcome] = []
    checked: list[tuple[CallOutcome, CheckedCall]] = []
    for index, item in enumerate(items):
        out = CallOutcome(index=index, call_id=(item.call_id or "").strip())
        outcomes.append(out)
        try:
            checked.append((out, check_input(item, now=now)))
        except DomainError as error:
            out.errors.extend(error.details)
    if not checked:
        return outcomes
    held = _rate_batch(tenant, principal, checked, now=now, hold=True)
    if held:
        for out, _ in held:
            out.held_for_recharge = True
        _rate_batch(tenant, principal, held, now=now, hold=False)
    return outcomes


def _rate_batch(
    tenant: Tenant,
    principal: Principal,
    checked: list[tuple[CallOutcome, CheckedCall]],
    *,
    now: dt.datetime,
    hold: bool,
) -> list[tuple[CallOutcome, CheckedCall]]:
    """Rate and write one batch in one unit of work; then charge the recharges it started,
    with the lock released. Returns the calls held for a recharge (see `_Picture.charge`)."""
    held = []
    with tenant_lock(tenant.id):
        pic = _Picture(tenant, principal, [c for _, c in checked], now=now, hold=hold)
        new: list[RatedCall] = []
        for out, c in checked:
            first = pic.recorded.get(c.call_id)
            if first is not None:
                out.call, out.duplicate = first, True
                continue
            user = pic.user(c.user)
            if user is None:
                out.errors.append(unknown_user(c.user))
                continue
            call, _ = _rate_one(pic, c, user)
            if call.reason == HELD:
                held.append((out, c))
                continue
            pic.recorded[c.call_id] = call
            out.call = call
            new.append(call)
        if new:
            _write(pic, new, now=now)
        else:
            pic.flush()
        started = pic.recharges()
    if held:
        started = sorted({*started, *credits.charges.pending_recharge_ids(tenant)})
    if started:
        credits.settle_recharges(tenant, principal, started, now=now)
    return held


def _write(pic: _Picture, new: list[RatedCall], *, now: dt.datetime) -> None:
    tenant = pic.tenant
    pic.flush()
    by_call = insert_calls(tenant.id, new)
    for call in new:
        call.id = by_call[call.call_id]
    events.publish_ids(tenant.id, events.CALLS, [c.id for c in new])  # callRated, after commit
    pic.pools.write(now=now)
    pic.spend.write(now=now)
    rated = [c for c in new if c.status == "RATED"]
    audit.record(
        pic.principal,
        "recordCalls",
        ("CallBatch", f"{new[0].call_id}…{new[-1].call_id}" if len(new) > 1 else new[0].call_id),
        tenant_id=tenant.id,
        before=None,
        after={
            "calls": len(new),
            "rated": len(rated),
            "blocked": len(new) - len(rated),
            "poolMinutes": sum(c.pool_minutes for c in rated),
            "chargedMinutes": sum(c.charged_minutes for c in rated),
            "charge": str(from_minor_units(sum(c.charge_minor for c in rated), tenant.currency)),
            "currency": tenant.currency,
        },
        now=now,
    )


def record_call(
    tenant: Tenant, principal: Principal, item: CallInput, *, now: dt.datetime
) -> CallOutcome:
    return record_calls(tenant, principal, [item], now=now)[0]


__all__ = [
    "CallInput",
    "CallOutcome",
    "PoolKey",
    "RatedCall",
    "record_call",
    "record_calls",
]
