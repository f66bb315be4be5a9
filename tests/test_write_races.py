"""Writes that race on PostgreSQL (fuzz review findings): the same grant, or a tenant of the
same name, from many requests at once — each answered as data, none an internal error."""

from __future__ import annotations

import threading
from collections.abc import Callable

from commcredits import db as database
from commcredits.models import DialOutGrant, Tenant
from commcredits.services import dial_out, tenants
from commcredits.services.access import SYSTEM
from commcredits.services.errors import DomainError
from tests.helpers import add_users, upn

THREADS = 8


def _all_at_once(work: Callable[[int], object]) -> tuple[list[object], list[BaseException]]:
    database.close()  # every worker opens its own connection
    done: list[object] = []
    failed: list[BaseException] = []
    barrier = threading.Barrier(THREADS)

    def worker(n: int) -> None:
        try:
            with database.db.connection_context():
                barrier.wait()
                done.append(work(n))
        except DomainError as refused:
            done.append(refused.code)
        except BaseException as error:  # noqa: BLE001 - reported by the test
            failed.append(error)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done, failed


def test_the_same_dial_out_grant_at_once(tenant, clock):
    add_users(tenant, clock(), [("ada", "DE")])
    policy = "DialoutCPCDomesticPSTNInternational"

    def grant(_: int) -> object:
        for _ in range(10):  # each replaces the grant: delete, then insert
            dial_out.grant_dial_out_policy(tenant, SYSTEM, [upn("ada")], policy, now=clock())
        return "granted"

    done, failed = _all_at_once(grant)
    assert failed == [] and len(done) == THREADS
    with database.db.connection_context():
        assert DialOutGrant.select().count() == 1


def test_a_tenant_of_the_same_name_at_once(db_url, clock):
    def create(_: int) -> object:
        return tenants.create_tenant(
            SYSTEM, name="RaceX", country="DE", currency="EUR", agreement_type="MOSA", now=clock()
        )

    done, failed = _all_at_once(create)
    assert failed == []
    assert sum(1 for d in done if isinstance(d, Tenant)) == 1
    assert [d for d in done if not isinstance(d, Tenant)] == ["DUPLICATE_TENANT"] * (THREADS - 1)
