"""authorizeCall under rating load: p50/p99 beside a plain read, measured in the same run.

A real server on PostgreSQL with N workers (`commcredits serve`, as `load.py` starts it, on a
throwaway database it seeds the same way: 2,000 users, 1,000 of them with Teams Phone, a
calling plan and Communication Credits). For `--duration` seconds, `--record-clients` threads
send `recordCalls` batches of `--batch` international calls (fresh call ids: every call is
rated and paid from credits, the calling plan's pool does not cover it) to the one tenant,
while `--read-clients` threads alternate `authorizeCall` and the plain read
`query { tenant { balance { amount } } }`. The tenant starts with 1,000 EUR of credits and
auto-recharge on (1,000 EUR when below 800, the batches spend roughly 100 EUR a second), so the
batches keep rating and a recharge is charged every few seconds. Before that, `--idle` seconds
of the same reads without the batches, for reference.

Prints count, p50 and p99 of each operation, the ratios authorizeCall / plain read at p50 and
p99 (target: within 2x), recordCalls batches/s and calls rated, every error; then stops the
server and runs `commcredits audit`, which must find no difference (exit status 1 if it does,
or on any error). Loopback only, bounded in time, drops its database at the end.

PostgreSQL only, on purpose: on SQLite every writer holds the one database-wide write lock,
and the question here is whether a read queues behind a tenant's money writes with several
workers, which is the PostgreSQL deployment.

    .venv/bin/python bench/bench_authorize.py [--duration 25] [--workers 4]
        [--record-clients 2] [--read-clients 1] [--batch 500]
        [--database-url postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from load import CALLERS, create_database, pct, seed, start_server  # noqa: E402

from commcredits import db as database  # noqa: E402

RECORD_CALLS = """mutation($items: [CallRecordInput!]!) {
  recordCalls(items: $items) {
    summary { total rated blocked duplicates failed } userErrors { code message } } }"""
AUTHORIZE = """query($user: ID!, $to: String!) {
  authorizeCall(userId: $user, destination: $to, callType: INTERNATIONAL) {
    allowed reason maxMinutesAffordable creditsRemaining { amount } } }"""
PLAIN_READ = "query { tenant { balance { remaining { amount } } } }"
PURCHASE = """mutation($amount: Decimal!, $key: String!) {
  purchaseCredits(amount: $amount, idempotencyKey: $key) {
    invoice { number } userErrors { code message } } }"""
AUTO_RECHARGE = """mutation { configureAutoRecharge(enabled: true, rechargeAmount: "1000.00",
  triggerBalance: "800.00", maxRechargesPerDay: 100) { userErrors { code message } } }"""
ABROAD = ("+33142", "+44207", "+34915", "+39065", "+14155550")  # from DE: INTERNATIONAL


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = {}
        self.errors: dict[str, list[str]] = {}
        self.outcomes: dict[str, int] = {}

    def add(self, op: str, seconds: float, error: str | None = None) -> None:
        with self.lock:
            self.latency.setdefault(op, []).append(seconds)
            if error is not None:
                self.errors.setdefault(op, []).append(error)

    def count(self, **outcomes: int) -> None:
        with self.lock:
            for name, n in outcomes.items():
                self.outcomes[name] = self.outcomes.get(name, 0) + n


def post(http: httpx.Client, query: str, variables: dict) -> tuple[dict | None, str | None]:
    """(the operation's payload, an error text or None)."""
    try:
        response = http.post("/graphql", json={"query": query, "variables": variables})
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        return None, f"{type(exc).__name__}: {exc}"
    if response.status_code != 200 or body.get("errors"):
        return None, f"HTTP {response.status_code}: {str(body.get('errors'))[:300]}"
    return next(iter((body.get("data") or {}).values()), None), None


def record_loop(base: str, key: str, deadline: float, n: int, batch: int, stats: Stats) -> None:
    rng = random.Random(n)
    counter = itertools.count()
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=120) as h:
        while time.monotonic() < deadline:
            start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
            items = [
                {
                    "callId": f"a{n}-{next(counter)}-{uuid.uuid4().hex[:8]}",
                    "userPrincipalName": f"u{rng.randrange(CALLERS):05d}@load.example",
                    "startedAt": start.isoformat(),
                    "durationSeconds": rng.randrange(30, 600),
                    "destination": rng.choice(ABROAD) + f"{rng.randrange(10**5, 10**6)}",
                    "callType": "INTERNATIONAL",
                }
                for _ in range(batch)
            ]
            started = time.perf_counter()
            payload, error = post(h, RECORD_CALLS, {"items": items})
            if error is None and payload and payload.get("userErrors"):
                error = f"userErrors: {payload['userErrors'][:3]}"
            stats.add("recordCalls", time.perf_counter() - started, error)
            if error is None:
                summary = payload["summary"]
                stats.count(**{k: summary[k] for k in ("rated", "blocked", "duplicates", "failed")})


def read_loop(base: str, key: str, deadline: float, n: int, stats: Stats) -> None:
    rng = random.Random(1000 + n)
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60) as h:
        turn = n % 2
        while time.monotonic() < deadline:
            turn ^= 1
            if turn:
                op, query = "authorizeCall", AUTHORIZE
                variables = {
                    "user": f"u{rng.randrange(CALLERS):05d}@load.example",
                    "to": rng.choice(ABROAD) + f"{rng.randrange(10**5, 10**6)}",
                }
            else:
                op, query, variables = "plain read", PLAIN_READ, {}
            started = time.perf_counter()
            payload, error = post(h, query, variables)
            stats.add(op, time.perf_counter() - started, error)
            if op == "authorizeCall" and error is None:
                stats.count(
                    **{"allowed" if payload["allowed"] else f"denied {payload['reason']}": 1}
                )


def run_phase(base: str, key: str, seconds: float, args: argparse.Namespace, rating: bool) -> tuple:
    stats = Stats()
    deadline = time.monotonic() + seconds
    threads = [
        threading.Thread(target=read_loop, args=(base, key, deadline, i, stats))
        for i in range(args.read_clients)
    ]
    if rating:
        threads += [
            threading.Thread(target=record_loop, args=(base, key, deadline, i, args.batch, stats))
            for i in range(args.record_clients)
        ]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 150)
    return stats, time.monotonic() - started


def report(title: str, stats: Stats, elapsed: float) -> None:
    print(f"{title} ({elapsed:.1f} s)")
    print(f"  {'operation':<14}{'count':>7}{'per s':>8}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for op in ("authorizeCall", "plain read", "recordCalls"):
        values = stats.latency.get(op)
        if not values:
            continue
        print(
            f"  {op:<14}{len(values):>7}{len(values) / elapsed:>8.2f}{pct(values, 50) * 1000:>9.1f}"
            f"{pct(values, 99) * 1000:>9.1f}{len(stats.errors.get(op, [])):>8}"
        )
    auth, read = stats.latency.get("authorizeCall"), stats.latency.get("plain read")
    if auth and read:
        print(
            f"  authorizeCall / plain read: p50 {pct(auth, 50) / pct(read, 50):.2f}, "
            f"p99 {pct(auth, 99) / pct(read, 99):.2f} (target: within 2x)"
        )
    if stats.outcomes:
        print("  outcomes: " + ", ".join(f"{k} {v:,}" for k, v in sorted(stats.outcomes.items())))
    for op, errors in stats.errors.items():
        for error in errors[:3]:
            print(f"  error, {op}: {error}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=25, help="seconds under load")
    parser.add_argument("--idle", type=float, default=5, help="seconds of reads alone first")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--record-clients", type=int, default=2)
    parser.add_argument("--read-clients", type=int, default=1)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "COMMCREDITS_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
        help="a PostgreSQL server: the script creates its own database there and drops it",
    )
    args = parser.parse_args()
    duration = min(max(args.duration, 1), 300)  # bounded, whatever is asked
    idle = min(max(args.idle, 0), 60)
    url, admin, name = create_database(args.database_url)
    server = None
    try:
        setup_started = time.monotonic()
        key = seed(url)
        server, base = start_server(url, args.workers, "authorize")
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as http:
            for query, variables in (
                (PURCHASE, {"amount": "1000.00", "key": "seed"}),
                (AUTO_RECHARGE, {}),
            ):
                payload, error = post(http, query, variables)
                if error or payload.get("userErrors"):
                    raise SystemExit(f"setup failed: {error or payload['userErrors']}")
        # Warm every worker up (first requests build the schema, fill caches), unmeasured.
        run_phase(base, key, 3, argparse.Namespace(**{**vars(args), "read_clients": 4}), True)
        print(
            f"authorizeCall bench: PostgreSQL, {args.workers} workers, {args.record_clients} "
            f"recordCalls clients ({args.batch} calls per batch), {args.read_clients} read "
            f"client(s) alternating authorizeCall and the plain read; setup "
            f"{time.monotonic() - setup_started:.0f} s"
        )
        if idle:
            report("reads alone", *run_phase(base, key, idle, args, False))
        stats, elapsed = run_phase(base, key, duration, args, True)
        report("under rating load", stats, elapsed)
        batches = len(stats.latency.get("recordCalls", []))
        print(
            f"  recordCalls: {batches / elapsed:.2f} batches/s, "
            f"{batches * args.batch / elapsed:,.0f} calls/s"
        )
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
        server = None
        audit = subprocess.run(
            [sys.executable, "-m", "commcredits.cli", "audit"],
            env=dict(os.environ, COMMCREDITS_DATABASE_URL=url),
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=300,
        )
        database.bind(url)
        with database.db.connection_context():
            invoices = database.db.execute_sql(
                "SELECT reason, status, COUNT(*) FROM invoice GROUP BY reason, status ORDER BY 1, 2"
            ).fetchall()
        database.close()
        print("invoices: " + ", ".join(f"{r} {s} {n}" for r, s, n in invoices))
        print(f"commcredits audit (exit {audit.returncode}):")
        print(audit.stdout.rstrip() + audit.stderr.rstrip())
        return 0 if audit.returncode == 0 and not stats.errors else 1
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)
        database.close()
        admin.execute_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


if __name__ == "__main__":
    sys.exit(main())
