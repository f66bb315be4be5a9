"""Group-based licensing with Entra's rules (issue 18, SPEC §10), each rule on its own."""

import pytest

from commcredits.models import (
    Group,
    GroupLicenseState,
    LicenseAssignment,
    Notification,
    Subscription,
    User,
)
from commcredits.schema.common import to_global_id
from commcredits.services import group_assign, group_summary, groups, licenses, seats
from commcredits.services.access import SYSTEM
from commcredits.services.catalog import Catalog, generated_id
from commcredits.services.errors import DomainError
from commcredits.services.group_assign import GroupLicenseInput as GL
from commcredits.services.group_summary import LicenseSummary
from commcredits.services.licenses import AddLicense, LicenseRequest
from tests.helpers import add_five_users, buy, uid, upn

INHERITED = (
    "User license is inherited from a group membership and it cannot be removed directly "
    "from the user."
)


def held(alias: str) -> dict[str, dict]:
    cat = Catalog.load()
    return {
        cat.by_pk[r.sku_id].part_number: {
            "direct": r.direct,
            "disabled": sorted(r.disabled_plans),
        }
        for r in LicenseAssignment.select().where(LicenseAssignment.user == uid(alias))
    }


def consumed(part: str) -> int:
    sku = Catalog.load().find(part)
    sub = Subscription.get_or_none(Subscription.sku == sku.id)
    return sub.consumed_units if sub else 0


def states(alias: str) -> list[tuple[str, str, str | None]]:
    cat = Catalog.load()
    return sorted(
        (cat.by_pk[s.sku_id].part_number, s.state, s.error)
        for s in GroupLicenseState.select().where(GroupLicenseState.user == uid(alias))
    )


def plan(name: str) -> str:
    return generated_id("service-plan", name)


def direct(tenant, clock, alias, add=(), remove=()):
    req = LicenseRequest(upn(alias), tuple(AddLicense(*a) for a in add), tuple(remove))
    return licenses.assign_license(tenant, SYSTEM, req, now=clock())


@pytest.fixture
def org(tenant, clock):
    return add_five_users(tenant, clock())


def group(tenant, clock, name, members, *lics):
    g = groups.create_group(tenant, SYSTEM, name, now=clock())
    groups.add_members(tenant, SYSTEM, g.id, [upn(m) for m in members], now=clock())
    if lics:
        group_assign.assign_group_license(tenant, SYSTEM, g.id, list(lics), [], now=clock())
    return g


def test_one_seat_per_user_per_sku_and_the_union_of_enabled_plans(org, clock):
    buy(org, clock(), SPE_E5=5)
    group(org, clock, "A", ["anna"], GL("SPE_E5", ("MCOEV", "TEAMS1")))
    group(org, clock, "B", ["anna"], GL("SPE_E5", ("MCOEV", "MCOSTANDARD")))
    assert consumed("SPE_E5") == 1
    # Disabled only where every source disables it: MCOEV.
    assert held("anna") == {"SPE_E5": {"direct": False, "disabled": [plan("MCOEV")]}}
    assert direct(org, clock, "anna", [("SPE_E5", ("TEAMS1",))]).ok
    assert consumed("SPE_E5") == 1
    assert held("anna") == {"SPE_E5": {"direct": True, "disabled": []}}
    assert states("anna") == [("SPE_E5", "Active", None), ("SPE_E5", "Active", None)]


def test_count_violation_changes_nothing_else_for_the_member(org, clock):
    buy(org, clock(), SPE_E5=2, MCOMEETADV=10, MCOEV=1)
    assert direct(org, clock, "carla", [("MCOEV",)]).ok
    g = group(org, clock, "Sales", ["anna", "ben", "carla"], GL("SPE_E5"), GL("MCOMEETADV"))
    assert consumed("SPE_E5") == 2 and consumed("MCOMEETADV") == 2
    # All or nothing per member (Entra): carla gets neither of the group's products.
    assert states("carla") == [
        ("MCOMEETADV", "Error", "CountViolation"),
        ("SPE_E5", "Error", "CountViolation"),
    ]
    assert held("carla") == {"MCOEV": {"direct": True, "disabled": []}}
    summary = group_summary.license_summary(Group.get_by_id(g.id))
    assert summary == LicenseSummary(
        members=3, licensed=2, in_error=1, errors={"CountViolation": 1}
    )
    note = Notification.get(Notification.kind == "GROUP_LICENSE_ERRORS")
    assert note.payload == {"groupId": g.id, "membersInError": 1, "errors": {"CountViolation": 1}}
    # Buying seats retries CountViolation members at once, in member order.
    seats.purchase_seats(org, SYSTEM, "SPE_E5", 1, now=clock())
    assert states("carla") == [("MCOMEETADV", "Active", None), ("SPE_E5", "Active", None)]
    assert consumed("SPE_E5") == 3 and consumed("MCOMEETADV") == 3


def test_leaving_frees_seats_held_from_no_other_source(org, clock):
    buy(org, clock(), SPE_E5=3)
    a = group(org, clock, "A", ["anna", "ben", "carla"], GL("SPE_E5"))
    group(org, clock, "B", ["ben"], GL("SPE_E5"))
    assert direct(org, clock, "carla", [("SPE_E5",)]).ok
    assert consumed("SPE_E5") == 3
    groups.remove_members(org, SYSTEM, a.id, [upn("anna"), upn("ben"), upn("carla")], now=clock())
    assert held("anna") == {}
    assert held("ben") == {"SPE_E5": {"direct": False, "disabled": []}}  # group B still
    assert held("carla") == {"SPE_E5": {"direct": True, "disabled": []}}  # direct keeps it
    assert consumed("SPE_E5") == 2


def test_deleting_a_group_or_its_license_frees_seats(org, clock):
    buy(org, clock(), SPE_E5=3)
    a = group(org, clock, "A", ["anna", "ben"], GL("SPE_E5"))
    b = group(org, clock, "B", ["carla"], GL("SPE_E5"))
    group_assign.assign_group_license(org, SYSTEM, a.id, [], ["SPE_E5"], now=clock())
    assert held("anna") == {} and consumed("SPE_E5") == 1
    groups.delete_group(org, SYSTEM, b.id, now=clock())
    assert held("carla") == {} and consumed("SPE_E5") == 0
    assert GroupLicenseState.select().count() == 0


def test_direct_removal_of_an_inherited_only_sku_is_refused_with_graphs_text(org, clock):
    buy(org, clock(), SPE_E5=2, MCOMEETADV=1)
    group(org, clock, "A", ["anna"], GL("SPE_E5"))
    out = direct(org, clock, "anna", [("MCOMEETADV",)], ["SPE_E5"])
    assert [(e.code, e.message, e.field) for e in out.errors] == [
        ("InvalidLicenseOperation", INHERITED, "removeLicenses.0")
    ]
    assert held("anna") == {"SPE_E5": {"direct": False, "disabled": []}}
    assert consumed("MCOMEETADV") == 0
    # With a direct assignment too, removing it removes the direct one only: the seat stays.
    assert direct(org, clock, "anna", [("SPE_E5", ("TEAMS1",))]).ok
    assert held("anna") == {"SPE_E5": {"direct": True, "disabled": []}}
    assert direct(org, clock, "anna", (), ["SPE_E5"]).ok
    assert held("anna") == {"SPE_E5": {"direct": False, "disabled": []}}
    assert consumed("SPE_E5") == 1


def test_users_without_usage_location_get_the_tenants_country(org, clock):
    buy(org, clock(), MCOEV=5, MCOPSTN1=5)
    group(org, clock, "Calling", ["dana", "eve", "anna"], GL("MCOEV"), GL("MCOPSTN1"))
    assert set(held("dana")) == {"MCOEV", "MCOPSTN1"}  # no location: the tenant's DE
    assert User.get_by_id(uid("dana")).usage_location is None
    assert states("eve") == [
        ("MCOEV", "Error", "ProhibitedInUsageLocationViolation"),
        ("MCOPSTN1", "Error", "ProhibitedInUsageLocationViolation"),
    ]
    assert held("eve") == {} and consumed("MCOPSTN1") == 2


def test_mutually_exclusive_then_retried_when_the_conflict_goes(org, clock):
    buy(org, clock(), MCOEV=5, MCOPSTN1=5, MCOPSTN2=5)
    assert direct(org, clock, "anna", [("MCOEV",), ("MCOPSTN2",)]).ok
    group(org, clock, "Calling", ["anna"], GL("MCOEV"), GL("MCOPSTN1"))
    assert states("anna") == [
        ("MCOEV", "Error", "MutuallyExclusiveViolation"),
        ("MCOPSTN1", "Error", "MutuallyExclusiveViolation"),
    ]
    assert consumed("MCOPSTN1") == 0
    # The reason goes with the direct calling plan: the user's errors are retried then.
    assert direct(org, clock, "anna", (), ["MCOPSTN2"]).ok
    assert states("anna") == [("MCOEV", "Active", None), ("MCOPSTN1", "Active", None)]
    assert held("anna")["MCOPSTN1"] == {"direct": False, "disabled": []}
    assert consumed("MCOEV") == 1 and consumed("MCOPSTN2") == 0


def test_a_calling_plan_in_a_group_needs_teams_phone_there(org, clock):
    g = groups.create_group(org, SYSTEM, "Calling", now=clock())
    with pytest.raises(DomainError) as refused:
        group_assign.assign_group_license(org, SYSTEM, g.id, [GL("MCOPSTN1")], [], now=clock())
    assert refused.value.code == "DependencyViolation"
    with pytest.raises(DomainError) as refused:
        group_assign.assign_group_license(
            org, SYSTEM, g.id, [GL("MCOEV"), GL("MCOPSTN1"), GL("MCOPSTN2")], [], now=clock()
        )
    assert refused.value.code == "MutuallyExclusiveViolation"
    assert group_assign.group_licenses(g.id) == {}


def test_teams_phone_a_direct_calling_plan_needs_becomes_direct_on_leaving(org, clock):
    buy(org, clock(), MCOEV=5, MCOPSTN1=5)
    g = group(org, clock, "Phone", ["anna"], GL("MCOEV"))
    # The direct calling plan counts the inherited Teams Phone.
    assert direct(org, clock, "anna", [("MCOPSTN1",)]).ok
    groups.remove_members(org, SYSTEM, g.id, [upn("anna")], now=clock())
    assert held("anna") == {
        "MCOEV": {"direct": True, "disabled": []},
        "MCOPSTN1": {"direct": True, "disabled": []},
    }
    assert consumed("MCOEV") == 1


def test_reprocess_user_after_the_reason_is_fixed(org, clock, tenant):
    buy(org, clock(), MCOEV=5, MCOPSTN1=5)
    group(org, clock, "Calling", ["eve"], GL("MCOEV"), GL("MCOPSTN1"))
    assert states("eve")[0][2] == "ProhibitedInUsageLocationViolation"
    User.update(usage_location="DE").where(User.id == uid("eve")).execute()
    group_assign.reprocess_user(org, SYSTEM, uid("eve"), now=clock())
    assert states("eve") == [("MCOEV", "Active", None), ("MCOPSTN1", "Active", None)]


def test_large_groups_are_processed_in_batches(org, clock, monkeypatch):
    monkeypatch.setattr(group_assign, "SMALL_GROUP", 2)
    buy(org, clock(), SPE_E5=10)
    g = group(org, clock, "All", ["anna", "ben", "carla", "dana", "eve"])
    done = group_assign.assign_group_license(
        org, SYSTEM, g.id, [GL("SPE_E5")], [], now=clock(), batch_size=2, max_batches=1
    )
    assert done.processing_state == "ProcessingInProgress"
    assert consumed("SPE_E5") == 2  # the first batch, committed
    done = group_assign.reprocess_group(org, SYSTEM, g.id, now=clock(), batch_size=2)
    assert done.processing_state == "ProcessingComplete"
    assert consumed("SPE_E5") == 5


STATES = """
query($id: ID!) {
  user(id: $id) {
    licenseAssignmentStates {
      skuPartNumber assignedByGroup state error disabledPlans lastUpdatedDateTime
    }
  }
}"""

ERRORS = """
query($g: ID!) {
  usersWithLicenseErrors(groupId: $g) { totalCount nodes { userPrincipalName } }
  group(id: $g) {
    assignedLicenses { skuPartNumber disabledPlans }
    licenseProcessingState
    licenseSummary { members licensed inError errors { error count } }
  }
}"""

ASSIGN = """
mutation($g: ID!, $add: [GroupLicenseInput!]!, $remove: [ID!]!) {
  assignGroupLicense(groupId: $g, addLicenses: $add, removeLicenses: $remove) {
    group { licenseProcessingState assignedLicenses { skuPartNumber } }
    userErrors { field code message }
  }
}"""

REPROCESS = """
mutation($id: ID!) {
  reprocessLicenseAssignment(userId: $id) {
    user { licenseAssignmentStates { state } } userErrors { code }
  }
}"""


def test_graphql_states_errors_and_summary(org, clock, api):
    buy(org, clock(), SPE_E5=1)
    assert direct(org, clock, "ben", [("SPE_E5", ("TEAMS1",))]).ok
    g = groups.create_group(org, SYSTEM, "Sales", now=clock())
    groups.add_members(org, SYSTEM, g.id, [upn("anna"), upn("ben")], now=clock())
    gid = to_global_id("Group", g.id)
    out = api(ASSIGN, {"g": gid, "add": [{"skuId": "SPE_E5"}], "remove": []})
    assert out["assignGroupLicense"] == {
        "group": {
            "licenseProcessingState": "ProcessingComplete",
            "assignedLicenses": [{"skuPartNumber": "SPE_E5"}],
        },
        "userErrors": [],
    }
    anna = api(STATES, {"id": upn("anna")})["user"]["licenseAssignmentStates"]
    assert [(s["assignedByGroup"], s["state"], s["error"]) for s in anna] == [
        (gid, "Error", "CountViolation")
    ]
    ben = api(STATES, {"id": upn("ben")})["user"]["licenseAssignmentStates"]
    assert [(s["assignedByGroup"], s["state"], s["disabledPlans"]) for s in ben] == [
        (None, "Active", [plan("TEAMS1")]),
        (gid, "Active", []),
    ]
    out = api(ERRORS, {"g": gid})
    assert out["usersWithLicenseErrors"] == {
        "totalCount": 1,
        "nodes": [{"userPrincipalName": upn("anna")}],
    }
    assert out["group"]["licenseSummary"] == {
        "members": 2,
        "licensed": 1,
        "inError": 1,
        "errors": [{"error": "CountViolation", "count": 1}],
    }
    out = api(ASSIGN, {"g": gid, "add": [{"skuId": "NOPE"}], "remove": []})
    assert [e["field"] for e in out["assignGroupLicense"]["userErrors"]] == ["addLicenses.0.skuId"]
    out = api(REPROCESS, {"id": upn("anna")})["reprocessLicenseAssignment"]
    assert out == {"user": {"licenseAssignmentStates": [{"state": "Error"}]}, "userErrors": []}


def test_other_writes_run_between_batches_and_seats_stay_counted(org, clock, monkeypatch):
    monkeypatch.setattr(group_assign, "SMALL_GROUP", 2)
    buy(org, clock(), SPE_E5=4)
    g = group(org, clock, "All", ["anna", "ben", "carla", "dana", "eve"])
    group_assign.assign_group_license(
        org, SYSTEM, g.id, [GL("SPE_E5")], [], now=clock(), batch_size=2, max_batches=1
    )
    # Between batches a direct batch takes the seats the rest of the group would have had.
    out = licenses.assign_licenses(
        org,
        SYSTEM,
        LicenseRequest.many([upn("carla"), upn("eve")], (AddLicense("SPE_E5"),), ()),
        now=clock(),
    )
    assert all(o.ok for o in out)
    assert consumed("SPE_E5") == 4
    group_assign.process_group(org, g.id, now=clock(), batch_size=2)
    assert Group.get_by_id(g.id).processing_state == "ProcessingComplete"
    assert states("carla") == [("SPE_E5", "Active", None)]  # one seat for both sources
    assert held("carla") == {"SPE_E5": {"direct": True, "disabled": []}}
    assert states("dana") == [("SPE_E5", "Error", "CountViolation")]
    assert consumed("SPE_E5") == 4


def test_a_large_licensed_group_is_deleted_only_once_its_licenses_are_removed(
    org, clock, monkeypatch
):
    monkeypatch.setattr(groups, "SMALL_GROUP", 2)
    monkeypatch.setattr(group_assign, "SMALL_GROUP", 2)
    buy(org, clock(), SPE_E5=5)
    g = group(org, clock, "All", ["anna", "ben", "carla"], GL("SPE_E5"))
    with pytest.raises(DomainError) as refused:
        groups.delete_group(org, SYSTEM, g.id, now=clock())
    assert refused.value.code == "GROUP_HAS_LICENSES"
    assert consumed("SPE_E5") == 3
    group_assign.assign_group_license(org, SYSTEM, g.id, [], ["SPE_E5"], now=clock())
    groups.delete_group(org, SYSTEM, g.id, now=clock())
    assert consumed("SPE_E5") == 0 and Group.select().count() == 0


def test_a_group_whose_licenses_are_still_being_removed_is_deleted_with_its_states(
    org, clock, monkeypatch
):
    """Its licenses gone but the run removing them not over: its members still hold what it
    gave them. A small group's members leave it as from a licensed one (their seats freed);
    a large one is refused until the run is over (review finding: the members kept their
    inherited assignments, seats taken, once the group was gone)."""
    monkeypatch.setattr(group_assign, "SMALL_GROUP", 1)  # runs in batches from 2 members
    buy(org, clock(), SPE_E5=5)
    small = group(org, clock, "Small", ["anna", "ben", "carla"], GL("SPE_E5"))
    group_assign.assign_group_license(org, SYSTEM, small.id, [], ["SPE_E5"], now=clock(),
                                      batch_size=2, max_batches=0)  # fmt: skip
    assert Group.get_by_id(small.id).processing_state == "ProcessingInProgress"
    assert consumed("SPE_E5") == 3 and len(states("anna")) == 1
    groups.delete_group(org, SYSTEM, small.id, now=clock())
    assert consumed("SPE_E5") == 0
    assert held("anna") == held("ben") == held("carla") == {}

    monkeypatch.setattr(groups, "SMALL_GROUP", 2)  # now too large to leave in one go
    large = group(org, clock, "Large", ["anna", "ben", "carla"], GL("SPE_E5"))
    group_assign.assign_group_license(org, SYSTEM, large.id, [], ["SPE_E5"], now=clock(),
                                      batch_size=2, max_batches=0)  # fmt: skip
    with pytest.raises(DomainError) as refused:
        groups.delete_group(org, SYSTEM, large.id, now=clock())
    assert refused.value.code == "GROUP_HAS_LICENSES"
    assert "still being removed" in str(refused.value)
    assert consumed("SPE_E5") == 3
    group_assign.process_group(org, large.id, now=clock(), batch_size=2)
    groups.delete_group(org, SYSTEM, large.id, now=clock())
    assert consumed("SPE_E5") == 0 and Group.select().count() == 0


REPROCESS_GROUP = """
mutation($g: ID!) {
  reprocessGroupLicenses(groupId: $g) {
    group { licenseProcessingState licenseSummary { licensed inError } } userErrors { code }
  }
}"""


def test_reprocess_group_over_graphql_after_seats_were_freed(org, clock, api):
    buy(org, clock(), SPE_E5=1)
    assert direct(org, clock, "ben", [("SPE_E5",)]).ok
    g = group(org, clock, "Sales", ["anna"], GL("SPE_E5"))
    assert states("anna") == [("SPE_E5", "Error", "CountViolation")]
    # Freeing a seat directly gives it to the waiting member at once (its reason is gone).
    assert direct(org, clock, "ben", (), ["SPE_E5"]).ok
    assert states("anna") == [("SPE_E5", "Active", None)]
    out = api(REPROCESS_GROUP, {"g": to_global_id("Group", g.id)})["reprocessGroupLicenses"]
    assert out == {
        "group": {
            "licenseProcessingState": "ProcessingComplete",
            "licenseSummary": {"licensed": 1, "inError": 0},
        },
        "userErrors": [],
    }
