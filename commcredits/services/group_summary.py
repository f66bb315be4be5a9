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
    """The group's summary: two statements, three while its processing is in progress."""
    counts = dict(
        COUNTS.select(COUNTS.error, COUNTS.members)
        .where((COUNTS.group_id == group.id) & (COUNTS.members > 0))
        .tuples()
        .execute(db)
    )
    in_error = counts.pop(ANY, 0)
    licenses = GroupLicense.select().where(GroupLicense.group == group.id).count()
    if not licenses:
        licensed = 0
    elif group.processing_state == PROCESSING_COMPLETE:
        licensed = group.member_count - in_error
    else:
        licensed = _holding_every_license(group, licenses)
    return LicenseSummary(
        members=group.member_count,
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


def _holding_every_license(group: Group, licenses: int) -> int:
    """Members with an Active state for each of the group's `licenses`, from the states."""
    gls = GroupLicenseState
    return (
        gls.select(gls.user)
        .where((gls.group == group.id) & (gls.state == ACTIVE))
        .group_by(gls.user)
        .having(peewee.fn.COUNT(gls.id) == licenses)
        .count()
    )
