"""`usersWithLicenseErrors` on large groups (issue 16, services/group_errors.py, migrations
0029 and 0033): members in error in member order by keyset, each once however many SKUs it is
in error for, counted exactly; group_member_error kept by its triggers whatever writes the
states; and neither a page nor the count does more work on a larger group, wherever its
errors are."""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from commcredits import db as database
from commcredits.models import Group, GroupLicenseState, GroupMember, User
from commcredits.schema.common import to_global_id
from commcredits.services import group_assign, group_errors, groups, list_counts, users
from commcredits.services.access import SYSTEM
from commcredits.services.list_counts import Count
from tests.helpers import (
    add_five_users,
    buy,
    group_with_errors,
    numbered_upn,
    plan_inside,
    rows_read,
    sqlite_steps,
    statements_sent,
)

MIGRATION = importlib.import_module("commcredits.migrations.0029_group_errors_by_index")

PAGE = """query($g: ID!, $first: Int, $after: String) {
  usersWithLicenseErrors(groupId: $g, first: $first, after: $after) {
    totalCount totalCountIsCapped
    edges { cursor node { userPrincipalName } }
    pageInfo { hasNextPage endCursor }
  }
}"""


def _set_error(group: Group, i: int, error: bool) -> None:
    user = User.get(User.upn_key == numbered_upn(i)).id
    GroupLicenseState.update(
        state="Error" if error else "Active", error="CountViolation" if error else None
    ).where((GroupLicenseState.group == group.id) & (GroupLicenseState.user == user)).execute()


def _all(api, group: Group, first: int, between: Callable[[int], None] | None = None):
    """Every member the list gives (its index i), page by page; `between(n)` after page n."""
    seen, after, n = [], None, 0
    while True:
        page = api(PAGE, {"g": to_global_id("Group", group.id), "first": first, "after": after})
        page = page["usersWithLicenseErrors"]
        seen += [int(e["node"]["userPrincipalName"][4:9]) for e in page["edges"]]
        n += 1
        if between:
            between(n)
        if not page["pageInfo"]["hasNextPage"]:
            return seen
        after = page["pageInfo"]["endCursor"]


def test_members_in_error_come_in_member_order_page_by_page(api, tenant, clock):
    errors = {3, 4, 11, 17, 18, 29}
    group = group_with_errors(tenant, clock(), 30, lambda i: 1 if i in errors else 0)
    # Added in reverse: member order is 29, 28, …, 0.
    assert _all(api, group, 2) == sorted(errors, reverse=True)
    assert _all(api, group, 100) == sorted(errors, reverse=True)


def test_an_error_added_or_cleared_between_pages_neither_repeats_nor_skips_another(
    api, tenant, clock
):
    group = group_with_errors(tenant, clock(), 40, lambda i: 1 if i % 5 == 0 else 0)  # 35, 30, … 0

    def between(n: int) -> None:
        if n == 1:  # the first page was 35, 30
            _set_error(group, 36, True)  # before the cursor: not shown
            _set_error(group, 25, False)  # after it: gone
            _set_error(group, 12, True)  # after it: shown in its place
            _set_error(group, 30, False)  # already shown

    assert _all(api, group, 2, between) == [35, 30, 20, 15, 12, 10, 5, 0]


def test_a_member_in_error_for_two_skus_is_listed_and_counted_once(api, tenant, clock):
    group = group_with_errors(tenant, clock(), 12, lambda i: {2: 2, 5: 1, 9: 2}.get(i, 0))
    page = api(PAGE, {"g": to_global_id("Group", group.id), "first": 2})["usersWithLicenseErrors"]
    assert (page["totalCount"], page["totalCountIsCapped"]) == (3, False)
    assert _all(api, group, 2) == [9, 5, 2]


def test_the_count_is_exact_past_the_cap_of_other_lists(api, tenant, clock, monkeypatch):
    """Kept by migration 0033's triggers, the count is never capped: a member in error for two
    SKUs once."""
    monkeypatch.setattr(list_counts, "COUNT_CAP", 4)
    group = group_with_errors(tenant, clock(), 12, lambda i: 2 if i < 4 else 0)
    page = api(PAGE, {"g": to_global_id("Group", group.id)})["usersWithLicenseErrors"]
    assert (page["totalCount"], page["totalCountIsCapped"]) == (4, False)
    _set_error(group, 7, True)
    page = api(PAGE, {"g": to_global_id("Group", group.id)})["usersWithLicenseErrors"]
    assert (page["totalCount"], page["totalCountIsCapped"]) == (5, False)
    assert len(page["edges"]) == 5
    _set_error(group, 0, False)
    page = api(PAGE, {"g": to_global_id("Group", group.id)})["usersWithLicenseErrors"]
    assert (page["totalCount"], len(page["edges"])) == (4, 4)


def test_a_group_without_errors_has_an_empty_page(api, tenant, clock):
    group = group_with_errors(tenant, clock(), 5, lambda i: 0)
    page = api(PAGE, {"g": to_global_id("Group", group.id)})["usersWithLicenseErrors"]
    assert page["edges"] == [] and page["totalCount"] == 0
    assert page["pageInfo"] == {"hasNextPage": False, "endCursor": None}


# -- group_member_error follows every writer of the states ------------------------------------


def _listed(group_id: int) -> list[str]:
    rows = group_errors.users_with_errors_page(Group.get_by_id(group_id), after=None, limit=100)
    return [r.user.user_principal_name.split("@")[0] for r in rows]


def _kept_as_filled() -> None:
    """The table holds what migration 0029's fill makes of the states now."""
    kept = sorted(database.db.execute_sql("SELECT * FROM group_member_error").fetchall())
    filled = sorted(database.db.execute_sql(MIGRATION._FILL.split("\n", 1)[1]).fetchall())
    assert kept == filled


def test_processing_reprocessing_leaving_and_deleting_keep_the_errors(tenant, clock):
    add_five_users(tenant, clock())
    buy(tenant, clock(), SPE_E5=1, MCOEV=3)
    g = groups.create_group(tenant, SYSTEM, "Sales", now=clock())
    aliases = ["anna", "ben", "carla", "eve"]
    groups.add_members(tenant, SYSTEM, g.id, [f"{a}@fabrikam.example" for a in aliases],
                       now=clock())  # fmt: skip
    adds = [group_assign.GroupLicenseInput("SPE_E5"), group_assign.GroupLicenseInput("MCOEV")]
    group_assign.assign_group_license(tenant, SYSTEM, g.id, adds, [], now=clock())
    # One E5 seat: anna gets it; the others are in error for both SKUs (all or nothing).
    assert _listed(g.id) == ["ben", "carla", "eve"]
    errors = GroupLicenseState.select().where(GroupLicenseState.state == "Error").count()
    assert (errors, group_errors.members_in_error(g)) == (6, Count(3, False))
    _kept_as_filled()
    groups.remove_members(tenant, SYSTEM, g.id, ["carla@fabrikam.example"], now=clock())
    assert _listed(g.id) == ["ben", "eve"]
    users.delete_user(tenant, SYSTEM, "eve@fabrikam.example", now=clock())
    assert _listed(g.id) == ["ben"]
    buy(tenant, clock(), SPE_E5=1)
    group_assign.reprocess_group(tenant, SYSTEM, g.id, now=clock())
    assert _listed(g.id) == []
    _kept_as_filled()
    group_assign.reprocess_group(tenant, SYSTEM, g.id, now=clock())  # nothing changes
    groups.add_members(tenant, SYSTEM, g.id, ["carla@fabrikam.example"], now=clock())
    assert _listed(g.id) == ["carla"]
    _kept_as_filled()
    group_assign.assign_group_license(tenant, SYSTEM, g.id, [], ["SPE_E5", "MCOEV"], now=clock())
    assert _listed(g.id) == []
    group_assign.assign_group_license(tenant, SYSTEM, g.id, adds, [], now=clock())
    assert _listed(g.id) == ["carla"]
    groups.delete_group(tenant, SYSTEM, g.id, now=clock())
    assert database.db.execute_sql("SELECT COUNT(*) FROM group_member_error").fetchone()[0] == 0


def test_an_error_state_that_changes_code_or_sku_keeps_one_row(tenant, clock):
    group = group_with_errors(tenant, clock(), 4, lambda i: 2 if i == 1 else 0)
    states = GroupLicenseState.select().where(GroupLicenseState.group == group.id)
    first, second = [s for s in states if s.state == "Error"]
    GroupLicenseState.update(error="ProhibitedInUsageLocationViolation").where(
        GroupLicenseState.id == first.id
    ).execute()
    assert _listed(group.id) == ["user00001"]
    GroupLicenseState.update(state="Active", error=None).where(
        GroupLicenseState.id == first.id
    ).execute()
    assert _listed(group.id) == ["user00001"]  # still in error for the other SKU
    second.delete_instance()
    assert _listed(group.id) == []
    _kept_as_filled()


# -- Work does not grow with the group --------------------------------------------------------


@pytest.fixture
def work(db_url) -> Iterator[Callable[[Callable[[], Any]], list[tuple[str, int]]]]:
    """Run a read and return each statement it sent with the work it did: on SQLite the
    virtual machine's steps (a progress handler called at each), on PostgreSQL the rows its
    plan read (index and table entries, filtered out ones included, times loops), planned
    as the service plans it (inside migration 0029's functions, with their settings)."""

    def run(read: Callable[[], Any]) -> list[tuple[str, int]]:
        return [(sql, _work(sql, params)) for sql, params in statements_sent(read)]

    yield run


def _work(sql: str, params: Any) -> int:
    if database.is_sqlite():
        return sqlite_steps(sql, params)
    function = _FUNCTION.match(sql)
    if function is None:  # the count: one row of migration 0033's counts, by primary key
        assert "group_error_count" in sql, f"planned by a function of migration 0029: {sql}"
        plan = database.db.execute_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
        plan = plan.fetchone()[0]
    else:
        plan = plan_inside(function.group(1), params[0], analyze=True)
    plan = plan if isinstance(plan, list) else json.loads(plan)
    return rows_read(plan[0]["Plan"])


_FUNCTION = re.compile(r'SELECT (?:\* FROM )?"(\w+)"\(%s\)$')


def _shape(statements: list[tuple[str, int]]) -> list[str]:
    return [sql[:60] for sql, _ in statements]


def _same_work(small: list[tuple[str, int]], large: list[tuple[str, int]]) -> None:
    """The same statements, each doing the same work, on a group 20 times larger."""
    assert _shape(small) == _shape(large)
    for (sql, a), (_, b) in zip(small, large, strict=True):
        # PostgreSQL's rows read are equal; SQLite's steps differ by one or two (the DISTINCT
        # of different user ids), where a walk of the whole group would take 20 times more.
        assert b <= a + a // 20 + 2, (sql, a, b)


def _read(group: Group, after_member: int | None = None, domain: str = "") -> Callable[[], Any]:
    """A page of 4 (after the member `after_member` of `domain`) and the count."""
    after = None
    if after_member is not None:
        user = User.get(User.upn_key == numbered_upn(after_member, domain)).id
        after = (
            GroupMember.select(GroupMember.id)
            .where((GroupMember.group == group.id) & (GroupMember.user == user))
            .scalar()
        )

    def read() -> tuple[list[group_errors.MemberInError], Any]:
        page = group_errors.users_with_errors_page(group, after=after, limit=4)
        assert page, "a page with members in error, as the other group's"
        return page, group_errors.members_in_error(group)

    return read


@pytest.mark.parametrize(
    "where",
    [
        pytest.param(lambda n: lambda i: 1 if i in {n - 1, n // 2, 2, 1, 0} else 0, id="rare"),
        pytest.param(lambda n: lambda i: 2 if i % 10 == 3 else 0, id="common"),
        # Added in reverse: the lowest users are the last members (seats ran out for them).
        pytest.param(lambda n: lambda i: 1 if i < n // 10 else 0, id="tail"),
    ],
)
def test_a_page_and_the_count_cost_the_same_on_a_group_twenty_times_larger(
    tenant, clock, work, where
):
    """5 members in error, every 10th (two SKUs each), or the last 10% of member order, among
    100 or 2,000 members; the count exact (a count that read the errors would do 20 times
    more work on the larger group in the common and tail cases)."""
    small = group_with_errors(tenant, clock(), 100, where(100), "small")
    large = group_with_errors(tenant, clock(), 2000, where(2000), "large")
    first = (work(_read(small)), work(_read(large)))
    assert len(first[0]) == 3  # members, their users, the count
    _same_work(*first)
    # Deep in each group: after its 50th-to-last member.
    _same_work(work(_read(small, 50, "small")), work(_read(large, 50, "large")))
