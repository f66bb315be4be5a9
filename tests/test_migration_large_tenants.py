"""Migration 0012 on a database that already has users: search text filled, search index and
filter indexes built, user counts filled; both databases."""

import datetime as dt
import json

from commcredits import db as database
from commcredits.migrate import migrate
from commcredits.models import Tenant, TenantUserCount, User
from commcredits.services import list_counts, user_list, users
from commcredits.services.access import SYSTEM
from tests.helpers import older_schema

NOW = dt.datetime(2026, 11, 25, 10, 0)
PEOPLE = [
    # (tenant, UPN alias, display name, other mails, usage location)
    (1, "jurgen.muller", "Jürgen Müller", ["jm+news@example.org"], "DE"),
    (1, "anders", "Anders Ångström", [], None),
    (1, "heinz", "Heinz Groß", [], "DE"),
    (2, "jurgen.muller", "Jürgen Müller", [], "US"),
]


def _old_rows() -> None:
    """Tenants and users as a 0011 database holds them (plain SQL: the models are newer)."""
    p = database.db.obj.param
    for tenant_id in (1, 2):
        database.db.execute_sql(
            "INSERT INTO tenant (id, name, country, currency, agreement_type, created_at) "
            f"VALUES ({p}, {p}, 'DE', 'EUR', 'MOSA', {p})",
            (tenant_id, f"Tenant {tenant_id}", NOW),
        )
    columns = (
        "tenant_id, user_principal_name, upn_key, display_name, given_name, surname, job_title, "
        "department, office_location, mobile_phone, city, country, usage_location, "
        "account_enabled, created_at, updated_at, other_mails"
    )
    for tenant_id, alias, name, mails, location in PEOPLE:
        upn = f"{alias}@t{tenant_id}.example"
        database.db.execute_sql(
            f"INSERT INTO directory_user ({columns}) VALUES "
            f"({p}, {p}, {p}, {p}, '', '', '', 'Sales', '', '', '', '', {p}, {p}, {p}, {p}, {p})",
            (tenant_id, upn, upn, name, location, True, NOW, NOW, json.dumps(mails)),
        )


def _found(tenant: Tenant, term: str) -> list[str]:
    page = user_list.users_page(tenant, user_list.UserFilter(search=term), after=None, size=50)
    return [u.user_principal_name for u in page.users]


def test_an_older_database_with_users_gets_search_filters_and_counts(blank_url):
    database.bind(blank_url)
    assert migrate("0011_user_profile")[-1] == "0011_user_profile"
    with database.db.connection_context():
        _old_rows()
    assert migrate("0012_large_tenants") == ["0012_large_tenants"]
    with older_schema():
        one, two = Tenant.get_by_id(1), Tenant.get_by_id(2)
        stored = User.get(User.upn_key == "jurgen.muller@t1.example").search_text
        assert stored == "jurgen.muller@t1.example\njurgen muller\njm+news@example.org"
        assert _found(one, "muller") == ["jurgen.muller@t1.example"]
        assert _found(two, "MÜLLER") == ["jurgen.muller@t2.example"]
        assert _found(one, "angstrom") == ["anders@t1.example"]
        assert _found(one, "ß") == ["heinz@t1.example"]
        assert _found(one, "news@") == ["jurgen.muller@t1.example"]
        assert TenantUserCount.get_by_id(1).users == 3
        assert TenantUserCount.get_by_id(2).users == 1
        assert user_list.count_users(one, None) == list_counts.Count(3, False)
        no_location = user_list.UserFilter(usage_location="")
        assert user_list.count_users(one, no_location) == list_counts.Count(1, False)
    # Writes after the migration keep both in step (with today's code: at the latest schema).
    migrate()
    with database.db.connection_context():
        one = Tenant.get_by_id(1)
        users.create_user(
            one, SYSTEM, users.UserFields(user_principal_name="zoe@t1.example"), now=NOW
        )
        users.delete_user(one, SYSTEM, "anders@t1.example", now=NOW)
        assert _found(one, "angstrom") == []
        assert _found(one, "zoe") == ["zoe@t1.example"]
        assert user_list.count_users(one, None) == list_counts.Count(3, False)
        assert _indexes() >= {
            "directory_user_tenant_id_id",
            "directory_user_tenant_location_id",
            "directory_user_tenant_department_id",
            "directory_user_tenant_enabled_id",
        }
        assert "directory_user_tenant_id_usage_location" not in _indexes()


def _indexes() -> set[str]:
    if database.is_sqlite():
        sql = "SELECT name FROM sqlite_master WHERE type = 'index'"
    else:
        sql = "SELECT indexname FROM pg_indexes WHERE tablename = 'directory_user'"
    return {row[0] for row in database.db.execute_sql(sql).fetchall()}
