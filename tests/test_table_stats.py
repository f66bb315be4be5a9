"""Bulk inserts leave PostgreSQL's planner figures current (services/table_stats.py)."""

import pytest

from commcredits import db as database
from commcredits.services import table_stats, user_import, users
from commcredits.services.access import SYSTEM


def _planned(table: str) -> float:
    return database.db.execute_sql(
        "SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", (f'"{table}"',)
    ).fetchone()[0]


@pytest.fixture
def fresh_tally(monkeypatch):
    """This process's tally as if it had inserted nothing yet (tests share the process)."""
    monkeypatch.setattr(table_stats, "_inserted", {})
    monkeypatch.setattr(table_stats, "_planned", {})


@pytest.mark.backends("postgresql")
def test_an_import_analyses_the_table_it_grew_and_small_batches_do_not(tenant, clock, fresh_tally):
    database.db.execute_sql('ANALYZE "directory_user"')  # the figure of an empty table: 0
    assert _planned("directory_user") == 0

    def batch(start: int, n: int) -> None:
        rows = [
            users.UserFields(user_principal_name=f"u{i}@fabrikam.example", usage_location="DE")
            for i in range(start, start + n)
        ]
        user_import.upsert_users(tenant, SYSTEM, rows, now=clock())

    batch(0, 600)
    assert _planned("directory_user") == 0  # 600 rows: not looked at yet
    batch(600, 600)
    assert _planned("directory_user") == 1200  # 1,200 > 0: analysed
    batch(1200, 500)
    assert _planned("directory_user") == 1200  # 500 more: under half of 1,200
    batch(1700, 200)
    assert _planned("directory_user") == 1200  # 700 since: still under 1,000 looked for
    batch(1900, 400)  # 1,100 since, more than half of 1,200
    assert _planned("directory_user") == 2300


@pytest.mark.backends("sqlite")
def test_sqlite_keeps_no_statistics(tenant, clock, fresh_tally):
    rows = [users.UserFields(user_principal_name=f"u{i}@fabrikam.example") for i in range(1000)]
    user_import.upsert_users(tenant, SYSTEM, rows, now=clock())
    assert table_stats.rows_inserted("directory_user", 5000) is False
    found = database.db.execute_sql(
        "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'"
    ).fetchone()[0]
    assert found == 0


@pytest.mark.backends("postgresql")
def test_batches_of_policy_grants_analyse_the_grants_they_grew(tenant, clock, fresh_tally):
    """Grant-CsTeamsCallingPolicy and Grant-CsDialoutPolicy to a user each, 1,000 a batch:
    rating looks a batch's grants up by user, and a planner that believes the table empty
    read all of the tenant's grants for each batch."""
    from commcredits.services import calling_policies, calling_policy_grants, dial_out
    from commcredits.services.calling_policy_input import PolicyInput

    rows = [users.UserFields(user_principal_name=f"u{i}@fabrikam.example") for i in range(1500)]
    for start in (0, 1000):
        user_import.upsert_users(tenant, SYSTEM, rows[start : start + 1000], now=clock())
    ids = [u.id for u in users.User.select(users.User.id).where(users.User.tenant == tenant.id)]
    policy = PolicyInput(name="Capped", enable_spend_limits=True, calling_spend_user_limit=5)
    calling_policies.create_calling_policy(tenant, SYSTEM, policy, now=clock())
    for table in ("calling_policy_grant", "dial_out_grant"):
        database.db.execute_sql(f'ANALYZE "{table}"')
        assert _planned(table) == 0
    for start, planned in ((0, 1000), (1000, 1000)):  # 500 more: under half of 1,000
        part = ids[start : start + 1000]
        calling_policy_grants.grant_calling_policy(tenant, SYSTEM, part, "Capped", now=clock())
        dial_out.grant_dial_out_policy(tenant, SYSTEM, part, "DialoutCPCDisabledPSTNDomestic",
                                       now=clock())  # fmt: skip
        assert _planned("calling_policy_grant") == _planned("dial_out_grant") == planned
