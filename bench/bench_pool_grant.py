"""The pools' granted minutes, read every rating batch: counted from the licenses (as before
migration 0027) against read from the kept license sets (now), at 1,000 and 200,000 licensed
users, side by side in one run, on SQLite and PostgreSQL. Then what the triggers that keep the
sets cost a license batch of 1,000 users on the large tenant: with them, and with them dropped.

Users hold bench_rating's mix of calling plans, Audio Conferencing (direct and through E5) and
Communication Credits in four usage locations. Medians of `--trials`; both ways must give the
same minutes.

    .venv/bin/python bench/bench_pool_grant.py [--small 1000] [--large 200000] [--trials 15]
        [--pg postgresql://postgres@127.0.0.1:5432/test] [--no-pg] [--no-sqlite]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# `granted_minutes` before migration 0027 (counting the licenses): the tests' oracle.
from db_options import add_options, each_database  # noqa: E402

from commcredits import db as database  # noqa: E402
from commcredits.migrate import migrate  # noqa: E402
from commcredits.models import LicenseAssignment, Tenant, User  # noqa: E402
from commcredits.services import licenses, seats  # noqa: E402
from commcredits.services.access import SYSTEM  # noqa: E402
from commcredits.services.catalog import Catalog  # noqa: E402
from commcredits.services.licenses import AddLicense, LicenseRequest  # noqa: E402
from commcredits.services.pools import (  # noqa: E402
    granted_minutes,
)
from commcredits.services.tenants import create_tenant  # noqa: E402
from tests.test_pool_counts import granted_from_scratch as granted_by_counting  # noqa: E402

NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)
# bench_rating.py's mix: (share, usage locations, licenses)
MIX = [
    (40, ("US", "DE", "GB", "FR"), ("MCOEV", "MCOPSTN1", "MCOPSTNC")),
    (15, ("US", "DE"), ("MCOEV", "MCOPSTN2", "MCOPSTNC")),
    (10, ("DE", "FR"), ("SPE_E5", "MCOPSTN5", "MCOPSTNC", "MCOMEETADV")),
    (15, ("US", "GB"), ("MCOEV", "MCOPSTN_PAYG_1", "MCOPSTNC")),
    (10, ("DE", "GB"), ("MCOMEETADV", "MCOPSTNC")),
    (5, ("FR",), ("SPE_E5",)),
    (5, ("DE",), ("MCOEV", "MCOPSTN1")),
]
CHUNK = 1000
TRIGGERS = {
    "license_assignment": (
        "license_set_count_insert",
        "license_set_count_delete",
        "license_set_count_update",
    ),
    "directory_user": ("license_set_count_move", "license_set_count_user_delete"),
}


def licensed_tenant(name: str, n: int) -> Tenant:
    """A tenant of n users holding the mix, written by bulk INSERTs (the triggers run)."""
    tenant = create_tenant(
        SYSTEM, name=name, country="DE", currency="EUR", agreement_type="MOSA", now=NOW
    )
    for part in ("MCOPSTNC", "MCOMEETADV"):  # + a batch's worth, for the batches below
        seats.purchase_seats(tenant, SYSTEM, part, n + CHUNK, now=NOW)
    catalog = Catalog.load()
    rng = random.Random(n)
    weights = [m[0] for m in MIX]
    domain = f"{name.lower()}.example"
    for start in range(0, n, CHUNK):
        picks = [rng.choices(MIX, weights)[0] for _ in range(start, min(n, start + CHUNK))]
        with database.db.atomic():
            User.insert_many(
                {
                    "tenant": tenant.id,
                    "user_principal_name": f"u{start + i:07d}@{domain}",
                    "upn_key": f"u{start + i:07d}@{domain}",
                    "usage_location": rng.choice(places),
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for i, (_, places, _) in enumerate(picks)
            ).execute()
            ids = [
                u.id
                for u in User.select(User.id)
                .where(User.tenant == tenant.id)
                .order_by(User.id.desc())
                .limit(len(picks))
            ][::-1]
            rows = [
                {
                    "tenant": tenant.id,
                    "user": uid,
                    "sku": catalog.by_ref[part].id,
                    "disabled_plans": [],
                    "assigned_at": NOW,
                }
                for uid, (_, _, parts) in zip(ids, picks, strict=True)
                for part in parts
            ]
            LicenseAssignment.insert_many(rows).execute()
    # The seats the rows take (written around the service), for the license batches below.
    database.db.execute_sql(
        "UPDATE subscription SET consumed_units = (SELECT count(*) FROM license_assignment a "
        "WHERE a.tenant_id = subscription.tenant_id AND a.sku_id = subscription.sku_id) "
        f"WHERE tenant_id = {database.db.obj.param}",
        (tenant.id,),
    )
    if not database.is_sqlite():
        database.db.execute_sql("ANALYZE")
    return tenant


def median_ms(fn: Callable[[], object], trials: int) -> float:
    times = []
    for _ in range(trials):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def license_batch_ms(tenant: Tenant, part: str, trials: int) -> tuple[float, float]:
    """Median ms of a batch adding `part` to 1,000 users of the tenant, and of one removing it
    from them (a removal first, so each addition adds 1,000 rows)."""
    upns = [f"u{i:07d}@{tenant.name.lower()}.example" for i in range(CHUNK)]
    add = [LicenseRequest(u, (AddLicense(part),)) for u in upns]
    remove = [LicenseRequest(u, (), (part,)) for u in upns]
    adds, removes = [], []
    for _ in range(trials):
        start = time.perf_counter()
        licenses.assign_licenses(tenant, SYSTEM, remove, now=NOW)
        removes.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        licenses.assign_licenses(tenant, SYSTEM, add, now=NOW)
        adds.append((time.perf_counter() - start) * 1000)
    return statistics.median(adds), statistics.median(removes)


def drop_triggers() -> None:
    for table, names in TRIGGERS.items():
        for name in names:
            database.db.execute_sql(
                f"DROP TRIGGER {name}"
                if database.is_sqlite()
                else f"DROP TRIGGER {name} ON {table}"
            )


def run(url: str, label: str, sizes: tuple[int, int], trials: int) -> None:
    database.bind(url)
    migrate()
    with database.db.connection_context():
        print(f"\n{label}")
        tenants = []
        for name, n in zip(("Small", "Large"), sizes, strict=True):
            start = time.perf_counter()
            tenants.append(licensed_tenant(name, n))
            print(f"  built {n:,} licensed users in {time.perf_counter() - start:.1f} s")
        catalog = Catalog.load()
        print(f"  {'licensed users':>15} {'counted (old)':>14} {'kept (new)':>11} {'old/new':>8}")
        figures = []
        for tenant, n in zip(tenants, sizes, strict=True):
            assert granted_minutes(tenant, catalog) == granted_by_counting(tenant, catalog)
            old = median_ms(lambda t=tenant: granted_by_counting(t, catalog), trials)
            new = median_ms(lambda t=tenant: granted_minutes(t, catalog), trials * 5)
            figures.append((old, new))
            print(f"  {n:>15,} {old:>11.2f} ms {new:>8.3f} ms {old / new:>7.0f}×")
        (old_s, new_s), (old_l, new_l) = figures
        print(f"  large/small: counted {old_l / old_s:.1f}×, kept {new_l / new_s:.2f}×")
        large = tenants[1]
        # Communication Credits is in no pool (its rows are not in the sets); Audio
        # Conferencing is: each of its rows changes its holder's set.
        kept = {part: license_batch_ms(large, part, 5) for part in ("MCOPSTNC", "MCOMEETADV")}
        drop_triggers()
        for part, (add, remove) in kept.items():
            bare_add, bare_remove = license_batch_ms(large, part, 5)
            print(
                f"  {part} for {CHUNK:,} users of the large tenant: add {add:.0f} ms "
                f"(triggers dropped: {bare_add:.0f}), remove {remove:.0f} ms "
                f"(dropped: {bare_remove:.0f})"
            )
    database.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=200_000)
    parser.add_argument("--trials", type=int, default=15)
    add_options(parser)
    args = parser.parse_args()
    sizes = (args.small, args.large)
    for kind, url in each_database(args, "bench_pools"):
        run(url, kind, sizes, args.trials)
    return 0


if __name__ == "__main__":
    sys.exit(main())
