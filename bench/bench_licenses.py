"""Assign a license to 20,000 users in batches of 1,000 through the GraphQL schema (SQLite).

Prints items/s for `assignLicenses` (one object per item) and `setUserLicenses` (a list of
UPNs sharing one change), the same rows inserted with raw `sqlite3.executemany`, and ratios.
Run: .venv/bin/python bench/bench_licenses.py [--users 20000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from commcredits import db as database  # noqa: E402
from commcredits.db import count_statements  # noqa: E402
from commcredits.execution import execute  # noqa: E402
from commcredits.migrate import migrate  # noqa: E402
from commcredits.models import LicenseAssignment, User  # noqa: E402
from commcredits.services import seats  # noqa: E402
from commcredits.services.access import SYSTEM, Principal, Role  # noqa: E402
from commcredits.services.tenants import create_tenant  # noqa: E402

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
BATCH = 1000

ASSIGN = """mutation($items: [AssignLicenseItemInput!]!) {
  assignLicenses(items: $items) { results { index status } summary { applied failed } } }"""
SET_MANY = """mutation($upns: [String!]!, $add: [AssignedLicenseInput!]) {
  setUserLicenses(userPrincipalNames: $upns, addLicenses: $add) {
    results { index status } summary { applied failed } } }"""


def setup(path: Path, n: int) -> Principal:
    database.bind(f"sqlite:///{path}")
    migrate()
    tenant = create_tenant(
        SYSTEM, name="Bench", country="DE", currency="EUR", agreement_type="MOSA", now=NOW
    )
    for sku in ("MCOMEETADV", "MCOPSTNC"):
        seats.purchase_seats(tenant, SYSTEM, sku, n, now=NOW)
    rows = [
        {
            "tenant": tenant.id,
            "user_principal_name": f"u{i:06d}@bench.example",
            "upn_key": f"u{i:06d}@bench.example",
            "display_name": f"User {i}",
            "usage_location": "DE",
            "created_at": NOW,
            "updated_at": NOW,
        }
        for i in range(n)
    ]
    with database.db.atomic():
        for start in range(0, n, 500):
            User.insert_many(rows[start : start + 500]).execute()
    return Principal(key_id=None, role=Role.GLOBAL_ADMIN, tenant=tenant, key_prefix="bench")


def run(principal: Principal, n: int, query: str, make_vars) -> tuple[float, list[int]]:
    statements: list[int] = []
    started = time.perf_counter()
    for start in range(0, n, BATCH):
        upns = [f"u{i:06d}@bench.example" for i in range(start, min(n, start + BATCH))]
        with count_statements() as seen:
            result = execute(query, make_vars(upns), principal=principal, now=NOW)
        statements.append(len(seen))
        payload = next(iter(result["data"].values()))
        assert payload["summary"]["failed"] == 0, payload["summary"]
    return time.perf_counter() - started, statements


def raw_limit(n: int) -> float:
    """The same rows with raw sqlite3.executemany into an identical table, one transaction."""
    with tempfile.TemporaryDirectory() as tmp:
        con = sqlite3.connect(Path(tmp) / "raw.db")
        con.execute("PRAGMA journal_mode=wal")
        con.execute(
            "CREATE TABLE license_assignment (id INTEGER PRIMARY KEY, tenant_id INTEGER, "
            "user_id INTEGER, sku_id INTEGER, disabled_plans TEXT, assigned_at TEXT)"
        )
        con.execute("CREATE UNIQUE INDEX ux ON license_assignment (user_id, sku_id)")
        rows = [(1, i + 1, 1, "[]", "2026-11-25 12:00:00") for i in range(n)]
        started = time.perf_counter()
        with con:
            con.executemany(
                "INSERT INTO license_assignment (tenant_id, user_id, sku_id, disabled_plans, "
                "assigned_at) VALUES (?, ?, ?, ?, ?)",
                rows,
            )
        elapsed = time.perf_counter() - started
        con.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=20_000)
    n = parser.parse_args().users
    with tempfile.TemporaryDirectory() as tmp:
        principal = setup(Path(tmp) / "bench.db", n)
        objects_s, stmts_a = run(
            principal,
            n,
            ASSIGN,
            lambda upns: {
                "items": [{"userId": u, "addLicenses": [{"skuId": "MCOMEETADV"}]} for u in upns]
            },
        )
        strings_s, stmts_b = run(
            principal, n, SET_MANY, lambda upns: {"upns": upns, "add": [{"skuId": "MCOPSTNC"}]}
        )
        assert LicenseAssignment.select().count() == 2 * n
        database.close()
    raw_s = raw_limit(n)
    print(f"users: {n:,}, batch: {BATCH:,} (SQLite, in-process GraphQL)")
    print(
        f"assignLicenses  (objects): {n / objects_s:>9,.0f} items/s  ({objects_s:.2f} s, "
        f"{max(stmts_a)} SQL statements per batch)"
    )
    print(
        f"setUserLicenses (strings): {n / strings_s:>9,.0f} items/s  ({strings_s:.2f} s, "
        f"{max(stmts_b)} SQL statements per batch)"
    )
    print(f"raw sqlite3.executemany:   {n / raw_s:>9,.0f} rows/s   ({raw_s:.3f} s)")
    print(f"ratio assignLicenses / raw:  {raw_s / objects_s:.3f}")
    print(f"ratio setUserLicenses / raw: {raw_s / strings_s:.3f}")


if __name__ == "__main__":
    main()
