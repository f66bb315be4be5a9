"""`usersWithLicenseErrors` and `group { licenseSummary }` on a small and a large group, both
databases (issue 16).

For each size (default 1,000 and 200,000 members) one tenant whose users are all members of
four groups holding one SKU, bulk-loaded (no statistics on PostgreSQL, as after an import):

- common: every 10th member in error;
- rare:   5 members in error, the first, one in the middle and the last three;
- 1%:     every 100th member in error (10 at 1,000 members, 2,000 at 200,000);
- tail:   the last 10% of members in error (seats ran out: CountViolation falls on the
          members processed last; walking the members, a first page read the 90% before them).

Each list is asked in-process through GraphQL (a first page of 50, with and without
totalCount, and the page after the middle member), and each group's licenseSummary (members,
licensed, in error, per code), median of `--runs`. Prints the medians and
the large/small ratio; PostgreSQL is measured again after ANALYZE.

Then what the counts' triggers (migrations 0033 and 0034) cost the writes: two SKUs assigned
to a group of `--processing` members of whom half end in CountViolation, timed with those
counts dropped and with them, in turns.

    .venv/bin/python bench/bench_group_errors.py [--sizes 1000 200000] [--runs 15]
        [--processing 20000] [--pg URL] [--no-pg] [--no-sqlite]
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import importlib
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from db_options import add_options, each_database  # noqa: E402

from commcredits import db as database  # noqa: E402
from commcredits.bulk.transport import connect  # noqa: E402
from commcredits.db import insert_values  # noqa: E402
from commcredits.migrate import migrate  # noqa: E402
from commcredits.models import GroupLicense, GroupLicenseState, GroupMember, Sku, User  # noqa: E402
from commcredits.schema.common import to_global_id  # noqa: E402
from commcredits.services import group_assign, groups, seats  # noqa: E402
from commcredits.services.access import SYSTEM  # noqa: E402
from commcredits.services.group_assign import GroupLicenseInput  # noqa: E402
from commcredits.services.tenants import create_tenant  # noqa: E402

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
COUNTS = importlib.import_module("commcredits.migrations.0033_group_error_counts")
PER_STATEMENT = importlib.import_module("commcredits.migrations.0034_group_error_insert_statements")
CHUNK = 5000

# Which member positions (0 … n-1) are in error, per group.
PATTERNS: dict[str, Callable[[int], Callable[[int], bool]]] = {
    "common": lambda n: lambda i: i % 10 == 0,
    "rare": lambda n: lambda i: i in {0, n // 2, n - 3, n - 2, n - 1},
    "1%": lambda n: lambda i: i % 100 == 0,
    "tail": lambda n: lambda i: i >= n - n // 10,
}
PAGE = """query($g: ID!, $after: String) {
  usersWithLicenseErrors(groupId: $g, first: 50, after: $after) {
    nodes { userPrincipalName } pageInfo { endCursor } } }"""
COUNTED = """query($g: ID!) {
  usersWithLicenseErrors(groupId: $g, first: 50) {
    totalCount totalCountIsCapped nodes { userPrincipalName } } }"""
SUMMARY = """query($g: ID!) { group(id: $g) {
  licenseSummary { members licensed inError errors { error count } } } }"""


def build(size: int) -> tuple[str, dict[str, tuple[str, str]]]:
    """A tenant of `size` users in four groups; its name and, per group, (global id, the
    cursor of its middle member)."""
    name = f"Fabrikam {size}"
    tenant = create_tenant(
        SYSTEM, name=name, country="DE", currency="EUR", agreement_type="MOSA", now=NOW
    )
    ids = _add_users(tenant.id, size, f"{size}.example")
    sku = Sku.get(Sku.part_number == "MCOEV").id
    at = GroupMember.added_at.db_value(NOW)
    found = {}
    for label, pattern in PATTERNS.items():
        in_error = pattern(size)
        group = groups.create_group(tenant, SYSTEM, label, now=NOW)
        GroupLicense.create(group=group.id, sku=sku, assigned_at=NOW)
        for start in range(0, size, CHUNK):
            part = range(start, min(start + CHUNK, size))
            with database.db.atomic():
                insert_values(
                    GroupMember._meta.table_name,
                    ("group_id", "user_id", "added_at"),
                    [(group.id, ids[i], at) for i in part],
                )
                insert_values(
                    GroupLicenseState._meta.table_name,
                    ("tenant_id", "group_id", "user_id", "sku_id", "state", "error",
                     "disabled_plans", "updated_at"),
                    [(tenant.id, group.id, ids[i], sku,
                      "Error" if in_error(i) else "Active",
                      "CountViolation" if in_error(i) else None, "[]", at) for i in part],
                )  # fmt: skip
        middle = (
            GroupMember.select(GroupMember.id)
            .where((GroupMember.group == group.id) & (GroupMember.user == ids[size // 2]))
            .scalar()
        )
        cursor = base64.urlsafe_b64encode(f"cursor:{middle}".encode()).decode()
        found[label] = (to_global_id("Group", group.id), cursor)
    return name, found


def _add_users(tenant_id: int, size: int, domain: str) -> list[int]:
    """`size` users in bulk (the real triggers and indexes); their ids in order."""
    for start in range(0, size, CHUNK):
        rows = []
        for i in range(start, min(start + CHUNK, size)):
            upn = f"user{i:07d}@{domain}"
            rows.append(
                {"tenant": tenant_id, "user_principal_name": upn, "upn_key": upn,
                 "usage_location": "DE", "created_at": NOW, "updated_at": NOW, "search_text": upn}
            )  # fmt: skip
        with database.db.atomic():
            User.insert_many(rows).execute()
    query = User.select(User.id).where(User.tenant == tenant_id).order_by(User.id)
    return [u for (u,) in query.tuples()]


def processing(members: int, name: str) -> float:
    """Seconds to assign two SKUs to a new group of `members` users of a new tenant that has
    seats for half of them: the other half end in CountViolation, every member's states
    written by the processing's batches."""
    tenant = create_tenant(
        SYSTEM, name=name, country="DE", currency="EUR", agreement_type="MOSA", now=NOW
    )
    ids = _add_users(tenant.id, members, f"{name.lower().replace(' ', '')}.example")
    seats.purchase_seats(tenant, SYSTEM, "SPE_E5", members // 2, now=NOW)
    seats.purchase_seats(tenant, SYSTEM, "MCOEV", members, now=NOW)
    group = groups.create_group(tenant, SYSTEM, "Pilot", now=NOW)
    for start in range(0, members, 1000):
        groups.add_members(tenant, SYSTEM, group.id, ids[start : start + 1000], now=NOW)
    licenses = [GroupLicenseInput("SPE_E5"), GroupLicenseInput("MCOEV")]
    began = time.perf_counter()
    group_assign.assign_group_license(tenant, SYSTEM, group.id, licenses, [], now=NOW)
    return time.perf_counter() - began


def processing_cost(url: str, kind: str, members: int, trials: int) -> None:
    """What the counts of migration 0033 (kept per INSERT statement on PostgreSQL since 0034)
    add to processing a group with many errors: the same run with them dropped (and 0029's
    trigger as 0029 made it) and with today's triggers, in turns, `trials` times each."""
    database.bind(url)
    times: dict[bool, list[float]] = {False: [], True: []}
    with database.db.connection_context():
        for trial in range(trials):
            for kept in (False, True):
                if not kept:
                    PER_STATEMENT.down(None, database.db.obj)
                    COUNTS.down(None, database.db.obj)
                name = f"Processing {trial} {'kept' if kept else 'dropped'}"
                times[kept].append(processing(members, name))
                if not kept:
                    COUNTS.up(None, database.db.obj)
                    PER_STATEMENT.up(None, database.db.obj)
    database.db.close()
    dropped, kept = min(times[False]), min(times[True])
    print(
        f"\n{kind}: two SKUs for a group of {members:,} members, half of them then in error, "
        f"best of {trials}: {dropped:.2f} s with 0033's counts dropped, {kept:.2f} s with them "
        f"({kept / dropped - 1:+.0%}; all: {', '.join(f'{t:.2f}' for t in times[False])} / "
        f"{', '.join(f'{t:.2f}' for t in times[True])} s)"
    )


def median_ms(run: Callable[[], object], runs: int) -> float:
    run()  # warm
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000


def measure(url: str, built: list[tuple[str, dict]], runs: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for name, found in built:
        api = connect(tenant=name, database_url=url)
        for label, (gid, middle) in found.items():
            cases = {
                "first page": (PAGE, {"g": gid, "after": None}),
                "first page + totalCount": (COUNTED, {"g": gid}),
                "page after the middle": (PAGE, {"g": gid, "after": middle}),
                "licenseSummary": (SUMMARY, {"g": gid}),
            }
            for case, (text, variables) in cases.items():
                ms = median_ms(lambda a=api, t=text, v=variables: a.execute(t, v), runs)
                out.setdefault(f"{label:7s} {case}", []).append(ms)
    return out


def report(title: str, sizes: list[int], out: dict[str, list[float]]) -> None:
    print(f"\n{title}")
    print(f"{'':40s}" + "".join(f"{s:>12,}" for s in sizes) + "       ratio")
    for key, ms in out.items():
        cells = "".join(f"{m:9.2f} ms" for m in ms)
        print(f"{key:40s}{cells}   {ms[-1] / ms[0]:9.2f}")


def run(url: str, sizes: list[int], runs: int, *, analyse: bool) -> None:
    database.bind(url)
    migrate()
    with database.db.connection_context():
        built = [build(size) for size in sizes]
    database.db.close()
    kind = "SQLite" if url.startswith("sqlite") else "PostgreSQL"
    report(f"{kind}, no statistics", sizes, measure(url, built, runs))
    if analyse:
        with database.db.connection_context():
            database.db.execute_sql("ANALYZE")
        report(f"{kind}, after ANALYZE", sizes, measure(url, built, runs))
    database.db.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 200_000])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument(
        "--processing",
        type=int,
        default=20_000,
        help="members of the group whose processing is timed with and without migration "
        "0033's triggers (0: not timed)",
    )
    parser.add_argument("--processing-trials", type=int, default=2)
    add_options(parser)
    args = parser.parse_args()
    for kind, url in each_database(args, "bench_group_errors"):
        run(url, args.sizes, args.runs, analyse=kind == "PostgreSQL")
        if args.processing:
            processing_cost(url, kind, args.processing, args.processing_trials)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
