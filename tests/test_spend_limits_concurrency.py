"""A user reaching the spend limit mid-month under concurrent recordCalls (issue 17): threads on
their own connections rate calls of one user at once. Rating holds the tenant lock (PostgreSQL:
`SELECT … FOR NO KEY UPDATE`; SQLite: BEGIN IMMEDIATE), so the limit is passed by at most the
one call the rule allows, and the kept spend is exactly the sum of the calls' charges."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest

from commcredits import db as database
from commcredits.models import CallRecord, User, UserMonthSpend
from commcredits.services import calling_policies, calling_policy_grants, rating
from commcredits.services.access import SYSTEM
from commcredits.services.calling_policy_input import PolicyInput
from commcredits.services.calls import CallInput
from commcredits.services.spend_limits import SPEND_LIMIT_REACHED
from tests.spend_fixtures import US, make_office, upn

THREADS = 6
BATCHES = 4  # per thread
PER_BATCH = 3
MINUTES = 7  # 7 × 0.0180 = 0.13 (0.126, rounded half up) per call
CHARGE = 13
LIMIT = Decimal("1.00")


@pytest.fixture
def office(tenant, clock):
    return make_office(tenant, clock)


def test_concurrent_batches_pass_the_limit_by_at_most_one_call(office, clock):
    now = clock()
    calling_policies.create_calling_policy(
        office,
        SYSTEM,
        PolicyInput(name="Capped", enable_spend_limits=True, calling_spend_user_limit=LIMIT),
        now=now,
    )
    calling_policy_grants.grant_calling_policy(office, SYSTEM, [upn("ann")], "Capped", now=now)
    database.close()  # every worker opens its own connection from the pool
    errors: list[BaseException] = []
    barrier = threading.Barrier(THREADS)
    started = now - dt.timedelta(hours=1)

    def worker(n: int) -> None:
        try:
            with database.db.connection_context():
                barrier.wait()
                for b in range(BATCHES):
                    items = [
                        CallInput(
                            call_id=f"t{n}-{b}-{i}",
                            user=upn("ann"),
                            started_at=started,
                            duration_seconds=MINUTES * 60,
                            destination=US,
                            call_type="INTERNATIONAL",
                        )
                        for i in range(PER_BATCH)
                    ]
                    for out in rating.record_calls(office, SYSTEM, items, now=now):
                        assert out.errors == [] and out.call is not None
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []

    with database.db.connection_context():
        calls = list(CallRecord.select())
        assert len(calls) == THREADS * BATCHES * PER_BATCH
        rated = [c for c in calls if c.status == "RATED"]
        blocked = [c for c in calls if c.status == "BLOCKED"]
        assert {c.reason for c in blocked} == {SPEND_LIMIT_REACHED}
        assert {c.charge_minor for c in rated} == {CHARGE}
        spent = sum(c.charge_minor for c in rated)
        # Below the limit every call is rated; the one that reaches it is the last: 8 × 0.13.
        assert spent == 104
        assert 100 <= spent <= 100 + CHARGE
        ann = User.get(User.user_principal_name == upn("ann"))
        kept = UserMonthSpend.get(
            (UserMonthSpend.user == ann.id) & (UserMonthSpend.month == "2026-11")
        )
        assert kept.spent_minor == spent
        assert kept.notified_80 and kept.notified_100
