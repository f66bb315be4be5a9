"""Calls: pools, rating, blocking, idempotency, authorization — through the real ASGI app."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from commcredits import db as database
from commcredits.models import CallRecord, Invoice, LedgerEntry, MinutePool, Notification
from commcredits.services import (
    billing,
    calling_policies,
    credits,
    dial_out,
    group_policies,
    groups,
    licenses,
    pstn_blocks,
    rates,
)
from commcredits.services.access import SYSTEM
from commcredits.services.calling_policy_input import PolicyInput
from commcredits.services.licenses import AddLicense, LicenseRequest
from tests.helpers import add_users, buy, upn

RECORD = """
mutation($items: [CallRecordInput!]!) {
  recordCalls(items: $items) {
    results { index callId status reason duplicate
      call { callType destinationCountry domestic minutes poolMinutes chargedMinutes
             capability pricePerMinute charge currency }
      userErrors { field code message } }
    summary { total rated blocked duplicates failed }
    userErrors { code message }
  }
}"""
POOLS = "query($m: String!) { minutePools(month: $m) { plan country type granted used left } }"
AUTHORIZE = """
query($u: ID!, $d: String!, $t: CallType!) {
  authorizeCall(userId: $u, destination: $d, callType: $t) {
    allowed reason callType destinationCountry poolMinutesLeft creditsLeft pricePerMinute
    maxMinutesAffordable currency
  }
}"""

DOMAIN = "fabrikam.example"
# (alias, usage location, licenses)
PEOPLE = [
    ("de1", "DE", ["MCOEV", "MCOPSTN1", "MCOPSTNC"]),
    ("de2", "DE", ["MCOEV", "MCOPSTN1", "MCOPSTNC"]),
    ("nocred", "DE", ["MCOEV", "MCOPSTN1"]),
    ("us1", "US", ["MCOEV", "MCOPSTN2", "MCOPSTNC"]),
    ("e5a", "DE", ["SPE_E5", "MCOPSTN5", "MCOPSTNC"]),
    ("e5b", "FR", ["SPE_E5"]),
    ("ac", "GB", ["MCOMEETADV", "MCOPSTNC"]),
    ("payg", "GB", ["MCOEV", "MCOPSTN_PAYG_1", "MCOPSTNC"]),
    ("nolic", "DE", []),
]


@pytest.fixture
def office(tenant, clock):
    """Fabrikam (EUR) with the people above, the sample card, and 20.00 EUR of credits."""
    now = clock()
    rates.ensure_sample_card(SYSTEM, now=now)
    add_users(tenant, now, [(a, loc) for a, loc, _ in PEOPLE], domain=DOMAIN)
    buy(tenant, now, MCOEV=10, MCOPSTN1=10, MCOPSTN2=10, MCOPSTN5=10, MCOPSTN_PAYG_1=10)
    buy(tenant, now, SPE_E5=10, MCOMEETADV=10, MCOPSTNC=20)
    licenses.assign_licenses(
        tenant,
        SYSTEM,
        [
            LicenseRequest(upn(a), tuple(AddLicense(s) for s in skus))
            for a, _, skus in PEOPLE
            if skus
        ],
        now=now,
    )
    fund(tenant, now, "20.00")
    return tenant


def fund(tenant, now, amount: str, key: str = "fund-1") -> None:
    credits.purchase_credits(tenant, SYSTEM, Decimal(amount), idempotency_key=key, now=now)


def balance(tenant, now) -> Decimal:
    return credits.current_balance(tenant, now=now).amount


def call(call_id, who, dest, kind="DOMESTIC", seconds=60, at="2026-11-25T09:00:00Z", **extra):
    item = {
        "callId": call_id,
        "userPrincipalName": upn(who),
        "startedAt": at,
        "durationSeconds": seconds,
        "destination": dest,
        "callType": kind,
    }
    item.update(extra)
    return item


def record(api, *items):
    payload = api(RECORD, {"items": list(items)})["recordCalls"]
    assert payload["userErrors"] == []
    return payload


def pools(api, month="2026-11"):
    return {
        (p["plan"], p["country"], p["type"]): (p["granted"], p["used"], p["left"])
        for p in api(POOLS, {"m": month})["minutePools"]
    }


def test_pools_per_country_with_mixed_licenses(api, office):
    assert pools(api) == {
        # 3 DE users of MCOPSTN1 (one without credits still adds minutes): 3 × 1,200
        ("MCOPSTN1", "DE", "DOMESTIC"): (3600, 0, 3600),
        ("MCOPSTN2", "US", "DOMESTIC"): (3000, 0, 3000),
        ("MCOPSTN2", "US", "INTERNATIONAL"): (600, 0, 600),
        ("MCOPSTN5", "DE", "DOMESTIC"): (120, 0, 120),
        # e5a, e5b through E5, ac directly: one tenant-wide pool of 3 × 60
        ("MCOMEETADV", "", "CONFERENCE_DIAL_OUT"): (180, 0, 180),
    }


def test_domestic_vs_international_is_decided_by_country(api, office, clock):
    out = record(
        api,
        call("c1", "de1", "+493012345678", "DOMESTIC", 61),
        call("c2", "de1", "+33142345678", "DOMESTIC", 60),  # said DOMESTIC, is France
        call("c3", "us1", "+14165550123", "INTERNATIONAL", 120),  # Toronto: North America
        call("c4", "us1", "+442071234567", "INTERNATIONAL", 30),
    )
    calls = [r["call"] for r in out["results"]]
    assert [(c["callType"], c["destinationCountry"], c["domestic"]) for c in calls] == [
        ("DOMESTIC", "DE", True),
        ("INTERNATIONAL", "FR", False),
        ("DOMESTIC", "CA", True),
        ("INTERNATIONAL", "GB", False),
    ]
    # c1: 2 started minutes from the DE pool; c2: MCOPSTN1 has no international minutes.
    assert (calls[0]["poolMinutes"], calls[0]["chargedMinutes"]) == (2, 0)
    assert calls[0]["capability"] == "MCOPSTN1"
    assert (calls[1]["poolMinutes"], calls[1]["chargedMinutes"], calls[1]["charge"]) == (
        0,
        1,
        "0.02",  # FR international 0.0240 → 0.02
    )
    assert calls[1]["capability"] == "MCOPSTNPP"
    assert (calls[2]["poolMinutes"], calls[3]["poolMinutes"]) == (2, 1)
    assert calls[3]["capability"] == "MCOPSTN2"
    assert balance(office, clock()) == Decimal("19.98")
    got = pools(api)
    assert got[("MCOPSTN1", "DE", "DOMESTIC")] == (3600, 2, 3598)
    assert got[("MCOPSTN2", "US", "DOMESTIC")] == (3000, 2, 2998)
    assert got[("MCOPSTN2", "US", "INTERNATIONAL")] == (600, 1, 599)


def test_call_split_across_pool_end_and_pool_notifications(api, office, clock):
    # e5a's MCOPSTN5 pool: 120 minutes. 100 minutes, then 30 (20 pool + 10 charged).
    record(api, call("a", "e5a", "+4989123456", seconds=100 * 60))
    notes = Notification.select().where(Notification.kind.startswith("POOL_"))
    assert [n.kind for n in notes] == ["POOL_80_PERCENT"]
    out = record(api, call("b", "e5a", "+4989123456", seconds=29 * 60 + 1))
    c = out["results"][0]["call"]
    assert (c["minutes"], c["poolMinutes"], c["chargedMinutes"]) == (30, 20, 10)
    assert c["capability"] == "MCOPSTN5, MCOPSTNPP"
    assert (c["pricePerMinute"], c["charge"]) == ("0.0190", "0.19")
    assert balance(office, clock()) == Decimal("19.81")
    assert pools(api)[("MCOPSTN5", "DE", "DOMESTIC")] == (120, 120, 0)
    # Past the end: all charged; each notification once per pool and month.
    record(api, call("c", "e5a", "+4989123456", seconds=60))
    kinds = [n.kind for n in Notification.select().where(Notification.kind.startswith("POOL_"))]
    assert kinds == ["POOL_80_PERCENT", "POOL_100_PERCENT"]


def test_toll_free_inbound_is_charged_from_credits(api, office, clock):
    out = record(api, call("tf", "de1", "+498001234567", "TOLL_FREE_INBOUND", 150))
    c = out["results"][0]["call"]
    assert out["results"][0]["status"] == "RATED"
    assert (c["poolMinutes"], c["chargedMinutes"], c["charge"]) == (0, 3, "0.09")
    assert c["capability"] == "MCOPSTNPP"
    assert balance(office, clock()) == Decimal("19.91")
    assert pools(api)[("MCOPSTN1", "DE", "DOMESTIC")][1] == 0


def test_conference_dial_out_pool_is_zone_a_non_premium_only(api, office, clock):
    out = record(
        api,
        call("d1", "e5b", "+12125550100", "CONFERENCE_DIAL_OUT", 600),  # US: Zone A
        call("d2", "ac", "+919876543210", "CONFERENCE_DIAL_OUT", 60),  # India: not Zone A
        call("d3", "ac", "+49900123456", "CONFERENCE_DIAL_OUT", 60),  # premium
        call("d4", "de1", "+12125550100", "CONFERENCE_DIAL_OUT", 60),  # no Audio Conferencing
    )
    r = out["results"]
    assert (r[0]["status"], r[0]["call"]["poolMinutes"], r[0]["call"]["capability"]) == (
        "RATED",
        10,
        "MCOMEETADV",
    )
    # e5b has no Communication Credits licence, but the pool covered it all.
    assert (r[1]["call"]["chargedMinutes"], r[1]["call"]["charge"]) == (1, "0.05")
    assert (r[2]["call"]["chargedMinutes"], r[2]["call"]["charge"]) == (1, "0.95")
    assert (r[3]["status"], r[3]["reason"]) == ("BLOCKED", "NO_CALLING_LICENSE")
    assert pools(api)[("MCOMEETADV", "", "CONFERENCE_DIAL_OUT")] == (180, 10, 170)


def test_blocked_calls_debit_nothing_and_use_no_pool(api, office, clock):
    entries = LedgerEntry.select().count()
    out = record(
        api,
        call("b1", "nocred", "+33142345678", "INTERNATIONAL", 60),
        call("b2", "nolic", "+493012345678", "DOMESTIC", 60),
        call("b3", "de1", "+4930123456", "DOMESTIC", 0),  # unanswered: 0 minutes, fine
        call("b4", "payg", "+442071234567", "DOMESTIC", 3600 * 24),  # 1,440 min > 20 EUR
    )
    assert [(r["status"], r["reason"]) for r in out["results"]] == [
        ("BLOCKED", "NO_CREDITS_LICENSE"),
        ("BLOCKED", "NO_CALLING_LICENSE"),
        ("RATED", None),
        ("BLOCKED", "INSUFFICIENT_BALANCE"),
    ]
    assert out["summary"] == {"total": 4, "rated": 1, "blocked": 3, "duplicates": 0, "failed": 0}
    for r in out["results"]:
        if r["status"] == "BLOCKED":
            assert (r["call"]["poolMinutes"], r["call"]["charge"]) == (0, "0.00")
    assert LedgerEntry.select().count() == entries
    assert balance(office, clock()) == Decimal("20.00")
    assert CallRecord.select().where(CallRecord.status == "BLOCKED").count() == 3


def test_nocred_user_within_pool_is_rated(api, office):
    out = record(api, call("p1", "nocred", "+493012345678", "DOMESTIC", 300))
    assert out["results"][0]["status"] == "RATED"
    assert out["results"][0]["call"]["poolMinutes"] == 5


def test_auto_recharge_is_triggered_by_calls(api, office, clock):
    now = clock()
    credits.configure_auto_recharge(
        office,
        SYSTEM,
        enabled=True,
        recharge_amount=Decimal("10.00"),
        trigger_balance=Decimal("19.50"),
        now=now,
    )
    lots_before = balance(office, now)
    # payg (GB, no pool): 30 minutes at 0.0180 = 0.54 → balance 19.46 < 19.50 → +10.00
    out = record(api, call("r1", "payg", "+442071234567", "DOMESTIC", 30 * 60))
    assert out["results"][0]["call"]["charge"] == "0.54"
    assert balance(office, now) == lots_before - Decimal("0.54") + Decimal("10.00")
    kinds = [e.kind for e in LedgerEntry.select().order_by(LedgerEntry.id)]
    assert kinds.count("FUNDED") == 2


def test_repeated_call_id_returns_the_first_result(api, office, clock):
    first = record(api, call("same", "payg", "+442071234567", "DOMESTIC", 120))
    again = record(
        api,
        call("same", "payg", "+442071234567", "DOMESTIC", 3600),  # other content: ignored
        call("twice", "payg", "+442071234567", "DOMESTIC", 60),
        call("twice", "payg", "+442071234567", "DOMESTIC", 60),
    )
    r = again["results"]
    assert r[0]["duplicate"] and r[0]["call"] == first["results"][0]["call"]
    assert (r[1]["duplicate"], r[2]["duplicate"]) == (False, True)
    assert again["summary"]["duplicates"] == 2
    assert CallRecord.select().count() == 2
    assert balance(office, clock()) == Decimal("20.00") - Decimal("0.04") - Decimal("0.02")


def test_month_rollover_starts_pools_full(api, office, clock):
    record(api, call("n1", "e5a", "+4989123456", seconds=120 * 60))
    assert pools(api)[("MCOPSTN5", "DE", "DOMESTIC")] == (120, 120, 0)
    clock.now = dt.datetime(2026, 12, 1, 0, 30, tzinfo=dt.UTC)
    out = record(api, call("d1", "e5a", "+4989123456", seconds=60, at="2026-12-01T00:10:00Z"))
    assert out["results"][0]["call"]["poolMinutes"] == 1
    assert pools(api, "2026-12")[("MCOPSTN5", "DE", "DOMESTIC")] == (120, 1, 119)
    # November stays as rated; a late November record still finds November's pool empty.
    late = record(api, call("n2", "e5a", "+4989123456", seconds=60, at="2026-11-30T23:59:00Z"))
    assert late["results"][0]["call"]["chargedMinutes"] == 1
    assert pools(api, "2026-11")[("MCOPSTN5", "DE", "DOMESTIC")] == (120, 120, 0)


def test_pool_grows_with_a_license_added_mid_month(api, office, clock):
    record(api, call("g1", "e5a", "+4989123456", seconds=60))
    now = clock()
    licenses.assign_license(
        office,
        SYSTEM,
        LicenseRequest(upn("nolic"), (AddLicense("MCOEV"), AddLicense("MCOPSTN5"))),
        now=now,
    )
    record(api, call("g2", "e5a", "+4989123456", seconds=60))
    assert pools(api)[("MCOPSTN5", "DE", "DOMESTIC")] == (240, 2, 238)
    licenses.assign_license(
        office, SYSTEM, LicenseRequest(upn("nolic"), remove=("MCOPSTN5",)), now=now
    )
    record(api, call("g3", "e5a", "+4989123456", seconds=60))
    # Minutes granted in a month are not taken back when a licence goes.
    assert MinutePool.get(MinutePool.plan == "MCOPSTN5").granted == 240


BAD_INPUT = [
    ({"durationSeconds": -1}, "INVALID_DURATION", "durationSeconds"),
    ({"durationSeconds": 24 * 3600 + 1}, "INVALID_DURATION", "durationSeconds"),
    ({"destination": "0301234567"}, "INVALID_DESTINATION", "destination"),
    ({"destination": "+49 30 1234567"}, "INVALID_DESTINATION", "destination"),
    ({"userPrincipalName": "ghost@fabrikam.example"}, "NOT_FOUND", "userId"),
    ({"callType": "LOCAL"}, "INVALID_CALL_TYPE", "callType"),
    ({"startedAt": "2026-11-25T10:06:00Z"}, "START_IN_FUTURE", "startedAt"),
    ({"callId": ""}, "INVALID_CALL_ID", "callId"),
]


@pytest.mark.parametrize(("change", "code", "field"), BAD_INPUT)
def test_bad_input_is_refused_and_writes_nothing(api, office, clock, change, code, field):
    entries = LedgerEntry.select().count()
    item = call("bad", "payg", "+442071234567", "DOMESTIC", 60) | change
    out = record(api, item, call("good", "payg", "+442071234567", "DOMESTIC", 60))
    bad, good = out["results"]
    assert bad["status"] is None and bad["call"] is None
    assert [(e["code"], e["field"]) for e in bad["userErrors"]] == [(code, field)]
    assert bad["userErrors"][0]["message"]
    assert good["status"] == "RATED"
    assert CallRecord.select().count() == 1
    assert LedgerEntry.select().count() == entries + 1


def test_small_clock_skew_is_accepted(api, office):
    out = record(api, call("skew", "payg", "+442071234567", at="2026-11-25T10:04:00Z"))
    assert out["results"][0]["status"] == "RATED"


def test_batch_over_1000_is_refused(api, office):
    items = [call(f"x{i}", "payg", "+442071234567") for i in range(1001)]
    payload = api(RECORD, {"items": items})["recordCalls"]
    assert payload["userErrors"][0]["code"] == "BATCH_TOO_LARGE"
    assert CallRecord.select().count() == 0


def test_reader_may_not_record_calls(api_as, office):
    payload = api_as("READER")(RECORD, {"items": [call("r", "payg", "+442071234567")]})
    assert payload["recordCalls"]["userErrors"][0]["code"] == "FORBIDDEN"


def test_authorization_reasons(api, office, clock):
    def ask(who, dest, kind="DOMESTIC"):
        return api(AUTHORIZE, {"u": upn(who), "d": dest, "t": kind})["authorizeCall"]

    ok = ask("de1", "+493012345678")
    assert ok["allowed"] and ok["reason"] is None
    assert (ok["poolMinutesLeft"], ok["creditsLeft"], ok["pricePerMinute"]) == (
        3600,
        "20.00",
        "0.0190",
    )
    assert ok["maxMinutesAffordable"] == 1440  # capped at 24 hours
    intl = ask("de1", "+33142345678")
    assert (intl["callType"], intl["poolMinutesLeft"], intl["maxMinutesAffordable"]) == (
        "INTERNATIONAL",
        0,
        833,  # 20.00 / 0.0240
    )
    assert ask("nolic", "+493012345678")["reason"] == "NO_CALLING_LICENSE"
    assert ask("de1", "+12125550100", "CONFERENCE_DIAL_OUT")["reason"] == "NO_CALLING_LICENSE"
    assert ask("nocred", "+33142345678")["reason"] == "NO_CREDITS_LICENSE"
    inside = ask("nocred", "+493012345678")  # the pool alone allows it
    assert (inside["allowed"], inside["maxMinutesAffordable"]) == (True, 1440)
    assert ask("de1", "+8821234567", "INTERNATIONAL")["reason"] == "NO_RATE"  # unknown number
    # Spend the balance down: 370 minutes of GB mobile at 0.054 = 19.98.
    record(api, call("big", "payg", "+447700900123", "DOMESTIC", 370 * 60))
    poor = ask("payg", "+447700900123")
    assert (poor["allowed"], poor["reason"], poor["creditsLeft"]) == (
        False,
        "INSUFFICIENT_BALANCE",
        "0.02",
    )
    assert ask("payg", "+442071234567")["maxMinutesAffordable"] == 1  # 0.02 / 0.018


def test_authorization_counts_the_auto_recharges_the_day_allows(api, office, clock):
    def ask():
        return api(AUTHORIZE, {"u": upn("payg"), "d": "+447700900123", "t": "DOMESTIC"})

    record(api, call("big", "payg", "+447700900123", "DOMESTIC", 370 * 60))  # 0.02 left
    assert ask()["authorizeCall"]["allowed"] is False
    credits.configure_auto_recharge(
        office,
        SYSTEM,
        enabled=True,
        recharge_amount=Decimal("5.00"),
        trigger_balance=Decimal("0.00"),
        max_recharges_per_day=2,
        now=clock(),
    )
    out = ask()["authorizeCall"]
    # 0.02 + 2 × 5.00 the cap still allows, at 0.054 a minute: 185 minutes; the balance is shown
    assert (out["allowed"], out["creditsLeft"], out["maxMinutesAffordable"]) == (True, "0.02", 185)
    # and the call is indeed rated, paid by a recharge
    rated = record(api, call("after", "payg", "+447700900123", "DOMESTIC", 60 * 60))
    assert rated["results"][0]["status"] == "RATED"


def test_authorization_of_an_mca_tenant_uses_its_credit_limit(db_url, clock, client):
    from commcredits.services.access import Role, create_api_key
    from commcredits.services.tenants import create_tenant
    from tests.conftest import Api

    now = clock()
    rates.ensure_sample_card(SYSTEM, now=now)
    mca = create_tenant(
        SYSTEM, name="Contoso MCA", country="DE", currency="EUR", agreement_type="MCA", now=now
    )
    add_users(mca, now, [("m", "GB")], domain="contoso.example")
    buy(mca, now, MCOEV=1, MCOPSTN_PAYG_1=1, MCOPSTNC=1)
    plan = (AddLicense("MCOEV"), AddLicense("MCOPSTN_PAYG_1"), AddLicense("MCOPSTNC"))
    licenses.assign_license(mca, SYSTEM, LicenseRequest("m@contoso.example", plan), now=now)
    api = Api(client, create_api_key(SYSTEM, role=Role.READER, tenant=mca, now=now)[1])

    def ask():
        variables = {"u": "m@contoso.example", "d": "+442071234567", "t": "DOMESTIC"}
        return api(AUTHORIZE, variables)["authorizeCall"]

    assert (ask()["allowed"], ask()["reason"]) == (False, "INSUFFICIENT_BALANCE")  # no limit
    credits.set_credit_limit(mca, SYSTEM, Decimal("1.00"), now=now)
    assert (ask()["allowed"], ask()["maxMinutesAffordable"]) == (True, 55)  # 1.00 / 0.018


def test_authorize_call_bad_destination_is_an_error(api, office):
    errors = api.errors(AUTHORIZE, {"u": upn("de1"), "d": "12345", "t": "DOMESTIC"})
    assert errors[0]["extensions"]["code"] == "INVALID_DESTINATION"


def test_mca_tenant_is_postpaid_up_to_the_credit_limit(db_url, clock):
    from commcredits.services.rating import CallInput, record_calls
    from commcredits.services.tenants import create_tenant

    now = clock()
    rates.ensure_sample_card(SYSTEM, now=now)
    mca = create_tenant(
        SYSTEM, name="Contoso MCA", country="DE", currency="EUR", agreement_type="MCA", now=now
    )
    add_users(mca, now, [("m", "GB")], domain="contoso.example")
    buy(mca, now, MCOEV=1, MCOPSTN_PAYG_1=1, MCOPSTNC=1)
    licenses.assign_license(
        mca,
        SYSTEM,
        LicenseRequest(
            "m@contoso.example",
            (AddLicense("MCOEV"), AddLicense("MCOPSTN_PAYG_1"), AddLicense("MCOPSTNC")),
        ),
        now=now,
    )
    credits.set_credit_limit(mca, SYSTEM, Decimal("1.00"), now=now)
    at = now - dt.timedelta(hours=1)
    out = record_calls(
        mca,
        SYSTEM,
        [
            CallInput("m1", "m@contoso.example", at, 50 * 60, "+442071234567", "DOMESTIC"),
            CallInput("m2", "m@contoso.example", at, 10 * 60, "+442071234567", "DOMESTIC"),
        ],
        now=now,
    )
    assert (out[0].call.status, out[0].call.charge) == ("RATED", Decimal("0.90"))
    assert (out[1].call.status, out[1].call.reason) == ("BLOCKED", "CREDIT_LIMIT_REACHED")


def _mixed_batch(prefix: str, n: int) -> list[dict]:
    who = ["de1", "de2", "us1", "e5a", "payg", "nocred", "nolic", "ac"]
    dests = ["+493012345678", "+442071234567", "+12125550100", "+33142345678"]
    return [
        call(f"{prefix}{i}", who[i % len(who)], dests[i % len(dests)], seconds=30 + i % 300)
        for i in range(n)
    ]


# A rating batch's statements (bench/README.md "Calls"): 25 on SQLite for a 10-call batch of a
# tenant with no dial-out grant, spend limit or PSTN block (26 on PostgreSQL, whose tenant
# lock is a statement), the usage lines' and the ledger days' upserts included. A 1,000-call
# batch adds only the second halves of chunked writes (the call rows and their events, 500 a
# statement) and the balance notification the larger spend crosses into; every lookup takes
# the whole batch's users in one statement.
def test_record_calls_costs_a_bounded_number_of_statements(api, office, clock):
    record(api, *_mixed_batch("warm", 5))  # the ledger account and pools exist from here on
    with database.count_statements() as small:
        record(api, *_mixed_batch("s", 10))
    with database.count_statements() as large:
        out = record(api, *_mixed_batch("l", 1000))
    assert out["summary"]["total"] == 1000
    assert len(large) <= len(small) + 4, (len(small), len(large))
    lock = 0 if database.is_sqlite() else 1  # PostgreSQL's tenant lock is a statement
    assert len(small) <= 25 + lock, small
    assert len(large) <= 29 + lock, large
    # Nothing configured: the policies are one look at what the tenant has (SELECT EXISTS …),
    # no lookup of the batch's users.
    lookups = [q for q in large if not q.startswith("SELECT EXISTS")]
    for table in ("dial_out_grant", "calling_policy_grant", "pstn_block", "user_month_spend"):
        assert not [q for q in lookups if f"FROM {table}" in q], table


def configure_every_policy(office, limit: Decimal, *, now: dt.datetime) -> None:
    """One of each kind rating and authorizeCall read: us1's own dial-out grant (domestic
    only), Sales' dial-out grant (de2: none), Capped's calling policy with a spend limit of
    `limit` (payg) and a PSTN block (de1)."""
    dial_out.grant_dial_out_policy(
        office, SYSTEM, [upn("us1")], "DialoutCPCandPSTNDomestic", now=now
    )
    limited = calling_policies.create_calling_policy(
        office,
        SYSTEM,
        PolicyInput(name="Capped", enable_spend_limits=True, calling_spend_user_limit=limit),
        now=now,
    )
    sales = groups.create_group(office, SYSTEM, "Sales", now=now)
    groups.add_members(office, SYSTEM, sales.id, [upn("de2")], now=now)
    group_policies.assign_group_policy(
        office, SYSTEM, sales.id, "DIAL_OUT", "DialoutCPCandPSTNDisabled", None, now=now
    )
    capped = groups.create_group(office, SYSTEM, "Capped", now=now)
    groups.add_members(office, SYSTEM, capped.id, [upn("payg")], now=now)
    group_policies.assign_group_policy(
        office, SYSTEM, capped.id, "CALLING", limited.name, None, now=now
    )
    pstn_blocks.block_user(office, SYSTEM, upn("de1"), "Fraud", now=now)


def test_policies_configured_add_at_most_five_statements_whatever_the_batch(api, office, clock):
    """With a dial-out grant, a group's dial-out and calling grants, a spend limit and a PSTN
    block, a batch reads each for all its users at once: the same count for 10 calls or
    1,000, and outcomes that follow them."""
    now = clock()
    record(api, *_mixed_batch("warm", 5))
    with database.count_statements() as before:
        record(api, *_mixed_batch("b", 10))
    configure_every_policy(office, Decimal("0.01"), now=now)
    with database.count_statements() as small:
        small_out = record(api, *_mixed_batch("s", 10))
    with database.count_statements() as large:
        record(api, *_mixed_batch("l", 1000))

    # Five reads more (the group grants of both types, the own dial-out grants, the own
    # calling grants, the blocks, the limited users' spend); the writes differ by what the
    # outcomes are (here a spend-limit notification).
    def reads(statements: list[str]) -> list[str]:
        return [q for q in statements if q.startswith("SELECT") and "pg_notify" not in q]

    assert len(reads(small)) == len(reads(before)) + 5, reads(small)
    assert len(large) <= len(small) + 4, (len(small), len(large))
    reasons = {r["callId"]: (r["status"], r["reason"]) for r in small_out["results"]}
    assert reasons["s0"] == ("BLOCKED", "USER_BLOCKED")  # de1, blocked
    assert reasons["s1"] == ("BLOCKED", "DIAL_OUT_RESTRICTED")  # de2: the group's Disabled
    assert reasons["s2"] == ("RATED", None)  # us1: its own DomesticOnly, a domestic call
    # payg (the Capped group's 0.01 limit) spent more than that before the limit was set (the
    # spend of users with no limit is kept too, by adding to it): refused.
    assert reasons["s4"] == ("BLOCKED", "SPEND_LIMIT_REACHED")


HELD = """
mutation($items: [CallRecordInput!]!) {
  recordCalls(items: $items) {
    results { callId status reason heldForRecharge call { charge } }
    userErrors { code }
  }
}"""


def _recharge_of_30(office, clock) -> None:
    credits.configure_auto_recharge(
        office,
        SYSTEM,
        enabled=True,
        recharge_amount=Decimal("30.00"),
        trigger_balance=Decimal("1.00"),
        now=clock(),
    )


def test_a_call_the_balance_cannot_cover_waits_for_the_recharge(api, office, clock):
    _recharge_of_30(office, clock)
    day = 24 * 3600  # 1,440 minutes at 0.0180 = 25.92 > the 20.00 balance
    out = api(
        HELD,
        {
            "items": [
                call("small", "payg", "+442071234567", "DOMESTIC", 60),
                call("long", "payg", "+442071234568", "DOMESTIC", day),
            ]
        },
    )["recordCalls"]
    assert [(r["callId"], r["status"], r["heldForRecharge"]) for r in out["results"]] == [
        ("small", "RATED", False),
        ("long", "RATED", True),
    ]
    assert out["results"][1]["call"]["charge"] == "25.92"
    recharge = Invoice.get(Invoice.reason == "AUTO_RECHARGE")
    assert (recharge.status, recharge.amount_minor) == ("ISSUED", 3000)
    # 20.00 - 0.02 - 25.92 + 30.00 (one started recharge, charged with no lock held)
    assert balance(office, clock()) == Decimal("24.06")
    assert all(r.ok for r in credits.audit_balances())


def test_a_held_call_whose_recharge_is_declined_is_blocked(api, office, clock):
    _recharge_of_30(office, clock)
    card = billing.BillingFields(payment_method="CARD", card_token="tok_chargeDeclined")
    billing.update_billing_profile(office, SYSTEM, card, now=clock())
    out = api(HELD, {"items": [call("long", "payg", "+442071234567", "DOMESTIC", 24 * 3600)]})
    [result] = out["recordCalls"]["results"]
    assert (result["status"], result["reason"], result["heldForRecharge"]) == (
        "BLOCKED",
        "INSUFFICIENT_BALANCE",
        True,
    )
    assert Invoice.get(Invoice.reason == "AUTO_RECHARGE").status == "FAILED"
    assert balance(office, clock()) == Decimal("20.00")
    again = api(HELD, {"items": [call("long", "payg", "+442071234567", "DOMESTIC", 24 * 3600)]})
    assert again["recordCalls"]["results"][0]["status"] == "BLOCKED"  # the first result


def test_a_start_with_no_utc_instant_fails_its_item_only(api, office):
    """Year 1 at +01:00 (or 9999 at -01:00) once overflowed converting to UTC and sank the
    whole batch with INTERNAL_ERROR."""
    out = api(
        RECORD,
        {
            "items": [
                call("early", "de1", "+4930123456", at="0001-01-01T00:00:00+01:00"),
                call("late", "de1", "+4930123456", at="9999-12-31T23:59:59-01:00"),
                call("fine", "de1", "+4930123456"),
            ]
        },
    )["recordCalls"]
    assert [[e["code"] for e in r["userErrors"]] for r in out["results"]] == [
        ["INVALID_DATETIME"],
        ["INVALID_DATETIME"],
        [],
    ]
    assert out["results"][2]["status"] == "RATED"
    query = """query($from: DateTime) { callRecords(first: 5, filter: { from: $from }) {
      nodes { callId } } }"""
    response = api.raw(query, {"from": "0001-01-01T00:00:00+01:00"})
    assert response.status_code == 200
    errors = response.json()["errors"]
    assert [e["extensions"]["code"] for e in errors] == ["INVALID_DATETIME"], errors
