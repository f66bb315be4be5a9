"""The event lists that grow with a tenant's age count up to COUNT_CAP, as the other large lists
do (`totalCountIsCapped`): `notifications`, `pstnBlockedUsers`, `pstnBlockedUsersLog`."""

from __future__ import annotations

from commcredits.services import list_counts, notifications, pstn_blocks
from commcredits.services.access import SYSTEM
from tests.helpers import add_five_users, upn

COUNTED = """{
  notifications(first: 2) { totalCount totalCountIsCapped nodes { kind } }
  pstnBlockedUsers(first: 2) { totalCount totalCountIsCapped }
  pstnBlockedUsersLog(first: 2) { totalCount totalCountIsCapped }
}"""


def _counts(api) -> dict[str, tuple[int, bool]]:
    out = api(COUNTED)
    return {name: (out[name]["totalCount"], out[name]["totalCountIsCapped"]) for name in out}


def test_the_event_lists_count_up_to_the_cap(api, tenant, clock, monkeypatch):
    add_five_users(tenant, clock())
    for alias in ("anna", "ben", "carla"):
        pstn_blocks.block_user(tenant, SYSTEM, upn(alias), "Fraud check", now=clock())
    notifications.emit(tenant.id, "BALANCE_ZERO", {}, now=clock())
    # Each block also notified (USER_PSTN_BLOCKED): 4 notifications, 3 blocks, 3 log rows.
    assert _counts(api) == {
        "notifications": (4, False),
        "pstnBlockedUsers": (3, False),
        "pstnBlockedUsersLog": (3, False),
    }
    monkeypatch.setattr(list_counts, "COUNT_CAP", 3)
    assert _counts(api) == {
        "notifications": (3, True),
        "pstnBlockedUsers": (3, False),
        "pstnBlockedUsersLog": (3, False),
    }
    monkeypatch.setattr(list_counts, "COUNT_CAP", 2)
    assert _counts(api) == {
        "notifications": (2, True),
        "pstnBlockedUsers": (2, True),
        "pstnBlockedUsersLog": (2, True),
    }
