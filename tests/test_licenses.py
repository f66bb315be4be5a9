"""License assignment over GraphQL with Microsoft Graph's semantics and texts (SPEC §3)."""

import pytest

from commcredits.models import AuditEntry, LicenseAssignment, Subscription
from tests.helpers import add_users, buy, upn

ASSIGN = """
mutation($user: ID!, $add: [AssignedLicenseInput!]!, $remove: [ID!]!) {
  assignLicense(userId: $user, addLicenses: $add, removeLicenses: $remove) {
    user { userPrincipalName assignedLicenses { skuPartNumber disabledPlans } }
    result { status changes { skuPartNumber action } }
    userErrors { field code message }
  }
}"""

BATCH = """
mutation($items: [AssignLicenseItemInput!]!, $whatIf: Boolean) {
  assignLicenses(items: $items, whatIf: $whatIf) {
    whatIf
    results { index userId status changes { skuPartNumber action } userErrors { code message } }
    summary { total applied unchanged failed }
    userErrors { field code message }
  }
}"""

SET_MANY = """
mutation($upns: [String!]!, $add: [AssignedLicenseInput!], $remove: [ID!], $whatIf: Boolean) {
  setUserLicenses(userPrincipalNames: $upns, addLicenses: $add, removeLicenses: $remove,
                  whatIf: $whatIf) {
    results { userId status userErrors { code } }
    summary { total applied unchanged failed }
  }
}"""

SEATS = "{ subscribedSkus { skuPartNumber consumedUnits availableUnits } }"


def add(*parts: str) -> list[dict]:
    return [{"skuId": p} for p in parts]


def seats(api) -> dict[str, tuple[int, int]]:
    return {
        s["skuPartNumber"]: (s["consumedUnits"], s["availableUnits"])
        for s in api(SEATS)["subscribedSkus"]
    }


@pytest.fixture
def org(tenant, clock, api):
    buy(tenant, clock(), SPE_E5=5, MCOEV=5, MCOMEETADV=1, MCOPSTN1=2, MCOPSTN2=2, MCOPSTNC=10)
    add_users(
        tenant,
        clock(),
        [("anna", "DE"), ("ben", "DE"), ("carla", "US"), ("dana", None), ("eve", "BR")],
    )
    return api


def assign(api, alias, add_=(), remove=()):
    return api(ASSIGN, {"user": upn(alias), "add": list(add_), "remove": list(remove)})[
        "assignLicense"
    ]


def test_no_usage_location_is_refused_with_graphs_text(org):
    out = assign(org, "dana", add("MCOMEETADV"))
    assert out["userErrors"] == [
        {
            "field": "userId",
            "code": "ProhibitedInUsageLocationViolation",
            "message": "License assignment cannot be done for user with invalid usage location.",
        }
    ]
    assert out["user"] is None and out["result"]["status"] == "FAILED"
    assert LicenseAssignment.select().count() == 0


def test_no_free_seat_is_a_count_violation(org):
    assert assign(org, "anna", add("MCOMEETADV"))["userErrors"] == []
    out = assign(org, "ben", add("MCOMEETADV"))
    assert [(e["code"], e["message"]) for e in out["userErrors"]] == [
        (
            "CountViolation",
            "Subscription for SKU MCOMEETADV does not have any available licenses.",
        )
    ]
    assert seats(org)["MCOMEETADV"] == (1, 0)


def test_sku_without_subscription_is_a_count_violation(org):
    out = assign(org, "anna", add("MCOPSTN5", "MCOEV"))
    assert {e["code"] for e in out["userErrors"]} == {"CountViolation"}
    # The field names the entry without a seat, so a form can show it beside its checkbox.
    assert [e["field"] for e in out["userErrors"]] == ["addLicenses.0.skuId"]


def test_calling_plan_needs_teams_phone(org):
    out = assign(org, "anna", add("MCOPSTN1"))
    assert out["userErrors"][0]["field"] == "addLicenses.0.skuId"
    assert [(e["code"], e["message"]) for e in out["userErrors"]] == [
        (
            "DependencyViolation",
            "To assign a license that contains MCOPSTN1, you must also assign one of the "
            "following service plans: MCOEV.",
        )
    ]
    ok = assign(org, "anna", add("MCOEV", "MCOPSTN1"))
    assert ok["userErrors"] == []
    assert sorted(c["action"] for c in ok["result"]["changes"]) == ["ASSIGNED", "ASSIGNED"]


def test_e5_brings_teams_phone_unless_the_plan_is_disabled(org):
    disabled = [{"skuId": "SPE_E5", "disabledPlans": ["MCOEV"]}, {"skuId": "MCOPSTN1"}]
    out = assign(org, "anna", disabled)
    assert [e["code"] for e in out["userErrors"]] == ["DependencyViolation"]
    out = assign(org, "anna", add("SPE_E5", "MCOPSTN1"))
    assert out["userErrors"] == []
    # Disabling Teams Phone inside E5 later is refused while the calling plan stays.
    out = assign(org, "anna", [{"skuId": "SPE_E5", "disabledPlans": ["MCOEV"]}])
    assert [e["code"] for e in out["userErrors"]] == ["DependencyViolation"]


def test_removing_the_last_teams_phone_while_a_calling_plan_stays_is_refused(org):
    assign(org, "anna", add("MCOEV", "MCOPSTN1"))
    out = assign(org, "anna", remove=["MCOEV"])
    assert out["userErrors"][0]["code"] == "DependencyViolation"
    assert out["userErrors"][0]["field"] == "removeLicenses.0"  # the removal that breaks it
    assert "MCOPSTN1" in out["userErrors"][0]["message"]
    assert seats(org)["MCOEV"] == (1, 4)
    both = assign(org, "anna", remove=["MCOEV", "MCOPSTN1"])
    assert both["userErrors"] == [] and seats(org)["MCOEV"] == (0, 5)


def test_two_calling_plans_exclude_each_other_but_a_swap_works(org):
    assign(org, "anna", add("MCOEV", "MCOPSTN1"))
    out = assign(org, "anna", add("MCOPSTN2"))
    assert out["userErrors"][0]["code"] == "MutuallyExclusiveViolation"
    assert out["userErrors"][0]["field"] == "addLicenses.0.skuId"  # the plan being added
    swap = assign(org, "anna", add("MCOPSTN2"), remove=["MCOPSTN1"])
    assert swap["userErrors"] == []
    assert seats(org)["MCOPSTN1"] == (0, 2) and seats(org)["MCOPSTN2"] == (1, 1)


def test_unknown_sku_is_invalid(org):
    out = assign(org, "anna", add("00000000-0000-0000-0000-000000000000"))
    assert out["userErrors"] == [
        {
            "field": "addLicenses.0.skuId",
            "code": "InvalidSku",
            "message": "Invalid value specified for property 'skuId' of resource "
            "'AssignedLicense'.",
        }
    ]
    out = assign(org, "anna", remove=["NOPE"])
    assert out["userErrors"][0]["code"] == "InvalidSku"


def test_sku_by_guid_and_part_number_are_the_same(org):
    assign(org, "anna", [{"skuId": "0C266DFF-15DD-4B49-8397-2BB16070ED52"}])  # MCOMEETADV
    out = assign(org, "anna", add("mcomeetadv"))
    assert out["result"]["status"] == "UNCHANGED"


def test_adding_held_or_removing_absent_is_unchanged_not_an_error(org):
    assign(org, "anna", add("MCOMEETADV"))
    out = assign(org, "anna", add("MCOMEETADV"), remove=["MCOPSTN2"])
    assert out["userErrors"] == []
    assert out["result"]["status"] == "UNCHANGED"
    assert [c["action"] for c in out["result"]["changes"]] == ["UNCHANGED", "UNCHANGED"]
    assert seats(org)["MCOMEETADV"] == (1, 0)


def test_all_or_nothing_when_one_license_fails(org):
    # MCOEV has seats, MCOPSTN1 does not after two assignments: nothing of the request lands.
    assign(org, "anna", add("MCOEV", "MCOPSTN1"))
    assign(org, "ben", add("MCOEV", "MCOPSTN1"))
    before = seats(org)
    out = assign(org, "carla", add("MCOEV", "MCOPSTN1"))
    assert [e["code"] for e in out["userErrors"]] == ["CountViolation"]
    assert seats(org) == before
    assert LicenseAssignment.select().count() == 4


def test_country_availability_names_sku_and_country(org, keys, client):
    from tests.conftest import Api

    out = assign(org, "eve", add("MCOEV", "MCOPSTN1"))  # BR: no calling plans sold there
    err = out["userErrors"][0]
    assert err["code"] == "ProhibitedInUsageLocationViolation"
    assert "MCOPSTN1" in err["message"] and "'BR'" in err["message"]
    assert "MCOEV" not in err["message"]
    assert err["field"] == "addLicenses.1.skuId"  # MCOPSTN1, the second entry
    operator = Api(client, keys["OPERATOR"])
    countries = org("{ skus { skuPartNumber availableCountries } }")["skus"]
    current = next(s for s in countries if s["skuPartNumber"] == "MCOPSTN1")["availableCountries"]
    assert "BR" not in current and "DE" in current and len(current) == 33
    done = operator(
        'mutation($c: [String!]!) { setSkuCountries(skuPartNumber: "MCOPSTN1", countries: $c) '
        "{ sku { availableCountries } userErrors { code } } }",
        {"c": [*current, "br"]},
    )["setSkuCountries"]
    assert "BR" in done["sku"]["availableCountries"]
    assert assign(org, "eve", add("MCOEV", "MCOPSTN1"))["userErrors"] == []


def test_set_sku_countries_is_operator_only_and_validates(org, keys, client):
    from tests.conftest import Api

    out = org(
        'mutation { setSkuCountries(skuPartNumber: "MCOEV", countries: ["DE"]) '
        "{ userErrors { code } } }"
    )["setSkuCountries"]
    assert out["userErrors"] == [{"code": "FORBIDDEN"}]
    operator = Api(client, keys["OPERATOR"])
    out = operator(
        'mutation { setSkuCountries(skuPartNumber: "MCOEV", countries: ["DE", "XX"]) '
        "{ userErrors { field code } } }"
    )["setSkuCountries"]
    assert out["userErrors"] == [{"field": "countries.1", "code": "INVALID_COUNTRY"}]


def test_disabled_plans_must_belong_to_the_sku(org):
    out = assign(org, "anna", [{"skuId": "MCOEV", "disabledPlans": ["EXCHANGE_S_ENTERPRISE"]}])
    assert out["userErrors"][0]["code"] == "InvalidServicePlan"
    assert out["userErrors"][0]["field"] == "addLicenses.0.disabledPlans.0"


def test_changing_disabled_plans_is_an_update_without_a_seat(org):
    assign(org, "anna", add("SPE_E5"))
    out = assign(org, "anna", [{"skuId": "SPE_E5", "disabledPlans": ["EXCHANGE_S_ENTERPRISE"]}])
    assert out["result"]["changes"] == [{"skuPartNumber": "SPE_E5", "action": "UPDATED"}]
    assert len(out["user"]["assignedLicenses"][0]["disabledPlans"]) == 1
    assert seats(org)["SPE_E5"] == (1, 4)


def test_batch_counts_seats_in_input_order_and_items_are_independent(org):
    items = [
        {"userId": upn("anna"), "addLicenses": add("MCOEV", "MCOPSTN1")},
        {"userId": upn("dana"), "addLicenses": add("MCOEV")},  # no usage location
        {"userId": upn("ben"), "addLicenses": add("MCOEV", "MCOPSTN1")},
        {"userId": upn("carla"), "addLicenses": add("MCOEV", "MCOPSTN1")},  # third: no seat
        {"userId": upn("anna"), "removeLicenses": ["MCOPSTN1"]},  # frees one …
        {"userId": upn("carla"), "addLicenses": add("MCOEV", "MCOPSTN1")},  # … for this one
        {"userId": "nobody@fabrikam.example", "addLicenses": add("MCOEV")},
    ]
    out = org(BATCH, {"items": items})["assignLicenses"]
    statuses = [(r["index"], r["status"]) for r in out["results"]]
    assert statuses == [
        (0, "APPLIED"),
        (1, "FAILED"),
        (2, "APPLIED"),
        (3, "FAILED"),
        (4, "APPLIED"),
        (5, "APPLIED"),
        (6, "FAILED"),
    ]
    assert out["results"][3]["userErrors"][0]["code"] == "CountViolation"
    assert out["results"][6]["userErrors"][0]["code"] == "NOT_FOUND"
    assert out["summary"] == {"total": 7, "applied": 4, "unchanged": 0, "failed": 3}
    assert seats(org)["MCOPSTN1"] == (2, 0)
    assert seats(org)["MCOEV"] == (3, 2)
    held = {(a.user.user_principal_name, a.sku.part_number) for a in LicenseAssignment.select()}
    assert (upn("anna"), "MCOPSTN1") not in held and (upn("carla"), "MCOPSTN1") in held
    # Subscription counters agree with the rows (the CHECK constraint never tripped).
    for sub in Subscription.select():
        assert (
            sub.consumed_units
            == LicenseAssignment.select().where(LicenseAssignment.sku == sub.sku_id).count()
        )


def test_what_if_reports_and_writes_nothing(org):
    items = [
        {"userId": upn("anna"), "addLicenses": add("MCOMEETADV")},
        {"userId": upn("ben"), "addLicenses": add("MCOMEETADV")},
    ]
    audit_before = AuditEntry.select().count()
    out = org(BATCH, {"items": items, "whatIf": True})["assignLicenses"]
    assert out["whatIf"] is True
    assert [r["status"] for r in out["results"]] == ["WOULD_APPLY", "FAILED"]
    assert LicenseAssignment.select().count() == 0
    assert seats(org)["MCOMEETADV"] == (0, 1)
    assert AuditEntry.select().count() == audit_before


def test_batch_over_1000_items_is_refused_whole(org):
    items = [{"userId": upn("anna"), "addLicenses": add("MCOEV")}] * 1001
    out = org(BATCH, {"items": items})["assignLicenses"]
    assert out["results"] == []
    assert out["userErrors"][0]["code"] == "BATCH_TOO_LARGE"
    assert LicenseAssignment.select().count() == 0


def test_set_user_licenses_applies_one_change_to_many(org):
    out = org(SET_MANY, {"upns": [upn("anna"), upn("dana"), upn("ben")], "add": add("MCOEV")})
    assert [r["status"] for r in out["setUserLicenses"]["results"]] == [
        "APPLIED",
        "FAILED",
        "APPLIED",
    ]
    again = org(SET_MANY, {"upns": [upn("anna"), upn("ben")], "add": add("MCOEV")})
    assert again["setUserLicenses"]["summary"]["unchanged"] == 2


def test_every_change_is_audited_with_before_and_after(org):
    assign(org, "anna", add("MCOEV", "MCOPSTN1"))
    entry = AuditEntry.select().where(AuditEntry.action == "assignLicense").get()
    assert entry.before == [] and entry.after == ["MCOEV", "MCOPSTN1"]
    assert entry.actor.endswith("(GLOBAL_ADMIN)")


RUNS = """
mutation($items: [AssignLicenseItemInput!]!, $whatIf: Boolean) {
  assignLicenses(items: $items, whatIf: $whatIf) {
    results { index status changes { skuPartNumber action } userErrors { code } }
    runs { start count status changes { skuPartNumber action } userErrors { code } }
  }
}"""


def test_runs_are_the_results_grouped_in_input_order(org):
    items = [
        {"userId": upn("anna"), "addLicenses": add("MCOEV")},
        {"userId": upn("ben"), "addLicenses": add("MCOEV")},
        {"userId": upn("dana"), "addLicenses": add("MCOEV")},  # no usage location
        {"userId": upn("carla"), "addLicenses": add("MCOEV")},
        {"userId": upn("anna"), "addLicenses": add("MCOEV")},  # held by now: unchanged
    ]
    out = org(RUNS, {"items": items})["assignLicenses"]
    runs = out["runs"]
    assert [(r["start"], r["count"], r["status"]) for r in runs] == [
        (0, 2, "APPLIED"),
        (2, 1, "FAILED"),
        (3, 1, "APPLIED"),
        (4, 1, "UNCHANGED"),
    ]
    assert runs[1]["userErrors"] == [{"code": "ProhibitedInUsageLocationViolation"}]
    # Expanded, the runs are the per-item results.
    expanded = [
        (r["status"], r["changes"], r["userErrors"]) for r in runs for _ in range(r["count"])
    ]
    assert expanded == [(r["status"], r["changes"], r["userErrors"]) for r in out["results"]]


def test_a_batch_writes_one_audit_entry_grouping_users_by_license_set(org):
    assign(org, "carla", add("MCOEV"))
    before = AuditEntry.select().count()
    out = org(SET_MANY, {"upns": [upn("anna"), upn("ben"), upn("carla")], "add": add("MCOMEETADV")})
    assert out["setUserLicenses"]["summary"]["applied"] == 1  # one Audio Conferencing seat
    items = [
        {"userId": upn("anna"), "addLicenses": add("MCOEV")},
        {"userId": upn("ben"), "addLicenses": add("MCOEV")},
        {"userId": upn("carla"), "removeLicenses": ["MCOEV"]},
    ]
    org(BATCH, {"items": items})
    entries = list(AuditEntry.select().order_by(AuditEntry.id))[before:]
    assert [(e.action, e.target_type) for e in entries] == [
        ("assignLicense", "User"),  # one user changed: an entry on that user
        ("assignLicenses", "UserBatch"),
    ]
    batch = entries[1]
    assert batch.target_id == f"{upn('anna')}…{upn('carla')}"
    assert {"licenses": [], "users": [upn("ben")]} in batch.before
    assert {"licenses": ["MCOEV"], "users": [upn("ben")]} in batch.after
    assert {"licenses": ["MCOEV"], "users": [upn("carla")]} in batch.before
    assert {"licenses": [], "users": [upn("carla")]} in batch.after


def test_a_user_changed_and_changed_back_in_one_batch_writes_nothing(org):
    before = AuditEntry.select().count()
    items = [
        {"userId": upn("anna"), "addLicenses": add("MCOEV")},
        {"userId": upn("anna"), "removeLicenses": ["MCOEV"]},
    ]
    out = org(BATCH, {"items": items})["assignLicenses"]
    assert [r["status"] for r in out["results"]] == ["APPLIED", "APPLIED"]
    assert LicenseAssignment.select().count() == 0
    assert seats(org)["MCOEV"] == (0, 5)
    assert AuditEntry.select().count() == before


def test_one_user_by_id_and_by_upn_in_any_case_is_one_user(org):
    from commcredits.models import User
    from commcredits.schema.common import to_global_id

    anna = User.get(User.upn_key == upn("anna"))
    items = [
        {"userId": to_global_id("User", anna.id), "addLicenses": add("MCOEV")},
        {"userId": "  ANNA@Fabrikam.example ", "addLicenses": add("MCOEV", "MCOPSTN1")},
        {"userId": upn("anna"), "removeLicenses": ["MCOPSTN1"]},
    ]
    out = org(RUNS, {"items": items})["assignLicenses"]
    assert [r["status"] for r in out["results"]] == ["APPLIED", "APPLIED", "APPLIED"]
    # The second item saw the first's MCOEV (held: unchanged), the third the second's plan.
    assert [c["action"] for c in out["results"][1]["changes"]] == ["UNCHANGED", "ASSIGNED"]
    held = [(a.user_id, a.sku.part_number) for a in LicenseAssignment.select()]
    assert held == [(anna.id, "MCOEV")]
    assert seats(org)["MCOEV"] == (1, 4) and seats(org)["MCOPSTN1"] == (0, 2)


def test_the_catalog_is_reused_until_a_sku_changes(org, keys, client):
    from commcredits.services.catalog import Catalog
    from tests.conftest import Api

    first = Catalog.load()
    assert Catalog.load() is first
    operator = Api(client, keys["OPERATOR"])
    operator(
        'mutation { setSkuCountries(skuPartNumber: "MCOPSTN1", countries: ["DE", "AT"]) '
        "{ userErrors { code } } }"
    )
    changed = Catalog.load()
    assert changed is not first
    assert changed.find("MCOPSTN1").countries == ["AT", "DE"]
    assert first.find("MCOPSTN1").countries != ["AT", "DE"]  # the shared one was not edited
    assert assign(org, "carla", add("MCOEV", "MCOPSTN1"))["userErrors"][0]["code"] == (
        "ProhibitedInUsageLocationViolation"  # US is no longer on the list
    )


def test_rows_go_in_input_order_when_users_in_other_states_get_the_same_license(org):
    """Users decided apart (here: holding something else, or not) who gain the same license
    are inserted in input order all the same, and audited by license set."""
    assign(org, "carla", add("MCOMEETADV"))
    before = AuditEntry.select().count()
    out = org(SET_MANY, {"upns": [upn("anna"), upn("carla"), upn("ben")], "add": add("MCOEV")})
    assert out["setUserLicenses"]["summary"]["applied"] == 3
    mcoev = (
        LicenseAssignment.select()
        .where(LicenseAssignment.sku == LicenseAssignment.sku.rel_model.get(part_number="MCOEV"))
        .order_by(LicenseAssignment.id)
    )
    assert [a.user.user_principal_name for a in mcoev] == [upn("anna"), upn("carla"), upn("ben")]
    (entry,) = list(AuditEntry.select().order_by(AuditEntry.id))[before:]
    assert {"licenses": [], "users": [upn("anna"), upn("ben")]} in entry.before
    assert {"licenses": ["MCOMEETADV"], "users": [upn("carla")]} in entry.before
    assert {"licenses": ["MCOEV"], "users": [upn("anna"), upn("ben")]} in entry.after
    assert seats(org)["MCOEV"] == (3, 2)
