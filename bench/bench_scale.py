"""`users` on a large tenant: every filter, search, count and deep page stays flat (issue 16).

Builds two tenants in one database, 1,000 and 200,000 users (`--users`), with realistic names
(accents, ß, Å, …), several departments, a tenth without a usage location, a few disabled, a
share licensed; on SQLite (a temporary file) and on PostgreSQL (a throwaway database created on
the server at `--pg` or $COMMCREDITS_BENCH_PG_URL, dropped afterwards). The users go in with
bulk INSERTs through the real schema (triggers, indexes), so the search text is the service's.
Then one `commcredits serve` per database, and over HTTP, in turns between the tenants, the
median of 15 requests (`--trials`) of each `users` query below; medians, the ratio large/small,
and the plan (EXPLAIN) of the SQL behind any query whose ratio is above the target.

On PostgreSQL the first round runs right after the bulk build, before any ANALYZE (autovacuum
may be off: the plans must not depend on statistics); a second round follows an ANALYZE.

Target: every ratio ≤ 3 at 200,000 users (≤ 5 with `--users 1000000`). Exit status 1 if missed.

    .venv/bin/python bench/bench_scale.py [--users 200000] [--trials 15] [--pg URL | --no-pg]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import httpx
import peewee

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from load import start_server  # noqa: E402

from commcredits import db as database  # noqa: E402
from commcredits.clock import utcnow  # noqa: E402
from commcredits.db import insert_rows  # noqa: E402
from commcredits.migrate import migrate  # noqa: E402
from commcredits.models import LicenseAssignment, Sku, Subscription, Tenant, User  # noqa: E402
from commcredits.schema.pages import _cursor, after_key  # noqa: E402
from commcredits.services import seats, user_list  # noqa: E402
from commcredits.services.access import SYSTEM, Role, create_api_key  # noqa: E402
from commcredits.services.tenants import create_tenant  # noqa: E402
from commcredits.services.user_search import normalize, search_text  # noqa: E402

TARGET_RATIO = 3.0
TARGET_RATIO_MILLION = 5.0
LICENSES = {"MCOPSTNC": 0.4, "MCOEV": 0.2}  # SKU -> share of users holding it
DEPARTMENTS = ("Sales", "IT", "Finance", "R&D", "Marketing", "Support", "Legal", "HR")
LOCATIONS = ("DE",) * 6 + ("AT", "CH", "FR") + (None,)  # a tenth without one
GIVEN = (
    "Anna Jürgen Sören Åsa Björn Zoë François Ümit Léa Chloé Mathéo Kai Lena Max Paul Sophie "
    "Lukas Emma Noah Mia Jörg Małgorzata Øystein José Inés Çağla Renée Zoltán Dženana Hélène "
    "Niklas Greta Ole Ida Tomáš Marie Jonas Clara Elif Mehmet"
).split()
SURNAMES = (
    "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Schäfer Koch "
    "Bauer Richter Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger Hofmann Hartmann "
    "Lange Schmitt Werner Krause Ångström Straße Dupont Nguyen Öztürk Kowalski Rossi Jansen "
    "Fernández Dvořák Løvik Çelik Yılmaz Lefèvre Gößling Bäcker"
).split()

PAGE = """query($first: Int, $after: String, $filter: UserFilter) {
  users(first: $first, after: $after, filter: $filter) {
    edges { cursor node { id userPrincipalName displayName usageLocation department } }
    pageInfo { hasNextPage endCursor }%s
  }
}"""
COUNTED = PAGE % "\n    totalCount totalCountIsCapped"
PLAIN = PAGE % ""


@dataclass
class Query:
    name: str
    filter: dict[str, Any] | None = None
    count: bool = False
    deep: bool = False  # after the 50,000th user (the small tenant: its 500th)
    terms: Callable[[TenantData], str] | None = None  # the search term, per tenant


@dataclass
class TenantData:
    id: int
    size: int
    key: str
    deep_cursor: str
    rare_term: str  # one user's UPN alias: matches that user (and any alias it prefixes)
    timings: dict[str, list[float]] = field(default_factory=dict)


QUERIES = [
    Query("first page"),
    Query("first page + totalCount", count=True),
    Query("deep page (after 50,000th / 500th)", deep=True),
    Query("deep page + totalCount", deep=True, count=True),
    Query("search 'muller' (accent-free Müller)", {"search": "muller"}),
    Query("search 'Gößl' (mixed case, ß)", {"search": "Gößl"}),
    Query("search one user's alias (rare)", terms=lambda t: t.rare_term),
    Query("search 'zzqx' (no match)", {"search": "zzqx"}),
    Query("search 'an' (2 letters, scan)", {"search": "an"}),
    Query("search 'muller' + totalCount", {"search": "muller"}, count=True),
    Query("search rare + totalCount", count=True, terms=lambda t: t.rare_term),
    Query("usageLocation DE", {"usageLocation": "DE"}),
    Query('usageLocation "" (none)', {"usageLocation": ""}),
    Query("department Legal", {"department": "Legal"}),
    Query("hasLicense MCOPSTNC", {"hasLicense": "MCOPSTNC"}),
    Query("hasLicense MCOPSTNC + totalCount", {"hasLicense": "MCOPSTNC"}, count=True),
    Query("accountEnabled false", {"accountEnabled": False}),
    Query(
        "usageLocation DE + hasLicense MCOPSTNC", {"usageLocation": "DE", "hasLicense": "MCOPSTNC"}
    ),
    Query(
        "DE + MCOPSTNC + totalCount",
        {"usageLocation": "DE", "hasLicense": "MCOPSTNC"},
        count=True,
    ),
    Query(
        "all filters + search 'er'",
        {
            "search": "er",
            "usageLocation": "DE",
            "department": "Sales",
            "hasLicense": "MCOPSTNC",
            "accountEnabled": True,
        },
    ),
    Query(
        "search 'schmidt' + DE + Sales, deep",
        {"search": "schmidt", "usageLocation": "DE", "department": "Sales"},
        deep=True,
    ),
]


def _person(rng: random.Random, i: int, domain: str) -> dict[str, Any]:
    given, surname = rng.choice(GIVEN), rng.choice(SURNAMES)
    alias = f"{normalize(given)}.{normalize(surname)}{i}".replace(" ", "")
    alias = "".join(ch for ch in alias if ch.isascii() and (ch.isalnum() or ch in "._-"))
    upn = f"{alias}@{domain}"
    mails = [f"{alias}@mail.{domain}"] if i % 7 == 0 else []
    row = {
        "user_principal_name": upn,
        "upn_key": upn.lower(),
        "display_name": f"{given} {surname}",
        "given_name": given,
        "surname": surname,
        "other_mails": mails,
        "department": rng.choice(DEPARTMENTS),
        "usage_location": rng.choice(LOCATIONS),
        "account_enabled": rng.random() > 0.05,
    }
    row["search_text"] = search_text(row)
    return row


def build_tenant(size: int, rng: random.Random, now: Any) -> TenantData:
    tenant = create_tenant(
        SYSTEM, name=f"Tenant {size}", country="DE", currency="EUR", agreement_type="MOSA", now=now
    )
    for part_number in LICENSES:
        seats.purchase_seats(tenant, SYSTEM, part_number, size, now=now)
    domain = f"t{size}.example"
    chunk = 5000
    for start in range(0, size, chunk):
        rows = [
            {"tenant": tenant.id, "created_at": now, "updated_at": now, **_person(rng, i, domain)}
            for i in range(start, min(size, start + chunk))
        ]
        with database.db.atomic():
            insert_rows(User, rows)
    ids = [u.id for u in User.select(User.id).where(User.tenant == tenant.id).order_by(User.id)]
    for part_number, share in LICENSES.items():
        sku = Sku.get(Sku.part_number == part_number)
        holders = [uid for uid in ids if rng.random() < share]
        with database.db.atomic():
            for start in range(0, len(holders), chunk):
                insert_rows(
                    LicenseAssignment,
                    [
                        {"tenant": tenant.id, "user": uid, "sku": sku.id, "assigned_at": now}
                        for uid in holders[start : start + chunk]
                    ],
                )
            Subscription.update(consumed_units=len(holders)).where(
                (Subscription.tenant == tenant.id) & (Subscription.sku == sku.id)
            ).execute()
    deep_index = 50_000 if size > 50_000 else size // 2
    rare = User.get_by_id(ids[size * 7 // 10])
    return TenantData(
        id=tenant.id,
        size=size,
        key=create_api_key(SYSTEM, role=Role.GLOBAL_ADMIN, tenant=tenant, now=now)[1],
        deep_cursor=_cursor(ids[deep_index - 1]),
        rare_term=rare.user_principal_name.split("@")[0],
    )


def build(url: str, sizes: list[int]) -> list[TenantData]:
    database.bind(url)
    migrate()
    now = utcnow()
    rng = random.Random(16)
    tenants = []
    for size in sizes:
        started = time.perf_counter()
        tenants.append(build_tenant(size, rng, now))
        print(f"  tenant of {size:,} users built in {time.perf_counter() - started:.1f} s")
    database.db.close()
    return tenants


def _variables(q: Query, t: TenantData) -> tuple[str, dict[str, Any]]:
    flt = dict(q.filter or {})
    if q.terms is not None:
        flt["search"] = q.terms(t)
    variables: dict[str, Any] = {"first": 20, "filter": flt or None}
    if q.deep:
        variables["after"] = t.deep_cursor
    return (COUNTED if q.count else PLAIN), variables


def request(client: httpx.Client, base: str, q: Query, t: TenantData) -> float:
    text, variables = _variables(q, t)
    started = time.perf_counter()
    response = client.post(
        base + "/graphql",
        json={"query": text, "variables": variables},
        headers={"Authorization": f"Bearer {t.key}"},
    )
    elapsed = (time.perf_counter() - started) * 1000
    body = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise SystemExit(f"{q.name}: {response.status_code} {body}")
    return elapsed


def measure(base: str, tenants: list[TenantData], trials: int, label: str) -> dict[str, Any]:
    with httpx.Client(timeout=300) as client:
        results = {}
        for q in QUERIES:
            # The first request of each query on each tenant is timed too: on PostgreSQL
            # right after the build, it is the one no statistics have helped.
            times: list[list[float]] = [[] for _ in tenants]
            for _ in range(trials):
                for i, t in enumerate(tenants):  # in turns, so drift hits both alike
                    times[i].append(request(client, base, q, t))
            results[q.name] = [statistics.median(ts) for ts in times] + [max(times[1])]
    print(f"\n{label}: median of {trials} requests over HTTP (ms)")
    print(f"  {'query':44} {tenants[0].size:>10,} {tenants[1].size:>10,}  ratio  (large max)")
    for name, (small, large, worst) in results.items():
        print(f"  {name:44} {small:10.2f} {large:10.2f}  {large / small:5.2f}  ({worst:.1f})")
    return results


def explain(url: str, q: Query, t: TenantData) -> list[str]:
    """The plan of each statement the service runs for this query, taken as it runs (with the
    settings it runs under)."""
    database.bind(url)
    lines: list[str] = []
    real = database.db.obj.execute_sql
    prefix = "EXPLAIN QUERY PLAN " if database.is_sqlite() else "EXPLAIN "

    # The service runs a PostgreSQL page or count through a function with planner settings
    # of its own (migration 0012): its query is explained under the same settings.
    wrapped = {
        '"directory_user_in_id_order"': ("enable_sort", "jit"),
        '"directory_user_count_by_index"': ("enable_sort", "enable_bitmapscan", "jit"),
    }

    def capture(sql: str, params: Any = None) -> Any:
        settings = next((v for k, v in wrapped.items() if k in sql), None)
        # The function's query has its values quoted in: its % are not placeholders.
        inner, inner_params = (params[0].replace("%", "%%"), ()) if settings else (sql, params)
        if inner.lstrip().upper().startswith("SELECT") and '"directory_user"' in inner:
            shown = params[0] if settings else sql
            lines.append(shown if len(shown) < 300 else shown[:140] + " … " + shown[-160:])
            for name in settings or ():
                real(f"SELECT set_config('{name}', 'off', false)")
            plan = real(prefix + inner, inner_params).fetchall()
            for name in settings or ():
                real(f"SELECT set_config('{name}', 'on', false)")
            lines.extend("    " + str(row[-1]) for row in plan)
        return real(sql, params)

    database.db.obj.execute_sql = capture  # type: ignore[method-assign]
    try:
        _, variables = _variables(q, t)
        flt = variables["filter"] or {}
        spec = user_list.UserFilter(
            search=flt.get("search"),
            usage_location=flt.get("usageLocation"),
            department=flt.get("department"),
            has_license=flt.get("hasLicense"),
            account_enabled=flt.get("accountEnabled"),
        )
        tenant = Tenant.get_by_id(t.id)
        after = after_key(t.deep_cursor) if q.deep else None
        user_list.users_page(tenant, spec, after=after, size=20)
        if q.count:
            user_list.count_users(tenant, spec)
    finally:
        database.db.obj.execute_sql = real  # type: ignore[method-assign]
        database.close()
    return lines


def run(url: str, label: str, sizes: list[int], trials: int, target: float, pg: bool) -> bool:
    print(f"\n== {label}")
    started = time.perf_counter()
    tenants = build(url, sizes)
    print(f"  built in {time.perf_counter() - started:.1f} s")
    server, base = start_server(url, 1, "bench-scale")
    met = True
    try:
        rounds = [("no ANALYZE since the bulk build" if pg else "SQLite", None)]
        if pg:
            rounds.append(("after ANALYZE", "ANALYZE"))
        for round_label, before in rounds:
            if before:
                database.bind(url)
                database.db.execute_sql(before)
                database.close()
            results = measure(base, tenants, trials, f"{label}, {round_label}")
            for q in QUERIES:
                small, large, _ = results[q.name]
                if large / small > target:
                    met = False
                    print(f"\n  ratio {large / small:.2f} > {target} for {q.name}; plan:")
                    for line in explain(url, q, tenants[1]):
                        print("    " + line)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=40)
    return met


def _admin(url: str) -> peewee.PostgresqlDatabase:
    parsed = urlparse(url)
    return peewee.PostgresqlDatabase(
        parsed.path.lstrip("/") or "postgres",
        user=parsed.username,
        password=parsed.password,
        host=parsed.hostname,
        port=parsed.port or 5432,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=200_000, help="the large tenant's users")
    parser.add_argument("--small", type=int, default=1_000, help="the small tenant's users")
    parser.add_argument("--trials", type=int, default=15)
    parser.add_argument(
        "--pg",
        default=os.environ.get(
            "COMMCREDITS_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
        help="a PostgreSQL server (URL of any database on it) to create a throwaway one on",
    )
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    args = parser.parse_args()
    target = TARGET_RATIO_MILLION if args.users >= 1_000_000 else TARGET_RATIO
    sizes = [args.small, args.users]
    met = True
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            met &= run(f"sqlite:///{tmp}/scale.db", "SQLite", sizes, args.trials, target, False)
    if not args.no_pg:
        name = f"commcredits_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        admin = _admin(args.pg)
        admin.execute_sql(f'CREATE DATABASE "{name}"')
        url = urlunparse(urlparse(args.pg)._replace(path="/" + name))
        try:
            met &= run(url, "PostgreSQL", sizes, args.trials, target, True)
        finally:
            database.close()
            admin.execute_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.close()
    print(f"\ntarget: every ratio <= {target}: {'met' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
