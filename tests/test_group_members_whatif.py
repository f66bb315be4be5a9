"""addGroupMembers / removeGroupMembers with whatIf: every rule runs (role, users, group
licensing, seats) and nothing is kept — no rows, audit entry, notification or event — and
the answer says per user what the real call then does; the bulk commands' -WhatIf reports
those answers. Service, GraphQL and bulk level, on both databases."""

from __future__ import annotations

import pytest

from commcredits import db as database
from commcredits import events
from commcredits.models import (
    AuditEntry,
    Group,
    GroupLicenseState,
    GroupMember,
    LicenseAssignment,
    Notification,
    Subscription,
)
from commcredits.schema.common import to_global_id
from commcredits.services import group_assign, groups, licenses
from commcredits.services.access import SYSTEM
from commcredits.services.catalog import Catalog
from commcredits.services.errors import DomainError
from commcredits.services.group_assign import GroupLicenseInput as GL
from commcredits.services.licenses import AddLicense, LicenseRequest
from tests.helpers import add_five_users, buy, uid, upn
from tests.test_bulk import report_of, run, write_csv
from tests.test_bulk_http import server  # noqa: F401 - the live server fixture

TENANT = ("-Tenant", "Fabrikam")
COUNT = "CountViolation"


def snapshot() -> dict:
    """Everything a membership change could write, as it stands."""
    found = {
        "members": sorted(GroupMember.select(GroupMember.group, GroupMember.user).tuples()),
        "member_counts": sorted(Group.select(Group.id, Group.member_count).tuples()),
        "states": sorted(
            GroupLicenseState.select(
                GroupLicenseState.group,
                GroupLicenseState.user,
                GroupLicenseState.sku,
                GroupLicenseState.state,
                GroupLicenseState.error,
            ).tuples(),
            key=repr,
        ),
        "licenses": sorted(
            LicenseAssignment.select(
                LicenseAssignment.user, LicenseAssignment.sku, LicenseAssignment.direct
            ).tuples()
        ),
        "seats": sorted(
            Subscription.select(Subscription.sku, Subscription.consumed_units).tuples()
        ),
        "audit": AuditEntry.select().count(),
        "notifications": Notification.select().count(),
    }
    if database.is_sqlite():  # the other processes' event channel
        found["event_log"] = database.db.execute_sql('SELECT COUNT(*) FROM "event_log"').fetchone()
    return found


@pytest.fixture
def published(monkeypatch) -> list[tuple]:
    """Every event published (PostgreSQL NOTIFY or SQLite's after-commit post)."""
    seen: list[tuple] = []
    real = events.publish

    def spy(tenant_id, kind, **data):
        seen.append((tenant_id, kind))
        real(tenant_id, kind, **data)

    monkeypatch.setattr(events, "publish", spy)
    return seen


@pytest.fixture
def org(tenant, clock):
    return add_five_users(tenant, clock())


def licensed_group(tenant, clock, name: str, *lics: GL):
    g = groups.create_group(tenant, SYSTEM, name, now=clock())
    group_assign.assign_group_license(tenant, SYSTEM, g.id, list(lics), [], now=clock())
    return g


def codes(outcome: groups.MemberOutcome, group_id: int) -> list[tuple[str, str, str | None]]:
    """(SKU, state, error) of the states this group gives the user, as the outcome says."""
    cat = Catalog.load()
    assert outcome.states is not None
    return sorted(
        (cat.by_pk[s.sku_id].part_number, s.state, s.error)
        for s in outcome.states
        if s.group_id == group_id
    )


def stored(alias: str, group_id: int) -> list[tuple[str, str, str | None]]:
    cat = Catalog.load()
    return sorted(
        (cat.by_pk[s.sku_id].part_number, s.state, s.error)
        for s in GroupLicenseState.select().where(
            (GroupLicenseState.user == uid(alias)) & (GroupLicenseState.group == group_id)
        )
    )


# -- service ------------------------------------------------------------------------------------


def test_whatif_add_predicts_count_violation_and_writes_nothing(org, clock, published):
    buy(org, clock(), SPE_E5=2)
    g = licensed_group(org, clock, "Sales", GL("SPE_E5"))
    groups.add_members(org, SYSTEM, g.id, [upn("anna")], now=clock())
    before, events_before = snapshot(), len(published)
    refs = [upn("anna"), upn("ben"), upn("carla"), upn("ben")]
    dry = groups.add_members(org, SYSTEM, g.id, refs, now=clock(), what_if=True)
    assert snapshot() == before and len(published) == events_before
    assert dry.what_if and dry.changed == 2
    assert [(o.index, o.user_id, o.changed) for o in dry.outcomes] == [
        (0, uid("anna"), False),
        (1, uid("ben"), True),
        (2, uid("carla"), True),
    ]
    assert codes(dry.outcomes[1], g.id) == [("SPE_E5", "Active", None)]
    assert codes(dry.outcomes[2], g.id) == [("SPE_E5", "Error", COUNT)]
    assert dry.seat_changes == {Catalog.load().find("SPE_E5").id: 1}
    assert dry.group.member_count == 1  # as it is
    # The real call does what the dry run said.
    real = groups.add_members(org, SYSTEM, g.id, refs, now=clock())
    assert [(o.index, o.user_id, o.changed) for o in real.outcomes] == [
        (o.index, o.user_id, o.changed) for o in dry.outcomes
    ]
    assert stored("ben", g.id) == [("SPE_E5", "Active", None)]
    assert stored("carla", g.id) == [("SPE_E5", "Error", COUNT)]
    assert real.seat_changes == dry.seat_changes and real.group.member_count == 3
    after = snapshot()
    assert after["audit"] == before["audit"] + 1
    assert after["notifications"] == before["notifications"] + 1
    assert Notification.select().order_by(Notification.id.desc()).get().kind == (
        "GROUP_LICENSE_ERRORS"
    )
    assert len(published) > events_before  # the real run's notification is published


def test_whatif_codes_match_the_real_run(org, clock):
    buy(org, clock(), MCOEV=5, MCOPSTN1=5, MCOPSTN2=5)
    outcome = licenses.assign_license(
        org,
        SYSTEM,
        LicenseRequest(upn("anna"), (AddLicense("MCOEV"), AddLicense("MCOPSTN2")), ()),
        now=clock(),
    )
    assert outcome.ok
    g = licensed_group(org, clock, "Calling", GL("MCOEV"), GL("MCOPSTN1"))
    refs = [upn(a) for a in ("anna", "ben", "dana", "eve")]
    before = snapshot()
    dry = groups.add_members(org, SYSTEM, g.id, refs, now=clock(), what_if=True)
    assert snapshot() == before
    predicted = [codes(o, g.id) for o in dry.outcomes]
    assert predicted == [
        [
            ("MCOEV", "Error", "MutuallyExclusiveViolation"),
            ("MCOPSTN1", "Error", "MutuallyExclusiveViolation"),
        ],
        [("MCOEV", "Active", None), ("MCOPSTN1", "Active", None)],
        [("MCOEV", "Active", None), ("MCOPSTN1", "Active", None)],  # the tenant's DE
        [
            ("MCOEV", "Error", "ProhibitedInUsageLocationViolation"),
            ("MCOPSTN1", "Error", "ProhibitedInUsageLocationViolation"),
        ],
    ]
    groups.add_members(org, SYSTEM, g.id, refs, now=clock())
    assert [stored(a, g.id) for a in ("anna", "ben", "dana", "eve")] == predicted


def test_whatif_remove_gives_the_seat_to_the_waiting_member_and_keeps_nothing(
    org, clock, published
):
    buy(org, clock(), SPE_E5=2)
    g = licensed_group(org, clock, "Sales", GL("SPE_E5"))
    groups.add_members(org, SYSTEM, g.id, [upn("anna"), upn("ben"), upn("carla")], now=clock())
    assert stored("carla", g.id) == [("SPE_E5", "Error", COUNT)]
    before, events_before = snapshot(), len(published)
    refs = [upn("anna"), upn("dana")]
    dry = groups.remove_members(org, SYSTEM, g.id, refs, now=clock(), what_if=True)
    assert snapshot() == before and len(published) == events_before
    assert [(o.user_id, o.changed) for o in dry.outcomes] == [
        (uid("anna"), True),
        (uid("dana"), False),
    ]
    assert codes(dry.outcomes[0], g.id) == [] and dry.outcomes[0].licenses == []
    # anna's seat goes to carla, who waited: no seat changes hands overall.
    assert dry.seat_changes == {}
    real = groups.remove_members(org, SYSTEM, g.id, refs, now=clock())
    assert real.changed == 1 and real.seat_changes == {}
    assert stored("carla", g.id) == [("SPE_E5", "Active", None)]


def test_prior_seats_carry_a_dry_run_across_batches_and_need_whatif(org, clock):
    buy(org, clock(), SPE_E5=2)
    g = licensed_group(org, clock, "Sales", GL("SPE_E5"))
    first = groups.add_members(
        org, SYSTEM, g.id, [upn("anna"), upn("ben")], now=clock(), what_if=True
    )
    assert first.seat_changes == {Catalog.load().find("SPE_E5").id: 2}
    alone = groups.add_members(org, SYSTEM, g.id, [upn("carla")], now=clock(), what_if=True)
    assert codes(alone.outcomes[0], g.id) == [("SPE_E5", "Active", None)]
    after = groups.add_members(
        org, SYSTEM, g.id, [upn("carla")], now=clock(), what_if=True, prior_seats=[("SPE_E5", 2)]
    )
    assert codes(after.outcomes[0], g.id) == [("SPE_E5", "Error", COUNT)]
    with pytest.raises(DomainError) as refused:
        groups.add_members(
            org, SYSTEM, g.id, [upn("carla")], now=clock(), prior_seats=[("SPE_E5", 2)]
        )
    assert refused.value.code == "WHAT_IF_REQUIRED"
    with pytest.raises(DomainError) as refused:
        groups.remove_members(
            org, SYSTEM, g.id, [upn("carla")], now=clock(), what_if=True, prior_seats=[("NOPE", 1)]
        )
    assert refused.value.details[0].field == "priorSeatChanges.0.skuId"
    assert GroupMember.select().count() == 0


def test_whatif_refusals_are_the_real_ones(org, clock):
    g = groups.create_group(org, SYSTEM, "Sales", now=clock())
    with pytest.raises(DomainError) as refused:
        groups.add_members(
            org, SYSTEM, g.id, [upn("anna"), upn("ghost")], now=clock(), what_if=True
        )
    assert [d.field for d in refused.value.details] == ["userIds.1"]
    with pytest.raises(DomainError) as refused:
        groups.add_members(org, SYSTEM, 999_999, [upn("anna")], now=clock(), what_if=True)
    assert refused.value.code == "NOT_FOUND"


# -- GraphQL ------------------------------------------------------------------------------------

ADD = """
mutation($g: ID!, $users: [ID!]!, $whatIf: Boolean!, $prior: [SeatChangeInput!]) {
  addGroupMembers(groupId: $g, userIds: $users, whatIf: $whatIf, priorSeatChanges: $prior) {
    changed whatIf group { memberCount }
    results {
      index userId status user { userPrincipalName }
      licenseAssignmentStates { skuPartNumber assignedByGroup state error }
    }
    seatChanges { skuPartNumber units }
    userErrors { field code }
  }
}"""

REMOVE = """
mutation($g: ID!, $users: [ID!]!, $whatIf: Boolean!) {
  removeGroupMembers(groupId: $g, userIds: $users, whatIf: $whatIf) {
    changed whatIf
    results { index status licenseAssignmentStates { skuPartNumber state error } }
    seatChanges { skuPartNumber units }
    userErrors { field code }
  }
}"""


def test_graphql_whatif_answers_what_the_real_call_does(org, clock, api, published):
    buy(org, clock(), SPE_E5=1)
    g = licensed_group(org, clock, "Sales", GL("SPE_E5"))
    gid = to_global_id("Group", g.id)
    users = [upn("anna"), upn("ben"), upn("anna")]
    before, events_before = snapshot(), len(published)
    dry = api(ADD, {"g": gid, "users": users, "whatIf": True})["addGroupMembers"]
    assert snapshot() == before and len(published) == events_before
    assert dry["whatIf"] and dry["changed"] == 2 and dry["userErrors"] == []
    assert dry["group"] == {"memberCount": 0}
    assert [(r["index"], r["userId"], r["status"]) for r in dry["results"]] == [
        (0, upn("anna"), "WOULD_ADD"),
        (1, upn("ben"), "WOULD_ADD"),
    ]
    assert dry["results"][1]["user"] == {"userPrincipalName": upn("ben")}
    assert [r["licenseAssignmentStates"] for r in dry["results"]] == [
        [{"skuPartNumber": "SPE_E5", "assignedByGroup": gid, "state": "Active", "error": None}],
        [{"skuPartNumber": "SPE_E5", "assignedByGroup": gid, "state": "Error", "error": COUNT}],
    ]
    assert dry["seatChanges"] == [{"skuPartNumber": "SPE_E5", "units": 1}]
    real = api(ADD, {"g": gid, "users": users, "whatIf": False})["addGroupMembers"]
    assert not real["whatIf"] and real["group"] == {"memberCount": 2}
    assert [r["status"] for r in real["results"]] == ["ADDED", "ADDED"]
    assert [r["licenseAssignmentStates"] for r in real["results"]] == [
        r["licenseAssignmentStates"] for r in dry["results"]
    ]
    assert real["seatChanges"] == dry["seatChanges"]
    again = api(ADD, {"g": gid, "users": users, "whatIf": True})["addGroupMembers"]
    assert [r["status"] for r in again["results"]] == ["UNCHANGED", "UNCHANGED"]
    # Removing: anna's seat would go to ben, who waits for one.
    before = snapshot()
    out = api(REMOVE, {"g": gid, "users": [upn("anna")], "whatIf": True})["removeGroupMembers"]
    assert snapshot() == before
    assert out["results"] == [{"index": 0, "status": "WOULD_REMOVE", "licenseAssignmentStates": []}]
    assert out["changed"] == 1 and out["seatChanges"] == []


def test_graphql_whatif_checks_the_role_and_prior_seats(org, clock, api, api_as):
    buy(org, clock(), SPE_E5=1)
    g = licensed_group(org, clock, "Sales", GL("SPE_E5"))
    gid = to_global_id("Group", g.id)
    reader = api_as("READER")
    out = reader(ADD, {"g": gid, "users": [upn("anna")], "whatIf": True})["addGroupMembers"]
    assert out["results"] == [] and [e["code"] for e in out["userErrors"]] == ["FORBIDDEN"]
    prior = [{"skuId": "SPE_E5", "units": 1}]
    out = api(ADD, {"g": gid, "users": [upn("anna")], "whatIf": True, "prior": prior})
    states = out["addGroupMembers"]["results"][0]["licenseAssignmentStates"]
    assert [s["error"] for s in states] == [COUNT]
    out = api(ADD, {"g": gid, "users": [upn("anna")], "whatIf": False, "prior": prior})
    assert out["addGroupMembers"]["userErrors"] == [
        {"field": "priorSeatChanges", "code": "WHAT_IF_REQUIRED"}
    ]
    assert GroupMember.select().count() == 0


# -- bulk ---------------------------------------------------------------------------------------


def test_bulk_whatif_reports_the_servers_answer_then_the_run_agrees(org, clock, tmp_path):
    buy(org, clock(), SPE_E5=2)
    g = licensed_group(org, clock, "Sales", GL("SPE_E5"))
    groups.add_members(org, SYSTEM, g.id, [upn("anna")], now=clock())
    sheet = write_csv(
        tmp_path / "m.csv",
        "UserPrincipalName",
        [upn("anna"), upn("ben"), upn("ghost"), upn("carla"), upn("eve")],
    )
    before = snapshot()
    # Batches of one: the seats the earlier ones would take are handed on.
    code, _, err = run(
        "Add-GroupMember", "-GroupName", "Sales", str(sheet), "-WhatIf", "-BatchSize", "1", *TENANT
    )
    assert code == 1, err
    assert snapshot() == before
    dry = report_of(err)
    assert dry.select("Status", "Code").rows() == [
        ("Unchanged", None),
        ("WouldAdd", None),
        ("WouldFail", "NOT_FOUND"),
        ("WouldAdd", COUNT),
        ("WouldAdd", COUNT),  # eve (BR) would wait for a seat first
    ]
    assert dry["Message"][3] == (
        f"{upn('carla')} would be added; its group licenses would be in error: SPE_E5 {COUNT}"
    )
    assert "2 members would be added with their group licenses in error" in err
    code, _, err = run(
        "Add-GroupMember", "-GroupName", "Sales", str(sheet), "-BatchSize", "1", *TENANT
    )
    assert code == 1, err
    real = report_of(err)
    would = {"WouldAdd": "Added", "WouldFail": "Failed", "Unchanged": "Unchanged"}
    assert real.select("Status", "Code").rows() == [
        (would[s], c) for s, c in dry.select("Status", "Code").rows()
    ]
    assert stored("carla", g.id) == [("SPE_E5", "Error", COUNT)]


def test_bulk_remove_and_new_mg_group_member_whatif(org, clock, tmp_path):
    buy(org, clock(), SPE_E5=1)
    g = licensed_group(org, clock, "Sales", GL("SPE_E5"))
    gid = to_global_id("Group", g.id)
    groups.add_members(org, SYSTEM, g.id, [upn("anna")], now=clock())
    before = snapshot()
    code, out, err = run(
        "New-MgGroupMember", "-GroupId", gid, "-DirectoryObjectId", upn("ben"), "-WhatIf", *TENANT
    )
    assert code == 0, err
    assert "WouldAdd" in out and COUNT in out and snapshot() == before
    code, out, err = run(
        "Remove-GroupMember", "-GroupId", gid, "-Identity", f"{upn('anna')},{upn('ben')}",
        "-WhatIf", *TENANT,
    )  # fmt: skip
    assert code == 0, err
    assert snapshot() == before
    lines = [line for line in out.splitlines() if upn("anna") in line or upn("ben") in line]
    assert "WouldRemove" in lines[0] and "Unchanged" in lines[1]


def test_bulk_whatif_needs_the_role_over_http(org, clock, keys, server, tmp_path):  # noqa: F811
    groups.create_group(org, SYSTEM, "Sales", now=clock())
    sheet = write_csv(tmp_path / "m.csv", "UserPrincipalName", [upn("anna")])
    reader = ["-Endpoint", server, "-ApiKey", keys["READER"]]
    code, _, err = run("Add-GroupMember", "-GroupName", "Sales", str(sheet), "-WhatIf", *reader)
    assert code == 2 and "FORBIDDEN" in err and "Traceback" not in err
    admin = ["-Endpoint", server, "-ApiKey", keys["LICENSE_ADMIN"]]
    code, _, err = run("Add-GroupMember", "-GroupName", "Sales", str(sheet), "-WhatIf", *admin)
    assert code == 0, err
    assert report_of(err)["Status"].to_list() == ["WouldAdd"]
    assert GroupMember.select().count() == 0
