"""`usersWithLicenseErrors` (Get-MgGroupMemberWithLicenseError): a group's members in error,
in member order, and how many there are, at a cost that does not grow with the group or
depend on where in it the errors are (issue 16).

A page is read from group_member_error (migration 0029: one row per member in error, kept by
triggers on group_license_state, indexed by (group_id, member_id)): a range of that index
from the cursor that stops when full, planned inside 0029's function on PostgreSQL whatever
the statistics (services/list_counts.py). The count is exact: migration 0033 keeps how many
rows that table holds per group (services/group_summary.py).
"""

from __future__ import annotations

from typing import NamedTuple

import peewee

from commcredits.db import db, is_sqlite
from commcredits.models import Group, User
from commcredits.services import group_summary
from commcredits.services.list_counts import Count, inline_sql, rows_inside

# Migration 0029's table (no model: only its triggers write it) and functions (PostgreSQL).
ERRORS = peewee.Table("group_member_error", ("member_id", "group_id", "user_id"))
MEMBERS = "group_members_by_index"
USERS = "directory_users_by_id"


class MemberInError(NamedTuple):
    id: int  # the group_member id: the list's order and cursor
    user: User


def users_with_errors_page(group: Group, *, after: int | None, limit: int) -> list[MemberInError]:
    """The group's members in error with a member id above `after`, in member order, at most
    `limit`, each with its user."""
    query = (
        ERRORS.select(ERRORS.member_id, ERRORS.user_id)
        .where((ERRORS.group_id == group.id) & (ERRORS.member_id > (after or 0)))
        .order_by(ERRORS.member_id)
        .limit(limit)
    )
    if is_sqlite():
        found = list(query.tuples().execute(db))
    else:
        found = list(db.execute_sql(f'SELECT * FROM "{MEMBERS}"(%s)', (inline_sql(query),)))
    if not found:
        return []
    users = _users_by_id([user for _, user in found])
    return [MemberInError(member, users[user]) for member, user in found]


def members_in_error(group: Group) -> Count:
    """How many members are in error for the group, exactly (never capped)."""
    return Count(group_summary.members_in_error(group.id), False)


def _users_by_id(ids: list[int]) -> dict[int, User]:
    """A page's users by primary key; on PostgreSQL inside USERS, so that a table the planner
    believes small is not read whole."""
    query = User.select().where(User.id.in_(ids))
    return {u.id: u for u in (query if is_sqlite() else rows_inside(query, USERS))}
