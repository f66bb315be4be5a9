"""Migrations 0018, 0019 and 0021 on a database that already has rows (issue 16), both
databases: each runs on a database built to the migration before it and filled as that schema
holds its rows (plain SQL: the models are newer). The rows survive, and the new structures work
on them: call records page by start time through indexes built over existing calls (0018),
licenses held before groups are direct and group licensing works beside them (0019), user and
global policy grants resolve as before and group grants rank beside them (0021)."""

import datetime as dt

import pytest
from starlette.testclient import TestClient

from commcredits import db as database
from commcredits.app import create_app
from commcredits.config import Settings
from commcredits.migrate import migrate
from commcredits.models import LicenseAssignment, Subscription, Tenant
from commcredits.schema.common import to_global_id
from commcredits.services import (
    calling_policies,
    dial_out,
    group_assign,
    group_policies,
    groups,
    licenses,
    tenants,
    user_search,
)
from commcredits.services.access import SYSTEM, Role, create_api_key
from commcredits.services.catalog import Catalog, generated_id
from commcredits.services.errors import DomainError
from commcredits.services.licenses import LicenseRequest
from tests.helpers import older_schema, upn

NOW = dt.datetime(2026, 12, 4, 10, 0)  # naive UTC, as the columns hold it
DOMAIN = "fabrikam.example"


def _insert(table: str, row: dict) -> int:
    p = database.db.obj.param
    columns = ", ".join(f'"{c}"' for c in row)
    marks = ", ".join(p for _ in row)
    sql = f'INSERT INTO "{table}" ({columns}) VALUES ({marks}) RETURNING "id"'
    return database.db.execute_sql(sql, tuple(row.values())).fetchone()[0]


def _old_tenant(name: str = "Fabrikam") -> int:
    row = {"name": name, "country": "DE", "currency": "EUR", "agreement_type": "MOSA"}
    return _insert("tenant", {**row, "created_at": NOW})


# The user columns that are NOT NULL without a default (0001), blank here.
BLANK_USER_COLUMNS = ("given_name", "surname", "job_title", "department", "office_location",
                      "mobile_phone", "city", "country")  # fmt: skip


def _old_user(tenant_id: int, alias: str, location: str | None) -> int:
    """A directory user with the columns every migration from 0012 on knows (the others
    keep their defaults), its search text as the app stores it."""
    name = alias.title()
    text = user_search.search_text({"user_principal_name": upn(alias), "display_name": name})
    return _insert(
        "directory_user",
        {
            "tenant_id": tenant_id, "user_principal_name": upn(alias), "upn_key": upn(alias),
            "display_name": name, **dict.fromkeys(BLANK_USER_COLUMNS, ""),
            "usage_location": location, "account_enabled": True, "created_at": NOW,
            "updated_at": NOW, "search_text": text,
        },
    )  # fmt: skip


def _rows(sql: str, params: tuple = ()) -> list[tuple]:
    return [tuple(r) for r in database.db.execute_sql(sql, params).fetchall()]


def _indexes(table: str) -> set[str]:
    """The table's indexes; on PostgreSQL only the valid ones (a failed build leaves one
    invalid)."""
    if database.is_sqlite():
        sql = f"SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = '{table}'"
    else:
        sql = (
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            f"WHERE i.indrelid = '{table}'::regclass AND i.indisvalid"
        )
    return {r[0] for r in _rows(sql)}


# -- 0018: call records by time ----------------------------------------------------------------
# (call id, user alias or None, the UPN the record keeps, minutes after T, status, call type),
# in id order: started out of that order, a record rated late among its peers, two calls
# starting together, a deleted user's calls, a UPN in another case.
CALLS = [
    ("c1", "ann", "ann@fabrikam.example", 30, "RATED", "DOMESTIC"),
    ("c2", "bob", "bob@fabrikam.example", 10, "RATED", "INTERNATIONAL"),
    ("c3", "ann", "Ann@Fabrikam.example", 50, "BLOCKED", "INTERNATIONAL"),
    ("c4", None, "gone@fabrikam.example", 20, "RATED", "CONFERENCE_DIAL_OUT"),
    ("c5", "bob", "bob@fabrikam.example", 50, "RATED", "DOMESTIC"),
    ("late", "ann", "ann@fabrikam.example", 15, "RATED", "DOMESTIC"),
    ("c7", "ann", "ANN@fabrikam.example", 70, "BLOCKED", "DOMESTIC"),
    ("c8", "bob", "bob@fabrikam.example", 5, "RATED", "TOLL_FREE_INBOUND"),
]
T = dt.datetime(2026, 11, 30, 8, 0)
NEW_CALL_INDEXES = {
    "call_record_tenant_id_user_id_started_at_id",
    "call_record_tenant_id_status_started_at_id",
    "call_record_tenant_id_call_type_started_at_id",
    "call_record_tenant_upn_started_at_id",
}
OLD_CALL_INDEXES = {
    "call_record_tenant_id_id",
    "call_record_tenant_id_user_id_id",
    "call_record_tenant_id_status_id",
    "call_record_tenant_id_call_type_id",
    "call_record_tenant_upn_id",
}


def _old_call(tenant_id: int, call_id: str, user_id: int | None, name: str, minutes: int,
              status: str, call_type: str) -> None:  # fmt: skip
    at = T + dt.timedelta(minutes=minutes)
    _insert(
        "call_record",
        {
            "tenant_id": tenant_id, "call_id": call_id, "user_id": user_id,
            "user_principal_name": name, "display_name": "", "usage_location": "DE",
            "started_at": at, "month": at.strftime("%Y-%m"), "duration_seconds": 60,
            "destination": "+4930123456", "destination_country": "DE", "call_type": call_type,
            "domestic": call_type == "DOMESTIC", "status": status, "minutes": 1,
            "pool_minutes": 0, "charged_minutes": 1, "pool_plan": "",
            "charge_minor": 0 if status == "BLOCKED" else 2, "currency": "EUR", "rated_at": NOW,
        },
    )  # fmt: skip


def _expected(keep) -> list[str]:
    """The call ids `keep` selects, latest start first, ties by id (= CALLS order)."""
    rows = [(c[3], i, c[0]) for i, c in enumerate(CALLS) if keep(c)]
    return [call_id for _, _, call_id in sorted(rows, reverse=True)]


def _plan_uses(sql: str, params: tuple, index: str) -> bool:
    """Whether the plan of `sql` reads `index` (PostgreSQL: with sequential scans and sorts
    priced out, so a table this small is not read whole)."""
    if database.is_sqlite():
        return any(index in str(r) for r in _rows(f"EXPLAIN QUERY PLAN {sql}", params))
    with database.db.atomic():
        database.db.execute_sql("SET LOCAL enable_seqscan = off")
        database.db.execute_sql("SET LOCAL enable_sort = off")
        return any(index in r[0] for r in _rows(f"EXPLAIN {sql}", params))


PAGE = """query($first: Int, $after: String, $filter: CallRecordFilter) {
  callRecords(first: $first, after: $after, filter: $filter) {
    edges { node { callId } } pageInfo { hasNextPage endCursor }
  }
}"""


def _paged(client: TestClient, key: str, flt: dict | None) -> list[str]:
    """Every call id `callRecords` lists, two to a page."""
    seen, after = [], None
    while True:
        response = client.post(
            "/graphql",
            json={"query": PAGE, "variables": {"first": 2, "after": after, "filter": flt}},
            headers={"Authorization": f"Bearer {key}"},
        )
        body = response.json()
        assert "errors" not in body, body
        page = body["data"]["callRecords"]
        seen += [e["node"]["callId"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return seen
        after = page["pageInfo"]["endCursor"]


def test_0018_builds_the_time_indexes_over_existing_calls_and_they_page_them(blank_url):
    database.bind(blank_url)
    assert migrate("0016_pstn_blocks")[-1] == "0016_pstn_blocks"  # 0017 was never numbered
    with database.db.connection_context():
        tenant_id = _old_tenant()
        people = {a: _old_user(tenant_id, a, "DE") for a in ("ann", "bob")}
        other = _old_tenant("Northwind")  # its calls never show in Fabrikam's pages
        _old_call(other, "n1", None, "ann@fabrikam.example", 40, "RATED", "DOMESTIC")
        for call_id, alias, name, minutes, status, call_type in CALLS:
            _old_call(tenant_id, call_id, people.get(alias), name, minutes, status, call_type)
        assert _indexes("call_record") >= OLD_CALL_INDEXES
    assert migrate("0018_call_records_by_time") == ["0018_call_records_by_time"]
    p = database.db.obj.param
    with database.db.connection_context():
        built = _indexes("call_record")
        assert built >= NEW_CALL_INDEXES and not OLD_CALL_INDEXES & built
        assert _rows("SELECT count(*) FROM call_record") == [(len(CALLS) + 1,)]
        # Each filter's first page, read through its new index: the calls from before.
        order = "ORDER BY started_at DESC, id DESC LIMIT 3"
        probes = [
            ("user_id", "user_id", people["ann"], lambda c: c[1] == "ann"),
            ("status", "status", "BLOCKED", lambda c: c[4] == "BLOCKED"),
            ("call_type", "call_type", "DOMESTIC", lambda c: c[5] == "DOMESTIC"),
            ("upn", "LOWER(user_principal_name)", "ann@fabrikam.example",
             lambda c: c[2].lower() == "ann@fabrikam.example"),
        ]  # fmt: skip
        for name, column, value, keep in probes:
            sql = f"SELECT call_id FROM call_record WHERE tenant_id = {p} AND {column} = {p} "
            index = next(i for i in NEW_CALL_INDEXES if f"_{name}_started_at_id" in i)
            assert _plan_uses(sql + order, (tenant_id, value), index), name
            assert [r[0] for r in _rows(sql + order, (tenant_id, value))] == _expected(keep)[:3]
    # Today's code (the latest schema) pages them by start time, every filter.
    migrate()
    with database.db.connection_context():
        tenant = Tenant.get_by_id(tenant_id)
        key = create_api_key(SYSTEM, role=Role.READER, tenant=tenant, now=NOW)[1]
    aware = NOW.replace(tzinfo=dt.UTC)
    app = create_app(settings=Settings.from_env(), clock=lambda: aware, bind_database=False)
    window = {
        "from": (T + dt.timedelta(minutes=10)).isoformat() + "Z",
        "to": (T + dt.timedelta(minutes=50)).isoformat() + "Z",
    }
    with TestClient(app) as client:
        assert _paged(client, key, None) == ["c7", "c5", "c3", "c1", "c4", "late", "c2", "c8"]
        cases = [
            ({"user": "ANN@fabrikam.example"}, lambda c: c[2].lower() == upn("ann")),
            ({"user": to_global_id("User", people["bob"])}, lambda c: c[1] == "bob"),
            ({"status": "BLOCKED"}, lambda c: c[4] == "BLOCKED"),
            ({"callType": "INTERNATIONAL"}, lambda c: c[5] == "INTERNATIONAL"),
            (window, lambda c: 10 <= c[3] < 50),
            ({**window, "status": "RATED"}, lambda c: 10 <= c[3] < 50 and c[4] == "RATED"),
        ]
        for flt, keep in cases:
            assert _paged(client, key, flt) == _expected(keep), flt
    database.close()


# -- 0019: groups ------------------------------------------------------------------------------
def _held(user_id: int) -> dict[str, tuple[bool, list[str]]]:
    catalog = Catalog.load()
    return {
        catalog.by_pk[r.sku_id].part_number: (r.direct, sorted(r.disabled_plans))
        for r in LicenseAssignment.select().where(LicenseAssignment.user == user_id)
    }


def _consumed(part: str) -> int:
    return Subscription.get(Subscription.sku == Catalog.load().find(part).id).consumed_units


def test_0019_keeps_existing_licenses_direct_and_groups_license_beside_them(blank_url):
    teams = generated_id("service-plan", "TEAMS1")
    database.bind(blank_url)
    assert migrate("0018_call_records_by_time")[-1] == "0018_call_records_by_time"
    with database.db.connection_context():
        tenant_id = _old_tenant()
        people = {a: _old_user(tenant_id, a, "DE") for a in ("ann", "bob", "cem")}
        skus = dict(
            _rows("SELECT part_number, id FROM sku WHERE part_number IN ('SPE_E5', 'MCOEV')")
        )
        for part, units in (("SPE_E5", 3), ("MCOEV", 2)):
            _insert(
                "subscription",
                {
                    "tenant_id": tenant_id, "sku_id": skus[part], "enabled_units": units,
                    "suspended_units": 0, "warning_units": 0, "locked_out_units": 0,
                    "consumed_units": 1, "created_at": NOW, "updated_at": NOW,
                },
            )  # fmt: skip
        held = [("ann", "SPE_E5", f'["{teams}"]'), ("bob", "MCOEV", "[]")]
        for alias, part, disabled in held:
            _insert(
                "license_assignment",
                {
                    "tenant_id": tenant_id, "user_id": people[alias], "sku_id": skus[part],
                    "disabled_plans": disabled, "assigned_at": NOW,
                },
            )  # fmt: skip
    assert migrate("0019_groups") == ["0019_groups"]
    with database.db.connection_context():
        rows = _rows(
            "SELECT user_id, direct, direct_plans, inherited_plans, disabled_plans "
            "FROM license_assignment ORDER BY user_id"
        )
        assert [(u, bool(d), dp, ip, plans) for u, d, dp, ip, plans in rows] == [
            (people["ann"], True, None, None, f'["{teams}"]'),
            (people["bob"], True, None, None, "[]"),
        ]
        for table in ("directory_group", "group_member", "group_license", "group_license_state"):
            assert _rows(f'SELECT count(*) FROM "{table}"') == [(0,)], table
    migrate()  # today's services write the latest schema
    with database.db.connection_context():
        tenant = Tenant.get_by_id(tenant_id)
        assert _held(people["ann"]) == {"SPE_E5": (True, [teams])}
        # A group licenses ann (already holding it: no second seat) and cem.
        sales = groups.create_group(tenant, SYSTEM, "Sales", now=NOW)
        groups.add_members(tenant, SYSTEM, sales.id, [upn("ann"), upn("cem")], now=NOW)
        group_assign.assign_group_license(
            tenant, SYSTEM, sales.id, [group_assign.GroupLicenseInput("SPE_E5")], [], now=NOW
        )
        assert _consumed("SPE_E5") == 2
        assert _held(people["ann"]) == {"SPE_E5": (True, [])}  # the union of enabled plans
        assert _held(people["cem"]) == {"SPE_E5": (False, [])}
        # Leaving the group gives ann back her direct license as it was before 0019.
        groups.remove_members(tenant, SYSTEM, sales.id, [upn("ann")], now=NOW)
        assert _held(people["ann"]) == {"SPE_E5": (True, [teams])} and _consumed("SPE_E5") == 2
        # Old licenses are removed directly (a license not direct would be refused).
        remove = [
            LicenseRequest(upn("ann"), (), ("SPE_E5",)),
            LicenseRequest(upn("bob"), (), ("MCOEV",)),
        ]
        outcomes = licenses.assign_licenses(tenant, SYSTEM, remove, now=NOW)
        assert [(o.ok, o.applied) for o in outcomes] == [(True, True)] * 2, outcomes
        assert _held(people["ann"]) == {} and _held(people["bob"]) == {}
        assert _consumed("SPE_E5") == 1 and _consumed("MCOEV") == 0
    database.close()


# -- 0021: group policy grants -----------------------------------------------------------------
DOMESTIC, DISABLED = "DialoutCPCandPSTNDomestic", "DialoutCPCandPSTNDisabled"
GROUP_DIAL_OUT = "DialoutCPCDomesticPSTNDisabled"


def _old_policy(tenant_id: int, name: str, limit: int | None) -> int:
    return _insert(
        "calling_policy",
        {
            "tenant_id": tenant_id, "name": name, "name_key": name.lower(), "description": "",
            "enable_spend_limits": limit is not None, "spend_limit_minor": limit,
            "created_at": NOW, "updated_at": NOW,
        },
    )  # fmt: skip


def _effective(tenant: Tenant, ids: dict[str, int]) -> dict[str, tuple]:
    """Each user's (dial-out source, policy) and (calling source, policy, limit)."""
    dial = dial_out.effective_for_users(tenant.id, ids.values())
    calling = calling_policies.effective_for_users(tenant, ids.values())
    return {
        alias: (
            dial[uid].source,
            dial[uid].policy.name,
            calling[uid].source,
            calling[uid].policy.name,
            calling[uid].policy.applied_limit_minor,
        )
        for alias, uid in ids.items()
    }


def test_0021_resolves_the_grants_from_before_and_ranks_group_grants_beside_them(blank_url):
    database.bind(blank_url)
    assert migrate("0020_search_index")[-1] == "0020_search_index"
    with database.db.connection_context():
        tenant_id = _old_tenant()
        people = {a: _old_user(tenant_id, a, "DE") for a in ("ann", "bob", "cem")}
        capped = _old_policy(tenant_id, "Capped", 5000)
        everyone = _old_policy(tenant_id, "Everyone", None)
        for user_id, policy in ((people["ann"], DOMESTIC), (None, DISABLED)):
            _insert(
                "dial_out_grant",
                {"tenant_id": tenant_id, "user_id": user_id, "policy_name": policy,
                 "granted_at": NOW},
            )  # fmt: skip
        for user_id, policy_id in ((people["ann"], capped), (None, everyone)):
            _insert(
                "calling_policy_grant",
                {"tenant_id": tenant_id, "user_id": user_id, "policy_id": policy_id,
                 "granted_at": NOW},
            )  # fmt: skip
        sales = _insert(
            "directory_group",
            {
                "tenant_id": tenant_id, "display_name": "Sales", "description": "",
                "member_count": 0, "processing_state": "ProcessingComplete",
                "processed_through": 0, "created_at": NOW, "updated_at": NOW,
            },
        )  # fmt: skip
        for alias in ("ann", "bob"):
            _insert("group_member", {"group_id": sales, "user_id": people[alias], "added_at": NOW})
    assert migrate("0021_group_policy_grants") == ["0021_group_policy_grants"]
    before = {
        "ann": ("USER", DOMESTIC, "USER", "Capped", 5000),
        "bob": ("GLOBAL", DISABLED, "GLOBAL", "Everyone", None),
        "cem": ("GLOBAL", DISABLED, "GLOBAL", "Everyone", None),
    }
    with older_schema():
        tenant = Tenant.get_by_id(tenant_id)
        assert _effective(tenant, people) == before
        assert _rows("SELECT count(*) FROM group_policy_grant") == [(0,)]
        assert _rows("SELECT member_count FROM directory_group") == [(2,)]  # 0019's triggers
    migrate()  # today's services write the latest schema
    with database.db.connection_context():
        tenant = Tenant.get_by_id(tenant_id)
        for kind, name in (("DIAL_OUT", GROUP_DIAL_OUT), ("CALLING", "Capped")):
            group_policies.assign_group_policy(tenant, SYSTEM, sales, kind, name, 1, now=NOW)
        # A user's own grant still wins; a member without one takes the group's; the others
        # keep the global one.
        after = _effective(tenant, people)
        assert after == {
            **before,
            "bob": ("GROUP", GROUP_DIAL_OUT, "GROUP", "Capped", 5000),
        }
        # The old grants still hold their policy: in use by a user, the global grant, a group.
        for name in ("Capped", "Everyone"):
            with pytest.raises(DomainError) as refused:
                calling_policies.remove_calling_policy(tenant, SYSTEM, name, now=NOW)
            assert refused.value.code == "POLICY_IN_USE", name
        assert _rows("SELECT count(*) FROM calling_policy") == [(2,)]
    database.close()


def test_0035_makes_groups_and_tenants_from_before_findable_case_and_accents_aside(blank_url):
    database.bind(blank_url)
    migrate("0034_group_error_insert_statements")
    with database.db.connection_context():
        tenant_id = _old_tenant("Ärzte GmbH")
        for name in ("Änderung Team", "Sales"):
            _insert(
                "directory_group",
                {
                    "tenant_id": tenant_id, "display_name": name, "description": "",
                    "member_count": 0, "processing_state": "ProcessingComplete",
                    "processed_through": 0, "created_at": NOW, "updated_at": NOW,
                },
            )  # fmt: skip
    assert migrate() == ["0035_name_search"]
    with database.db.connection_context():
        tenant = Tenant.get_by_id(tenant_id)
        assert [t.name for t in tenants.tenants_query("arzte")] == ["Ärzte GmbH"]
        found = groups.groups_query(tenant, "ANDERUNG")
        assert [g.display_name for g in found] == ["Änderung Team"]
    database.close()
