"""Seats in group licensing (issue 18, SPEC §10): a run's count of the tenant's free seats per
SKU (`Seats`, written to the subscriptions by `Seats.write`), and the CountViolation members
waiting for one (`waiting_for_seats`). Entra gives freed seats to them in group, then member
order; services/group_licensing.py does, as long as seats last.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from commcredits.models import GroupLicenseState, GroupMember, Subscription
from commcredits.services.group_license_rules import COUNT


class Seats:
    """The tenant's free seats per SKU as a run takes and gives them back."""

    def __init__(self, tenant_id: int):
        self.tenant_id = tenant_id
        self.available: dict[int, int] = {
            s.sku_id: s.enabled_units - s.consumed_units
            for s in Subscription.select().where(Subscription.tenant == tenant_id)
        }
        self.delta: dict[int, int] = {}  # seats taken (negative: given back), not written yet
        self.freed: set[int] = set()  # SKUs with a seat given back

    def free(self, sku: int) -> bool:
        """Whether the SKU has a seat left."""
        return self.available.get(sku, 0) > 0

    def take(self, sku: int) -> None:
        self.available[sku] = self.available.get(sku, 0) - 1
        self.delta[sku] = self.delta.get(sku, 0) + 1

    def give(self, sku: int) -> None:
        self.available[sku] = self.available.get(sku, 0) + 1
        self.delta[sku] = self.delta.get(sku, 0) - 1
        self.freed.add(sku)

    def write(self, now: dt.datetime) -> None:
        """Add the seats taken to the subscriptions' consumed units, frees first: consumed <=
        enabled holds after each statement."""
        for sku, delta in sorted(self.delta.items(), key=lambda kv: kv[1]):
            if delta:
                Subscription.update(
                    consumed_units=Subscription.consumed_units + delta, updated_at=now
                ).where(
                    (Subscription.tenant == self.tenant_id) & (Subscription.sku == sku)
                ).execute()
        self.delta = {}


def waiting_for_seats(
    tenant_id: int, skus: list[int], unwritten: Iterable[GroupLicenseState]
) -> list[tuple[int, int]]:
    """(group id, user id) of the CountViolation members of groups licensing these SKUs, in
    group then member order. `unwritten`: the run's new states, not in the database yet."""
    gls = GroupLicenseState
    found = list(
        gls.select(gls.group, GroupMember.id, gls.user)
        .join(GroupMember, on=(GroupMember.group == gls.group) & (GroupMember.user == gls.user))
        .where((gls.tenant == tenant_id) & (gls.error == COUNT) & gls.sku.in_(skus))
        .group_by(gls.group, gls.user, GroupMember.id)
        .tuples()
    )
    # The run's own new states wait too.
    waiting = {
        (st.group_id, st.user_id) for st in unwritten if st.error == COUNT and st.sku_id in skus
    }
    for uid in {u for _, u in waiting}:
        found += [
            (g, m, uid)
            for g, m in GroupMember.select(GroupMember.group, GroupMember.id)
            .where(GroupMember.user == uid)
            .tuples()
            if (g, uid) in waiting
        ]
    return [(g, u) for g, _, u in sorted(set(found))]  # group, then member order
