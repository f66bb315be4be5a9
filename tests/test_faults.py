"""A worker killed (SIGKILL) in the middle of a money batch: all of it or none of it happened,
and a retry with the same idempotency keys (call ids, purchase keys) completes it exactly once.

PostgreSQL only: that is where several workers write at once. The test makes "the middle"
certain instead of hoping to hit it: it holds a table lock the batch needs for its *last*
writes, waits until the worker is blocked there (its earlier writes done, uncommitted), then
kills every worker process.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import threading
import time
from decimal import Decimal
from urllib.parse import urlparse

import httpx
import psycopg2
import pytest

from commcredits.models import CallRecord, CreditLot, DebitSplit, LedgerEntry
from commcredits.services import credits
from commcredits.services.access import SYSTEM
from tests.helpers import add_users, buy
from tests.live_server import children, live_server

RECORD = """mutation($items: [CallRecordInput!]!) { recordCalls(items: $items) {
  results { status reason duplicate } summary { __typename } userErrors { code } } }"""
PURCHASE = """mutation($key: String!) { purchaseCredits(amount: "25.00", idempotencyKey: $key) {
  invoice { number } lot { id } userErrors { code } } }"""


def _connect(db_url: str):
    p = urlparse(db_url)
    con = psycopg2.connect(
        dbname=p.path.lstrip("/"),
        user=p.username,
        password=p.password,
        host=p.hostname,
        port=p.port or 5432,
    )
    con.autocommit = False
    return con


def _money_state() -> tuple:
    lots = [(lot.id, lot.remaining_minor) for lot in CreditLot.select().order_by(CreditLot.id)]
    return (
        lots,
        LedgerEntry.select().count(),
        DebitSplit.select().count(),
        CallRecord.select().count(),
    )


def _kill_while_blocked(server, db_url: str, table: str, send) -> dict:
    """Run `send` in a thread while `table` is locked against writes; once the worker waits on
    that lock, SIGKILL every worker. Returns what `send` got (an error, normally)."""
    blocker = _connect(db_url)
    cur = blocker.cursor()
    cur.execute(f'LOCK TABLE "{table}" IN SHARE MODE')  # reads pass, inserts/updates wait
    outcome: dict = {}

    def run():
        try:
            outcome["response"] = send()
        except httpx.HTTPError as error:
            outcome["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    try:
        watching = _connect(db_url)
        watching.autocommit = True  # pg_stat_activity is a snapshot per transaction
        watcher = watching.cursor()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query ILIKE %s",
                (f"%{table}%",),
            )
            if watcher.fetchone()[0]:
                break
            time.sleep(0.01)
        else:
            pytest.fail(f"the batch never reached its write to {table}")
        workers = children(server.process.pid)
        assert workers
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
    finally:
        blocker.rollback()
        blocker.close()
        thread.join(timeout=30)
    return outcome


def _wait_for_workers(server, n: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if len(children(server.process.pid)) >= n:
            try:
                if httpx.get(server.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
        time.sleep(0.1)
    pytest.fail("the supervisor did not bring workers back")


@pytest.mark.backends("postgresql")
def test_killed_worker_mid_batch_leaves_all_or_nothing_and_retry_completes_once(
    db_url, tenant, keys, tmp_path
):
    now = dt.datetime.now(dt.UTC)
    buy(tenant, now, MCOEV=50, MCOPSTN1=50, MCOPSTNC=50)
    add_users(tenant, now, [(f"caller{i}", "DE") for i in range(50)])
    from commcredits.services import licenses
    from commcredits.services.licenses import AddLicense, LicenseRequest

    plan = (AddLicense("MCOEV"), AddLicense("MCOPSTN1"), AddLicense("MCOPSTNC"))
    licenses.assign_licenses(
        tenant,
        SYSTEM,
        [LicenseRequest(f"caller{i}@fabrikam.example", plan) for i in range(50)],
        now=now,
    )
    credits.purchase_credits(tenant, SYSTEM, Decimal("5000.00"), idempotency_key="seed", now=now)
    start = (now - dt.timedelta(minutes=10)).isoformat()
    items = [  # international calls: every minute is charged to credits, across lots
        {
            "callId": f"kill-{i}",
            "userPrincipalName": f"caller{i % 50}@fabrikam.example",
            "startedAt": start,
            "durationSeconds": 600,
            "destination": f"+3314234{i:04d}",
            "callType": "INTERNATIONAL",
        }
        for i in range(1000)
    ]
    headers = {"Authorization": f"Bearer {keys['GLOBAL_ADMIN']}"}

    with live_server(db_url, tmp_path, workers=2) as server:
        _wait_for_workers(server, 2)
        before = _money_state()
        http = httpx.Client(base_url=server.url, headers=headers, timeout=60)

        # 1. recordCalls killed after its ledger writes, before its call records.
        outcome = _kill_while_blocked(
            server,
            db_url,
            "call_record",
            lambda: http.post("/graphql", json={"query": RECORD, "variables": {"items": items}}),
        )
        assert "error" in outcome, outcome  # the client saw the connection die
        assert _money_state() == before  # none of it happened
        assert not credits.audit_balances()[0].invoice_gap

        _wait_for_workers(server, 2)
        done = http.post("/graphql", json={"query": RECORD, "variables": {"items": items}}).json()
        results = done["data"]["recordCalls"]["results"]
        assert [r["status"] for r in results] == ["RATED"] * 1000, results[:2]
        assert not any(r["duplicate"] for r in results)
        after_once = _money_state()
        assert CallRecord.select().count() == 1000
        again = http.post("/graphql", json={"query": RECORD, "variables": {"items": items}}).json()
        assert all(r["duplicate"] for r in again["data"]["recordCalls"]["results"])
        assert _money_state() == after_once  # the retry of a completed batch changes nothing
        spent = sum(c.charge_minor for c in CallRecord.select())
        assert spent > 0
        new_lots = CreditLot.select().where(CreditLot.id.not_in([i for i, _ in before[0]]))
        recharged = sum(lot.amount_minor for lot in new_lots)  # auto-recharge, if it fired
        remaining = sum(r for _, r in after_once[0])
        assert remaining == sum(r for _, r in before[0]) + recharged - spent  # charged once

        # 2. purchaseCredits killed mid-transaction; the retry with the same key buys once.
        before = _money_state()
        outcome = _kill_while_blocked(
            server,
            db_url,
            "ledger_entry",
            lambda: http.post("/graphql", json={"query": PURCHASE, "variables": {"key": "k-1"}}),
        )
        assert "error" in outcome, outcome
        assert _money_state() == before
        _wait_for_workers(server, 2)
        first = http.post("/graphql", json={"query": PURCHASE, "variables": {"key": "k-1"}}).json()
        second = http.post("/graphql", json={"query": PURCHASE, "variables": {"key": "k-1"}}).json()
        assert first["data"]["purchaseCredits"]["userErrors"] == []
        assert second["data"]["purchaseCredits"] == first["data"]["purchaseCredits"]
        assert len(_money_state()[0]) == len(before[0]) + 1  # exactly one new lot
        http.close()

    rows = credits.audit_balances()
    assert all(r.account == r.lots == r.ledger and not r.invoice_gap for r in rows), rows
