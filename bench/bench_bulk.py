"""Speed of the bulk layer (issue 5): Set-UserLicense -AddLicenses MCOPSTNC in-process on SQLite.

Prints rows/s end to end for a 100,000-row XLSX of existing users, the raw limit on this
machine in the same run (polars reading the same workbook + sqlite3.executemany inserting the
same rows), their ratio, the ratio against one request per row (the PowerShell loop) on 2,000
rows, and the peak memory of the 100,000-row run.

    .venv/bin/python bench/bench_bulk.py [--rows 100000] [--loop-rows 2000]
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from commcredits import db
from commcredits.bulk import cli
from commcredits.clock import utcnow
from commcredits.migrate import migrate
from commcredits.models import LicenseAssignment
from commcredits.services import seats, tenants, user_import
from commcredits.services.access import SYSTEM
from commcredits.services.users import UserFields

ONE_ROW = """
mutation($upn: String!) {
  assignLicense(userId: $upn, addLicenses: [{skuId: "MCOPSTNC"}], removeLicenses: []) {
    result { status } userErrors { code }
  }
}
"""


def setup(path: Path, rows: int) -> list[str]:
    db.bind(f"sqlite:///{path}")
    migrate()
    now = utcnow()
    with db.db.connection_context():
        tenant = tenants.create_tenant(
            SYSTEM, name="Bench", country="DE", currency="EUR", agreement_type="MOSA", now=now
        )
        seats.purchase_seats(tenant, SYSTEM, "MCOPSTNC", rows * 2, now=now)
        upns = [f"user{i:06d}@bench.example" for i in range(rows)]
        for start in range(0, rows, 1000):
            user_import.upsert_users(
                tenant,
                SYSTEM,
                [
                    UserFields(user_principal_name=u, usage_location="DE")
                    for u in upns[start : start + 1000]
                ],
                now=now,
            )
    return upns


def raw_limit(xlsx: Path, tmp: Path) -> float:
    """polars read of the same workbook + sqlite3.executemany of the same rows, in seconds."""
    started = time.perf_counter()
    frame = pl.read_excel(xlsx, engine="calamine")
    con = sqlite3.connect(tmp / "raw.db")
    con.execute("PRAGMA journal_mode=wal")
    con.execute("CREATE TABLE t (user TEXT, sku TEXT, assigned_at TEXT)")
    now = utcnow().isoformat()
    con.executemany(
        "INSERT INTO t VALUES (?, ?, ?)",
        ((u, "MCOPSTNC", now) for u in frame["UserPrincipalName"].to_list()),
    )
    con.commit()
    con.close()
    return time.perf_counter() - started


def run_bulk(xlsx: Path) -> tuple[float, int]:
    out, err = io.StringIO(), io.StringIO()
    started = time.perf_counter()
    code = cli.run(
        [
            "Set-UserLicense",
            "-Path",
            str(xlsx),
            "-AddLicenses",
            "MCOPSTNC",
            "-Tenant",
            "Bench",
            "-NoProgress",
        ],
        stdin=io.BytesIO(),
        stdout=out,
        stderr=err,
    )
    elapsed = time.perf_counter() - started
    print("   ", err.getvalue().strip().splitlines()[-1])
    return elapsed, code


def run_loop(upns: list[str]) -> float:
    """One GraphQL request per row, as a PowerShell ForEach-Object loop does."""
    from commcredits.bulk.transport import connect

    transport = connect(tenant="Bench")
    started = time.perf_counter()
    for upn in upns:
        transport.execute(ONE_ROW, {"upn": upn})
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--loop-rows", type=int, default=2_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        total = args.rows + 2 * args.loop_rows
        print(f"setting up {total:,} users ...", flush=True)
        upns = setup(tmp / "bench.db", total)
        main_upns = upns[: args.rows]
        xlsx = tmp / "users.xlsx"
        pl.DataFrame(
            {"UserPrincipalName": main_upns, "Department": ["Sales"] * args.rows}
        ).write_excel(xlsx, autofit=False)

        raw = raw_limit(xlsx, tmp)
        elapsed, code = run_bulk(xlsx)
        with db.db.connection_context():
            assigned = LicenseAssignment.select().count()
        assert code == 0 and assigned == args.rows, (code, assigned)
        # Memory: the same command again (every row Unchanged now) in a fresh process, whose
        # peak RSS is all its own (this process holds the setup's objects).
        child = subprocess.run(
            [
                sys.executable,
                "-m",
                "commcredits.cli",
                "Set-UserLicense",
                "-Path",
                str(xlsx),
                "-AddLicenses",
                "MCOPSTNC",
                "-Tenant",
                "Bench",
                "-NoProgress",
            ],
            env={**os.environ, "COMMCREDITS_DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}"},
            capture_output=True,
            text=True,
        )
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        print("   ", child.stderr.strip().splitlines()[-1])
        rate = args.rows / elapsed
        print(f"end to end: {args.rows:,} rows in {elapsed:.2f} s = {rate:,.0f} rows/s")
        print(
            f"raw limit (polars read + sqlite3.executemany): {raw:.2f} s = "
            f"{args.rows / raw:,.0f} rows/s"
        )
        print(f"ratio end to end / raw limit: {raw / elapsed:.3f} (target >= 0.25)")
        print(
            f"peak memory: {rss / 1024:.0f} MiB max RSS of `commcredits Set-UserLicense` on "
            f"{args.rows:,} rows in its own process (target < 500 MiB)"
        )

        loop_upns = upns[args.rows : args.rows + args.loop_rows]
        loop = run_loop(loop_upns)
        batch_xlsx = tmp / "loop.xlsx"
        pl.DataFrame({"UserPrincipalName": upns[args.rows + args.loop_rows :]}).write_excel(
            batch_xlsx, autofit=False
        )
        batch, _ = run_bulk(batch_xlsx)
        print(
            f"one request per row: {args.loop_rows:,} rows in {loop:.2f} s "
            f"({args.loop_rows / loop:,.0f} rows/s); bulk on {args.loop_rows:,} other rows "
            f"{batch:.2f} s; bulk is {loop / batch:.1f}x faster (target >= 30x)"
        )
        db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
