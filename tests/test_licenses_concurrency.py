"""Seats are never sold twice: 8 threads, each on its own connection, race to license 200
users against 50 seats — on PostgreSQL (the tenant's row locked) and on a SQLite file
(BEGIN IMMEDIATE). Exactly 50 licenses land, the other 150 requests get CountViolation, and
the subscription's counter equals the rows."""

from __future__ import annotations

import threading

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
