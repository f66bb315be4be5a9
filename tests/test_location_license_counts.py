"""`users(filter: { usageLocation, hasLicense })`'s totalCount (issue 16): on PostgreSQL read
from the count migration 0022's triggers keep, on SQLite counted; either way exactly the users
the filter lists, through license batches, removals, location changes (one user and a batch),
group licenses and deletions (by `delete_user`, and rows deleted outright: migration 0023)."""

import itertools

import pytest

from commcredits import db as database
from commcredits.models import LicenseAssignment, User
from commcredits.services import group_assign, groups, licenses, user_import, users
from commcredits.services.access import SYSTEM
from commcredits.services.licenses import AddLicense, LicenseRequest
from commcredits.services.list_counts import Count
from commcredits.services.user_list import UserFilter, count_users
from tests.helpers import add_users, buy, older_schema, other_tenant, trigger_plans, upn

LOCATIONS = ["DE", "AT", "", "Deutschland"]
SKUS = ["MCOEV", "MCOMEETADV", "SPE_E5"]
PEOPLE = [("ann", "DE"), ("bob", "DE"), ("cem", "AT"), ("dora", None), ("eli", "DE")]


def _truth(tenant) -> dict[tuple[str, str], int]:
    """Per (location, SKU part number): the users the filter lists, counted one by one."""
    from commcredits.services.catalog import Catalog

    catalog = Catalog.load()
    found: dict[tuple[str, str], int] = {}
    rows = (
        LicenseAssignment.select(LicenseAssignment.sku, User.usage_location)
        .join(User, on=LicenseAssignment.user == User.id)
        .where(User.tenant == tenant.id)
        .tuples()
    )
    for sku_id, location in rows:
        key = (location or "", catalog.by_pk[sku_id].part_number)
        found[key] = found.get(key, 0) + 1
    return found


def _check(tenant) -> None:
    truth = _truth(tenant)
    for location, sku in itertools.product(LOCATIONS, SKUS):
        code = "DE" if location == "Deutschland" else location
        flt = UserFilter(usage_location=location, has_license=sku)
        assert count_users(tenant, flt) == Count(truth.get((code, sku), 0), False), (location, sku)
    if not database.is_sqlite():  # the kept rows are the truth, no more, no less
        kept = {
            (loc, sku_id): n
            for loc, sku_id, n in database.db.execute_sql(
                "SELECT usage_location, sku_id, users FROM user_location_sku_count "
                "WHERE tenant_id = %s AND users <> 0",
                (tenant.id,),
            ).fetchall()
        }
        from commcredits.services.catalog import Catalog

        by_part = {s.part_number: s.id for s in Catalog.load().by_pk.values()}
        assert kept == {(loc, by_part[sku]): n for (loc, sku), n in truth.items()}


def test_the_location_and_license_count_follows_every_write(tenant, clock):
    now = clock()
    buy(tenant, now, MCOEV=10, MCOMEETADV=10, SPE_E5=2)
    add_users(tenant, now, PEOPLE)
    northwind = other_tenant(now)  # another tenant's writes count apart
    add_users(northwind, now, [("nora", "DE")], domain="northwind.example")
    buy(northwind, now, MCOEV=1)
    licenses.assign_licenses(
        northwind, SYSTEM, [LicenseRequest("nora@northwind.example", (AddLicense("MCOEV"),))],
        now=now,
    )  # fmt: skip
    _check(tenant)
    # A license batch, then a removal.
    requests = [
        LicenseRequest(upn(a), (AddLicense("MCOEV"), AddLicense("MCOMEETADV")))
        for a, location in PEOPLE
        if location
    ]
    licenses.assign_licenses(tenant, SYSTEM, requests, now=now)
    _check(tenant)
    licenses.assign_licenses(tenant, SYSTEM, [LicenseRequest(upn("bob"), (), ("MCOEV",))], now=now)
    _check(tenant)
    # One user moves, then a batch moves (and one goes without a location: no direct license).
    users.update_user(tenant, SYSTEM, upn("ann"), users.UserFields(usage_location="AT"), now=now)
    _check(tenant)
    user_import.set_usage_locations(tenant, SYSTEM, [upn("cem"), upn("eli")], "DE", now=now)
    _check(tenant)
    # A group licenses its members, the one without a location by the tenant's country.
    sales = groups.create_group(tenant, SYSTEM, "Sales", now=now)
    groups.add_members(tenant, SYSTEM, sales.id, [upn("dora"), upn("ann"), upn("bob")], now=now)
    group_assign.assign_group_license(
        tenant, SYSTEM, sales.id, [group_assign.GroupLicenseInput("SPE_E5")], [], now=now
    )
    _check(tenant)
    groups.remove_members(tenant, SYSTEM, sales.id, [upn("bob")], now=now)
    _check(tenant)
    # A deleted user's licenses leave the count with it.
    users.delete_user(tenant, SYSTEM, upn("eli"), now=now)
    _check(tenant)
    assert count_users(northwind, UserFilter(usage_location="DE", has_license="MCOEV")) == Count(
        1, False
    )


def test_migration_0022_counts_the_licenses_an_older_database_holds(blank_url):
    """On a database with users and licenses from before 0022, the kept count starts from
    what they hold (PostgreSQL), and the filter's count is right either way."""
    import datetime as dt

    from commcredits.migrate import migrate
    from commcredits.services.tenants import create_tenant

    now = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
    database.bind(blank_url)
    assert migrate("0021_group_policy_grants")[-1] == "0021_group_policy_grants"
    with older_schema():
        tenant = create_tenant(
            SYSTEM, name="Fabrikam", country="DE", currency="EUR", agreement_type="MOSA", now=now
        )
        buy(tenant, now, MCOEV=5, MCOMEETADV=5)
        add_users(tenant, now, PEOPLE)
        requests = [
            LicenseRequest(upn(a), (AddLicense("MCOEV"),) + ((AddLicense("MCOMEETADV"),) * (i % 2)))
            for i, (a, location) in enumerate(PEOPLE)
            if location
        ]
        licenses.assign_licenses(tenant, SYSTEM, requests, now=now)
    assert migrate("0022_location_license_counts") == ["0022_location_license_counts"]
    with older_schema():
        _check(tenant)
        assert count_users(tenant, UserFilter(usage_location="DE", has_license="MCOEV")) == Count(
            3, False
        )


def _delete_users(aliases: list[str]) -> None:
    """`DELETE FROM directory_user` of these users in one statement: their licenses, group
    memberships and states go by ON DELETE CASCADE, after the users' rows."""
    marks = ", ".join(database.db.obj.param for _ in aliases)
    database.db.execute_sql(
        f"DELETE FROM directory_user WHERE upn_key IN ({marks})", tuple(upn(a) for a in aliases)
    )


def _licensed(tenant, now) -> None:
    """PEOPLE with MCOEV and MCOMEETADV (those with a location), and SPE_E5 from a group to
    ann, bob and dora (dora without a location: counted under '')."""
    buy(tenant, now, MCOEV=10, MCOMEETADV=10, SPE_E5=5)
    add_users(tenant, now, PEOPLE)
    requests = [
        LicenseRequest(upn(a), (AddLicense("MCOEV"), AddLicense("MCOMEETADV")))
        for a, location in PEOPLE
        if location
    ]
    licenses.assign_licenses(tenant, SYSTEM, requests, now=now)
    sales = groups.create_group(tenant, SYSTEM, "Sales", now=now)
    groups.add_members(tenant, SYSTEM, sales.id, [upn("ann"), upn("bob"), upn("dora")], now=now)
    group_assign.assign_group_license(
        tenant, SYSTEM, sales.id, [group_assign.GroupLicenseInput("SPE_E5")], [], now=now
    )


def test_users_deleted_outright_take_their_licenses_out_of_the_count(tenant, clock):
    """Deleting directory_user rows directly, not through `delete_user` (which deletes the
    licenses first), keeps the count exact in every order (migration 0023's trigger)."""
    now = clock()
    _licensed(tenant, now)
    _check(tenant)
    before = _truth(tenant)
    _delete_users(["ann"])  # direct and inherited licenses, by cascade
    _check(tenant)
    assert _truth(tenant) != before  # ann's licenses did leave
    _delete_users(["bob", "dora"])  # one statement, two locations ('' among them)
    _check(tenant)
    # The licenses first, then the user: 0022's trigger subtracts them, 0023's finds none.
    cem = User.get(User.upn_key == upn("cem")).id
    p = database.db.obj.param
    database.db.execute_sql(f"DELETE FROM license_assignment WHERE user_id = {p}", (cem,))
    _check(tenant)
    _delete_users(["cem"])
    _check(tenant)
    # A move and the deletion in one transaction: subtracted under the location it moved to.
    with database.db.atomic():
        database.db.execute_sql(
            f"UPDATE directory_user SET usage_location = {p} WHERE upn_key = {p}",
            ("AT", upn("eli")),
        )
        _delete_users(["eli"])
    _check(tenant)
    assert _truth(tenant) == {}


def test_migration_0023_recounts_what_an_outright_delete_left_and_keeps_it_exact(blank_url):
    """A user deleted outright under 0022 left its licenses counted (PostgreSQL); 0023
    recounts, and from then on an outright delete keeps the count exact."""
    import datetime as dt

    from commcredits.migrate import migrate
    from commcredits.services.tenants import create_tenant

    now = dt.datetime(2026, 12, 4, 9, 0, tzinfo=dt.UTC)
    database.bind(blank_url)
    assert migrate("0022_location_license_counts")[-1] == "0022_location_license_counts"
    with older_schema():
        tenant = create_tenant(
            SYSTEM, name="Fabrikam", country="DE", currency="EUR", agreement_type="MOSA", now=now
        )
        _licensed(tenant, now)
        _check(tenant)
        _delete_users(["ann"])
        if not database.is_sqlite():  # 0022 alone: ann's licenses still counted
            kept = database.db.execute_sql(
                "SELECT sum(users) FROM user_location_sku_count WHERE tenant_id = %s",
                (tenant.id,),
            ).fetchone()[0]
            assert kept == sum(_truth(tenant).values()) + 3
    step = "0023_location_counts_on_user_delete"
    assert migrate(step) == [step]
    migrate()  # today's services below write the latest schema
    assert migrate() == []  # every script once: a rerun applies nothing
    with database.db.connection_context():
        _check(tenant)
        _delete_users(["bob", "dora"])
        _check(tenant)
        users.delete_user(tenant, SYSTEM, upn("cem"), now=now)
        _check(tenant)


@pytest.mark.backends("postgresql")  # SQLite keeps no such count: it counts (bench/README.md)
def test_the_count_triggers_read_the_batch_by_index_whatever_the_tenant_size(tenant, clock):
    """A license batch, a removal and a batch of location changes: each trigger reads the
    touched rows' users (or licenses) by index, never the whole table (migration 0025), so a
    batch costs the same on a tenant of any size. 0022's bodies hashed all of directory_user
    (or license_assignment) for every statement."""
    now = clock()
    buy(tenant, now, MCOEV=3000)
    aliases = [f"u{i:04d}" for i in range(3000)]
    for start in range(0, 3000, 1000):
        user_import.upsert_columns(
            tenant,
            SYSTEM,
            [upn(a) for a in aliases[start : start + 1000]],
            {"usage_location": ["DE"] * 1000},
            now=now,
        )
    database.db.execute_sql("ANALYZE directory_user")
    batch = [upn(a) for a in aliases[:500]]
    plans = trigger_plans(
        [
            lambda: licenses.assign_licenses(
                tenant, SYSTEM, [LicenseRequest(u, (AddLicense("MCOEV"),)) for u in batch], now=now
            ),
            lambda: user_import.set_usage_locations(tenant, SYSTEM, batch, "AT", now=now),
            lambda: licenses.assign_licenses(
                tenant, SYSTEM, [LicenseRequest(u, (), ("MCOEV",)) for u in batch[:250]], now=now
            ),
        ],
        "user_location_sku_count",
    )
    assert len(plans) >= 3, plans  # insert, move, delete
    for plan in plans:
        assert "Seq Scan on directory_user" not in plan, plan
        assert "Seq Scan on license_assignment" not in plan, plan
    _check(tenant)
