"""The ledger invariant under everything: a hypothesis state machine that buys credits, turns
auto-recharge on and off, changes licenses, rates calls and moves the clock across month ends
and 12-month expiries — on SQLite and on PostgreSQL. After every step:

- stored balance = Σ lot remainders = Σ ledger (commcredits audit finds no difference);
- invoice numbers 1..n without gaps; no lot remainder below 0 or above its amount;
- every charged call's credits are one CONSUMED ledger entry's worth, blocked calls cost nothing;
- no minute pool used past what it granted; seat counters equal the licenses held;
- who may spend (rules grant dial-out policies, block and unblock users, set a tenant-wide
  spending limit): a blocked user's outgoing calls are `USER_BLOCKED`, a call the user's
  dial-out policy forbids `DIAL_OUT_RESTRICTED`, and each user's kept monthly spend is the sum
  of their calls' charges (what `commcredits audit` checks too);
- payments (a scripted gateway that succeeds, declines, gives no answer, or charges and loses
  the answer): the audit's lot check holds, no idempotency key is charged twice, every PAID or
  ISSUED invoice was charged once and a FAILED one never, no lot belongs to an unpaid invoice,
  PENDING recharges stay within what `recharge.py` allows, and a sweep with a gateway that
  answers leaves nothing PENDING.

Reads run as rules too, at the machine's clock or later (lots past expiry, no expire run): every
one runs only SELECTs, opens no transaction, calls no gateway, and reports the balance the lots
give (Σ remaining of lots with `expires_at > now`).
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import peewee
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from commcredits import db as database
from commcredits.models import (
    AutoRecharge,
    CallingPolicy,
    CallRecord,
    CreditLot,
    Invoice,
    LedgerEntry,
    LicenseAssignment,
    MinutePool,
    Subscription,
    User,
)
from commcredits.money import Money as Amount
from commcredits.services import (
    billing,
    calling_policies,
    calling_policy_grants,
    credits,
    dial_out,
    licenses,
    payments,
    pstn_blocks,
    rating,
    spend_limits,
)
from commcredits.services.access import SYSTEM
from commcredits.services.authorization import authorize_call
from commcredits.services.credits import recharge
from commcredits.services.errors import DomainError
from commcredits.services.kept_counts import kept_count_differences
from commcredits.services.licenses import AddLicense, LicenseRequest
from commcredits.services.tenants import create_tenant
from tests.conftest import T0
from tests.helpers import add_users, buy

USERS = [("ana", "DE"), ("bo", "DE"), ("cy", "US"), ("di", "FR")]
LICENSE_CHANGES = {
    "domestic plan": ((AddLicense("MCOEV"), AddLicense("MCOPSTN1")), ("MCOPSTN2",)),
    "international plan": ((AddLicense("MCOEV"), AddLicense("MCOPSTN2")), ("MCOPSTN1",)),
    "no plan": ((), ("MCOPSTN1", "MCOPSTN2")),
    "credits license": ((AddLicense("MCOPSTNC"),), ()),
    "no credits license": ((), ("MCOPSTNC",)),
    "audio conferencing": ((AddLicense("MCOMEETADV"),), ()),
}
DESTINATIONS = [
    "+493012345678",
    "+4915112345678",
    "+33142345678",
    "+14155550123",
    "+18005550199",
    "+447700900123",
]
CALL_TYPES = ["DOMESTIC", "INTERNATIONAL", "CONFERENCE_DIAL_OUT", "TOLL_FREE_INBOUND"]
_names = itertools.count()
OUTCOMES = ("succeed", "decline", "unavailable", "lost")
ANSWERING = ("succeed", "decline")  # outcomes that give the sweeper a final answer
WRITING = re.compile(r"\bFOR\s+(NO\s+KEY\s+)?(UPDATE|SHARE)\b|\bpg_\w*advisory_", re.I)


class ScriptedGateway:
    """The built-in gateway behind a script: the answer a rule chose (`outcome`, kept until
    changed) — succeed, decline, unavailable (no charge, no answer) or lost (charged, then no
    answer). Like a real provider it keeps the first final answer per idempotency key, a
    decline too: asking again returns it and charges nothing. `charges` counts the real
    charges per key (what a double charge would show), `calls` every request."""

    name = "scripted"

    def __init__(self) -> None:
        self.inner = payments.BuiltinGateway()
        self.outcome = "succeed"
        self.answers: dict[str, tuple[str, payments.Charge]] = {}
        self.charges: dict[str, int] = {}
        self.calls = 0
        self.misused: list[str] = []  # keys asked again with other parameters

    def charge(self, **kw: Any) -> payments.Charge:
        self.calls += 1
        key, amount = kw["idempotency_key"], kw["amount"]
        fingerprint = f"{kw['tenant_id']}:{kw['method']}:{kw['token']}:{amount.minor}"
        if self.outcome == "unavailable":
            raise payments.GatewayUnavailable("scripted: no answer, nothing charged")
        known = self.answers.get(key)
        if known is not None:
            if known[0] != fingerprint:
                self.misused.append(key)
                raise ValueError(f"idempotency key {key!r} reused with other parameters")
            answer = known[1]
        elif self.outcome == "decline":
            answer = payments.Charge(ok=False, decline_code="card_declined")
            self.answers[key] = (fingerprint, answer)
        else:
            answer = self.inner.charge(**kw)
            self.answers[key] = (fingerprint, answer)
            if answer.ok:
                self.charges[key] = self.charges.get(key, 0) + 1
        if self.outcome == "lost":
            raise payments.GatewayUnavailable("scripted: charged, the answer was lost")
        return answer


@contextmanager
def reading_only(gateway: ScriptedGateway) -> Iterator[list[str]]:
    """Run a read: only SELECTs (no INSERT/UPDATE/DELETE, no FOR [NO KEY] UPDATE or advisory
    lock), no transaction begun (SQLite's tenant lock is a bare BEGIN IMMEDIATE), no gateway."""
    bound = database.db.obj
    begun: list[str] = []
    begin = bound.begin

    def recording_begin(*args: Any, **kwargs: Any) -> Any:
        begun.append("BEGIN")
        return begin(*args, **kwargs)

    calls = gateway.calls
    bound.begin = recording_begin
    try:
        with database.count_statements() as statements:
            yield statements
    finally:
        del bound.begin
    assert statements, "the read ran no statement: the recorder is not seeing it"
    for sql in statements:
        assert sql.lstrip().upper().startswith("SELECT"), sql
        assert not WRITING.search(sql), sql
    assert not begun, begun
    assert gateway.calls == calls, "a read called the payment gateway"


class Money(RuleBasedStateMachine):
    # One provider per run (the test installs a fresh one): the database outlives an example,
    # so a later example's sweep may finish an earlier tenant's PENDING invoice and must find
    # the answers given for its key.
    provider = ScriptedGateway()

    @initialize(
        licensed=st.booleans(),
        auto=st.none() | st.tuples(st.integers(100, 2_000), st.integers(0, 5_000)),
        outcome=st.sampled_from(OUTCOMES),
    )
    def tenant_with_users(self, licensed=False, auto=None, outcome="succeed"):
        """A tenant with users; `licensed`: two of them can already spend credits, `auto`:
        auto-recharge on (amount, trigger in cents), `outcome`: how the gateway answers until
        a rule changes it — the money paths from the first step."""
        self.gateway = type(self).provider
        self.previous_gateway = payments.set_gateway(self.gateway)
        self.gateway.outcome = outcome
        self.purchases: list[tuple[str, int, int]] = []  # (key, cents, invoice id)
        self.pending: dict[int, str] = {}  # PENDING invoices after the last step: reason
        self.short = False  # the last step had a debit the balance could not pay
        self.now = T0
        self.tenant = create_tenant(
            SYSTEM,
            name=f"Inv{next(_names)}-{uuid.uuid4().hex[:6]}",
            country="DE",
            currency="EUR",
            agreement_type="MOSA",
            now=self.now,
        )
        buy(self.tenant, self.now, MCOEV=4, MCOPSTN1=4, MCOPSTN2=4, MCOMEETADV=4, MCOPSTNC=4)
        self.domain = f"{self.tenant.name.lower()}.example"
        add_users(self.tenant, self.now, USERS, domain=self.domain)
        self.calls = itertools.count()
        if licensed:  # ana pays every minute with credits, di beyond her plan's pool
            for user, changes in (
                (USERS[0], ("domestic plan", "no plan", "credits license")),
                (USERS[3], ("domestic plan", "credits license")),
            ):
                for change in changes:
                    self.change_licenses(user, change)
        if auto is not None:
            self.configure(True, *auto)

    def teardown(self):
        payments.set_gateway(self.previous_gateway)

    def _buy(self, key: str, cents: int) -> tuple[str | None, Invoice]:
        """A purchase: funded (None), or refused PAYMENT_DECLINED/PAYMENT_PENDING, as its
        invoice then stands (returned)."""
        try:
            result = credits.purchase_credits(
                self.tenant, SYSTEM, Decimal(cents) / 100, idempotency_key=key, now=self.now
            )
            code = None
            assert result.lot is not None and result.lot.invoice_id == result.invoice.id
        except DomainError as error:
            code = error.code
            assert code in ("PAYMENT_DECLINED", "PAYMENT_PENDING"), error
        invoice = (
            Invoice.select()
            .where((Invoice.tenant == self.tenant.id) & (Invoice.reason == "PURCHASE"))
            .order_by(Invoice.number.desc())
            .first()
        )
        return code, invoice

    @staticmethod
    def _as_told(code: str | None, invoice: Invoice) -> None:
        told = {None: ("PAID", "ISSUED"), "PAYMENT_DECLINED": ("FAILED",)}
        assert invoice.status in told.get(code, ("PENDING",)), (code, invoice.status)

    @rule(cents=st.integers(min_value=1, max_value=50_000))
    def purchase(self, cents):
        key = f"buy-{uuid.uuid4().hex}"
        code, invoice = self._buy(key, cents)
        assert invoice.amount_minor == cents and invoice.id not in {i for *_, i in self.purchases}
        self.purchases.append((key, cents, invoice.id))
        self._as_told(code, invoice)
        expected = {"succeed": None, "decline": "PAYMENT_DECLINED"}
        assert code == expected.get(self.gateway.outcome, "PAYMENT_PENDING"), code

    @precondition(lambda self: self.purchases)
    @rule(data=st.data())
    def retry_purchase(self, data):
        """The client's retry with the same key: the first outcome, finished if it was not."""
        key, cents, invoice_id = data.draw(st.sampled_from(self.purchases), label="purchase")
        before = Invoice.get_by_id(invoice_id).status
        code, _ = self._buy(key, cents)
        invoice = Invoice.get_by_id(invoice_id)
        self._as_told(code, invoice)
        assert before == "PENDING" or invoice.status == before, (before, invoice.status)

    @rule(outcome=st.sampled_from(OUTCOMES))
    def gateway_answers(self, outcome):
        self.gateway.outcome = outcome

    @rule(method=st.sampled_from(["INVOICE", "CARD"]))
    def billing_profile(self, method):
        token = "tok_visa" if method == "CARD" else None
        billing.update_billing_profile(
            self.tenant,
            SYSTEM,
            billing.BillingFields(payment_method=method, card_token=token),
            now=self.now,
        )

    @rule(outcome=st.sampled_from(OUTCOMES))
    def sweep(self, outcome):
        """The sweeper, with the gateway answering as `outcome` from now on."""
        self.gateway.outcome = outcome
        credits.reconcile_payments(now=self.now)
        if self.gateway.outcome in ANSWERING:
            left = Invoice.select().where(
                (Invoice.tenant == self.tenant.id) & (Invoice.status == "PENDING")
            )
            assert not left.count(), [(i.number, i.reason) for i in left]

    @rule(
        enabled=st.booleans(),
        recharge=st.integers(min_value=100, max_value=20_000),
        trigger=st.integers(min_value=0, max_value=10_000),
    )
    def configure(self, enabled, recharge, trigger):
        credits.configure_auto_recharge(
            self.tenant,
            SYSTEM,
            enabled=enabled,
            recharge_amount=Decimal(recharge) / 100,
            trigger_balance=Decimal(trigger) / 100,
            max_recharges_per_day=3,
            now=self.now,
        )

    @rule(cents=st.none() | st.integers(min_value=0, max_value=300))
    def spend_limit(self, cents):
        """The tenant's global calling policy: a monthly spend limit per user (None: off)."""
        data = calling_policies.PolicyInput(
            name="Monthly",
            enable_spend_limits=cents is not None,
            calling_spend_user_limit=None if cents is None else Decimal(cents) / 100,
        )
        if CallingPolicy.select().where(CallingPolicy.tenant == self.tenant.id).exists():
            calling_policies.update_calling_policy(
                self.tenant, SYSTEM, "Monthly", data, now=self.now
            )
        else:
            calling_policies.create_calling_policy(self.tenant, SYSTEM, data, now=self.now)
            calling_policy_grants.grant_calling_policy(
                self.tenant, SYSTEM, None, "Monthly", now=self.now
            )

    @rule(
        user=st.none() | st.sampled_from(USERS),
        policy=st.none() | st.sampled_from([p.name for p in dial_out.CATALOG]),
    )
    def dial_out_policy(self, user, policy):
        """Grant a dial-out policy to a user (None: the global grant); policy None removes."""
        refs = None if user is None else [f"{user[0]}@{self.domain}"]
        dial_out.grant_dial_out_policy(self.tenant, SYSTEM, refs, policy, now=self.now)

    @rule(user=st.sampled_from(USERS), blocked=st.booleans())
    def pstn_block(self, user, blocked):
        upn = f"{user[0]}@{self.domain}"
        if blocked:
            pstn_blocks.block_user(self.tenant, SYSTEM, upn, "fraud check", now=self.now)
        else:
            pstn_blocks.unblock_user(self.tenant, SYSTEM, upn, None, now=self.now)

    @rule(user=st.sampled_from(USERS), change=st.sampled_from(sorted(LICENSE_CHANGES)))
    def change_licenses(self, user, change):
        add, remove = LICENSE_CHANGES[change]
        request = LicenseRequest(f"{user[0]}@{self.domain}", add, remove)
        licenses.assign_licenses(self.tenant, SYSTEM, [request], now=self.now)

    @rule(
        calls=st.lists(
            st.tuples(
                st.sampled_from(USERS),
                st.sampled_from(DESTINATIONS),
                st.sampled_from(CALL_TYPES),
                st.integers(min_value=0, max_value=4 * 3600),
            ),
            min_size=1,
            max_size=12,
        ),
        repeat=st.booleans(),
    )
    def record_calls(self, calls, repeat):
        items = [
            rating.CallInput(
                call_id=f"call-{next(self.calls)}",
                user=f"{u[0]}@{self.domain}",
                started_at=self.now - dt.timedelta(minutes=1),
                duration_seconds=seconds,
                destination=destination,
                call_type=call_type,
            )
            for u, destination, call_type, seconds in calls
        ]
        calls = self.gateway.calls
        users = {u.user_principal_name: u.id for u in self._users()}
        blocked = pstn_blocks.blocked_user_ids(self.tenant.id, users.values())
        policies = dial_out.effective_for_users(self.tenant.id, users.values())
        first = rating.record_calls(self.tenant, SYSTEM, items, now=self.now)
        for o in first:
            if o.call is None or o.duplicate or o.call.reason == "NO_CALLING_LICENSE":
                continue
            # Who may spend, before pools and credits: a blocked user's outgoing calls, and
            # the calls their dial-out policy forbids, are never rated (none is an emergency
            # number here).
            user_id = users[o.call.user_principal_name]
            outgoing = pstn_blocks.blocks(o.call.call_type)
            if outgoing and user_id in blocked:
                assert (o.call.status, o.call.reason) == ("BLOCKED", "USER_BLOCKED")
            elif o.call.destination_country and dial_out.restricted(
                policies[user_id].policy, o.call.call_type, domestic=o.call.domestic
            ):
                assert (o.call.status, o.call.reason) == ("BLOCKED", "DIAL_OUT_RESTRICTED")
        # Only a debit the balance could not pay asks `to_cover` for recharges: it is then
        # held (and rated once they are charged) or BLOCKED for INSUFFICIENT_BALANCE.
        self.short = any(
            o.held_for_recharge or (o.call and o.call.reason == "INSUFFICIENT_BALANCE")
            for o in first
        )
        if any(o.held_for_recharge for o in first):  # held: the pending recharge was charged
            assert self.gateway.calls > calls
        if repeat:  # a retry of the same call ids changes nothing
            before = self._ledger_state()
            again = rating.record_calls(self.tenant, SYSTEM, items, now=self.now)
            assert all(o.duplicate or o.errors for o in again)
            assert [o.call.charge_minor for o in again if o.call] == [
                o.call.charge_minor for o in first if o.call
            ]
            assert self._ledger_state() == before

    @rule(
        days=st.integers(min_value=0, max_value=400), hours=st.integers(min_value=0, max_value=23)
    )
    def advance(self, days, hours):
        self.now += dt.timedelta(days=days, hours=hours)

    @rule()
    def expire(self):
        credits.expire_credits(now=self.now, tenant=self.tenant)

    def _users(self) -> list[User]:
        return list(User.select().where(User.tenant == self.tenant.id))

    def _live_lots(self, at: dt.datetime) -> list[CreditLot]:
        """The tenant's lots that count at `at`, read straight from the table."""
        return [
            lot
            for lot in CreditLot.select().where(CreditLot.tenant == self.tenant.id)
            if lot.expires_at > at and lot.remaining_minor > 0
        ]

    @rule(
        later=st.sampled_from([0, 0, 1, 200, 366, 800]),
        days=st.integers(min_value=0, max_value=400),
        call=st.tuples(
            st.sampled_from(USERS), st.sampled_from(DESTINATIONS), st.sampled_from(CALL_TYPES)
        ),
    )
    def reads(self, later, days, call):
        """Every balance read, at the clock or `later` days on (lots past expiry, no expire
        run yet): SELECTs only, no transaction, no gateway, and the balance the lots give."""
        at = self.now + dt.timedelta(days=later)
        tenant, g = self.tenant, self.gateway
        balance = sum(lot.remaining_minor for lot in self._live_lots(at))
        with reading_only(g):
            current = credits.current_balance(tenant, now=at)
        with reading_only(g):
            many = credits.balances([tenant.id], now=at)
        with reading_only(g):
            spendable = credits.spendable_credit(tenant, now=at)
        with reading_only(g):
            listed = list(credits.lots_query(tenant, now=at))
        with reading_only(g):
            expiring, expiring_lots = credits.expiring_within(tenant, days, now=at)
        with reading_only(g):
            daily, lasts = credits.forecast(tenant, now=at)
        with reading_only(g):
            state = credits.credit_state(tenant, now=at)
        (user, _), destination, call_type = call
        with reading_only(g):
            allowed = authorize_call(
                tenant, SYSTEM, f"{user}@{self.domain}", destination, call_type, now=at
            )

        live = self._live_lots(at)
        assert sum(lot.remaining_minor for lot in live) == balance  # the read changed no lot
        assert current == Amount.from_minor(balance, tenant.currency), (current, balance)
        assert many == {tenant.id: balance}
        assert spendable.balance == current
        assert sorted(lot.id for lot in listed) == sorted(lot.id for lot in live)
        soon = [lot for lot in live if lot.expires_at <= at + dt.timedelta(days=days)]
        assert (expiring.minor, expiring_lots) == (sum(x.remaining_minor for x in soon), len(soon))
        assert allowed.credits_left in (None, current.amount), (allowed, current)
        assert state["limit"] is None and state["used"].minor == 0  # a prepaid (MOSA) tenant
        # What recharges could add: the pending ones and those today's cap still allows.
        pending = list(
            Invoice.select().where(
                (Invoice.tenant == tenant.id)
                & (Invoice.status == "PENDING")
                & (Invoice.reason == "AUTO_RECHARGE")
            )
        )
        settings_row = AutoRecharge.get_or_none(AutoRecharge.tenant == tenant.id)
        extra = recharge.spendable_extra(
            settings_row, recharge.Pending(len(pending), sum(i.amount_minor for i in pending)), at
        )
        assert spendable.spendable.minor == balance + extra, (spendable, balance, extra)
        spent = sum(
            e.postpaid_minor - e.amount_minor
            for e in LedgerEntry.select().where(
                (LedgerEntry.tenant == tenant.id) & LedgerEntry.kind.in_(["CONSUMED", "POSTPAID"])
            )
            if e.created_at > at - dt.timedelta(days=credits.FORECAST_DAYS)
        )
        assert lasts == (balance * credits.FORECAST_DAYS // spent if spent > 0 else None)
        assert daily.minor >= 0

    def _ledger_state(self):
        return (
            LedgerEntry.select().where(LedgerEntry.tenant == self.tenant.id).count(),
            [
                (lot.id, lot.remaining_minor)
                for lot in CreditLot.select()
                .where(CreditLot.tenant == self.tenant.id)
                .order_by(CreditLot.id)
            ],
        )

    @invariant()
    def balances_agree(self):
        audit = credits.audit_balances()
        rows = [r for r in audit if r.tenant_name == self.tenant.name]
        for r in rows:
            assert r.account == r.lots == r.ledger, r
            assert not r.invoice_gap and not r.postpaid_mismatch, r
        # The audit's own verdict, for every tenant the database holds (an example's sweep
        # settles earlier examples' invoices too); it includes "each PAID/ISSUED purchase or
        # recharge has exactly one lot, a PENDING/FAILED one none".
        assert all(r.ok for r in audit), [r for r in audit if not r.ok]
        numbers = [
            i.number
            for i in Invoice.select()
            .where(Invoice.tenant == self.tenant.id)
            .order_by(Invoice.number)
        ]
        assert numbers == list(range(1, len(numbers) + 1))
        for lot in CreditLot.select().where(CreditLot.tenant == self.tenant.id):
            assert 0 <= lot.remaining_minor <= lot.amount_minor

    @invariant()
    def money_flows_hold(self):
        """Payments, PENDING invoices and the cheap balance read, on one read of the tenant's
        invoices and lots (these run after every step: see the helpers)."""
        invoices = {i.id: i for i in Invoice.select().where(Invoice.tenant == self.tenant.id)}
        lots = list(CreditLot.select().where(CreditLot.tenant == self.tenant.id))
        self._payments_settle_once(invoices, lots)
        self._pending_only_as_the_code_allows(invoices)
        # The two balance reads (their own SQL each) now and a year on (every lot bought so
        # far past expiry, no expire run): SELECTs only, Σ remaining of the lots still live.
        for at in (self.now, self.now + dt.timedelta(days=366)):
            with reading_only(self.gateway):
                current = credits.current_balance(self.tenant, now=at)
            with reading_only(self.gateway):
                spendable = credits.spendable_credit(self.tenant, now=at)
            live = sum(lot.remaining_minor for lot in lots if lot.expires_at > at)
            assert current.minor == spendable.balance.minor == live, (at, current, spendable)

    def _payments_settle_once(self, invoices: dict[int, Invoice], lots: list[CreditLot]):
        """No invoice charged twice or asked again with other parameters; PAID/ISSUED charged
        once (an ok answer comes only from a real charge), FAILED never; a lot only for a
        PAID/ISSUED invoice (the audit, in `balances_agree`, checks one lot each)."""
        # This tenant's keys only (an earlier example's tenant may be swept here): a failure
        # then replays the same, whatever earlier examples left in the database.
        for i in invoices.values():
            if i.reason not in ("PURCHASE", "AUTO_RECHARGE"):
                continue
            assert i.payment_key and i.payment_key not in self.gateway.misused, i.number
            charged = self.gateway.charges.get(i.payment_key, 0)
            assert charged <= 1, f"invoice {i.number} charged {charged} times"
            if i.status in ("PAID", "ISSUED"):
                assert charged == 1, (i.number, i.status, charged)
            elif i.status == "FAILED":
                assert charged == 0 and not self.gateway.answers[i.payment_key][1].ok, i.number
            else:
                assert i.status == "PENDING", (i.number, i.status)
        for lot in lots:
            if lot.source in ("PURCHASE", "AUTO_RECHARGE"):
                assert lot.invoice_id in invoices, (lot.id, lot.source)
            if lot.invoice_id is not None:
                assert invoices[lot.invoice_id].status in ("PAID", "ISSUED"), lot.id

    def _pending_only_as_the_code_allows(self, invoices: dict[int, Invoice]):
        """PENDING invoices of the tenant, after each step:

        - an invoice is written PENDING by the operation that then charges it: with a gateway
          that answers, a step leaves no *new* PENDING invoice (only a lost answer or a crash
          may, charges.py); the sweep rule checks the stronger "none at all" after it ran;
        - recharges: `for_trigger` starts one only when none is pending; only `to_cover` (a
          debit the balance cannot pay) starts several, or more while some are pending, and
          never beyond the daily cap, which counts pending ones as spent (`room_today`). So a
          step with no debit short of balance grows the count at most from 0 to 1, and always
          pending + settled today ≤ max_per_day (3: `configure` here never changes it).
        """
        pending = {i.id: i.reason for i in invoices.values() if i.status == "PENDING"}
        if self.gateway.outcome in ANSWERING:
            new = {i: r for i, r in pending.items() if i not in self.pending}
            assert not new, f"left PENDING, never charged: {new}"
        before = sum(r == "AUTO_RECHARGE" for r in self.pending.values())
        n = sum(r == "AUTO_RECHARGE" for r in pending.values())
        if not self.short:
            assert n <= max(before, 1) and (n <= before or before == 0), (before, n)
        settings_row = AutoRecharge.get_or_none(AutoRecharge.tenant == self.tenant.id)
        if settings_row is None:
            assert n == 0
        else:
            done = recharge.settled_today(settings_row, self.now)
            assert n + done <= settings_row.max_per_day == 3, (n, done)
        self.pending, self.short = pending, False

    @invariant()
    def calls_cost_what_the_ledger_says(self):
        calls = list(CallRecord.select().where(CallRecord.tenant == self.tenant.id))
        charged = sum(c.charge_minor for c in calls if c.status == "RATED")
        consumed = -sum(
            e.amount_minor
            for e in LedgerEntry.select().where(
                (LedgerEntry.tenant == self.tenant.id) & (LedgerEntry.kind == "CONSUMED")
            )
        )
        assert charged == consumed
        assert all(
            c.charge_minor == 0 and c.pool_minutes == 0 for c in calls if c.status == "BLOCKED"
        )
        for c in calls:
            if c.status == "RATED":
                assert c.pool_minutes + c.charged_minutes == c.minutes

    @invariant()
    def spend_is_kept(self):
        # Each user's kept monthly spend is the sum of their counted calls' charges.
        assert spend_limits.spend_differences(self.tenant.id) == []

    @invariant()
    def kept_counts_hold(self):
        # Seats, license sets (pooled minutes) and the other kept counts: what the rows say.
        assert kept_count_differences() == []

    @invariant()
    def pools_and_seats_hold(self):
        for pool in MinutePool.select().where(MinutePool.tenant == self.tenant.id):
            assert 0 <= pool.used <= pool.granted, (pool.plan, pool.used, pool.granted)
        held = dict(  # licenses held per SKU, one query (this runs after every step)
            LicenseAssignment.select(LicenseAssignment.sku, peewee.fn.COUNT(LicenseAssignment.id))
            .where(LicenseAssignment.tenant == self.tenant.id)
            .group_by(LicenseAssignment.sku)
            .tuples()
        )
        for sub in Subscription.select().where(Subscription.tenant == self.tenant.id):
            assert sub.consumed_units == held.get(sub.sku_id, 0) <= sub.enabled_units, sub.sku_id


def test_ledger_invariant_under_calls_licenses_and_clock_jumps(db_url, backend):
    runs = {"sqlite": 20, "postgresql": 10}[backend["kind"]]
    Money.TestCase.settings = settings(
        max_examples=runs,
        stateful_step_count=25,
        deadline=None,
        derandomize=True,  # the same sequences every run: a red CI run is reproducible
        # No shrinking: the database outlives examples, so shrinking a failure takes minutes
        # (5 on SQLite). A red run prints its ≤25 steps; drop `phases` locally to shrink them.
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    Money.provider = ScriptedGateway()
    Money.TestCase().runTest()


def test_refusals_leave_no_trace(db_url, clock):
    """A call that needs credits the tenant lacks is BLOCKED and writes no ledger entry."""
    machine = Money()
    machine.tenant_with_users()
    machine.change_licenses(USERS[0], "domestic plan")
    machine.change_licenses(USERS[0], "credits license")
    before = machine._ledger_state()
    machine.record_calls([(USERS[0], "+33142345678", "INTERNATIONAL", 600)], repeat=True)
    call = CallRecord.get(CallRecord.tenant == machine.tenant.id)
    assert (call.status, call.reason) == ("BLOCKED", "INSUFFICIENT_BALANCE")
    assert machine._ledger_state() == before
    machine.balances_agree()
    machine.calls_cost_what_the_ledger_says()
    try:
        credits.purchase_credits(
            machine.tenant, SYSTEM, Decimal("-1"), idempotency_key="neg", now=machine.now
        )
    except DomainError as error:
        assert error.code == "INVALID_AMOUNT"
    assert machine._ledger_state() == before
    machine.teardown()


def _steps(*steps: tuple[str, dict]) -> None:
    """Run machine steps by hand, every invariant after each (as hypothesis does)."""
    machine = Money()
    checks = [
        name for name, f in vars(Money).items() if hasattr(f, "hypothesis_stateful_invariant")
    ]
    try:
        for name, kwargs in steps:
            getattr(machine, name)(**kwargs)
            for check in checks:
                getattr(machine, check)()
    finally:
        machine.teardown()


def test_a_recharge_started_by_expiry_in_a_purchase_is_charged(db_url):
    """Found by the machine: a purchase past a lot's expiry expires it first (step (a)), which
    starts a recharge below the trigger; it must be charged too, not left PENDING."""
    _steps(
        ("tenant_with_users", {"auto": (100, 108)}),  # recharged 1.00 at once (0 < 1.08)
        ("advance", {"days": 399, "hours": 0}),
        ("purchase", {"cents": 1}),
    )


def test_a_sweep_that_got_answers_leaves_nothing_pending(db_url):
    """Found by the machine: the sweep settling a purchase past a lot's expiry expires it
    first; the recharge that starts must not be left PENDING by the sweep itself."""
    _steps(
        ("tenant_with_users", {"auto": (100, 108)}),
        ("gateway_answers", {"outcome": "unavailable"}),
        ("purchase", {"cents": 1}),
        ("advance", {"days": 399, "hours": 0}),
        ("sweep", {"outcome": "succeed"}),
    )
