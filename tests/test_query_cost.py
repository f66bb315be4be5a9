"""What operations cost in SQL statements: bounded by loaders and bulk writes, not by size.

And what the cost limit estimates for documents with fragments (issue 11, item 1).
"""

import time

import peewee
import pytest
from graphql import parse

from commcredits.db import count_statements, insert_rows
from commcredits.models import (
    AuditEntry,
    CallRecord,
    Invoice,
    LedgerEntry,
    LicenseAssignment,
    User,
)
from commcredits.schema.cost import SATURATION, estimate_cost
from commcredits.schema.root import schema
from tests.helpers import buy

USERS = """
query($first: Int) {
  users(first: $first) { edges { node { userPrincipalName assignedLicenses { skuPartNumber } } } }
}"""
BATCH = """
mutation($items: [AssignLicenseItemInput!]!) {
  assignLicenses(items: $items) { summary { applied failed } }
}"""

SET_MANY = """
mutation($u: [String!]!, $a: [AssignedLicenseInput!], $r: [ID!]) {
  setUserLicenses(userPrincipalNames: $u, addLicenses: $a, removeLicenses: $r) {
    summary { applied }
  }
}"""


def _bulk_users(tenant, now, n: int) -> None:
    rows = [
        {
            "tenant": tenant.id,
            "user_principal_name": f"user{i:05d}@fabrikam.example",
            "upn_key": f"user{i:05d}@fabrikam.example",
            "display_name": f"User {i}",
            "usage_location": "DE",
            "created_at": now,
            "updated_at": now,
        }
        for i in range(n)
    ]
    for start in range(0, n, 500):
        User.insert_many(rows[start : start + 500]).execute()


def _statements(api, query, variables) -> int:
    with count_statements() as seen:
        api(query, variables)
    return len(seen)


def test_users_page_costs_at_most_four_statements_whatever_its_size(api, tenant, clock):
    buy(tenant, clock(), MCOMEETADV=200, MCOEV=200)
    _bulk_users(tenant, clock(), 120)
    items = [
        {"userId": f"user{i:05d}@fabrikam.example", "addLicenses": [{"skuId": "MCOMEETADV"}]}
        for i in range(0, 120, 2)
    ]
    api(BATCH, {"items": items})
    api("{ viewer { role } }")  # the key's last-used stamp is written once; not part of the cost
    small = _statements(api, USERS, {"first": 10})
    large = _statements(api, USERS, {"first": 100})
    print(f"users page statements: first:10 {small}, first:100 {large}")
    assert large <= 4
    assert small == large
    data = api(USERS, {"first": 100})["users"]["edges"]
    assert len(data) == 100 and data[0]["node"]["assignedLicenses"] == [
        {"skuPartNumber": "MCOMEETADV"}
    ]


@pytest.mark.parametrize("size", [1000])
def test_assign_licenses_batch_costs_a_bounded_number_of_statements(api, tenant, clock, size):
    buy(tenant, clock(), MCOMEETADV=2000, MCOEV=2000)
    _bulk_users(tenant, clock(), size)
    api("{ viewer { role } }")

    def batch(lo: int, hi: int, sku: str) -> list[dict]:
        return [
            {"userId": f"user{i:05d}@fabrikam.example", "addLicenses": [{"skuId": sku}]}
            for i in range(lo, hi)
        ]

    few = _statements(api, BATCH, {"items": batch(0, 10, "MCOEV")})
    many = _statements(api, BATCH, {"items": batch(0, size, "MCOMEETADV")})
    assert LicenseAssignment.select().count() == 10 + size
    print(f"assignLicenses statements: 10 items {few}, {size} items {many}")
    # PostgreSQL's lock statement, and since groups (issue 18) whether the tenant licenses
    # any group: constant per batch.
    assert many <= 11, many
    # per-batch, not per-item: 100× the items costs one more chunk of the user lookup
    assert many - few <= 2, (few, many)


def test_removing_a_license_from_many_users_costs_a_bounded_number_of_statements(
    api, tenant, clock
):
    buy(tenant, clock(), MCOMEETADV=1000)
    _bulk_users(tenant, clock(), 1000)
    upns = [f"user{i:05d}@fabrikam.example" for i in range(1000)]
    api(SET_MANY, {"u": upns, "a": [{"skuId": "MCOMEETADV"}]})
    with count_statements() as seen:
        out = api(SET_MANY, {"u": upns, "r": ["MCOMEETADV"]})
    assert out["setUserLicenses"]["summary"]["applied"] == 1000
    assert LicenseAssignment.select().count() == 0
    deletes = [sql for sql in seen if sql.lstrip().startswith('DELETE FROM "license_assignment"')]
    assert len(deletes) == 2  # one per chunk of 500 ids, not one per user
    assert len(seen) <= 11, len(seen)  # with groups' two checks (tenant_uses_groups, waiting)


def test_tenant_fields_do_not_reload_the_tenant(api, tenant, clock):
    """The caller's tenant row comes with its key; credit fields on it read it no more."""
    query = (
        "{ tenant { name autoRecharge { enabled } billingProfile { companyName } "
        "creditLimit { period } webhook { url } invoices { totalCount } "
        "balance { amount expiringWithin(days: 30) { lots } forecast { daysLeft } } } }"
    )
    api(query)  # warm-up: the key's last-used stamp
    with count_statements() as seen:
        api(query)
    assert not [sql for sql in seen if sql.lstrip().startswith("SELECT") and 'FROM "tenant"' in sql]


def test_changing_disabled_plans_for_many_users_is_one_update(api, tenant, clock):
    buy(tenant, clock(), SPE_E5=300)
    _bulk_users(tenant, clock(), 300)
    upns = [f"user{i:05d}@fabrikam.example" for i in range(300)]
    change = "mutation($u: [String!]!, $a: [AssignedLicenseInput!]) { setUserLicenses(userPrincipalNames: $u, addLicenses: $a) { summary { applied } } }"  # noqa: E501
    api(change, {"u": upns, "a": [{"skuId": "SPE_E5"}]})
    with count_statements() as seen:
        out = api(change, {"u": upns, "a": [{"skuId": "SPE_E5", "disabledPlans": ["TEAMS1"]}]})
    assert out["setUserLicenses"]["summary"]["applied"] == 300
    updates = [sql for sql in seen if sql.lstrip().startswith('UPDATE "license_assignment"')]
    assert len(updates) == 1
    assert all(
        len(a.disabled_plans) == 1 for a in LicenseAssignment.select()
    )  # every row got the change


# --- the cost estimate of fragments (issue 11, item 1) -------------------------------------


def _list_bomb(levels: int) -> str:
    """Under a page of 5 users, F0 spreads F1 twice, …, F<levels> selects a list field."""
    parts = ["{ users(first: 5) { nodes { ...F0 } } }"]
    parts += [f"fragment F{i} on User {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)]
    parts.append(f"fragment F{levels} on User {{ assignedLicenses {{ skuPartNumber }} }}")
    return "\n".join(parts)


def _estimate(text: str, variables: dict | None = None) -> int:
    return estimate_cost(schema._schema, parse(text), variables)


def test_fragments_cost_what_their_spread_out_text_costs():
    licenses = " ".join(["assignedLicenses { skuPartNumber }"] * 4)
    inlined = "{ users(first: 5) { nodes { " + licenses + " } } }"
    # users 5 + nodes 5 (once: the page counted them) + 4 spreads x 5 users x 10 licenses
    assert _estimate(_list_bomb(2)) == _estimate(inlined) == 5 + 5 + 4 * 50
    connection = """query($n: Int) { a: users(first: $n) { ...Page } b: users(first: 7) { ...Page }
    }
    fragment Page on UserConnection { nodes { ...Plans } edges { node { ...Plans } } }
    fragment Plans on User { licenseDetails { servicePlans { servicePlanId } } }"""
    plans = "licenseDetails { servicePlans { servicePlanId } }"
    page = f"nodes {{ {plans} }} edges {{ node {{ {plans} }} }}"
    spelled_out = (
        f"query($n: Int) {{ a: users(first: $n) {{ {page} }} b: users(first: 7) {{ {page} }} }}"
    )
    # a: 3 users, their nodes 3 + 30 details + 300 plans, edges 3 + nodes 3 + 30 + 300;
    # b: the same for 7 users.
    assert _estimate(connection, {"n": 3}) == _estimate(spelled_out, {"n": 3}) == 2240


def test_a_fragment_bomb_is_costed_in_linear_time_and_its_cost_saturates():
    def timed(levels: int) -> tuple[float, int]:
        """The fastest of three estimates (a busy machine, e.g. a parallel test worker beside
        this one, stalls a single ~0.1 s run now and then), and the cost."""
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            cost = _estimate(_list_bomb(levels))
            runs.append((time.perf_counter() - start, cost))
        assert len({cost for _, cost in runs}) == 1, runs
        return min(runs)

    timed(10)  # warm-up
    (t40, cost40), (t160, cost160) = timed(40), timed(160)
    assert cost40 == 5 + 5 + 2**40 * 50  # exact: no spread is expanded to count it
    assert cost160 == SATURATION  # 2^160 is never computed with
    assert t160 <= 8 * t40 + 0.05, (t40, t160)  # 4x the levels: about 4x the time


def test_a_page_spread_through_fragments_is_refused_with_the_cost_of_its_spelled_out_text(
    client, keys
):
    page = "users(first: $n) { ...Page }"
    query = "query($n: Int) { " + " ".join(f"u{i}: {page}" for i in range(5)) + " }"
    query += " fragment Page on UserConnection { nodes { ...Plans } }"
    query += " fragment Plans on User { licenseDetails { servicePlans { servicePlanId } } }"
    response = client.post(
        "/graphql",
        json={"query": query, "variables": {"n": 100}},
        headers={"Authorization": f"Bearer {keys['READER']}"},
    )
    body = response.json()
    assert body["data"] is None
    # 5 x (100 users + 100 nodes + 1,000 license details + 10,000 plans)
    assert body["errors"][0]["extensions"] == {"code": "QUERY_TOO_EXPENSIVE", "cost": 56000}


LISTS = {
    "auditLog": """query($first: Int) {
  auditLog(first: $first, filter: {action: "updateUser"}) {
    edges { node { id action targetType } } totalCount totalCountIsCapped
  }
}""",
    "callRecords": """query($first: Int) {
  callRecords(first: $first, filter: {status: RATED}) {
    edges { node { id callId userPrincipalName status } } totalCount totalCountIsCapped
  }
}""",
    "creditTransactions": """query($first: Int) {
  tenant { creditTransactions(first: $first) {
    edges { node { id sequence kind amount { amount } } } totalCount totalCountIsCapped
  } }
}""",
    "invoices": """query($first: Int) {
  tenant { invoices(first: $first) { edges { node { id number status } } totalCount } }
}""",
    "rates": """query($first: Int) {
  rates(first: $first, filter: {callType: DOMESTIC}) {
    edges { node { id prefix country perMinute { amount } } } totalCount totalCountIsCapped
  }
}""",
}


def _bulk_activity(tenant, now, n: int) -> None:
    """n audit entries, calls, ledger entries and invoices, by plain INSERTs."""
    seq = LedgerEntry.select(peewee.fn.MAX(LedgerEntry.seq)).where(LedgerEntry.tenant == tenant.id)
    first_seq = (seq.scalar() or 0) + 1
    number = Invoice.select(peewee.fn.MAX(Invoice.number)).where(Invoice.tenant == tenant.id)
    first_number = (number.scalar() or 0) + 1
    common = {"tenant": tenant.id}
    insert_rows(
        AuditEntry,
        [
            {
                **common,
                "actor": "system",
                "action": "updateUser",
                "target_type": "User",
                "target_id": str(i),
                "at": now,
            }
            for i in range(n)
        ],
    )
    insert_rows(
        CallRecord,
        [
            {
                **common,
                "call_id": f"cost-{i}",
                "user_principal_name": f"u{i}@fabrikam.example",
                "started_at": now,
                "month": now.strftime("%Y-%m"),
                "duration_seconds": 60,
                "destination": "+4930123456",
                "call_type": "DOMESTIC",
                "status": "RATED",
                "currency": "EUR",
                "rated_at": now,
            }
            for i in range(n)
        ],
    )
    insert_rows(
        LedgerEntry,
        [
            {
                **common,
                "seq": first_seq + i,
                "kind": "FUNDED",
                "amount_minor": 100,
                "balance_after_minor": 100,
                "currency": "EUR",
                "created_at": now,
            }
            for i in range(n)
        ],
    )
    insert_rows(
        Invoice,
        [
            {
                **common,
                "number": first_number + i,
                "issued_at": now,
                "amount_minor": 100,
                "currency": "EUR",
                "reason": "PURCHASE",
                "status": "PAID",
                "payment_method": "INVOICE",
            }
            for i in range(n)
        ],
    )


@pytest.mark.parametrize("name", list(LISTS))
def test_a_page_of_each_list_costs_the_same_statements_whatever_its_size(api, tenant, clock, name):
    _bulk_activity(tenant, clock(), 120)
    api("{ viewer { role } }")  # the key's last-used stamp is written once; not part of the cost
    small = _statements(api, LISTS[name], {"first": 5})
    large = _statements(api, LISTS[name], {"first": 100})
    print(f"{name} page statements: first:5 {small}, first:100 {large}")
    assert large <= 4
    assert small == large
    page = api(LISTS[name], {"first": 100})
    connection = page["tenant"][name] if "tenant" in page else page[name]
    assert len(connection["edges"]) == 100
    assert connection["totalCount"] >= 100
