"""`users` and the other lists on a large tenant: every filter, search, count and deep page
stays flat (issue 16).

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

The large tenant also has 200,000 call records (`--calls`), half as many audit entries and
ledger entries and a tenth as many invoices; the small one a thousand of each (`--small`).
`auditLog`, `callRecords`, `creditTransactions` and `invoices` are measured the same way, each
filter with and without `totalCount`. `rates` is global: the sample card against an imported
card of 100,000 rows (`--rates`). `--no-users` skips the `users` queries and gives the large
tenant only `--small` users (its calls are spread over those), to iterate on the other lists.

Target: every ratio ≤ 3 at 200,000 users (≤ 5 with `--users 1000000`). Exit status 1 if missed.

    .venv/bin/python bench/bench_scale.py [--users 200000] [--calls 200000] [--rates 100000]
        [--trials 15] [--pg URL | --no-pg] [--no-users]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import signal
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from db_options import add_options, each_database  # noqa: E402
from load import start_server  # noqa: E402
from scale_tenants import TenantData, build  # noqa: E402

from commcredits import db as database  # noqa: E402
from commcredits.clock import utcnow  # noqa: E402
from commcredits.models import (  # noqa: E402
    Tenant,
)
from commcredits.schema.pages import after_key  # noqa: E402
from commcredits.services import user_list  # noqa: E402

TARGET_RATIO = 3.0
TARGET_RATIO_MILLION = 5.0
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


def _ago(days: float) -> str:
    return (utcnow() - dt.timedelta(days=days)).isoformat()


@dataclass
class ListQuery:
    """One query of a list other than `users`: its document and its variables per tenant."""

    name: str
    text: str
    variables: Callable[[TenantData], dict[str, Any]] = lambda t: {}


_LISTS = {
    "auditLog": (
        "query($first: Int, $after: String, $filter: AuditLogFilter) {\n"
        "  auditLog(first: $first, after: $after, filter: $filter) {%s}\n}",
        "id action targetType at",
    ),
    "callRecords": (
        "query($first: Int, $after: String, $filter: CallRecordFilter) {\n"
        "  callRecords(first: $first, after: $after, filter: $filter) {%s}\n}",
        "id callId status callType startedAt userPrincipalName",
    ),
    "creditTransactions": (
        "query($first: Int, $after: String, $filter: CreditTransactionFilter) {\n"
        "  tenant { creditTransactions(first: $first, after: $after, filter: $filter) {%s} }\n}",
        "id sequence kind createdAt",
    ),
    "invoices": (
        "query($first: Int, $after: String) {\n"
        "  tenant { invoices(first: $first, after: $after) {%s} }\n}",
        "id number issuedAt status",
    ),
    "rates": (
        "query($first: Int, $after: String, $filter: RateFilter) {\n"
        "  rates(first: $first, after: $after, filter: $filter) {%s}\n}",
        "id callType prefix country",
    ),
}


def _list_text(name: str, count: bool) -> str:
    text, node = _LISTS[name]
    body = f" edges {{ cursor node {{ {node} }} }} pageInfo {{ hasNextPage endCursor }}"
    return text % (body + (" totalCount" if count else "") + " ")


def _list_queries() -> list[ListQuery]:
    """Each list's first page, each filter, a deep page; each with and without totalCount."""
    cases: list[tuple[str, str, Callable[[TenantData], dict[str, Any]]]] = [
        ("auditLog", "", lambda t: {}),
        ("auditLog", "action purchaseCredits", lambda t: {"action": "purchaseCredits"}),
        ("auditLog", "action revokeApiKey (rare)", lambda t: {"action": "revokeApiKey"}),
        ("auditLog", "targetType Tenant", lambda t: {"targetType": "Tenant"}),
        (
            "auditLog",
            "action + targetType",
            lambda t: {"action": "updateUser", "targetType": "User"},
        ),
        ("callRecords", "", lambda t: {}),
        ("callRecords", "user (global id)", lambda t: {"user": t.call_user}),
        ("callRecords", "user (UPN)", lambda t: {"user": t.call_upn}),
        ("callRecords", "from/to last 7 days", lambda t: {"from": _ago(7), "to": _ago(0)}),
        (
            "callRecords",
            "from/to a month, a year ago",
            lambda t: {"from": _ago(360), "to": _ago(330)},
        ),
        ("callRecords", "status BLOCKED", lambda t: {"status": "BLOCKED"}),
        ("callRecords", "callType TOLL_FREE_INBOUND", lambda t: {"callType": "TOLL_FREE_INBOUND"}),
        (
            "callRecords",
            "callType + status",
            lambda t: {"callType": "INTERNATIONAL", "status": "RATED"},
        ),
        ("creditTransactions", "", lambda t: {}),
        ("creditTransactions", "kinds FUNDED", lambda t: {"kinds": ["FUNDED"]}),
        (
            "creditTransactions",
            "kinds EXPIRED, ADJUSTED",
            lambda t: {"kinds": ["EXPIRED", "ADJUSTED"]},
        ),
        ("creditTransactions", "reference (one entry)", lambda t: {"reference": t.reference}),
        ("creditTransactions", "from/to last 7 days", lambda t: {"from": _ago(7), "to": _ago(0)}),
        ("invoices", "", lambda t: {}),
        ("rates", "", lambda t: {"cardId": t.card}),
        (
            "rates",
            "callType INTERNATIONAL",
            lambda t: {"cardId": t.card, "callType": "INTERNATIONAL"},
        ),
        ("rates", "country FR", lambda t: {"cardId": t.card, "country": "FR"}),
        ("rates", "prefix 49", lambda t: {"cardId": t.card, "prefix": "49"}),
    ]
    queries = []
    for lst, label, flt in cases:
        for count in (False, True):
            name = f"{lst} {label or 'first page'}" + (" + totalCount" if count else "")

            def variables(t: TenantData, flt=flt, lst=lst) -> dict[str, Any]:
                f = flt(t)
                return {"first": 20, "filter": f or None} if lst != "invoices" else {"first": 20}

            queries.append(ListQuery(name, _list_text(lst, count), variables))
    queries.append(
        ListQuery(
            "callRecords deep page (newest half skipped)",
            _list_text("callRecords", False),
            lambda t: {"first": 20, "after": t.deep_call},
        )
    )
    return queries


LIST_QUERIES = _list_queries()
# Not a list, but read again by the console's Calls page after every call it hears of.
LIST_QUERIES.append(
    ListQuery(
        "usageSummary (this month)",
        "query { usageSummary { month calls blockedCalls minutes poolMinutes chargedMinutes"
        " spent { amount currency } lines { callType country calls chargedMinutes } } }",
    )
)
# Read by the console's Credits page on every visit; it reads ledger_day (migration 0030).
LIST_QUERIES.append(
    ListQuery(
        "balance history(days: 90)",
        "query { tenant { balance { history(days: 90) { date balance { amount currency } } } } }",
    )
)
# The admin center's usage-per-user report: the month's users with calls, in user order.
_CREDITS_USAGE = (
    "query { communicationCreditsUsage(first: 20) { nodes { user { userPrincipalName } "
    "spent { amount currency } calls blockedCalls } pageInfo { hasNextPage endCursor }%s } }"
)
LIST_QUERIES += [
    ListQuery("communicationCreditsUsage first page", _CREDITS_USAGE % ""),
    ListQuery("communicationCreditsUsage + totalCount", _CREDITS_USAGE % " totalCount"),
]
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


def _variables(q: Query, t: TenantData) -> tuple[str, dict[str, Any]]:
    flt = dict(q.filter or {})
    if q.terms is not None:
        flt["search"] = q.terms(t)
    variables: dict[str, Any] = {"first": 20, "filter": flt or None}
    if q.deep:
        variables["after"] = t.deep_cursor
    return (COUNTED if q.count else PLAIN), variables


def request(client: httpx.Client, base: str, q: Query | ListQuery, t: TenantData) -> float:
    text, variables = (q.text, q.variables(t)) if isinstance(q, ListQuery) else _variables(q, t)
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


def measure(
    base: str,
    tenants: list[TenantData],
    trials: int,
    label: str,
    queries: list[Query] | list[ListQuery],
) -> dict[str, Any]:
    with httpx.Client(timeout=300) as client:
        results = {}
        for q in queries:
            # The first request of each query on each tenant is timed too: on PostgreSQL
            # right after the build, it is the one no statistics have helped.
            times: list[list[float]] = [[] for _ in tenants]
            for _ in range(trials):
                for i, t in enumerate(tenants):  # in turns, so drift hits both alike
                    times[i].append(request(client, base, q, t))
            results[q.name] = [statistics.median(ts) for ts in times] + [max(times[1])]
    print(f"\n{label}: median of {trials} requests over HTTP (ms)")
    if isinstance(queries[0], Query):
        sides = f"{tenants[0].size:>10,} {tenants[1].size:>10,}"
    else:
        sides = f"{tenants[0].calls:>10,} {tenants[1].calls:>10,}"
    width = max(44, *(len(n) for n in results))
    print(f"  {'query':{width}} {sides}  ratio  (large max)")
    for name, (small, large, worst) in results.items():
        print(f"  {name:{width}} {small:10.2f} {large:10.2f}  {large / small:5.2f}  ({worst:.1f})")
    return results


# A PostgreSQL page or capped count runs through a function with planner settings of its own
# (migrations 0012, 0013): its query is explained under the same settings.
_FUNCTION_SETTINGS = {
    '_in_id_order"': ("enable_sort", "jit"),
    '"directory_user_count_by_index"': ("enable_sort", "enable_bitmapscan", "jit"),
    '"list_count_by_index"': ("enable_sort", "enable_bitmapscan", "enable_seqscan", "jit"),
}
_LIST_TABLES = ('"audit_entry"', '"call_record"', '"ledger_entry"', '"invoice"', '"rate"')


@contextlib.contextmanager
def plans_of(url: str, tables: tuple[str, ...]) -> Iterator[list[str]]:
    """While open, each SELECT over one of `tables` that this process runs on `url` is
    explained as it runs (under its function's settings); the lines gather in the list."""
    database.bind(url)
    lines: list[str] = []
    real = database.db.obj.execute_sql
    prefix = "EXPLAIN QUERY PLAN " if database.is_sqlite() else "EXPLAIN "

    def capture(sql: str, params: Any = None) -> Any:
        settings = next((v for k, v in _FUNCTION_SETTINGS.items() if k in sql), None)
        # The function's query has its values quoted in: its % are not placeholders.
        inner, inner_params = (params[0].replace("%", "%%"), ()) if settings else (sql, params)
        if inner.lstrip().upper().startswith("SELECT") and any(n in inner for n in tables):
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
        yield lines
    finally:
        database.db.obj.execute_sql = real  # type: ignore[method-assign]
        database.close()


def explain(url: str, q: Query, t: TenantData) -> list[str]:
    """The plan of each statement the service runs for this users query."""
    with plans_of(url, ('"directory_user"',)) as lines:
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
    return lines


def explain_list(url: str, q: ListQuery, t: TenantData) -> list[str]:
    """The plan of each SELECT over a list's table that one request runs in this process."""
    with warnings.catch_warnings():  # httpx under the test client: deprecated, still works
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    from commcredits.app import create_app

    with plans_of(url, _LIST_TABLES) as lines:
        # No lifespan (no background jobs): the one request, on the database bound here.
        TestClient(create_app(bind_database=False)).post(
            "/graphql",
            json={"query": q.text, "variables": q.variables(t)},
            headers={"Authorization": f"Bearer {t.key}"},
        )
    return lines


def run(
    url: str,
    label: str,
    sizes: list[int],
    trials: int,
    target: float,
    pg: bool,
    *,
    calls: list[int],
    rates: int,
    users: bool,
) -> bool:
    print(f"\n== {label}")
    started = time.perf_counter()
    tenants = build(url, sizes, calls, rates)
    print(f"  built in {time.perf_counter() - started:.1f} s")
    server, base = start_server(url, 1, "bench-scale")
    met = True
    try:
        rounds = [("no ANALYZE since the bulk build" if pg else "", None)]
        if pg:
            rounds.append(("after ANALYZE", "ANALYZE"))
        for round_label, before in rounds:
            title = f"{label}, {round_label}" if round_label else label
            if before:
                database.bind(url)
                database.db.execute_sql(before)
                database.close()
            if users:
                results = measure(base, tenants, trials, title, QUERIES)
                for q in QUERIES:
                    small, large, _ = results[q.name]
                    if large / small > target:
                        met = False
                        print(f"\n  ratio {large / small:.2f} > {target} for {q.name}; plan:")
                        for line in explain(url, q, tenants[1]):
                            print("    " + line)
            others = f"{title}, the other lists (calls per tenant; rates: rows)"
            results = measure(base, tenants, trials, others, LIST_QUERIES)
            for lq in LIST_QUERIES:
                small, large, _ = results[lq.name]
                if large / small > target:
                    met = False
                    print(f"\n  ratio {large / small:.2f} > {target} for {lq.name}; plan:")
                    for line in explain_list(url, lq, tenants[1]):
                        print("    " + line)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=40)
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=200_000, help="the large tenant's users")
    parser.add_argument("--small", type=int, default=1_000, help="the small tenant's users")
    parser.add_argument("--calls", type=int, default=200_000, help="the large tenant's calls")
    parser.add_argument("--rates", type=int, default=100_000, help="rows of the large card")
    parser.add_argument(
        "--no-users",
        action="store_true",
        help="skip the users queries (the large tenant: --small users)",
    )
    parser.add_argument("--trials", type=int, default=15)
    add_options(parser)
    args = parser.parse_args()
    target = TARGET_RATIO_MILLION if args.users >= 1_000_000 else TARGET_RATIO
    sizes = [args.small, args.small if args.no_users else args.users]
    more = {"calls": [args.small, args.calls], "rates": args.rates, "users": not args.no_users}
    met = True
    for kind, url in each_database(args, "bench_scale"):
        met &= run(url, kind, sizes, args.trials, target, kind == "PostgreSQL", **more)
    print(f"\ntarget: every ratio <= {target}: {'met' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
