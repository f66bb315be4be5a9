"""License a 100,000-member group on PostgreSQL in batches while other license batches run
(issue 18).

A throwaway database on the server at `--pg` or $COMMCREDITS_BENCH_PG_URL (dropped after).
The users and the memberships go in with bulk INSERTs (the triggers keep the counts); then
`assignGroupLicense`'s service processes the group one committed batch of 1,000 members at a
time, while a second thread assigns a direct license to other users in batches of 1,000
(`assign_licenses`, the direct path) as fast as it can. Prints members/s, the longest group
batch, and the longest any direct batch took (waiting included): "not blocked for more than
one batch" holds when that is at most a group batch plus the direct batch's own time.

    .venv/bin/python bench/bench_groups.py [--members 100000] [--pg URL]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from db_options import add_options  # noqa: E402

from commcredits import db as database  # noqa: E402
from commcredits.db import insert_values  # noqa: E402
from commcredits.migrate import migrate  # noqa: E402
from commcredits.models import Group, GroupMember, LicenseAssignment, User  # noqa: E402
from commcredits.services import group_assign, groups, licenses, seats  # noqa: E402
from commcredits.services.access import SYSTEM  # noqa: E402
from commcredits.services.licenses import AddLicense, LicenseRequest  # noqa: E402
from commcredits.services.tenants import create_tenant  # noqa: E402
from tests.pg_databases import throwaway_database  # noqa: E402

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
BATCH = 1000


def build(members: int, others: int) -> tuple[object, int, list[str]]:
    tenant = create_tenant(
        SYSTEM, name="Fabrikam", country="DE", currency="EUR", agreement_type="MOSA", now=NOW
    )
    at = User.created_at.db_value(NOW)
    total = members + others
    for start in range(0, total, 2000):
        rows = []
        for i in range(start, min(start + 2000, total)):
            upn = f"user{i:06d}@fabrikam.example"
            rows.append(
                {"tenant": tenant.id, "user_principal_name": upn, "upn_key": upn,
                 "usage_location": "DE", "created_at": NOW, "updated_at": NOW, "search_text": upn}
            )  # fmt: skip
        with database.db.atomic():
            User.insert_many(rows).execute()  # peewee fills every other column's default
    ids = [u for (u,) in User.select(User.id).order_by(User.id).tuples()]
    group = groups.create_group(tenant, SYSTEM, "Everyone", now=NOW)
    for start in range(0, members, 5000):
        with database.db.atomic():
            insert_values(
                GroupMember._meta.table_name,
                ("group_id", "user_id", "added_at"),
                [(group.id, u, at) for u in ids[start : min(start + 5000, members)]],
            )
    seats.purchase_seats(tenant, SYSTEM, "SPE_E5", members, now=NOW)
    seats.purchase_seats(tenant, SYSTEM, "MCOMEETADV", others, now=NOW)
    direct = [f"user{i:06d}@fabrikam.example" for i in range(members, total)]
    database.db.execute_sql("ANALYZE")
    return tenant, group.id, direct


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--others", type=int, default=20_000, help="users licensed directly")
    add_options(parser, sqlite=False)
    args = parser.parse_args()
    with throwaway_database(args.pg, "commcredits_bench_groups") as url:
        database.bind(url)
        migrate()
        with database.db.connection_context():
            tenant, group_id, direct = build(args.members, args.others)
        direct_times: list[float] = []
        stop = threading.Event()

        def direct_batches() -> None:
            with database.db.connection_context():
                for start in range(0, len(direct), BATCH):
                    if stop.is_set():
                        return
                    chunk = direct[start : start + BATCH]
                    began = time.perf_counter()
                    outcomes = licenses.assign_licenses(
                        tenant,
                        SYSTEM,
                        LicenseRequest.many(chunk, (AddLicense("MCOMEETADV"),), ()),
                        now=NOW,
                    )
                    direct_times.append(time.perf_counter() - began)
                    assert all(o.ok for o in outcomes)

        batch_times: list[float] = []
        with database.db.connection_context():
            began = time.perf_counter()
            group_assign.assign_group_license(
                tenant, SYSTEM, group_id, [group_assign.GroupLicenseInput("SPE_E5")], [],
                now=NOW, max_batches=0,
            )  # fmt: skip
            other = threading.Thread(target=direct_batches)
            other.start()
            while Group.get_by_id(group_id).processing_state == "ProcessingInProgress":
                t0 = time.perf_counter()
                group_assign.process_group(tenant, group_id, now=NOW, max_batches=1)
                batch_times.append(time.perf_counter() - t0)
            elapsed = time.perf_counter() - began
            stop.set()
            other.join()
            licensed = (
                LicenseAssignment.select().where(LicenseAssignment.tenant == tenant.id).count()
            )
        print(f"members: {args.members:,}, batch: {BATCH:,} (PostgreSQL)")
        print(
            f"group licensed: {args.members / elapsed:,.0f} members/s ({elapsed:.1f} s, "
            f"{len(batch_times)} batches, longest {max(batch_times):.2f} s)"
        )
        print(
            f"direct batches meanwhile: {len(direct_times)}, longest {max(direct_times):.2f} s "
            f"(median {sorted(direct_times)[len(direct_times) // 2]:.2f} s)"
        )
        print(f"license rows: {licensed:,}")
        database.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
