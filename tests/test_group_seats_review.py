"""Seats of group members when several licenses go at once, a batch mixes members and other
users, or seats arrive by funding (review findings)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from commcredits.services import credits, group_assign, groups, licenses, seats
from commcredits.services.access import SYSTEM
from commcredits.services.group_assign import GroupLicenseInput as GL
from commcredits.services.kept_counts import kept_count_differences
from commcredits.services.licenses import AddLicense, LicenseRequest
from tests.helpers import add_five_users, buy, upn
from tests.test_group_licensing import consumed, direct, group, held, states


@pytest.fixture
def org(tenant, clock):
    return add_five_users(tenant, clock())


def _leave(org, clock, g):
    groups.remove_members(org, SYSTEM, g.id, [upn("anna")], now=clock())


def _unlicense(org, clock, g):
    group_assign.assign_group_license(org, SYSTEM, g.id, [], ["MCOEV", "MCOPSTN1"], now=clock())


def _delete(org, clock, g):
    groups.delete_group(org, SYSTEM, g.id, now=clock())


@pytest.mark.parametrize("goes", [_leave, _unlicense, _delete])
def test_teams_phone_and_the_calling_plan_that_needed_it_go_together(org, clock, goes):
    """Teams Phone is kept for a calling plan the user keeps, not for one leaving with it:
    both seats are freed, whatever order the SKUs' ids are in."""
    buy(org, clock(), MCOEV=5, MCOPSTN1=5)
    g = group(org, clock, "Calling", ["anna"], GL("MCOEV"), GL("MCOPSTN1"))
    assert set(held("anna")) == {"MCOEV", "MCOPSTN1"}
    goes(org, clock, g)
    assert held("anna") == {}
    assert (consumed("MCOEV"), consumed("MCOPSTN1")) == (0, 0)
    assert kept_count_differences() == []


def test_a_member_removing_teams_phone_and_its_calling_plan_directly_frees_both(org, clock):
    buy(org, clock(), MCOEV=5, MCOPSTN1=5, MCOMEETADV=5)
    group(org, clock, "Conference", ["anna"], GL("MCOMEETADV"))
    assert direct(org, clock, "anna", [("MCOEV",), ("MCOPSTN1",)]).ok
    assert direct(org, clock, "anna", (), ["MCOEV", "MCOPSTN1"]).ok
    assert set(held("anna")) == {"MCOMEETADV"} and consumed("MCOEV") == 0
    assert kept_count_differences() == []


@pytest.mark.parametrize(
    ("bought", "frees", "takes"),
    [
        ({"SPE_E5": 1}, ("SPE_E5",), "SPE_E5"),
        ({"MCOEV": 1, "MCOPSTN1": 5}, ("MCOEV", "MCOPSTN1"), "MCOEV"),
    ],
)
def test_a_seat_a_member_frees_is_taken_by_another_user_of_the_same_batch(
    org, clock, bought, frees, takes
):
    """anna (a group member) gives up the only seat and ben (no group) takes it in the same
    batch: it was a CHECK violation and a 500 (the takes were written before the member's
    frees), though whatIf said it would pass."""
    buy(org, clock(), MCOMEETADV=5, **bought)
    group(org, clock, "Conference", ["anna"], GL("MCOMEETADV"))
    assert direct(org, clock, "anna", [(sku,) for sku in frees]).ok
    batch = [
        LicenseRequest(upn("anna"), (), frees),
        LicenseRequest(upn("ben"), (AddLicense(takes),), ()),
    ]
    for what_if in (True, False):
        outcomes = licenses.assign_licenses(org, SYSTEM, batch, now=clock(), what_if=what_if)
        assert [o.ok for o in outcomes] == [True, True], what_if
    assert takes in held("ben") and consumed(takes) == 1
    assert kept_count_differences() == []


def test_funding_gives_credit_seats_to_members_waiting_for_them(org, clock):
    """Communication Credits seats come with funding: members of a group licensing them,
    waiting with CountViolation, get them at once, as with seats bought."""
    group(org, clock, "Credits", ["anna", "ben", "carla"], GL("MCOPSTNC"))
    assert states("carla")[0][1] == "Error"
    credits.purchase_credits(org, SYSTEM, Decimal("100"), idempotency_key="k", now=clock())
    for alias in ("anna", "ben", "carla"):
        assert states(alias) == [("MCOPSTNC", "Active", None)], alias
    assert kept_count_differences() == []


def test_seats_bought_or_set_answer_what_waiting_members_took(org, clock):
    buy(org, clock(), SPE_E5=1)
    group(org, clock, "All", ["anna", "ben", "carla", "dana"], GL("SPE_E5"))
    bought = seats.purchase_seats(org, SYSTEM, "SPE_E5", 2, now=clock())
    assert (bought.enabled_units, bought.consumed_units) == (3, 3)
    set_to = seats.set_seats(org, SYSTEM, "SPE_E5", 4, now=clock())
    assert (set_to.enabled_units, set_to.consumed_units) == (4, 4)


def test_a_direct_assignment_of_a_sku_a_group_gives_moves_no_seat(org, clock):
    """anna inherits SPE_E5; assigning it to her directly too takes no seat (one seat per
    SKU per user), and the batch's seatChanges say so: a dry run of many batches carries
    them forward (priorSeatChanges), where a phantom seat made later batches fail."""
    buy(org, clock(), SPE_E5=2)
    group(org, clock, "E5", ["anna"], GL("SPE_E5"))
    batch = [LicenseRequest(upn("anna"), (AddLicense("SPE_E5"),), ())]
    for what_if in (True, False):
        outcomes = licenses.assign_licenses(org, SYSTEM, batch, now=clock(), what_if=what_if)
        assert [o.ok for o in outcomes] == [True]
        assert licenses.seat_changes(outcomes) == {}, what_if
    assert consumed("SPE_E5") == 1


@pytest.mark.parametrize(
    ("adds", "removes"),
    [((), ("MCOMEETADV",)), (("MCOEV",), ("SPE_E5",))],
    ids=["a license removed", "a license swapped"],
)
def test_the_summary_mid_run_counts_the_groups_licenses_of_now(
    org, clock, monkeypatch, adds, removes
):
    """A run in batches has just begun: members hold the old licenses' states. `licensed` is
    the members holding every license the group gives now, as the states say."""
    from commcredits.models import Group
    from commcredits.services import group_summary
    from tests.helpers import license_summary_from_states

    monkeypatch.setattr(group_assign, "SMALL_GROUP", 2)
    buy(org, clock(), SPE_E5=10, MCOMEETADV=10, MCOEV=10)
    g = group(org, clock, "All", ["anna", "ben", "carla"])
    both = [GL("SPE_E5"), GL("MCOMEETADV")]
    group_assign.assign_group_license(org, SYSTEM, g.id, both, [], now=clock(), batch_size=10)
    group_assign.assign_group_license(
        org, SYSTEM, g.id, [GL(s) for s in adds], list(removes), now=clock(),
        batch_size=2, max_batches=0,
    )  # fmt: skip
    summary = group_summary.license_summary(Group.get_by_id(g.id))
    assert summary == license_summary_from_states(g.id)


def test_a_run_in_batches_tells_its_errors_once_when_it_ends(org, clock, monkeypatch):
    """Six members, one seat, batches of two: one GROUP_LICENSE_ERRORS, for the five members
    the run left in error (it was one notice per batch, each counting its own)."""
    from commcredits.models import Notification
    from tests.helpers import add_users

    add_users(org, clock(), [(f"u{i}", "DE") for i in range(6)])
    monkeypatch.setattr(group_assign, "SMALL_GROUP", 2)
    buy(org, clock(), SPE_E5=1)
    g = group(org, clock, "All", [f"u{i}" for i in range(6)])
    group_assign.assign_group_license(
        org, SYSTEM, g.id, [GL("SPE_E5")], [], now=clock(), batch_size=2
    )
    notices = [
        n.payload for n in Notification.select().where(Notification.kind == "GROUP_LICENSE_ERRORS")
    ]
    assert notices == [{"groupId": g.id, "membersInError": 5, "errors": {"CountViolation": 5}}]
