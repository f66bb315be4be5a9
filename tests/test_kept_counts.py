"""`commcredits audit` recounts every count kept by triggers and services (services/kept_counts):
none differs on a tenant with direct and group licenses, pooled SKUs, members in error and a
deleted user; each one tampered with is named, with its key, on both databases; the CLI says
so and exits 1."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from commcredits import cli
from commcredits import db as database
from commcredits.services import group_assign, groups, licenses, users
from commcredits.services.access import SYSTEM
from commcredits.services.group_assign import GroupLicenseInput as GL
from commcredits.services.kept_counts import kept_count_differences
from commcredits.services.licenses import AddLicense, LicenseRequest
from tests.helpers import add_five_users, buy, upn


@pytest.fixture
def office(tenant, clock):
    """anna … eve; anna and ben with Teams Phone and a calling plan (pooled minutes) directly;
    a group giving E5 to four members with two seats (two in CountViolation); eve deleted."""
    add_five_users(tenant, clock())
    buy(tenant, clock(), MCOEV=5, MCOPSTN1=5, SPE_E5=2)
    for alias in ("anna", "ben"):
        request = LicenseRequest(upn(alias), (AddLicense("MCOEV"), AddLicense("MCOPSTN1")), ())
        assert licenses.assign_license(tenant, SYSTEM, request, now=clock()).ok
    g = groups.create_group(tenant, SYSTEM, "Sales", now=clock())
    members = [upn(a) for a in ("anna", "ben", "carla", "eve")]
    groups.add_members(tenant, SYSTEM, g.id, members, now=clock())
    group_assign.assign_group_license(tenant, SYSTEM, g.id, [GL("SPE_E5")], [], now=clock())
    users.delete_user(tenant, SYSTEM, upn("eve"), now=clock())
    return tenant


def test_no_kept_count_differs_after_real_writes(office):
    assert kept_count_differences() == []
    # The counts it checks are there to be checked: seats, sets, members, errors.
    found = {
        table: database.db.execute_sql(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        for table in ("user_license_set_count", "group_member_error", "group_error_count")
    }
    assert all(found.values()), found


TAMPERED = [
    ("UPDATE tenant_user_count SET users = users + 1", {"tenant_user_count"}),
    (
        "UPDATE subscription SET consumed_units = consumed_units - 1 WHERE consumed_units > 0",
        {"subscription.consumed_units (seats)"},
    ),
    (
        "UPDATE directory_group SET member_count = member_count + 2",
        {"directory_group.member_count"},
    ),
    # A set's rows deleted take its counts down with them (0033's triggers): both differ.
    (
        "DELETE FROM group_member_error",
        {"group_member_error (members in error, per group)", "group_error_count, any code"},
    ),
    (
        "UPDATE group_error_count SET members = members + 1 WHERE error = '*'",
        {"group_error_count, any code"},
    ),
    (
        "UPDATE group_error_count SET members = members - 1 WHERE error <> '*'",
        {"group_error_count, per code"},
    ),
    (
        "DELETE FROM group_member_error_code",
        {
            "group_member_error_code (members in error, per group and code)",
            "group_error_count, per code",
        },
    ),
    (
        "UPDATE user_license_set_count SET users = users + 1",
        {"user_license_set_count (pooled minutes)"},
    ),
    # A pooled SKU's row gone: the sets recounted without its licenses differ too.
    (
        "DELETE FROM pooled_sku "
        "WHERE sku_id IN (SELECT id FROM sku WHERE part_number = 'MCOPSTN1')",
        {"pooled_sku", "user_license_set_count (pooled minutes)"},
    ),
    # An inherited assignment that lost its source (what deleteGroup left before af463de).
    (
        "UPDATE license_assignment SET inherited_plans = NULL WHERE NOT direct",
        {
            "license_assignment inherited from groups (per user and SKU)",
            "license_assignment with no source (neither direct nor from a group)",
        },
    ),
]


@pytest.mark.parametrize(
    ("statement", "named"), TAMPERED, ids=[min(named).split(" ")[0] for _, named in TAMPERED]
)
def test_each_tampered_count_is_named(office, statement, named):
    # (A difference is only ever made of a kept and a counted number that differ: what is
    # checked here is which counts are named, and that nothing was before the tampering.)
    assert kept_count_differences() == []
    database.db.execute_sql(statement)
    found = kept_count_differences()
    assert {d.kept_in for d in found} == named, found


@pytest.mark.backends("postgresql")  # migration 0022 keeps this count on PostgreSQL only
def test_the_location_counts_of_postgresql(office):
    database.db.execute_sql("UPDATE user_location_sku_count SET users = users + 1")
    assert {d.kept_in for d in kept_count_differences()} == {"user_location_sku_count"}


def test_the_seat_difference_names_its_tenant_and_sku(office):
    database.db.execute_sql(
        "UPDATE subscription SET consumed_units = consumed_units - 1 WHERE sku_id = "
        "(SELECT id FROM sku WHERE part_number = 'SPE_E5')"
    )
    [found] = kept_count_differences()
    sku = database.db.execute_sql("SELECT id FROM sku WHERE part_number = 'SPE_E5'").fetchone()[0]
    assert (found.key, found.kept, found.counted) == ((office.id, sku), 1, 2)


def test_the_audit_command_reports_a_kept_count_and_exits_1(office, db_url, monkeypatch, capsys):
    monkeypatch.setenv("COMMCREDITS_DATABASE_URL", db_url)
    assert cli.main(["audit"]) == 0
    assert "kept counts: 0 difference(s)" in capsys.readouterr().out
    with database.db.connection_context():
        database.db.execute_sql("UPDATE directory_group SET member_count = 9")
    assert cli.main(["audit"]) == 1
    out = capsys.readouterr().out
    assert "KEPT COUNT DIFFERS: directory_group.member_count [" in out
    assert "kept 9, counted 3" in out and "kept counts: 1 difference(s)" in out


def test_inherited_assignments_are_checked_per_user(office):
    """Two faults that cancel out per SKU (one user's inherited assignment lost its group flag,
    another user got one with no group state) are both named."""
    anna, carla = (
        database.db.execute_sql(
            "SELECT id FROM directory_user WHERE upn_key = %s".replace("%s", database.db.obj.param),
            (upn(alias),),
        ).fetchone()[0]
        for alias in ("anna", "carla")
    )
    p = database.db.obj.param
    sku = database.db.execute_sql("SELECT id FROM sku WHERE part_number = 'SPE_E5'").fetchone()[0]
    database.db.execute_sql(
        f"UPDATE license_assignment SET inherited_plans = NULL, direct = {p} "
        f"WHERE user_id = {p} AND sku_id = {p}",
        (True, anna, sku),
    )
    database.db.execute_sql(
        "INSERT INTO license_assignment (tenant_id, user_id, sku_id, disabled_plans, assigned_at, "
        f"direct, inherited_plans) VALUES ({p}, {p}, {p}, '[]', '2026-11-25 10:00:00', {p}, '[]')",
        (office.id, carla, sku, False),
    )
    found = [
        d.key
        for d in kept_count_differences()
        if d.kept_in == "license_assignment inherited from groups (per user and SKU)"
    ]
    assert found == sorted([(office.id, anna, sku), (office.id, carla, sku)], key=repr)


def test_a_write_while_the_audit_runs_is_no_difference(office, clock, monkeypatch):
    """A user created by another connection between the kept count and its recount: the audit
    reads one snapshot, so it sees neither or both."""
    real = database.db.obj.execute_sql
    wrote: list[bool] = []

    def add_user() -> None:
        with database.db.connection_context():
            fields = users.UserFields(user_principal_name=upn("zoe"), usage_location="DE")
            users.create_user(office, SYSTEM, fields, now=clock())

    def spy(sql: str, params: Any = None, *args: Any, **kwargs: Any) -> Any:
        out = real(sql, params, *args, **kwargs)
        if not wrote and "FROM tenant_user_count" in sql:
            wrote.append(True)
            writer = threading.Thread(target=add_user)
            writer.start()
            writer.join()
        return out

    monkeypatch.setattr(database.db.obj, "execute_sql", spy)
    assert kept_count_differences() == []
    monkeypatch.undo()
    assert wrote and kept_count_differences() == []
    assert database.db.execute_sql("SELECT users FROM tenant_user_count").fetchone()[0] == 5
