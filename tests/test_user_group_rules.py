"""Users meet group licensing (issue 18): deleting a user hands its seats to members waiting
with CountViolation, a usage-location change retries the user's group errors, and only a
direct assignment keeps a user from losing its usage location."""

import pytest

from commcredits.models import GroupLicenseState, LicenseAssignment, Subscription, Tenant, User
from commcredits.schema.common import to_global_id
from commcredits.services import group_assign, groups, licenses, users
from commcredits.services.access import SYSTEM
from commcredits.services.catalog import Catalog
from commcredits.services.errors import DomainError
from commcredits.services.group_assign import GroupLicenseInput as GL
from commcredits.services.licenses import AddLicense, LicenseRequest
from tests.helpers import add_users, buy, uid, upn

UPDATE = """
mutation($input: UpdateUserInput!) {
  updateUser(input: $input) { user { usageLocation } userErrors { field code message } }
}"""


def held(alias: str) -> dict[str, bool]:
    """Part number -> direct, per license the user holds."""
    cat = Catalog.load()
    return {
        cat.by_pk[r.sku_id].part_number: r.direct
        for r in LicenseAssignment.select().where(LicenseAssignment.user == uid(alias))
    }


def consumed(part: str) -> int:
    sub = Subscription.get_or_none(Subscription.sku == Catalog.load().find(part).id)
    return sub.consumed_units if sub else 0


def states(alias: str) -> list[tuple[str, str, str | None]]:
    cat = Catalog.load()
    return sorted(
        (cat.by_pk[s.sku_id].part_number, s.state, s.error)
        for s in GroupLicenseState.select().where(GroupLicenseState.user == uid(alias))
    )


def group(tenant, clock, name, members, *lics):
    g = groups.create_group(tenant, SYSTEM, name, now=clock())
    groups.add_members(tenant, SYSTEM, g.id, [upn(m) for m in members], now=clock())
    if lics:
        group_assign.assign_group_license(tenant, SYSTEM, g.id, list(lics), [], now=clock())
    return g


def set_location(tenant, clock, alias, location):
    return users.update_user(
        tenant, SYSTEM, upn(alias), users.UserFields(usage_location=location), now=clock()
    )


@pytest.fixture
def org(tenant, clock):
    add_users(tenant, clock(), [("anna", "DE"), ("ben", "DE"), ("carla", "DE"), ("eve", "BR")])
    return tenant


def test_deleting_a_group_member_hands_its_seat_to_the_next_waiting_member(org, clock):
    buy(org, clock(), SPE_E5=1)
    group(org, clock, "All", ["anna", "ben", "carla"], GL("SPE_E5"))
    assert states("ben") == [("SPE_E5", "Error", "CountViolation")]
    users.delete_user(org, SYSTEM, upn("anna"), now=clock())
    # Member order: ben before carla.
    assert states("ben") == [("SPE_E5", "Active", None)]
    assert held("ben") == {"SPE_E5": False}
    assert states("carla") == [("SPE_E5", "Error", "CountViolation")]
    assert consumed("SPE_E5") == 1


def test_deleting_a_directly_licensed_user_frees_a_seat_for_a_waiting_member(org, clock):
    buy(org, clock(), MCOMEETADV=1)
    req = LicenseRequest(upn("carla"), (AddLicense("MCOMEETADV"),), ())
    assert licenses.assign_license(org, SYSTEM, req, now=clock()).ok
    group(org, clock, "Meetings", ["anna"], GL("MCOMEETADV"))
    assert states("anna") == [("MCOMEETADV", "Error", "CountViolation")]
    users.delete_user(org, SYSTEM, upn("carla"), now=clock())
    assert states("anna") == [("MCOMEETADV", "Active", None)]
    assert consumed("MCOMEETADV") == 1


def test_a_usage_location_change_retries_the_users_group_errors(org, clock):
    buy(org, clock(), MCOEV=5, MCOPSTN1=5)
    group(org, clock, "Calling", ["eve"], GL("MCOEV"), GL("MCOPSTN1"))
    assert states("eve") == [
        ("MCOEV", "Error", "ProhibitedInUsageLocationViolation"),
        ("MCOPSTN1", "Error", "ProhibitedInUsageLocationViolation"),
    ]
    set_location(org, clock, "eve", "DE")
    assert states("eve") == [("MCOEV", "Active", None), ("MCOPSTN1", "Active", None)]
    assert held("eve") == {"MCOEV": False, "MCOPSTN1": False}
    assert consumed("MCOEV") == 1 and consumed("MCOPSTN1") == 1


def test_a_usage_location_change_that_fails_leaves_the_errors_and_seats(org, clock):
    buy(org, clock(), MCOEV=5, MCOPSTN1=5)
    group(org, clock, "Calling", ["eve"], GL("MCOEV"), GL("MCOPSTN1"))
    set_location(org, clock, "eve", "CN")  # calling plans are not sold there either
    assert states("eve")[0][2] == "ProhibitedInUsageLocationViolation"
    assert held("eve") == {} and consumed("MCOEV") == 0


def test_a_usage_location_change_over_the_api_retries_in_the_same_request(api, org, clock):
    buy(org, clock(), MCOEV=5, MCOPSTN1=5)
    group(org, clock, "Calling", ["eve"], GL("MCOEV"), GL("MCOPSTN1"))
    gid = to_global_id("User", uid("eve"))
    out = api(UPDATE, {"input": {"id": gid, "usageLocation": "AT"}})["updateUser"]
    assert out == {"user": {"usageLocation": "AT"}, "userErrors": []}
    assert states("eve") == [("MCOEV", "Active", None), ("MCOPSTN1", "Active", None)]


def test_usage_location_may_go_from_a_user_whose_licenses_all_come_from_groups(org, clock):
    buy(org, clock(), MCOEV=5, MCOPSTN1=5)
    group(org, clock, "Calling", ["anna"], GL("MCOEV"), GL("MCOPSTN1"))
    assert set_location(org, clock, "anna", "").usage_location is None
    # The tenant's country (DE) stands in: the inherited licenses stay.
    assert states("anna") == [("MCOEV", "Active", None), ("MCOPSTN1", "Active", None)]
    assert held("anna") == {"MCOEV": False, "MCOPSTN1": False}


def test_usage_location_stays_on_a_user_with_a_direct_assignment(org, clock):
    buy(org, clock(), MCOEV=5, SPE_E5=5)
    group(org, clock, "Phone", ["anna"], GL("MCOEV"))
    req = LicenseRequest(upn("anna"), (AddLicense("SPE_E5"),), ())
    assert licenses.assign_license(org, SYSTEM, req, now=clock()).ok
    with pytest.raises(DomainError) as refused:
        set_location(org, clock, "anna", "")
    assert refused.value.code == "ProhibitedInUsageLocationViolation"
    assert "directly" in refused.value.details[0].message
    assert User.get_by_id(uid("anna")).usage_location == "DE"


def test_usage_location_stays_when_the_tenants_country_cannot_hold_an_inherited_license(org, clock):
    buy(org, clock(), MCOEV=5, MCOPSTN1=5)
    group(org, clock, "Calling", ["anna"], GL("MCOEV"), GL("MCOPSTN1"))
    Tenant.update(country="BR").where(Tenant.id == org.id).execute()
    org = Tenant.get_by_id(org.id)
    with pytest.raises(DomainError) as refused:
        set_location(org, clock, "anna", "")
    assert refused.value.code == "ProhibitedInUsageLocationViolation"
    assert User.get_by_id(uid("anna")).usage_location == "DE"


SET_LOCATION = """
mutation($upns: [String!]!, $location: String!) {
  setUsageLocation(userPrincipalNames: $upns, usageLocation: $location) {
    summary { applied failed }
  }
}
"""


def test_a_batch_usage_location_change_retries_group_errors_too(api, org, clock):
    """Set-UsageLocation and Import-Users go through user_import, not update_user: the same
    retry happens there, in the batch's transaction."""
    buy(org, clock(), MCOEV=5, MCOPSTN1=5)
    group(org, clock, "Calling", ["eve"], GL("MCOEV"), GL("MCOPSTN1"))
    assert states("eve")[0][1] == "Error"
    out = api(SET_LOCATION, {"upns": [upn("eve")], "location": "AT"})["setUsageLocation"]
    assert out["summary"] == {"applied": 1, "failed": 0}
    assert states("eve") == [("MCOEV", "Active", None), ("MCOPSTN1", "Active", None)]
