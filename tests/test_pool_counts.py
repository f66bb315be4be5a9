"""The pools' granted minutes from the kept license sets (migration 0027, issue 16): the same
minutes as counting the licenses from scratch through every kind of write, a backfill of an
older database, and one read of the counts whatever the tenant's size. Both databases."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections import defaultdict

import peewee
import pytest

from commcredits import db as database
from commcredits.migrate import migrate
from commcredits.models import LicenseAssignment, Sku, Tenant, User
from commcredits.services import group_assign, groups, licenses, user_import, users
from commcredits.services.access import SYSTEM
from commcredits.services.catalog import Catalog, plan_entry
from commcredits.services.errors import DomainError
from commcredits.services.licenses import AddLicense, LicenseRequest
from commcredits.services.pools import (
    AUDIO_CONFERENCING_PLAN,
    DIAL_OUT_MINUTES,
    DIAL_OUT_POOL,
    POOLED_PLANS,
    PoolKey,
    calling_location,
    domestic_minutes,
    granted_minutes,
    international_minutes,
    pooled_sku_ids,
)
from commcredits.services.tenants import create_tenant
from tests.helpers import add_users, buy, older_schema, other_tenant, trigger_plans, upn

LOCATIONS = ["US", "CA", "DE", "FR", None]
# A bundle the operator added: Audio Conferencing a third way, and a calling plan inside a SKU
# that is not a calling plan (pooled only for its Audio Conferencing, as before).
BUNDLE = "M365_AC_BUNDLE"


# --- the oracle: granted_minutes as it was, counting the tenant's licenses ------------------


def granted_from_scratch(tenant: Tenant, catalog: Catalog) -> dict[PoolKey, int]:
    pooled = pooled_sku_ids(catalog)
    if not pooled:
        return {}
    la = LicenseAssignment
    counts = (
        la.select(la.sku, User.usage_location, la.disabled_plans, peewee.fn.COUNT(la.id))
        .join(User, on=(la.user == User.id))
        .where((la.tenant == tenant.id) & la.sku.in_(pooled))
        .group_by(la.sku, User.usage_location, la.disabled_plans)
        .tuples()
    )
    granted: dict[PoolKey, int] = defaultdict(int)
    dial_out_users = 0
    ac_skus = set()
    for sku_pk, country, disabled, count in counts:
        sku = catalog.by_pk[sku_pk]
        plans = Catalog.plan_names(sku, disabled or [])
        country = calling_location(country, tenant.country)  # none: the tenant's
        for plan in POOLED_PLANS:
            if plan in plans:
                granted[PoolKey(plan, country, "DOMESTIC")] += count * domestic_minutes(
                    plan, country
                )
                if international_minutes(plan):
                    granted[PoolKey(plan, country, "INTERNATIONAL")] += count * (
                        international_minutes(plan)
                    )
        if AUDIO_CONFERENCING_PLAN in {p["servicePlanName"] for p in sku.service_plans}:
            ac_skus.add(sku_pk)
            if AUDIO_CONFERENCING_PLAN in plans:
                dial_out_users += count
    if len(ac_skus) > 1:
        twice = (
            la.select(la.user)
            .where((la.tenant == tenant.id) & la.sku.in_(ac_skus))
            .group_by(la.user)
            .having(peewee.fn.COUNT(la.id) > 1)
        )
        rows = (
            la.select(la.user, la.sku, la.disabled_plans)
            .where(la.sku.in_(ac_skus) & la.user.in_(twice))
            .tuples()
        )
        grants: dict[int, int] = defaultdict(int)
        for user_id, sku_pk, disabled in rows:
            if AUDIO_CONFERENCING_PLAN in Catalog.plan_names(catalog.by_pk[sku_pk], disabled or []):
                grants[user_id] += 1
        dial_out_users -= sum(n - 1 for n in grants.values() if n > 1)
    if dial_out_users:
        granted[PoolKey(DIAL_OUT_POOL, "", "CONFERENCE_DIAL_OUT")] = (
            dial_out_users * DIAL_OUT_MINUTES
        )
    return dict(granted)


def kept_sets() -> dict[tuple[int, str, str], int]:
    """Every row of the kept count, zeros included (there must be none)."""
    rows = database.db.execute_sql(
        "SELECT tenant_id, usage_location, licenses, users FROM user_license_set_count"
    ).fetchall()
    return {(t, loc, sets): n for t, loc, sets, n in rows}


def kept_pooled_skus() -> set[int]:
    return {pk for (pk,) in database.db.execute_sql("SELECT sku_id FROM pooled_sku").fetchall()}


def sets_from_scratch() -> dict[tuple[int, str, str], int]:
    """The same, from every user's license rows of pooled SKUs (the others are not kept)."""
    pooled = pooled_sku_ids(Catalog.load())
    held: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for user_id, sku_pk, text in database.db.execute_sql(
        "SELECT user_id, sku_id, disabled_plans FROM license_assignment"
    ).fetchall():
        if sku_pk in pooled:
            held[user_id].append((sku_pk, text or ""))
    where = {u.id: (u.tenant_id, u.usage_location or "") for u in User.select()}
    found: dict[tuple[int, str, str], int] = defaultdict(int)
    for user_id, rows in held.items():
        text = "\n".join(f"{sku} {plans}" for sku, plans in sorted(rows))
        found[(*where[user_id], text)] += 1
    return dict(found)


def check(*tenants: Tenant) -> None:
    catalog = Catalog.load()
    for tenant in tenants:
        assert granted_minutes(tenant, catalog) == granted_from_scratch(tenant, catalog)
    assert kept_sets() == sets_from_scratch()


# --- every write -----------------------------------------------------------------------------


def add_bundle() -> None:
    Sku.create(
        sku_id=str(uuid.uuid5(uuid.NAMESPACE_URL, BUNDLE)),
        part_number=BUNDLE,
        name="Audio Conferencing bundle",
        service_plans=[plan_entry(p) for p in ("MCOMEETADV", "MCOEV", "MCOPSTN1")],
        countries=None,
    )


# What a request may add: a calling plan comes with Teams Phone; E5 and the bundle with or
# without some of their plans; Audio Conferencing alone.
ADDS = [
    (AddLicense("MCOEV"), AddLicense("MCOPSTN1")),
    (AddLicense("MCOEV"), AddLicense("MCOPSTN2")),
    (AddLicense("MCOEV"), AddLicense("MCOPSTN5")),
    (AddLicense("MCOEV"), AddLicense("MCOPSTN_PAYG_1")),
    (AddLicense("MCOMEETADV"),),
    (AddLicense("SPE_E5"),),
    (AddLicense("SPE_E5", ("MCOMEETADV",)),),
    (AddLicense("SPE_E5", ("EXCHANGE_S_ENTERPRISE", "TEAMS1")),),
    (AddLicense(BUNDLE),),
    (AddLicense(BUNDLE, ("MCOMEETADV",)),),
    (AddLicense("MCOPSTNC"),),
]
REMOVES = ["MCOPSTN1", "MCOPSTN2", "MCOPSTN5", "MCOMEETADV", "SPE_E5", BUNDLE, "MCOEV"]


def _delete_outright(user_id: int) -> None:
    """`DELETE FROM directory_user`: the licenses go by ON DELETE CASCADE, after the user."""
    p = database.db.obj.param
    database.db.execute_sql(f"DELETE FROM directory_user WHERE id = {p}", (user_id,))


def test_granted_minutes_follow_every_kind_of_write(tenant, clock):
    now = clock()
    add_bundle()
    parts = ("MCOEV", "MCOPSTN1", "MCOPSTN2", "MCOPSTN5", "MCOPSTN_PAYG_1", "MCOMEETADV")
    buy(tenant, now, **dict.fromkeys(parts + ("SPE_E5", BUNDLE, "MCOPSTNC"), 100))
    rng = random.Random(27)
    aliases = [f"p{i}" for i in range(14)]
    add_users(tenant, now, [(a, rng.choice(LOCATIONS[:-1])) for a in aliases])
    add_users(tenant, now, [("nol", None)])  # no location: licensed only through a group
    aliases.append("nol")
    northwind = other_tenant(now)  # another tenant's licenses count apart
    buy(northwind, now, MCOEV=5, MCOPSTN1=5, MCOMEETADV=5, SPE_E5=5)
    add_users(northwind, now, [("nora", "US"), ("ned", "CA")], domain="northwind.example")
    licenses.assign_licenses(
        northwind,
        SYSTEM,
        [
            LicenseRequest(f"{a}@northwind.example", ADDS[0] + ADDS[4] + ADDS[5])
            for a in ("nora", "ned")
        ],
        now=now,
    )
    check(tenant, northwind)
    # Audio Conferencing two and three ways at once, to start with.
    licenses.assign_licenses(
        tenant,
        SYSTEM,
        [
            LicenseRequest(upn("p0"), ADDS[4] + ADDS[5]),
            LicenseRequest(upn("p1"), ADDS[4] + ADDS[5] + ADDS[8]),
            LicenseRequest(upn("p2"), ADDS[4] + ADDS[6]),
        ],
        now=now,
    )
    check(tenant, northwind)
    assert (
        granted_minutes(tenant, Catalog.load())[PoolKey(DIAL_OUT_POOL, "", "CONFERENCE_DIAL_OUT")]
        == 3 * DIAL_OUT_MINUTES
    )

    group = groups.create_group(tenant, SYSTEM, "Sales", now=now)
    group_plans = [(), ("MCOMEETADV",), ("TEAMS1",)]
    group_assign.assign_group_license(
        tenant, SYSTEM, group.id, [group_assign.GroupLicenseInput("SPE_E5")], [], now=now
    )
    kinds = {"assign": 0, "remove": 0, "move": 0, "group": 0, "plans": 0, "delete": 0}
    created = changed = 0
    for _ in range(70):
        sets_before = kept_sets()
        alive = [a for a in aliases if User.get_or_none(User.upn_key == upn(a))]
        some = rng.sample(alive, min(len(alive), rng.randint(1, 4)))
        kind = rng.choice(list(kinds))
        kinds[kind] += 1
        try:
            if kind == "assign":
                requests = [LicenseRequest(upn(a), rng.choice(ADDS)) for a in some]
                licenses.assign_licenses(tenant, SYSTEM, requests, now=now)
            elif kind == "remove":
                requests = [LicenseRequest(upn(a), (), (rng.choice(REMOVES),)) for a in some]
                licenses.assign_licenses(tenant, SYSTEM, requests, now=now)
            elif kind == "move":
                if len(some) == 1:  # one user, or a batch (one UPDATE of many users)
                    fields = users.UserFields(usage_location=rng.choice(LOCATIONS[:-1]))
                    users.update_user(tenant, SYSTEM, upn(some[0]), fields, now=now)
                else:
                    where = rng.choice(LOCATIONS[:-1])
                    user_import.set_usage_locations(
                        tenant, SYSTEM, [upn(a) for a in some], where, now=now
                    )
            elif kind == "group":
                join = rng.random() < 0.6
                change = groups.add_members if join else groups.remove_members
                change(tenant, SYSTEM, group.id, [upn(a) for a in some], now=now)
            elif kind == "plans":  # the members' rows UPDATEd to the group's new plans
                plans = rng.choice(group_plans)
                group_assign.assign_group_license(
                    tenant,
                    SYSTEM,
                    group.id,
                    [group_assign.GroupLicenseInput("SPE_E5", plans)],
                    [],
                    now=now,
                )
            else:
                victim = User.get(User.upn_key == upn(some[0]))
                if rng.random() < 0.5:
                    users.delete_user(tenant, SYSTEM, victim.id, now=now)
                else:
                    _delete_outright(victim.id)
                created += 1
                aliases.append(f"n{created}")
                add_users(tenant, now, [(f"n{created}", rng.choice(LOCATIONS[:-1]))])
        except DomainError:
            pass  # refused as a whole (a rule, no seat): nothing written, still checked
        check(tenant, northwind)
        changed += kept_sets() != sets_before
    assert min(kinds.values()) >= 5, kinds  # each kind of write ran several times
    assert changed >= 30, changed  # most steps did change some user's set (40 of 70 here)
    assert granted_minutes(tenant, Catalog.load())  # and the tenant still holds pools

    # A SKU that becomes pooled (Teams Phone given Audio Conferencing) and stops being: every
    # set is recounted with it, and its holders' minutes follow.
    teams_phone = Sku.get(Sku.part_number == "MCOEV")
    plans = list(teams_phone.service_plans)
    dial_out = PoolKey(DIAL_OUT_POOL, "", "CONFERENCE_DIAL_OUT")
    before = granted_minutes(tenant, Catalog.load()).get(dial_out, 0)
    for changed in (plans + [plan_entry("MCOMEETADV")], plans):
        Sku.update(service_plans=changed).where(Sku.id == teams_phone.id).execute()
        check(tenant, northwind)
        pooled = changed != plans
        assert (teams_phone.id in pooled_sku_ids(Catalog.load())) == pooled
        assert (teams_phone.id in kept_pooled_skus()) == pooled  # 0027's triggers follow
        if changed != plans:  # more users get dial-out minutes
            assert granted_minutes(tenant, Catalog.load())[dial_out] > before
    assert granted_minutes(tenant, Catalog.load()).get(dial_out, 0) == before

    # A tenant's deletion: its counts go with it, the other tenant's stay.
    before = granted_minutes(tenant, Catalog.load())
    for table in ("subscription", "audit_entry"):
        database.db.execute_sql(
            f"DELETE FROM {table} WHERE tenant_id = {database.db.obj.param}", (northwind.id,)
        )
    database.db.execute_sql(
        f"DELETE FROM tenant WHERE id = {database.db.obj.param}", (northwind.id,)
    )
    assert not [k for k in kept_sets() if k[0] == northwind.id]
    check(tenant)
    assert granted_minutes(tenant, Catalog.load()) == before


# --- the backfill ----------------------------------------------------------------------------


def test_migration_0027_counts_the_licenses_an_older_database_holds(blank_url):
    now = dt.datetime(2026, 12, 4, 9, 0, tzinfo=dt.UTC)
    database.bind(blank_url)
    assert migrate("0026_call_record_prefix_indexes")[-1] == "0026_call_record_prefix_indexes"
    with older_schema():
        tenant = create_tenant(
            SYSTEM, name="Fabrikam", country="US", currency="USD", agreement_type="MOSA", now=now
        )
        buy(tenant, now, MCOEV=20, MCOPSTN1=20, MCOPSTN2=20, MCOMEETADV=20, SPE_E5=20)
        people = [(f"u{i}", ("US", "DE", "CA", None)[i % 4]) for i in range(16)]
        add_users(tenant, now, people)
        requests = [
            LicenseRequest(upn(a), ADDS[i % 2] + ADDS[4] + ADDS[5 + i % 3])
            for i, (a, loc) in enumerate(people)
            if loc
        ]
        licenses.assign_licenses(tenant, SYSTEM, requests, now=now)
        group = groups.create_group(tenant, SYSTEM, "Sales", now=now)
        groups.add_members(tenant, SYSTEM, group.id, [upn("u3"), upn("u7"), upn("u0")], now=now)
        group_assign.assign_group_license(
            tenant, SYSTEM, group.id, [group_assign.GroupLicenseInput("SPE_E5")], [], now=now
        )
        expected = granted_from_scratch(tenant, Catalog.load())
    assert expected[PoolKey(DIAL_OUT_POOL, "", "CONFERENCE_DIAL_OUT")] == 14 * DIAL_OUT_MINUTES
    assert migrate("0027_license_set_counts") == ["0027_license_set_counts"]
    with older_schema():
        assert granted_minutes(tenant, Catalog.load()) == expected
        assert kept_sets() == sets_from_scratch()
        # and kept from there on
        licenses.assign_licenses(
            tenant, SYSTEM, [LicenseRequest(upn("u1"), (), ("SPE_E5",))], now=now
        )
        users.delete_user(tenant, SYSTEM, upn("u2"), now=now)
        check(tenant)


# --- one read, whatever the tenant's size ---------------------------------------------------


def _licensed_users(tenant: Tenant, now: dt.datetime, first: int, n: int) -> None:
    names = [upn(f"bulk{i:05d}") for i in range(first, first + n)]
    locations = [("US", "DE", "CA")[i % 3] for i in range(first, first + n)]
    user_import.upsert_columns(tenant, SYSTEM, names, {"usage_location": locations}, now=now)
    adds = [ADDS[0] + ADDS[4], ADDS[1] + ADDS[5], ADDS[2] + ADDS[4] + ADDS[5]]
    requests = [LicenseRequest(u, adds[i // 3 % 3]) for i, u in enumerate(names)]
    licenses.assign_licenses(tenant, SYSTEM, requests, now=now)


def _read(tenant: Tenant) -> tuple[dict[PoolKey, int], list[str]]:
    catalog = Catalog.load()
    with database.count_statements() as seen:
        granted = granted_minutes(tenant, catalog)
    return granted, list(seen)


def test_the_grant_is_one_read_of_the_counts_whatever_the_tenant_size(tenant, clock):
    now = clock()
    buy(tenant, now, MCOEV=700, MCOPSTN1=700, MCOPSTN2=700, MCOPSTN5=700)
    buy(tenant, now, MCOMEETADV=700, SPE_E5=700)
    _licensed_users(tenant, now, 0, 6)
    small, small_seen = _read(tenant)
    _licensed_users(tenant, now, 6, 594)
    large, large_seen = _read(tenant)
    assert large == granted_from_scratch(tenant, Catalog.load())
    assert large[PoolKey(DIAL_OUT_POOL, "", "CONFERENCE_DIAL_OUT")] == 600 * DIAL_OUT_MINUTES
    assert large != small
    # One statement at 6 users and at 600, on the counts alone: no license or user row read.
    assert len(small_seen) == len(large_seen) == 1, (small_seen, large_seen)
    (statement,) = large_seen
    assert "user_license_set_count" in statement
    assert "license_assignment" not in statement and "directory_user" not in statement
    # 600 users hold 3 sets in 3 locations: the rows read are the sets, not the users.
    p = database.db.obj.param
    rows = database.db.execute_sql(
        f"SELECT count(*) FROM user_license_set_count WHERE tenant_id = {p}", (tenant.id,)
    ).fetchone()[0]
    assert rows == 9
    # SQLite: the plan reads the tenant's rows by the key (a SEARCH, not a SCAN of the table;
    # PostgreSQL may read a 9-row table whole whatever its indexes).
    if database.is_sqlite():
        plan = " ".join(
            str(r) for r in database.db.execute_sql("EXPLAIN QUERY PLAN " + statement, (tenant.id,))
        )
        assert "SEARCH user_license_set_count" in plan, plan


# --- the triggers read the statement's rows by index -----------------------------------------


@pytest.mark.backends("postgresql")  # SQLite's row triggers read by (user_id, sku_id) only
def test_the_set_triggers_read_a_batch_by_index_whatever_the_tenant_size(tenant, clock):
    """A batch of pooled licenses, a batch of location changes and a removal: each trigger
    reads the touched users and their licenses by index, never all of a table, so a license
    batch costs the same on a tenant of any size."""
    now = clock()
    buy(tenant, now, MCOMEETADV=3000)
    aliases = [f"bulk{i:05d}" for i in range(3000)]
    for start in range(0, 3000, 1000):
        names = [upn(a) for a in aliases[start : start + 1000]]
        user_import.upsert_columns(
            tenant, SYSTEM, names, {"usage_location": ["DE"] * 1000}, now=now
        )
    # The other users hold theirs already, so license_assignment is analysed with rows in it
    # (analysed empty, a seq scan of it is as good a plan as any and the check means nothing).
    rest = [LicenseRequest(upn(a), ADDS[4]) for a in aliases[500:]]
    for start in range(0, len(rest), 1000):
        licenses.assign_licenses(tenant, SYSTEM, rest[start : start + 1000], now=now)
    database.db.execute_sql("ANALYZE directory_user")
    database.db.execute_sql("ANALYZE license_assignment")
    batch = [upn(a) for a in aliases[:500]]
    plans = trigger_plans(
        [
            lambda: licenses.assign_licenses(
                tenant, SYSTEM, [LicenseRequest(u, ADDS[4]) for u in batch], now=now
            ),
            lambda: user_import.set_usage_locations(tenant, SYSTEM, batch, "AT", now=now),
            lambda: licenses.assign_licenses(
                tenant,
                SYSTEM,
                [LicenseRequest(u, (), ("MCOMEETADV",)) for u in batch[:250]],
                now=now,
            ),
        ],
        "user_license_set_count",
    )
    assert len(plans) >= 3, plans  # insert, move, delete
    for plan in plans:
        assert "Seq Scan on directory_user" not in plan, plan
        assert "Seq Scan on license_assignment" not in plan, plan
    check(tenant)
