"""`group { licenseSummary }`: a group's members, members holding every license of the group,
and members in error (all, and per code), at a cost that does not grow with the group (issue
16).

The members in error are counted by migration 0033's triggers (group_error_count), in the
transaction that writes the states. The members holding every license follow from them once
the group is processed: processing gives each member one state per group license, Active or
Error, so a member holds every license exactly when it is not in error. While a run is in
progress (members not reached yet hold the old licenses' states) they are counted from the
states, as before; that is the only read that grows with the group, and it lasts as long as
the run.
"""

from __future__ import annotations

from dataclasses import dataclass

import peewee

from commcredits.db import db
from commcredits.models import Group, GroupLicense, GroupLicenseState
from commcredits.models.groups import PROCESSING_COMPLETE
from commcredits.services.group_license_rules import ACTIVE

# Migration 0033's table (no model: only its triggers write it); ANY is its row for members
# in error with any code.
COUNTS = peewee.Table("group_error_count", ("group_id", "error", "members"))
ANY = "*"


@dataclass(frozen=True)
class LicenseSummary:
    members: int
    licensed: int  # members holding every license of the group (0 when it holds none)
    in_error: int  # members with at least one Error state for the group
    errors: dict[str, int]  # members in error per code, by code; a member once per code


def license_summary(group: Group) -> LicenseSummary:
    """The group's summary as it stands now: one statement, two while its processing is in
    progress. The group's member count, processing state and licenses are read in the same
    statement as its counts (one snapshot on both databases), not taken from `group`, which
    a write may have changed since it was read (members added between the two reads made
    `members - inError` negative)."""
    gl = GroupLicense.alias()
    licenses = gl.select(peewee.fn.COUNT(gl.id)).where(gl.group == Group.id)
    counted = (COUNTS.group_id == Group.id) & (COUNTS.members > 0)
    rows = list(
        Group.select(
            Group.member_count, Group.processing_state, licenses, COUNTS.error, COUNTS.members
        )
        .join(COUNTS, peewee.JOIN.LEFT_OUTER, on=counted)
        .where(Group.id == group.id)
        .tuples()
    )
    if not rows:  # deleted meanwhile
        return LicenseSummary(members=0, licensed=0, in_error=0, errors={})
    members, state, held = rows[0][:3]
    counts = {error: n for *_, error, n in rows if error is not None}
    in_error = counts.pop(ANY, 0)
    if not held:
        licensed = 0
    elif state == PROCESSING_COMPLETE:
        licensed = members - in_error
    else:
        licensed = _holding_every_license(group.id, held)
    return LicenseSummary(
        members=members,
        licensed=licensed,
        in_error=in_error,
        errors=dict(sorted(counts.items())),
    )


def members_in_error(group_id: int) -> int:
    """How many members are in error for the group, each once however many SKUs and codes it
    is in error with: one row of the counts."""
    found = (
        COUNTS.select(COUNTS.members)
        .where((COUNTS.group_id == group_id) & (COUNTS.error == ANY))
        .tuples()
        .execute(db)
    )
    return next((n for (n,) in found), 0)


def _holding_every_license(group_id: int, licenses: int) -> int:
    """Members with an Active state for each of the group's `licenses` (its SKUs now), from
    the states: mid-run, a member not reached yet still has states of SKUs the group no
    longer gives, which count for nothing here."""
    gls, gl = GroupLicenseState, GroupLicense
    current = (gl.group == gls.group) & (gl.sku == gls.sku)
    return (
        gls.select(gls.user)
        .join(gl, on=current)
        .where((gls.group == group_id) & (gls.state == ACTIVE))
        .group_by(gls.user)
        .having(peewee.fn.COUNT(gls.id) == licenses)
        .count()
    )
