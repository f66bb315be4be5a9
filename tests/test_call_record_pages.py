"""`callRecords` pages by (startedAt, id), latest call first (issue 16, migration 0018): a
record that arrives late sits among its peers, a window far back pages like the newest one,
and a call recorded between two page requests neither repeats nor skips another."""

import base64
import datetime as dt

from commcredits.db import insert_rows
from commcredits.models import CallRecord

CALLS = """query($first: Int, $after: String, $filter: CallRecordFilter) {
  callRecords(first: $first, after: $after, filter: $filter) {
    edges { cursor node { callId startedAt } }
    pageInfo { hasNextPage endCursor }
  }
}"""
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _calls(tenant, starts: dict[str, dt.datetime]) -> dict[str, int]:
    """Insert calls (id order = the dict's order), returning their ids by call id."""
    rows = [
        {
            "tenant": tenant.id,
            "call_id": call_id,
            "user_principal_name": "anna@contoso.example",
            "started_at": at,
            "month": at.strftime("%Y-%m"),
            "duration_seconds": 60,
            "destination": "+4930123456",
            "call_type": "DOMESTIC",
            "status": "RATED",
            "currency": "EUR",
            "rated_at": at,
        }
        for call_id, at in starts.items()
    ]
    return dict(insert_rows(CallRecord, rows, returning=("call_id", "id")))


def _all(api, first: int, flt: dict | None = None, between=None) -> list[str]:
    """Every call id the list gives, page by page (`between(n)` runs after page n)."""
    seen, after, n = [], None, 0
    while True:
        page = api(CALLS, {"first": first, "after": after, "filter": flt})["callRecords"]
        seen += [e["node"]["callId"] for e in page["edges"]]
        n += 1
        if between:
            between(n)
        if not page["pageInfo"]["hasNextPage"]:
            return seen
        after = page["pageInfo"]["endCursor"]


def test_the_latest_started_call_comes_first_and_a_late_record_sits_among_its_peers(api, tenant):
    _calls(
        tenant,
        {
            "c1": T0 + dt.timedelta(hours=1),
            "c2": T0 + dt.timedelta(hours=3),
            "late": T0 + dt.timedelta(hours=2),  # rated last, started between c1 and c2
            "tie-a": T0 + dt.timedelta(hours=4),
            "tie-b": T0 + dt.timedelta(hours=4),  # same start: the higher id first
        },
    )
    assert _all(api, 2) == ["tie-b", "tie-a", "c2", "late", "c1"]


def test_a_window_far_back_pages_through_exactly_its_calls(api, tenant):
    starts = {f"old-{i}": T0 + dt.timedelta(minutes=i) for i in range(7)}
    starts |= {f"new-{i}": T0 + dt.timedelta(days=300, minutes=i) for i in range(30)}
    _calls(tenant, starts)
    window = {"from": T0.isoformat(), "to": (T0 + dt.timedelta(minutes=5)).isoformat()}
    assert _all(api, 2, window) == [f"old-{i}" for i in (4, 3, 2, 1, 0)]


def test_a_call_recorded_between_two_pages_neither_repeats_nor_skips_another(api, tenant):
    starts = {f"c{i:02}": T0 + dt.timedelta(minutes=10 * i) for i in range(12)}
    _calls(tenant, starts)

    def record(n: int) -> None:
        # A newer call, an older one, and one that starts with a call already listed.
        _calls(
            tenant,
            {
                f"x{n}-new": T0 + dt.timedelta(days=1, minutes=n),
                f"x{n}-old": T0 - dt.timedelta(days=1, minutes=n),
                f"x{n}-tie": T0 + dt.timedelta(minutes=50),
            },
        )

    seen = _all(api, 3, between=record)
    originals = [c for c in seen if c.startswith("c")]
    assert originals == sorted(starts, reverse=True)  # each once, in order
    assert len(seen) == len(set(seen))


def test_a_cursor_that_is_not_ours_is_refused(api, tenant, clock):
    from tests.helpers import other_tenant

    ids = _calls(other_tenant(clock()), {"theirs": T0})
    for text in (
        "garbage",
        "at:1.0",
        "at:call_record:x.5",
        "at:call_record:99999999999999999999.5",
        "at:call_record:--5.1",  # int() refuses what isdigit() let by: never a 500
        "at:call_record:\u00b2.1",
        "at:audit_entry:0.1",  # another list's
        f"cursor:{ids['theirs']}",  # a plain id (this list's cursors before the time order)
    ):
        cursor = text if text == "garbage" else base64.urlsafe_b64encode(text.encode()).decode()
        errors = api.errors(CALLS, {"after": cursor})
        assert [e["extensions"]["code"] for e in errors] == ["INVALID_CURSOR"], text
