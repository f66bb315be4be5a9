"""Seats are never sold twice: 8 threads, each on its own connection, race to license 200
users against 50 seats — on PostgreSQL (the tenant's row locked) and on a SQLite file
(BEGIN IMMEDIATE). Exactly 50 licenses land, the other 150 requests get CountViolation, and
the subscription's counter equals the rows."""

from __future__ import annotations

import threading

import pytest

from commcredits import db as database
from commcredits.models import LicenseAssignment, Subscription
from commcredits.services import licenses
from commcredits.services.access import SYSTEM
from commcredits.services.licenses import AddLicense, LicenseRequest
from tests.helpers import add_users, buy

THREADS = 8
PER_THREAD = 25
SEATS = 50


def test_parallel_batches_never_oversell_seats(tenant, clock, db_url):
    now = clock()
    buy(tenant, now, MCOMEETADV=SEATS)
    add_users(tenant, now, [(f"u{i:03d}", "DE") for i in range(THREADS * PER_THREAD)])
    database.close()  # every worker opens its own connection from the pool
    outcomes: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(THREADS)

    def worker(n: int) -> None:
        try:
            with database.db.connection_context():
                barrier.wait()
                for i in range(PER_THREAD):  # one small batch after another, interleaving
                    upn = f"u{n * PER_THREAD + i:03d}@fabrikam.example"
                    request = LicenseRequest(upn, (AddLicense("MCOMEETADV"),))
                    out = licenses.assign_licenses(tenant, SYSTEM, [request], now=now)[0]
                    with lock:
                        outcomes.append(out.errors[0].code if out.errors else "APPLIED")
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with database.db.connection_context():
        assert outcomes.count("APPLIED") == SEATS
        assert outcomes.count("CountViolation") == THREADS * PER_THREAD - SEATS
        assert LicenseAssignment.select().count() == SEATS
        sub = Subscription.get(Subscription.tenant == tenant.id)
        assert (sub.consumed_units, sub.enabled_units) == (SEATS, SEATS)


@pytest.mark.backends("postgresql")
def test_license_work_does_not_wait_for_money_work(tenant, clock, db_url):
    """While a money transaction holds the tenant's lock, a license batch still completes;
    a second money writer waits for the first."""
    now = clock()
    buy(tenant, now, MCOMEETADV=5)
    add_users(tenant, now, [("ada", "DE")])
    database.close()
    holding = threading.Event()
    release = threading.Event()

    def money_writer() -> None:
        with database.db.connection_context(), database.tenant_lock(tenant.id):
            holding.set()
            release.wait(timeout=30)

    writer = threading.Thread(target=money_writer)
    writer.start()
    assert holding.wait(timeout=10)
    done: list = []

    def license_batch() -> None:
        with database.db.connection_context():
            request = LicenseRequest("ada@fabrikam.example", (AddLicense("MCOMEETADV"),))
            done.append(licenses.assign_licenses(tenant, SYSTEM, [request], now=now)[0])

    batch = threading.Thread(target=license_batch)
    batch.start()
    batch.join(timeout=10)
    finished_while_held = not batch.is_alive()

    waited: list[bool] = []

    def second_money_writer() -> None:
        with database.db.connection_context(), database.tenant_lock(tenant.id):
            waited.append(release.is_set())

    second = threading.Thread(target=second_money_writer)
    second.start()
    second.join(timeout=1)
    blocked = second.is_alive()
    release.set()
    for t in (writer, batch, second):
        t.join(timeout=30)
    assert finished_while_held, "the license batch waited for the money lock"
    assert done and done[0].applied
    assert blocked and waited == [True], "money writers of one tenant run one at a time"
