"""Load test: a real server on PostgreSQL with N workers, M concurrent clients for T seconds.

Mixes recordCalls, purchaseCredits, assignLicenses and reads against one tenant with
auto-recharge on; prints requests/s, p50/p99 latency per operation and the error count; then
stops the server and checks the money: `commcredits audit` must find no difference and the
invoice numbers must have no gaps. Loopback only, bounded in time, cleans up its database.

    .venv/bin/python bench/load.py [--duration 60] [--clients 16] [--workers 4]
        [--database-url postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import httpx
import peewee

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from commcredits import db as database  # noqa: E402
from commcredits.db import insert_rows  # noqa: E402
from commcredits.migrate import migrate  # noqa: E402
from commcredits.models import User  # noqa: E402
from commcredits.services import licenses, seats  # noqa: E402
from commcredits.services.access import SYSTEM, Role, create_api_key  # noqa: E402
from commcredits.services.licenses import AddLicense, LicenseRequest  # noqa: E402
from commcredits.services.tenants import create_tenant  # noqa: E402

USERS = 2_000
CALLERS = 1_000  # users with Teams Phone + a calling plan + the credits license
TOGGLED = 200  # users whose Audio Conferencing the clients add and remove

RECORD_CALLS = """mutation($items: [CallRecordInput!]!) {
  recordCalls(items: $items) { summary { __typename } userErrors { code } } }"""
PURCHASE = """mutation($amount: Decimal!, $key: String!) {
  purchaseCredits(amount: $amount, idempotencyKey: $key) {
    invoice { number } userErrors { code } } }"""
ASSIGN = """mutation($items: [AssignLicenseItemInput!]!) {
  assignLicenses(items: $items) { summary { applied unchanged failed } userErrors { code } } }"""
READ = """query { tenant { name } users(first: 50, filter: {hasLicense: "MCOPSTNC"}) {
  edges { node { userPrincipalName assignedLicenses { skuPartNumber } } } } }"""
AUTO_RECHARGE = """mutation { configureAutoRecharge(enabled: true, rechargeAmount: "500.00",
  triggerBalance: "200.00", maxRechargesPerDay: 100) { userErrors { code message } } }"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def create_database(url: str) -> tuple[str, peewee.PostgresqlDatabase, str]:
    """A new database on the PostgreSQL server `url` names (the bench scripts share it):
    its URL, an admin connection to drop it with, and its name."""
    parsed = urlparse(url)
    if parsed.scheme not in ("postgres", "postgresql"):
        raise SystemExit("the load test runs on PostgreSQL: pass --database-url postgresql://…")
    admin = peewee.PostgresqlDatabase(
        parsed.path.lstrip("/") or "postgres",
        user=parsed.username,
        password=parsed.password,
        host=parsed.hostname,
        port=parsed.port or 5432,
    )
    name = f"commcredits_load_{os.getpid()}"
    admin.execute_sql(f'CREATE DATABASE "{name}"')
    return urlunparse(parsed._replace(path="/" + name)), admin, name


def seed(url: str) -> str:
    """A tenant with users, seats, licenses; returns a GLOBAL_ADMIN key."""
    database.bind(url)
    migrate()
    now = dt.datetime.now(dt.UTC)
    with database.db.connection_context():
        tenant = create_tenant(
            SYSTEM, name="Load", country="DE", currency="EUR", agreement_type="MOSA", now=now
        )
        for sku, n in (
            ("MCOEV", CALLERS),
            ("MCOPSTN1", CALLERS),
            ("MCOPSTNC", USERS),
            ("MCOMEETADV", TOGGLED),
        ):
            seats.purchase_seats(tenant, SYSTEM, sku, n, now=now)
        rows = [
            {
                "tenant": tenant.id,
                "user_principal_name": f"u{i:05d}@load.example",
                "upn_key": f"u{i:05d}@load.example",
                "display_name": f"User {i}",
                "usage_location": "DE",
                "created_at": now,
                "updated_at": now,
            }
            for i in range(USERS)
        ]
        with database.db.atomic():
            insert_rows(User, rows)
        plan = (AddLicense("MCOEV"), AddLicense("MCOPSTN1"), AddLicense("MCOPSTNC"))
        for start in range(0, CALLERS, 1000):
            requests = [
                LicenseRequest(f"u{i:05d}@load.example", plan)
                for i in range(start, min(CALLERS, start + 1000))
            ]
            licenses.assign_licenses(tenant, SYSTEM, requests, now=now)
        _, key = create_api_key(SYSTEM, role=Role.GLOBAL_ADMIN, tenant=tenant, now=now)
        # Planner statistics for the bulk-loaded tables, as autovacuum would gather them soon:
        # without them PostgreSQL picks nested loops that cost 100x on these sizes.
        database.db.execute_sql("ANALYZE")
    database.close()
    return key


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = {}
        self.errors: dict[str, int] = {}
        self.domain: dict[str, int] = {}

    def add(self, op: str, seconds: float, error: bool, refused: bool) -> None:
        with self.lock:
            self.latency.setdefault(op, []).append(seconds)
            if error:
                self.errors[op] = self.errors.get(op, 0) + 1
            if refused:
                self.domain[op] = self.domain.get(op, 0) + 1


def client_loop(base: str, key: str, deadline: float, seed_: int, stats: Stats) -> None:
    rng = random.Random(seed_)
    counter = itertools.count()
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
        while time.monotonic() < deadline:
            pick = rng.random()
            if pick < 0.40:
                op, query, variables = "read", READ, {}
            elif pick < 0.70:
                start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
                items = [
                    {
                        "callId": f"c{seed_}-{next(counter)}-{uuid.uuid4().hex[:8]}",
                        "userPrincipalName": f"u{rng.randrange(CALLERS):05d}@load.example",
                        "startedAt": start.isoformat(),
                        "durationSeconds": rng.randrange(30, 1800),
                        "destination": rng.choice(["+4930", "+4989", "+33142", "+14155550"])
                        + f"{rng.randrange(10**6, 10**7)}",
                        "callType": "DOMESTIC",
                    }
                    for _ in range(50)
                ]
                for item in items:  # destinations abroad are international calls
                    if not item["destination"].startswith("+49"):
                        item["callType"] = "INTERNATIONAL"
                op, query, variables = "recordCalls", RECORD_CALLS, {"items": items}
            elif pick < 0.85:
                base_user = CALLERS + rng.randrange(0, TOGGLED - 20)
                action = "addLicenses" if rng.random() < 0.5 else "removeLicenses"
                value = [{"skuId": "MCOMEETADV"}] if action == "addLicenses" else ["MCOMEETADV"]
                items = [
                    {"userId": f"u{base_user + i:05d}@load.example", action: value}
                    for i in range(20)
                ]
                op, query, variables = "assignLicenses", ASSIGN, {"items": items}
            else:
                key_ = f"load-{seed_}-{next(counter)}"
                op, query, variables = "purchaseCredits", PURCHASE, {"amount": "50.00", "key": key_}
            started = time.perf_counter()
            error = refused = False
            try:
                response = http.post("/graphql", json={"query": query, "variables": variables})
                body = response.json()
                error = response.status_code != 200 or bool(body.get("errors"))
                payload = next(iter((body.get("data") or {}).values()), None)
                refused = isinstance(payload, dict) and bool(payload.get("userErrors"))
            except (httpx.HTTPError, ValueError):
                error = True
            stats.add(op, time.perf_counter() - started, error, refused)


def pct(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "COMMCREDITS_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    duration = min(max(args.duration, 1), 600)  # bounded, whatever is asked
    url, admin, name = create_database(args.database_url)
    server = None
    try:
        key = seed(url)
        server, base = start_server(url, args.workers, "load")
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as http:
            setup = http.post(
                "/graphql",
                json={"query": PURCHASE, "variables": {"amount": "1000.00", "key": "seed"}},
            ).json()
            assert not setup.get("errors"), setup
            recharge = http.post("/graphql", json={"query": AUTO_RECHARGE}).json()
            assert not recharge.get("errors"), recharge
            assert not recharge["data"]["configureAutoRecharge"]["userErrors"], recharge
        stats = Stats()
        deadline = time.monotonic() + duration
        threads = [
            threading.Thread(target=client_loop, args=(base, key, deadline, i, stats))
            for i in range(args.clients)
        ]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=duration + 120)
        elapsed = time.monotonic() - started
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
        server = None

        total = sum(len(v) for v in stats.latency.values())
        every = [x for v in stats.latency.values() for x in v]
        print(f"load: {args.clients} clients, {args.workers} workers, PostgreSQL, {elapsed:.0f} s")
        print(
            f"{'operation':<16}{'requests':>9}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}"
            f"{'errors':>8}{'refused':>9}"
        )
        for op in sorted(stats.latency):
            values = stats.latency[op]
            print(
                f"{op:<16}{len(values):>9}{len(values) / elapsed:>8.1f}"
                f"{pct(values, 50) * 1000:>9.1f}{pct(values, 99) * 1000:>9.1f}"
                f"{stats.errors.get(op, 0):>8}{stats.domain.get(op, 0):>9}"
            )
        print(
            f"{'all':<16}{total:>9}{total / elapsed:>8.1f}{pct(every, 50) * 1000:>9.1f}"
            f"{pct(every, 99) * 1000:>9.1f}{sum(stats.errors.values()):>8}"
            f"{sum(stats.domain.values()):>9}"
        )
        audit = subprocess.run(
            [sys.executable, "-m", "commcredits.cli", "audit"],
            env=dict(os.environ, COMMCREDITS_DATABASE_URL=url),
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=300,
        )
        print(f"commcredits audit (exit {audit.returncode}):")
        print(audit.stdout.rstrip())
        database.bind(url)
        with database.db.connection_context():
            numbers = [
                r[0]
                for r in database.db.execute_sql(
                    "SELECT number FROM invoice ORDER BY tenant_id, number"
                ).fetchall()
            ]
        database.close()
        gapless = numbers == list(range(1, len(numbers) + 1))
        print(f"invoices: {len(numbers)}, numbers 1..{len(numbers)} without gaps: {gapless}")
        return 0 if audit.returncode == 0 and gapless and not stats.errors else 1
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)
        database.close()
        admin.execute_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def start_server(url: str, workers: int, label: str) -> tuple[subprocess.Popen, str]:
    """`commcredits serve` on a free loopback port, in its own process group; returns the
    process and its base URL once /readyz answers (the bench scripts share it)."""
    port = free_port()
    env = dict(os.environ, COMMCREDITS_DATABASE_URL=url, COMMCREDITS_LOG_LEVEL="WARNING")
    log = Path(tempfile.gettempdir()) / f"{label}-server-{os.getpid()}.log"
    with log.open("w") as log_file:  # the server's output, for when it does not come up
        server = subprocess.Popen(
            [sys.executable, "-m", "commcredits.cli", "serve", "--port", str(port)]
            + ["--workers", str(workers)],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=ROOT,
        )
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                return server, base
        except httpx.TransportError:
            time.sleep(0.1)
    os.killpg(server.pid, signal.SIGKILL)
    server.wait(timeout=30)
    raise SystemExit(f"server did not come up; see {log}")


if __name__ == "__main__":
    sys.exit(main())
