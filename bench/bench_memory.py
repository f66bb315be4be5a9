"""Memory of the listings and the usage export on a large tenant (issue 16, item 5: peak RSS
under 500 MiB).

Builds, in a temporary SQLite file, one tenant of `--users` users (default 1,000,000; every
profile column filled, half of them holding MCOPSTNC, a tenth MCOEV as well) and a month of
`--calls` call records (default as many as users, in no useful order), with bulk INSERTs.
Then runs each command in a new process, in-process against that file, and prints the child's
peak RSS (its own `ru_maxrss`, from `wait4`) and wall time:

    Get-Users -Path users.csv / users.xlsx, Get-LicenseReport -Path lic.xlsx,
    export-usage --out usage.csv / usage.xlsx / usage.parquet

    .venv/bin/python bench/bench_memory.py [--users 1000000] [--calls N] [--only Get-Users]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET_MIB = 500
CHUNK = 5_000
MONTH = "2026-11"
GIVEN = ("Jürgen", "Anna", "Mehmet", "Zoë", "Lars", "Élodie", "Ana", "Björn")
SURNAMES = ("Müller", "Schmidt", "Öztürk", "García", "Nguyen", "O'Brien", "Kowalski")
DEPARTMENTS = ("Sales", "Finance", "IT", "Support", "Legal", "Engineering")
LOCATIONS = ("DE", "AT", "CH", "FR", "US", "")


def _user(tenant_id: int, i: int, rng: random.Random, now: dt.datetime) -> dict[str, Any]:
    given, surname = rng.choice(GIVEN), rng.choice(SURNAMES)
    upn = f"user{i:07d}@bench.example"
    row = {
        "tenant": tenant_id,
        "user_principal_name": upn,
        "display_name": f"{given} {surname}",
        "given_name": given,
        "surname": surname,
        "job_title": "Engineer",
        "department": rng.choice(DEPARTMENTS),
        "office_location": f"Building {i % 40}",
        "mobile_phone": f"+49 170 {i:07d}",
        "business_phones": [f"+49 30 {i:07d}"],
        "other_mails": [f"u{i}@private.example"] if i % 7 == 0 else [],
        "street_address": "Hauptstraße 1",
        "city": "Berlin",
        "postal_code": "10115",
        "country": "Germany",
        "usage_location": rng.choice(LOCATIONS) or None,
        "created_at": now,
        "updated_at": now,
    }
    from commcredits.models import User

    # Columns another change adds to directory_user (a lower-case key, a search text) are
    # filled when the model has them, so the bench runs on either.
    fields = User._meta.fields
    if "upn_key" in fields:
        row["upn_key"] = upn.lower()
    if "search_text" in fields:
        from commcredits.services.user_search import search_text

        row["search_text"] = search_text(row)
    return row


def _call(tenant_id: int, i: int, users: int, rng: random.Random) -> dict[str, Any]:
    started = dt.datetime(2026, 11, 1) + dt.timedelta(seconds=rng.randrange(30 * 86_400))
    rated = rng.random() > 0.1
    seconds = rng.randrange(10, 3_600)
    return {
        "tenant": tenant_id,
        "call_id": f"call-{rng.getrandbits(64):016x}-{i}",
        "user_principal_name": f"user{rng.randrange(users):07d}@bench.example",
        "display_name": "Bench User",
        "usage_location": "DE",
        "started_at": started,
        "month": MONTH,
        "duration_seconds": seconds,
        "destination": f"+4930{rng.randrange(10**7):07d}",
        "destination_country": "DE",
        "call_type": "DOMESTIC",
        "domestic": True,
        "status": "RATED" if rated else "BLOCKED",
        "reason": None if rated else "NO_CALLING_LICENSE",
        "minutes": seconds // 60 + 1,
        "pool_minutes": seconds // 60 + 1 if rated else 0,
        "pool_plan": "MCOPSTN1" if rated else "",
        "charge_minor": 0,
        "currency": "EUR",
        "rated_at": started,
    }


def build(path: Path, users: int, calls: int) -> None:
    from commcredits import db
    from commcredits.clock import utcnow
    from commcredits.db import insert_rows
    from commcredits.migrate import migrate
    from commcredits.models import CallRecord, LicenseAssignment, Sku, Subscription, User
    from commcredits.services import seats, tenants
    from commcredits.services.access import SYSTEM

    db.bind(f"sqlite:///{path}")
    migrate()
    now = utcnow()
    rng = random.Random(16)
    with db.db.connection_context():
        tenant = tenants.create_tenant(
            SYSTEM, name="Bench", country="DE", currency="EUR", agreement_type="MOSA", now=now
        )
        for part in ("MCOPSTNC", "MCOEV"):
            seats.purchase_seats(tenant, SYSTEM, part, users, now=now)
        started = time.perf_counter()
        with db.db.atomic():
            for start in range(0, users, CHUNK):
                stop = min(users, start + CHUNK)
                insert_rows(User, [_user(tenant.id, i, rng, now) for i in range(start, stop)])
        ids = User.select(User.id).where(User.tenant == tenant.id).order_by(User.id).tuples()
        ids = [uid for (uid,) in ids]
        for part, every in (("MCOPSTNC", 2), ("MCOEV", 10)):
            sku = Sku.get(Sku.part_number == part)
            holders = ids[::every]
            with db.db.atomic():
                for start in range(0, len(holders), CHUNK):
                    rows = [
                        {"tenant": tenant.id, "user": uid, "sku": sku.id, "assigned_at": now}
                        for uid in holders[start : start + CHUNK]
                    ]
                    insert_rows(LicenseAssignment, rows)
                Subscription.update(consumed_units=len(holders)).where(
                    (Subscription.tenant == tenant.id) & (Subscription.sku == sku.id)
                ).execute()
        del ids
        print(f"{users:,} users built in {time.perf_counter() - started:.1f} s", flush=True)
        started = time.perf_counter()
        with db.db.atomic():
            for start in range(0, calls, CHUNK):
                stop = min(calls, start + CHUNK)
                insert_rows(
                    CallRecord, [_call(tenant.id, i, users, rng) for i in range(start, stop)]
                )
        print(f"{calls:,} calls of {MONTH} built in {time.perf_counter() - started:.1f} s")
        db.db.execute_sql("ANALYZE")
    db.close()


def measure(argv: list[str], database: Path, log: Path) -> tuple[int, float, float, str]:
    """Run `commcredits <argv>` in a new process: exit code, wall seconds, peak RSS in MiB
    (the child's own, from wait4), and the last line it printed."""
    env = {**os.environ, "COMMCREDITS_DATABASE_URL": f"sqlite:///{database}"}
    started = time.perf_counter()
    with log.open("w") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "commcredits.cli", *argv], env=env, stdout=out, stderr=out
        )
        _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    lines = log.read_text().strip().splitlines()
    return child.returncode, wall, usage.ru_maxrss / 1024, lines[-1] if lines else ""


RUNS = (
    ("Get-Users", "users.csv"),
    ("Get-Users", "users.xlsx"),
    ("Get-LicenseReport", "lic.xlsx"),
    ("export-usage", "usage.csv"),
    ("export-usage", "usage.xlsx"),
    ("export-usage", "usage.parquet"),
)


def command(name: str, out: Path) -> tuple[str, list[str]]:
    """The line printed for a run, and its arguments."""
    if name == "export-usage":
        argv = [name, "--tenant", "Bench", "--month", MONTH, "--out", str(out)]
        return f"{name} --out {out.name}", argv
    return f"{name} -Path {out.name}", [name, "-Path", str(out), "-Tenant", "Bench", "-NoProgress"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, help="call records in the month (default: --users)")
    parser.add_argument("--only", help="run only the commands whose line contains this text")
    parser.add_argument("--keep", type=Path, help="build in (or reuse) this directory")
    parser.add_argument("--build-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    calls = args.calls if args.calls is not None else args.users
    if args.build_only:
        build(args.build_only, args.users, calls)
        return 0
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = args.keep or Path(tmp_name)
        tmp.mkdir(parents=True, exist_ok=True)
        database = tmp / "bench.db"
        if not database.exists():
            # In a process of its own: a child's peak RSS starts from its parent's at the fork
            # (Linux carries it through exec), so this process stays small.
            build_argv = [*sys.argv, "--build-only", str(database)]
            subprocess.run([sys.executable, *build_argv], check=True)
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"this process: {own:.0f} MiB peak RSS (the floor of every child's figure)")
        missed = []
        print(f"{'command':<36} {'wall s':>8} {'peak RSS':>10}  rows / result")
        for name, file in RUNS:
            out = tmp / file
            label, argv = command(name, out)
            if args.only and args.only not in label:
                continue
            code, wall, mib, last = measure(argv, database, tmp / "child.log")
            ok = code == 0 and mib < TARGET_MIB
            if not ok:
                missed.append(label)
            rows = re.search(r"([0-9,]+) (users|call\(s\))", last)
            size = out.stat().st_size / 2**20 if out.exists() else 0
            print(
                f"{label:<36} {wall:8.1f} {mib:7.0f} MiB  "
                f"{rows.group(1) if rows else '?'} rows, {size:,.0f} MiB file, "
                f"{'exit 0' if code == 0 else f'exit {code}: {last}'}; "
                f"{'met' if ok else 'MISSED'} (< {TARGET_MIB} MiB)",
                flush=True,
            )
            out.unlink(missing_ok=True)
        print("all under the target" if not missed else f"missed: {', '.join(missed)}")
        return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
