"""Group-based licensing holds Entra's invariants for any sequence of group and direct
assignments, membership changes, seat purchases and reprocessing (issue 18)."""

import datetime as dt
import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commcredits.db import db
from commcredits.models import (
    Group,
    GroupLicense,
    GroupLicenseState,
    GroupMember,
    LicenseAssignment,
    Subscription,
    User,
)
from commcredits.services import group_assign, group_summary, groups, licenses, seats
from commcredits.services.access import SYSTEM
from commcredits.services.errors import DomainError
from commcredits.services.group_assign import GroupLicenseInput as GL
from commcredits.services.group_license_rules import ERROR
from commcredits.services.group_licensing import Processor
from commcredits.services.kept_counts import kept_count_differences
from commcredits.services.licenses import AddLicense, LicenseRequest
from commcredits.services.tenants import create_tenant
from tests.helpers import add_users, license_summary_from_states

NOW = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)
USERS = (("u0", "DE"), ("u1", "DE"), ("u2", None), ("u3", "BR"), ("u4", "US"))
SKUS = ("SPE_E5", "MCOEV", "MCOPSTN1", "MCOPSTN2", "MCOMEETADV")
# The sets a group may hold (each valid on its own: a calling plan comes with Teams Phone).
GROUP_SETS = (
    (),
    (GL("SPE_E5"),),
    (GL("SPE_E5", ("MCOEV",)),),
    (GL("MCOEV"), GL("MCOPSTN1")),
    (GL("MCOMEETADV"), GL("SPE_E5")),
    (GL("MCOEV"),),
)
names = itertools.count()

user = st.integers(0, len(USERS) - 1)
slot = st.integers(0, 1)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("join"), slot, user),
        st.tuples(st.just("leave"), slot, user),
        st.tuples(st.just("license"), slot, st.integers(0, len(GROUP_SETS) - 1)),
        st.tuples(
            st.just("direct"),
            user,
            st.sets(st.sampled_from(SKUS), max_size=2),
            st.sets(st.sampled_from(SKUS), max_size=2),
        ),
        st.tuples(st.just("buy"), st.sampled_from(SKUS), st.integers(1, 2)),
        st.tuples(st.just("reprocess_user"), user),
        st.tuples(st.just("reprocess_group"), slot),
        st.tuples(st.just("delete"), slot),
    ),
    max_size=18,
)


def check(tenant) -> None:
    t = tenant.id
    rows = list(LicenseAssignment.select().where(LicenseAssignment.tenant == t))
    held = {(r.user_id, r.sku_id): r for r in rows}
    for sub in Subscription.select().where(Subscription.tenant == t):
        holders = {u for (u, s) in held if s == sub.sku_id}
        assert sub.consumed_units == len(holders), sub.sku_id
        assert sub.consumed_units <= sub.enabled_units
    assert {s for _, s in held} <= {
        s.sku_id for s in Subscription.select().where(Subscription.tenant == t)
    }
    members = {
        (m.group_id, m.user_id) for m in GroupMember.select().join(Group).where(Group.tenant == t)
    }
    lics = {
        (gl.group_id, gl.sku_id)
        for gl in GroupLicense.select().join(Group).where(Group.tenant == t)
    }
    states = list(GroupLicenseState.select().where(GroupLicenseState.tenant == t))
    active = {(s.user_id, s.sku_id) for s in states if s.state == "Active"}
    for s in states:
        assert (s.group_id, s.user_id) in members and (s.group_id, s.sku_id) in lics
    for key, row in held.items():
        assert row.direct or row.inherited_plans is not None
        assert (row.inherited_plans is not None) == (key in active), key
    # Every count kept by triggers is what its rows say (what `commcredits audit` checks).
    assert kept_count_differences() == []
    # Each group's summary (read from migration 0033's counts) is what its states say.
    for group in Group.select().where(Group.tenant == t):
        assert group_summary.license_summary(group) == license_summary_from_states(group.id)
    # Every Error state's reason is still true: processing the member now fails the same way.
    with db.atomic() as txn:
        proc = Processor(tenant, now=NOW)
        for group_id, uid in sorted({(s.group_id, s.user_id) for s in states if s.state == ERROR}):
            proc.load_users([uid])
            codes = {
                s.error
                for s in states
                if (s.group_id, s.user_id) == (group_id, uid) and s.state == ERROR
            }
            assert len(codes) == 1
            assert proc.evaluate(uid, group_id) == codes.pop(), (group_id, uid)
        txn.rollback()


def run(tenant, op, slots, ids) -> None:
    kind = op[0]
    try:
        if kind in ("join", "leave"):
            change = groups.add_members if kind == "join" else groups.remove_members
            change(tenant, SYSTEM, slots[op[1]], [ids[op[2]]], now=NOW)
        elif kind == "license":
            current = set(group_assign.group_licenses(slots[op[1]]))
            wanted = GROUP_SETS[op[2]]
            from commcredits.services.catalog import Catalog

            cat = Catalog.load()
            keep = {cat.find(g.sku).id for g in wanted}
            removes = [cat.by_pk[s].part_number for s in current - keep]
            group_assign.assign_group_license(
                tenant, SYSTEM, slots[op[1]], list(wanted), removes, now=NOW
            )
        elif kind == "direct":
            add = tuple(AddLicense(s) for s in sorted(op[2]))
            remove = tuple(sorted(op[3] - op[2]))
            req = LicenseRequest(ids[op[1]], add, remove)
            licenses.assign_license(tenant, SYSTEM, req, now=NOW)
        elif kind == "buy":
            seats.purchase_seats(tenant, SYSTEM, op[1], op[2], now=NOW)
        elif kind == "reprocess_user":
            group_assign.reprocess_user(tenant, SYSTEM, ids[op[1]], now=NOW)
        elif kind == "reprocess_group":
            group_assign.reprocess_group(tenant, SYSTEM, slots[op[1]], now=NOW)
        elif kind == "delete":
            groups.delete_group(tenant, SYSTEM, slots[op[1]], now=NOW)
            slots[op[1]] = groups.create_group(tenant, SYSTEM, f"G{op[1]}", now=NOW).id
    except DomainError:
        pass  # a refusal changes nothing; the invariants say so


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations)
def test_group_licensing_invariants_hold_for_any_sequence(db_url, ops):
    tenant = create_tenant(
        SYSTEM,
        name=f"Contoso {next(names)}",
        country="DE",
        currency="EUR",
        agreement_type="MOSA",
        now=NOW,
    )
    domain = f"t{tenant.id}.example"
    add_users(tenant, NOW, list(USERS), domain=domain)
    ids = [u.id for u in User.select().where(User.tenant == tenant.id).order_by(User.id)]
    for part in SKUS:
        seats.purchase_seats(tenant, SYSTEM, part, 1, now=NOW)
    slots = [groups.create_group(tenant, SYSTEM, f"G{i}", now=NOW).id for i in range(2)]
    for op in ops:
        run(tenant, op, slots, ids)
        check(tenant)
    # Removing every group and every direct assignment frees every seat.
    for group_id in slots:
        groups.delete_group(tenant, SYSTEM, group_id, now=NOW)
    for uid in ids:
        direct = [
            r.sku.part_number
            for r in LicenseAssignment.select().where(LicenseAssignment.user == uid)
        ]
        out = licenses.assign_license(
            tenant, SYSTEM, LicenseRequest(uid, (), tuple(direct)), now=NOW
        )
        assert out.ok, out.errors
    check(tenant)
    assert LicenseAssignment.select().where(LicenseAssignment.tenant == tenant.id).count() == 0
    assert all(
        s.consumed_units == 0 for s in Subscription.select().where(Subscription.tenant == tenant.id)
    )
