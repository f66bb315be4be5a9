"""`group { licenseSummary }` on large groups (issue 16, services/group_summary.py, migration
0033): the counts of members in error follow every writer of the states, the summary says what
the states say, and it costs the same statements doing the same work on a larger group."""

from __future__ import annotations

import datetime as dt
import importlib
import json
from collections.abc import Callable
from typing import Any

import pytest

from commcredits import db as database
from commcredits.migrate import migrate
from commcredits.models import Group, GroupLicenseState
from commcredits.models.groups import PROCESSING_IN_PROGRESS
from commcredits.schema.common import to_global_id
from commcredits.services import group_assign, group_summary, groups, users
from commcredits.services.access import SYSTEM
from commcredits.services.group_summary import LicenseSummary
from commcredits.services.tenants import create_tenant
from tests.helpers import (
    add_five_users,
    buy,
    group_with_errors,
    license_summary_from_states,
    older_schema,
    rows_read,
    sqlite_steps,
    statements_sent,
    upn,
)

NOW = dt.datetime(2026, 12, 5, 10, 0, tzinfo=dt.UTC)
MIGRATION = importlib.import_module("commcredits.migrations.0033_group_error_counts")
STATEMENTS = importlib.import_module("commcredits.migrations.0034_group_error_insert_statements")
SUMMARY = """query($g: ID!) { group(id: $g) {
  licenseSummary { members licensed inError errors { error count } } } }"""


def _summary(group_id: int) -> LicenseSummary:
    return group_summary.license_summary(Group.get_by_id(group_id))


def _kept_as_filled() -> None:
    """Migration 0033's tables hold what its fill makes of the states now (a count of 0 is a
    row the fill leaves out)."""
    db = database.db
    code_fill, *count_fills = (sql.split("\n", 1)[1] for sql in MIGRATION._FILLS)
    kept = sorted(db.execute_sql("SELECT * FROM group_member_error_code").fetchall())
    assert kept == sorted(db.execute_sql(code_fill).fetchall())
    counts = "SELECT group_id, error, members FROM group_error_count WHERE members <> 0"
    filled = [row for sql in count_fills for row in db.execute_sql(sql).fetchall()]
    assert sorted(db.execute_sql(counts).fetchall()) == sorted(filled)


def test_the_summary_follows_processing_reprocessing_leaving_and_deleting(tenant, clock):
    add_five_users(tenant, clock())
    buy(tenant, clock(), SPE_E5=1, MCOEV=3)
    g = groups.create_group(tenant, SYSTEM, "Sales", now=clock()).id
    aliases = ["anna", "ben", "carla", "eve"]
    groups.add_members(tenant, SYSTEM, g, [f"{a}@fabrikam.example" for a in aliases],
                       now=clock())  # fmt: skip
    assert _summary(g) == LicenseSummary(members=4, licensed=0, in_error=0, errors={})
    adds = [group_assign.GroupLicenseInput("SPE_E5"), group_assign.GroupLicenseInput("MCOEV")]
    group_assign.assign_group_license(tenant, SYSTEM, g, adds, [], now=clock())
    # One E5 seat: anna gets it; the others are in error for both SKUs (all or nothing),
    # each counted once.
    expected = LicenseSummary(members=4, licensed=1, in_error=3, errors={"CountViolation": 3})
    assert _summary(g) == expected == license_summary_from_states(g)
    _kept_as_filled()
    steps: list[Callable[[], Any]] = [
        lambda: groups.remove_members(tenant, SYSTEM, g, ["carla@fabrikam.example"], now=clock()),
        lambda: users.delete_user(tenant, SYSTEM, "eve@fabrikam.example", now=clock()),
        lambda: buy(tenant, clock(), SPE_E5=1),  # ben gets the new seat at once
        lambda: group_assign.reprocess_group(tenant, SYSTEM, g, now=clock()),
        lambda: groups.add_members(tenant, SYSTEM, g, ["carla@fabrikam.example"], now=clock()),
        lambda: group_assign.assign_group_license(
            tenant, SYSTEM, g, [], ["SPE_E5", "MCOEV"], now=clock()
        ),
        lambda: group_assign.assign_group_license(tenant, SYSTEM, g, adds, [], now=clock()),
    ]
    seen = []
    for step in steps:
        step()
        found = _summary(g)
        assert found == license_summary_from_states(g)
        seen.append((found.licensed, found.in_error))
        _kept_as_filled()
    assert seen == [(1, 2), (1, 1), (2, 0), (2, 0), (2, 1), (0, 0), (2, 1)]
    groups.delete_group(tenant, SYSTEM, g, now=clock())
    for table in ("group_error_count", "group_member_error_code"):
        assert database.db.execute_sql(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0


def test_codes_are_counted_per_member_and_follow_a_changed_code(tenant, clock):
    """Member 1 in error for both SKUs (counted once), then for one with another code; member
    3 for one."""
    group = group_with_errors(tenant, clock(), 5, lambda i: {1: 2, 3: 1}.get(i, 0))
    assert _summary(group.id) == LicenseSummary(
        members=5, licensed=3, in_error=2, errors={"CountViolation": 2}
    )
    first = (
        GroupLicenseState.select()
        .where((GroupLicenseState.group == group.id) & (GroupLicenseState.state == "Error"))
        .order_by(GroupLicenseState.id.desc())
        .first()
    )  # member 1's second (members were added in reverse)
    GroupLicenseState.update(error="ProhibitedInUsageLocationViolation").where(
        GroupLicenseState.id == first.id
    ).execute()
    assert _summary(group.id) == license_summary_from_states(group.id)
    assert _summary(group.id).errors == {
        "CountViolation": 2,
        "ProhibitedInUsageLocationViolation": 1,
    }
    _kept_as_filled()
    # The same code written again (an UPDATE that changes nothing) counts nothing twice.
    GroupLicenseState.update(error="CountViolation").where(
        GroupLicenseState.state == "Error"
    ).execute()
    GroupLicenseState.update(state="Error").where(GroupLicenseState.state == "Error").execute()
    assert _summary(group.id).errors == {"CountViolation": 2}
    GroupLicenseState.update(state="Active", error=None).where(
        GroupLicenseState.group == group.id
    ).execute()
    assert _summary(group.id) == LicenseSummary(members=5, licensed=5, in_error=0, errors={})
    _kept_as_filled()


def test_a_group_in_progress_counts_its_licensed_members_from_the_states(tenant, clock):
    """While a run is in progress, members not reached yet may lack a new license's state:
    the summary reads the states (members 0 and 1 hold only one of the two SKUs)."""
    group = group_with_errors(tenant, clock(), 6, lambda i: 0)
    GroupLicenseState.delete().where(
        (GroupLicenseState.group == group.id)
        & (GroupLicenseState.id.in_(
            GroupLicenseState.select(GroupLicenseState.id)
            .where(GroupLicenseState.group == group.id)
            .order_by(GroupLicenseState.id)
            .limit(2)
        ))
    ).execute()  # fmt: skip
    Group.update(processing_state=PROCESSING_IN_PROGRESS).where(Group.id == group.id).execute()
    assert _summary(group.id) == LicenseSummary(members=6, licensed=5, in_error=0, errors={})
    assert _summary(group.id) == license_summary_from_states(group.id)


def test_the_summary_is_of_the_group_as_it_is_now_not_as_it_was_read(tenant, clock):
    """The group row given may be older than the counts (members added by another request in
    between): the summary reads the group's member count and state with its counts."""
    add_five_users(tenant, clock())
    buy(tenant, clock(), SPE_E5=1)
    g = groups.create_group(tenant, SYSTEM, "Sales", now=clock()).id
    group_assign.assign_group_license(
        tenant, SYSTEM, g, [group_assign.GroupLicenseInput("SPE_E5")], [], now=clock()
    )
    read_before = Group.get_by_id(g)
    groups.add_members(tenant, SYSTEM, g, [upn(a) for a in ("anna", "ben", "carla")], now=clock())
    assert read_before.member_count == 0
    found = group_summary.license_summary(read_before)
    assert found == LicenseSummary(members=3, licensed=1, in_error=2, errors={"CountViolation": 2})
    assert found == license_summary_from_states(g)


def test_the_summary_over_graphql(api, tenant, clock):
    group = group_with_errors(tenant, clock(), 4, lambda i: 1 if i == 2 else 0)
    out = api(SUMMARY, {"g": to_global_id("Group", group.id)})["group"]["licenseSummary"]
    assert out == {
        "members": 4,
        "licensed": 3,
        "inError": 1,
        "errors": [{"error": "CountViolation", "count": 1}],
    }


# -- Work does not grow with the group --------------------------------------------------------


def _work(sql: str, params: Any) -> int:
    """SQLite: the virtual machine's steps; PostgreSQL: the rows its plan read."""
    if database.is_sqlite():
        return sqlite_steps(sql, params)
    plan = database.db.execute_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params).fetchone()[0]
    plan = plan if isinstance(plan, list) else json.loads(plan)
    return rows_read(plan[0]["Plan"])


def test_the_summary_costs_the_same_on_a_group_twenty_times_larger(tenant, clock):
    """Every 10th member in error, of 100 and of 2,000: one statement each, doing the same work
    (a walk of the states would take 20 times more)."""
    every_tenth = lambda i: 1 if i % 10 == 3 else 0  # noqa: E731
    small = group_with_errors(tenant, clock(), 100, every_tenth, "small")
    large = group_with_errors(tenant, clock(), 2000, every_tenth, "large")
    assert _summary(large.id) == license_summary_from_states(large.id)
    work = []
    for group in (small, large):
        sent = statements_sent(lambda g=group: group_summary.license_summary(g))
        work.append([(sql, _work(sql, params)) for sql, params in sent])
    assert [sql for sql, _ in work[0]] == [sql for sql, _ in work[1]]
    assert len(work[0]) == 1  # the group, its licenses and its counts
    for (sql, a), (_, b) in zip(*work, strict=True):
        # A few more on PostgreSQL: a count updated 200 times has left index entries of old
        # versions of its row that pruning has not removed yet (the states read are 2,200).
        assert b <= a + 10, (sql, a, b)


def test_the_migration_counts_the_errors_of_an_existing_database(blank_url):
    database.bind(blank_url)
    assert migrate("0032_user_search_count")[-1] == "0032_user_search_count"
    with older_schema():
        tenant = create_tenant(
            SYSTEM, name="Older", country="DE", currency="EUR", agreement_type="MOSA",
            now=NOW,
        )  # fmt: skip
        group = group_with_errors(tenant, NOW, 30, lambda i: i % 3)
        expected = license_summary_from_states(group.id)
    assert "0033_group_error_counts" in migrate()
    with database.db.connection_context():
        assert (
            _summary(group.id)
            == expected
            == LicenseSummary(members=30, licensed=10, in_error=20, errors={"CountViolation": 20})
        )
        _kept_as_filled()
        # down() drops its tables and triggers; up() fills them again.
        MIGRATION.down(None, database.db.obj)
        MIGRATION.up(None, database.db.obj)
        assert _summary(group.id) == expected


def _insert_triggers_per_row() -> dict[str, bool]:
    """PostgreSQL: whether each of 0034's INSERT triggers fires per row (pg_trigger.tgtype's
    first bit) rather than per statement."""
    names = [trigger for trigger, *_ in STATEMENTS._REPLACED]
    rows = database.db.execute_sql(
        "SELECT tgname, (tgtype::int & 1) = 1 FROM pg_trigger WHERE tgname = ANY(%s)", (names,)
    ).fetchall()
    return dict(rows)


@pytest.mark.backends("postgresql")  # migration 0034 changes PostgreSQL's triggers only
def test_postgresql_keeps_the_errors_per_insert_statement(tenant, clock):
    """Multi-row INSERTs of states (processing writes 1,000 a statement) keep the sets and
    counts by statement triggers; down() puts 0029's and 0033's row triggers back, which keep
    them the same."""
    assert _insert_triggers_per_row() == dict.fromkeys(_insert_triggers_per_row(), False)
    assert len(_insert_triggers_per_row()) == 4
    first = group_with_errors(tenant, clock(), 60, lambda i: i % 3, "first")
    assert _summary(first.id) == license_summary_from_states(first.id)
    _kept_as_filled()
    STATEMENTS.down(None, database.db.obj)
    assert set(_insert_triggers_per_row().values()) == {True}
    second = group_with_errors(tenant, clock(), 60, lambda i: i % 3, "second")
    assert _summary(second.id) == license_summary_from_states(second.id) == _summary(first.id)
    _kept_as_filled()
    STATEMENTS.up(None, database.db.obj)
    assert set(_insert_triggers_per_row().values()) == {False}
    # A rollback past both (0033's down() drops the triggers by name and leaves 0034's
    # functions), then both again: 0034 builds its triggers over what is there.
    MIGRATION.down(None, database.db.obj)
    MIGRATION.up(None, database.db.obj)
    STATEMENTS.up(None, database.db.obj)
    assert set(_insert_triggers_per_row().values()) == {False}
    third = group_with_errors(tenant, clock(), 60, lambda i: i % 3, "third")
    assert _summary(third.id) == license_summary_from_states(third.id) == _summary(first.id)
    _kept_as_filled()
