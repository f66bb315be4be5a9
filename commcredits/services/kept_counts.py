"""`commcredits audit`: the counts kept by triggers and services, recounted from the rows they
count. Large tenants' reads trust them (issue 16: a page's `totalCount`, pooled minutes, a
group's summary) and so do seats; a count that drifted would answer wrong without a sign.

Each check is a pair of queries giving (key…, number) rows: what is kept, and what the rows
say. A key missing on one side counts 0 there (kept rows at 0 are left in place by some
triggers). Every query reads one snapshot (a read-only REPEATABLE READ transaction on
PostgreSQL, one deferred transaction on SQLite's WAL), so a write committed while the audit
runs cannot pass for a difference. The recounts read whole tables: an operator's command,
run off-peak.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from commcredits.db import db, is_sqlite
from commcredits.services.catalog import Catalog
from commcredits.services.pools import pooled_sku_ids


@dataclass(frozen=True)
class Difference:
    kept_in: str  # where the count is kept
    key: tuple[Any, ...]  # which count (ids and the like, as the table keys it)
    kept: int
    counted: int


# Members in error, from the states: distinct users with an Error state, for members only (a
# state is only written for a member), per group and per group and code.
_IN_ERROR = """FROM group_license_state s JOIN group_member m
  ON m.group_id = s.group_id AND m.user_id = s.user_id WHERE s.state = 'Error'"""
_IN_ERROR_PER_GROUP = f"SELECT s.group_id, COUNT(DISTINCT s.user_id) {_IN_ERROR} GROUP BY 1"
_IN_ERROR_PER_CODE = (
    f"SELECT s.group_id, COALESCE(s.error, ''), COUNT(DISTINCT s.user_id) {_IN_ERROR} GROUP BY 1, 2"
)
_POOLED = "sku_id IN (SELECT sku_id FROM pooled_sku)"
_LINE = "sku_id || ' ' || COALESCE(disabled_plans, '')"


def _license_sets() -> str:
    """Users per (tenant, usage location, set of pooled licenses), the set written as migration
    0027's triggers write it: `sku disabled-plans` lines in SKU order."""
    if is_sqlite():
        # (SQLite keeps a FROM subquery's ORDER BY for the aggregate over it.)
        one_set = (
            f"(SELECT group_concat(e, char(10)) FROM (SELECT sku_id AS s, {_LINE} AS e "
            f"FROM license_assignment WHERE user_id = u.id AND {_POOLED} ORDER BY s))"
        )
        return f"""SELECT u.tenant_id, COALESCE(u.usage_location, ''), {one_set}, COUNT(*)
            FROM directory_user u
            WHERE EXISTS (SELECT 1 FROM license_assignment a WHERE a.user_id = u.id
                          AND a.{_POOLED})
            GROUP BY 1, 2, 3"""
    return f"""SELECT u.tenant_id, COALESCE(u.usage_location, ''), s.l, COUNT(*)
        FROM (SELECT user_id, string_agg({_LINE}, E'\\n' ORDER BY sku_id) AS l
              FROM license_assignment WHERE {_POOLED} GROUP BY user_id) s
        JOIN directory_user u ON u.id = s.user_id
        GROUP BY 1, 2, 3"""


def _pooled_skus() -> list[tuple[int, int]]:
    """The SKUs that are pooled by the service's rule (`pools.pooled_sku_ids`), read in the
    audit's snapshot: migration 0027's triggers keep `pooled_sku` by their own copy of it."""
    return [(pk, 1) for pk in pooled_sku_ids(Catalog.load())]


# A recount: a query, or what the service says (rows as a query gives them), or None (there
# should be no rows at all).
Recount = str | Callable[[], Iterable[tuple[Any, ...]]] | None


def _checks() -> list[tuple[str, str, Recount]]:
    """(where the count is kept, the kept rows, the recount)."""
    checks = [
        (
            "subscription.consumed_units (seats)",
            "SELECT tenant_id, sku_id, consumed_units FROM subscription",
            "SELECT tenant_id, sku_id, COUNT(*) FROM license_assignment GROUP BY 1, 2",
        ),
        (
            # Per user: a group gives an assignment exactly when one of its states is Active.
            "license_assignment inherited from groups (per user and SKU)",
            "SELECT tenant_id, user_id, sku_id, 1 FROM license_assignment "
            "WHERE inherited_plans IS NOT NULL",
            "SELECT DISTINCT tenant_id, user_id, sku_id, 1 FROM group_license_state "
            "WHERE state = 'Active'",
        ),
        (
            "license_assignment with no source (neither direct nor from a group)",
            "SELECT tenant_id, sku_id, COUNT(*) FROM license_assignment "
            "WHERE NOT direct AND inherited_plans IS NULL GROUP BY 1, 2",
            None,  # there should be none
        ),
        (
            "tenant_user_count",
            "SELECT tenant_id, users FROM tenant_user_count",
            "SELECT tenant_id, COUNT(*) FROM directory_user GROUP BY 1",
        ),
        (
            "directory_group.member_count",
            "SELECT id, member_count FROM directory_group",
            "SELECT group_id, COUNT(*) FROM group_member GROUP BY 1",
        ),
        (
            "group_member_error (members in error, per group)",
            "SELECT group_id, COUNT(*) FROM group_member_error GROUP BY 1",
            _IN_ERROR_PER_GROUP,
        ),
        (
            "group_error_count, any code",
            "SELECT group_id, members FROM group_error_count WHERE error = '*'",
            _IN_ERROR_PER_GROUP,
        ),
        (
            "group_error_count, per code",
            "SELECT group_id, error, members FROM group_error_count WHERE error <> '*'",
            _IN_ERROR_PER_CODE,
        ),
        (
            "group_member_error_code (members in error, per group and code)",
            "SELECT group_id, error, COUNT(*) FROM group_member_error_code GROUP BY 1, 2",
            _IN_ERROR_PER_CODE,
        ),
        (
            # The SKUs whose licenses count toward the pools, kept by triggers on sku (0027):
            # the license sets below take them as given.
            "pooled_sku",
            "SELECT sku_id, 1 FROM pooled_sku",
            _pooled_skus,
        ),
        (
            "user_license_set_count (pooled minutes)",
            "SELECT tenant_id, usage_location, licenses, users FROM user_license_set_count",
            _license_sets(),
        ),
    ]
    if not is_sqlite():  # migration 0022 keeps it on PostgreSQL only
        checks.append(
            (
                "user_location_sku_count",
                "SELECT tenant_id, usage_location, sku_id, users FROM user_location_sku_count",
                "SELECT a.tenant_id, COALESCE(u.usage_location, ''), a.sku_id, COUNT(*) "
                "FROM license_assignment a JOIN directory_user u ON u.id = a.user_id "
                "GROUP BY 1, 2, 3",
            )
        )
    return checks


def kept_count_differences() -> list[Difference]:
    """Every kept count that is not what its rows say, check by check, in key order."""
    found: list[Difference] = []
    with _snapshot():
        for kept_in, kept_sql, counted_sql in _checks():
            kept = _numbers(db.execute_sql(kept_sql).fetchall())
            counted = _numbers(_recount(counted_sql))
            for key in sorted(kept.keys() | counted.keys(), key=repr):
                if kept.get(key, 0) != counted.get(key, 0):
                    found.append(Difference(kept_in, key, kept.get(key, 0), counted.get(key, 0)))
    return found


def _recount(recount: Recount) -> Iterable[tuple[Any, ...]]:
    if recount is None:
        return ()
    if callable(recount):
        return recount()
    return db.execute_sql(recount).fetchall()


@contextmanager
def _snapshot() -> Iterator[None]:
    """One read-only snapshot for every query inside: PostgreSQL's REPEATABLE READ (its first
    query takes it); on SQLite a deferred transaction, whose first read takes the WAL
    snapshot (IMMEDIATE, the default here, would take the write lock and stop writers)."""
    if is_sqlite():
        with db.atomic(lock_type="DEFERRED"):
            yield
        return
    # A caller's transaction: its isolation is the caller's to choose (under READ COMMITTED
    # each query then reads the database as it is at that query).
    if db.in_transaction():
        yield
        return
    with db.atomic():
        db.execute_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield


def _numbers(rows: Iterable[tuple[Any, ...]]) -> dict[tuple[Any, ...], int]:
    """{key: number} of (key…, number) rows, the zeros left out."""
    return {tuple(row[:-1]): int(row[-1]) for row in rows if row[-1]}
