"""Per-user spending limits (issue 17): rating and authorizeCall obey the calling policy's
CallingSpendUserLimit; the spend is kept per user and month; notifications once per month.
Through the real ASGI app, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from commcredits.models import CallRecord, Notification, User, UserMonthSpend
from commcredits.services.spend_limits import LIMIT_80, LIMIT_REACHED
from tests.spend_fixtures import (
    AUTHORIZE,
    DE,
    EMERGENCY,
    PREMIUM_US,
    TOLL_FREE,
    USER_SPEND,
    call,
    grant,
    make_office,
    policy,
    record,
    upn,
)

# 20 minutes to +1 212… from DE: 20 × 0.0180 = 0.36 EUR.


@pytest.fixture
def office(tenant, clock):
    return make_office(tenant, clock)


def statuses(results: list[dict]) -> list[tuple[str, str | None]]:
    return [(r["status"], r["reason"]) for r in results]


def spend_of(api, alias: str) -> dict:
    return api(USER_SPEND, {"u": upn(alias)})["user"]


def tracked(alias: str, month: str = "2026-11") -> int:
    row = UserMonthSpend.get_or_none(
        (UserMonthSpend.month == month) & UserMonthSpend.user.in_(_user_ids(alias))
    )
    return row.spent_minor if row else 0


def _user_ids(alias: str):
    from commcredits.models import User

    return User.select(User.id).where(User.user_principal_name == upn(alias))


def test_a_crossing_call_is_rated_whole_and_the_next_is_blocked(api, office):
    assert policy(api, "Capped", "1.00")["userErrors"] == []
    assert grant(api, "Capped", users=[upn("ann")])["userErrors"] == []
    # One batch, in input order: 0.36, 0.72, then 1.08 (started below 1.00: rated whole),
    # then at/over the limit: blocked. Bob has no limit.
    results = record(
        api,
        *(call(f"a{i}", "ann") for i in range(4)),
        call("b0", "bob", minutes=200),
    )
    assert statuses(results) == [("RATED", None)] * 3 + [
        ("BLOCKED", "SPEND_LIMIT_REACHED"),
        ("RATED", None),
    ]
    assert results[3]["call"]["charge"] == "0.00"
    assert tracked("ann") == 108 and tracked("bob") == 360
    # A later batch sees the kept spend.
    assert statuses(record(api, call("a9", "ann", minutes=1))) == [
        ("BLOCKED", "SPEND_LIMIT_REACHED")
    ]
    me = spend_of(api, "ann")
    assert me["spendThisMonth"] == {"amount": "1.08", "currency": "EUR"}
    assert me["spendLimitLeft"] == {"amount": "0.00", "currency": "EUR"}
    assert me["callingPolicy"]["source"] == "USER"
    assert spend_of(api, "bob")["spendLimitLeft"] is None
    # What is kept is the sum of the charges of the month's counted calls.
    charged = sum(
        c.charge_minor
        for c in CallRecord.select().where(CallRecord.user_principal_name == upn("ann"))
    )
    assert charged == 108


def test_pool_minutes_toll_free_and_emergency_calls_are_not_limited(api, office):
    policy(api, "Zero", "0", description="nothing from credits")
    grant(api, "Zero", global_=True)
    results = record(
        api,
        call("d1", "ann", DE, minutes=60, call_type="DOMESTIC"),  # all from the pool
        call("e1", "ann", EMERGENCY, minutes=10, call_type="DOMESTIC"),
        call("t1", "ann", TOLL_FREE, minutes=10, call_type="TOLL_FREE_INBOUND"),
        call("i1", "ann", minutes=1),  # charged: the limit of 0 is reached
        call("c1", "ann", PREMIUM_US, minutes=1, call_type="CONFERENCE_DIAL_OUT"),
    )
    assert statuses(results) == [("RATED", None)] * 3 + [("BLOCKED", "SPEND_LIMIT_REACHED")] * 2
    assert results[0]["call"]["poolMinutes"] == 60 and results[0]["call"]["charge"] == "0.00"
    assert results[2]["call"]["charge"] == "0.30"  # the tenant's toll-free number: not Ann's
    assert tracked("ann") == 0
    assert spend_of(api, "ann")["spendThisMonth"]["amount"] == "0.00"
    # A reached limit does not stop what needs no credits.
    answer = api(AUTHORIZE, {"u": upn("ann"), "d": DE, "t": "DOMESTIC"})["authorizeCall"]
    assert answer["allowed"] is True and answer["maxMinutesAffordable"] > 0
    answer = api(AUTHORIZE, {"u": upn("ann"), "d": EMERGENCY, "t": "DOMESTIC"})
    assert answer["authorizeCall"]["allowed"] is True


def test_conference_dial_out_counts_towards_the_organisers_limit(api, office):
    policy(api, "Capped", "1.00")
    grant(api, "Capped", users=[upn("cem")])
    results = record(
        api,
        call("c1", "cem", PREMIUM_US, minutes=1, call_type="CONFERENCE_DIAL_OUT"),  # 0.95
        call("c2", "cem", PREMIUM_US, minutes=1, call_type="CONFERENCE_DIAL_OUT"),  # → 1.90
        call("c3", "cem", minutes=1),
    )
    assert statuses(results) == [("RATED", None)] * 2 + [("BLOCKED", "SPEND_LIMIT_REACHED")]
    assert tracked("cem") == 190


def test_a_disabled_limit_does_not_apply_and_enabling_it_does(api, office, clock):
    policy(api, "Later", "0.50", enabled=False)
    grant(api, "Later", global_=True)
    assert statuses(record(api, call("x1", "bob", minutes=100))) == [("RATED", None)]  # 1.80
    assert spend_of(api, "bob")["spendLimitLeft"] is None
    api(
        """mutation { updateCallingPolicy(name: "later", input: {enableSpendLimits: true}) {
        userErrors { code } } }"""
    )
    assert statuses(record(api, call("x2", "bob", minutes=1))) == [
        ("BLOCKED", "SPEND_LIMIT_REACHED")
    ]
    # A new month starts from nothing.
    clock.advance(days=7)
    dec = call("x3", "bob", minutes=1, at="2026-12-02T09:00:00Z")
    assert statuses(record(api, dec)) == [("RATED", None)]
    assert tracked("bob", "2026-12") == 2 and tracked("bob") == 180


def test_authorize_call_counts_what_the_limit_leaves(api, office):
    policy(api, "Capped", "1.00")
    grant(api, "Capped", users=[upn("ann")])
    answer = api(AUTHORIZE, {"u": upn("ann"), "d": "+12125550100", "t": "INTERNATIONAL"})
    # 1.00 / 0.018 = 55.5: 55 minutes, though the balance buys 1,111.
    assert answer["authorizeCall"] == {
        "allowed": True,
        "reason": None,
        "callType": "INTERNATIONAL",
        "poolMinutesLeft": 0,
        "maxMinutesAffordable": 55,
    }
    record(api, call("a1", "ann"))  # 0.36 spent: 0.64 left, 35 minutes
    answer = api(AUTHORIZE, {"u": upn("ann"), "d": "+12125550100", "t": "INTERNATIONAL"})
    assert answer["authorizeCall"]["maxMinutesAffordable"] == 35
    record(api, call("a2", "ann", minutes=35))  # 0.36 + 0.63 = 0.99: 0.01 left, below
    answer = api(AUTHORIZE, {"u": upn("ann"), "d": "+12125550100", "t": "INTERNATIONAL"})
    # Rating rates a call starting below the limit whole: at least a minute is allowed.
    answer = answer["authorizeCall"]
    assert (answer["allowed"], answer["maxMinutesAffordable"]) == (True, 1)
    record(api, call("a3", "ann", minutes=1))  # 1.01: over
    answer = api(AUTHORIZE, {"u": upn("ann"), "d": "+12125550100", "t": "INTERNATIONAL"})
    assert answer["authorizeCall"] == {
        "allowed": False,
        "reason": "SPEND_LIMIT_REACHED",
        "callType": "INTERNATIONAL",
        "poolMinutesLeft": 0,
        "maxMinutesAffordable": 0,
    }
    # Domestic minutes come from the pool: allowed for the pool's minutes only.
    answer = api(AUTHORIZE, {"u": upn("ann"), "d": DE, "t": "DOMESTIC"})["authorizeCall"]
    assert answer["allowed"] is True
    assert (answer["poolMinutesLeft"], answer["maxMinutesAffordable"]) == (3600, 24 * 60)
    # Toll-free calls are not the user's spending.
    answer = api(AUTHORIZE, {"u": upn("ann"), "d": TOLL_FREE, "t": "TOLL_FREE_INBOUND"})
    assert answer["authorizeCall"]["allowed"] is True


def test_limit_notifications_go_out_once_per_user_per_month(api, office, clock):
    policy(api, "Capped", "1.00")
    grant(api, "Capped", users=[upn("ann"), upn("bob")])

    def kinds():
        return [
            (n.kind, n.payload["userPrincipalName"], n.payload["month"], n.payload["spent"])
            for n in Notification.select().order_by(Notification.id)
            if n.kind in (LIMIT_80, LIMIT_REACHED)
        ]

    record(api, call("a1", "ann", minutes=45))  # 0.81: 80 %
    assert kinds() == [(LIMIT_80, upn("ann"), "2026-11", "0.81")]
    record(api, call("a2", "ann", minutes=1), call("a3", "ann", minutes=10))  # 0.83, then 1.01
    record(api, call("a4", "ann", minutes=1))  # blocked: nothing new
    assert kinds() == [
        (LIMIT_80, upn("ann"), "2026-11", "0.81"),
        (LIMIT_REACHED, upn("ann"), "2026-11", "1.01"),
    ]
    payload = Notification.select().where(Notification.kind == LIMIT_REACHED).get().payload
    assert payload["limit"] == "1.00" and payload["currency"] == "EUR"
    assert payload["userId"]
    # Bob jumps past both in one call: both, once.
    record(api, call("b1", "bob", minutes=60), call("b2", "bob", minutes=1))
    assert kinds()[2:] == [
        (LIMIT_80, upn("bob"), "2026-11", "1.08"),
        (LIMIT_REACHED, upn("bob"), "2026-11", "1.08"),
    ]
    # December: again, once.
    clock.advance(days=7)
    at = "2026-12-02T09:00:00Z"
    record(api, call("a5", "ann", minutes=60, at=at), call("a6", "ann", minutes=1, at=at))
    assert kinds()[4:] == [
        (LIMIT_80, upn("ann"), "2026-12", "1.08"),
        (LIMIT_REACHED, upn("ann"), "2026-12", "1.08"),
    ]


def test_a_limit_of_zero_notifies_when_it_first_stops_a_call(api, office):
    policy(api, "Zero", "0")
    grant(api, "Zero", users=[upn("ann")])
    record(api, call("a1", "ann", minutes=1), call("a2", "ann", minutes=1))
    got = [n.kind for n in Notification.select() if n.kind.startswith("USER_SPEND")]
    assert got == [LIMIT_80, LIMIT_REACHED]
    assert tracked("ann") == 0


def test_the_audit_command_finds_a_kept_spend_that_differs_from_the_calls(
    api, office, db_url, monkeypatch, capsys
):
    from commcredits import cli

    record(api, call("a0", "ann"), call("b0", "bob"))
    monkeypatch.setenv("COMMCREDITS_DATABASE_URL", db_url)
    assert cli.main(["audit"]) == 0
    assert "user spend per month: 0 difference(s)" in capsys.readouterr().out
    # A kept spend that is not what the calls charged (as a lost update would leave it).
    ann = User.get(User.user_principal_name == upn("ann"))
    UserMonthSpend.update(spent_minor=UserMonthSpend.spent_minor + 1).where(
        UserMonthSpend.user == ann.id
    ).execute()
    assert cli.main(["audit"]) == 1
    out = capsys.readouterr().out
    assert "SPEND DIFFERS" in out and "user spend per month: 1 difference(s)" in out
