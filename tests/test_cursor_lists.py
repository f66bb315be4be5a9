"""A cursor names its list: one list's cursor given to another is INVALID_CURSOR, never read
as a position there (an id of `users` is not an id of `auditLog`; each list's ids are its
own table's). Each list still takes its own cursors."""

import datetime as dt

import pytest

from tests.helpers import add_users
from tests.test_call_record_pages import _calls

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

LISTS = {
    "users": "query($after: String) { users(first: 1, after: $after) { %s } }",
    "auditLog": "query($after: String) { auditLog(first: 1, after: $after) { %s } }",
    "callRecords": "query($after: String) { callRecords(first: 1, after: $after) { %s } }",
}
PAGE = "nodes { __typename } pageInfo { hasNextPage endCursor }"


@pytest.fixture
def cursors(api, tenant, clock) -> dict[str, str]:
    """The end cursor of each list's first page (each list has a second page)."""
    add_users(tenant, clock(), [(f"u{i}", "DE") for i in range(3)])  # audit entries too
    _calls(tenant, {f"c{i}": T0 + dt.timedelta(minutes=i) for i in range(3)})
    found = {}
    for name, query in LISTS.items():
        page = api(query % PAGE)[name]
        assert page["pageInfo"]["hasNextPage"], name
        found[name] = page["pageInfo"]["endCursor"]
    return found


def test_each_list_takes_its_own_cursor(api, cursors):
    for name, query in LISTS.items():
        page = api(query % PAGE, {"after": cursors[name]})[name]
        assert len(page["nodes"]) == 1, name


@pytest.mark.parametrize("taker", list(LISTS))
def test_another_lists_cursor_is_refused(api, cursors, taker):
    for giver, cursor in cursors.items():
        if giver == taker:
            continue
        errors = api.errors(LISTS[taker] % PAGE, {"after": cursor})
        assert [e["extensions"]["code"] for e in errors] == ["INVALID_CURSOR"], (giver, taker)
