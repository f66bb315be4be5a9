"""The PSTN report exports: Get-CsPstnMinutePoolsReport, Get-CsPstnBlockedUsersReport and
Get-CsCommunicationCreditsUsageReport — their headers exactly as documented, their rows the
API's, CSV and XLSX, paged; in-process and over HTTP."""

from __future__ import annotations

import polars as pl
import pytest

from commcredits.bulk import pstn_reports
from commcredits.bulk.csv_input import restore_formula_text
from tests.test_bulk import run
from tests.test_bulk_http import server  # noqa: F401 - the live server fixture
from tests.test_rating import call, office, record, upn  # noqa: F401 - fixtures and helpers

TENANT = ("-Tenant", "Fabrikam")

POOLS = """
query($m: String) { minutePools(month: $m) { plan country type granted used left } }"""
BLOCK = """
mutation($u: ID!, $r: String!) {
  blockUserFromPstn(userId: $u, reason: $r) { changed userErrors { code message } }
}"""
BLOCKED = """
query($after: String) {
  pstnBlockedUsers(first: 100, after: $after) {
    edges { node { user { userPrincipalName displayName } reason blockedAt blockedBy
                   remediationId } }
  }
}"""
USAGE = """
query($m: String) {
  communicationCreditsUsage(month: $m, first: 100) {
    edges { node { user { userPrincipalName displayName usageLocation }
                   spent { amount currency } limit { amount currency } calls blockedCalls
                   blockedByReason { reason count } } }
  }
}"""
CREATE = """
mutation($name: String!, $limit: Decimal) {
  createCallingPolicy(input: {name: $name, enableSpendLimits: true,
                              callingSpendUserLimit: $limit}) { userErrors { code } }
}"""
GRANT = """
mutation($u: [ID!], $name: String) {
  grantCallingPolicy(userIds: $u, policyName: $name) { userErrors { code } }
}"""
UPDATE_USER = """
mutation($id: ID!, $phones: [String!], $mobile: String) {
  updateUser(input: {id: $id, businessPhones: $phones, mobilePhone: $mobile}) {
    userErrors { code }
  }
}"""

POOL_COLUMNS = [
    "Country or region",
    "Capability",
    "Capability description",
    "Call type",
    "Total minutes",
    "Minutes used",
    "Minutes available",
]
BLOCKED_COLUMNS = [
    "Display name",
    "Username",
    "Phone",
    "Blocked reason",
    "Blocked action",
    "Blocked time",
    "Blocked by",
    "Remediation ID",
]
USAGE_COLUMNS = [
    "Display name",
    "Username",
    "Country or region",
    "Charge",
    "Spend limit",
    "Currency",
    "Calls",
    "Blocked calls",
    "Blocked by reason",
]


@pytest.fixture(autouse=True)
def same_clock(clock, monkeypatch):
    """The commands in this process see the tests' frozen clock, as the API does (the month's
    live pools depend on it)."""
    monkeypatch.setattr("commcredits.clock.utcnow", clock)


def read(path) -> pl.DataFrame:
    if str(path).endswith(".xlsx"):
        return pl.read_excel(path, infer_schema_length=0)
    # the writer quotes a cell that a spreadsheet would run as a formula (+49…); read back
    # as the bulk commands read it
    return restore_formula_text(pl.read_csv(path, infer_schema=False))


def cells(frame: pl.DataFrame) -> list[tuple]:
    """Rows as text (None for an empty cell), whatever the file type read back."""
    return [tuple(None if v in (None, "") else str(v) for v in row) for row in frame.rows()]


@pytest.mark.parametrize("ext", ["csv", "xlsx"])
def test_minute_pools_report_is_the_apis_pools(api, office, tmp_path, ext):  # noqa: F811
    record(
        api,
        call("c1", "de1", "+493012345678", "DOMESTIC", 120),
        call("c2", "us1", "+442071234567", "INTERNATIONAL", 60),
    )
    out = tmp_path / f"pools.{ext}"
    code, _, err = run(
        "Get-CsPstnMinutePoolsReport", "-Month", "2026-11", "-Path", str(out), *TENANT
    )
    assert code == 0, err
    assert "5 minute pools" in err
    sheet = read(out)
    assert sheet.columns == POOL_COLUMNS
    pools = api(POOLS, {"m": "2026-11"})["minutePools"]
    expected = (
        (
            p["country"] or None,
            p["plan"],
            p["type"],
            str(p["granted"]),
            str(p["used"]),
            str(p["left"]),
        )
        for p in pools
    )
    # the sheet's order: by country (the tenant-wide pool first), capability, call type
    got = [(r[0], r[1], r[3], r[4], r[5], r[6]) for r in cells(sheet)]
    expected = sorted(expected, key=lambda r: (r[0] or "", r[1], r[2]))
    assert got == expected
    by_plan = {r[1] + "/" + r[3]: r for r in cells(sheet)}
    assert by_plan["MCOPSTN1/DOMESTIC"][5] == "2"  # de1's two domestic minutes
    assert by_plan["MCOPSTN1/DOMESTIC"][2] == (
        "Microsoft 365 Domestic Calling Plan (domestic minutes)"
    )
    assert by_plan["MCOPSTN2/INTERNATIONAL"][2] == (
        "Microsoft 365 Domestic and International Calling Plan (international minutes)"
    )
    assert by_plan["MCOMEETADV/CONFERENCE_DIAL_OUT"][2] == (
        "Microsoft 365 Audio Conferencing (dial-out minutes)"
    )
    assert by_plan["MCOMEETADV/CONFERENCE_DIAL_OUT"][0] is None  # the tenant-wide pool
    # CSV on stdout without -Path; a month the server refuses is one line, exit 2
    code, text, _ = run("Get-CsPstnMinutePoolsReport", *TENANT)
    assert code == 0 and text.splitlines()[0] == ",".join(POOL_COLUMNS)
    code, _, err = run("Get-CsPstnMinutePoolsReport", "-Month", "November", *TENANT)
    assert code == 2 and "Traceback" not in err


def _block_five(api) -> list[str]:
    aliases = ["de1", "de2", "us1", "e5a", "ac"]
    for n, alias in enumerate(aliases):
        payload = api(BLOCK, {"u": upn(alias), "r": f"Fraud case {n}"})["blockUserFromPstn"]
        assert payload["userErrors"] == [], payload
    return aliases


@pytest.mark.parametrize("ext", ["csv", "xlsx"])
def test_blocked_users_report_pages_through_the_api(api, office, tmp_path, monkeypatch, ext):  # noqa: F811
    aliases = _block_five(api)
    # the number: the first business phone, else the mobile phone
    for alias, phones, mobile in (
        ("de1", ["+49 30 1234567"], "+49 170 1"),
        ("de2", [], "+49 170 2"),
    ):
        found = api(f'{{ user(userPrincipalName: "{upn(alias)}") {{ id }} }}')["user"]["id"]
        changed = api(UPDATE_USER, {"id": found, "phones": phones, "mobile": mobile})
        assert changed["updateUser"]["userErrors"] == []
    monkeypatch.setattr(pstn_reports, "PAGE", 2)  # three pages for five users
    out = tmp_path / f"blocked.{ext}"
    code, _, err = run("Get-CsPstnBlockedUsersReport", "-Path", str(out), *TENANT)
    assert code == 0, err
    sheet = read(out)
    assert sheet.columns == BLOCKED_COLUMNS
    nodes = [e["node"] for e in api(BLOCKED)["pstnBlockedUsers"]["edges"]]
    assert [n["user"]["userPrincipalName"] for n in nodes] == [upn(a) for a in aliases]
    rows = cells(sheet)
    assert [(r[0], r[1], r[3], r[4], r[6], r[7]) for r in rows] == [
        (
            n["user"]["displayName"],
            n["user"]["userPrincipalName"],
            n["reason"],
            "Blocked",
            n["blockedBy"],
            n["remediationId"],
        )
        for n in nodes
    ]
    assert [r[2] for r in rows] == ["+49 30 1234567", "+49 170 2", None, None, None]
    if ext == "csv":  # the API's own text (an XLSX reader may turn it into a date)
        assert [r[5] for r in rows] == [n["blockedAt"] for n in nodes]


def test_blocked_users_report_of_nobody_has_the_headers(api, office):  # noqa: F811
    code, out, err = run("Get-CsPstnBlockedUsersReport", *TENANT)
    assert code == 0, err
    assert out.splitlines() == [",".join(BLOCKED_COLUMNS)] and "0 users" in err


@pytest.mark.parametrize("ext", ["csv", "xlsx"])
def test_credits_usage_report_is_the_apis_rows(api, office, tmp_path, monkeypatch, ext):  # noqa: F811
    assert (
        api(CREATE, {"name": "Tight", "limit": "0.05"})["createCallingPolicy"]["userErrors"] == []
    )
    assert (
        api(GRANT, {"u": [upn("us1")], "name": "Tight"})["grantCallingPolicy"]["userErrors"] == []
    )
    api(BLOCK, {"u": upn("de2"), "r": "Fraud"})
    record(
        api,
        # us1: pool minutes first, then credits up to the limit, then blocked
        call("u1", "us1", "+442071234567", "INTERNATIONAL", 600 * 60),
        call("u2", "us1", "+442071234567", "INTERNATIONAL", 600),
        call("u3", "us1", "+442071234567", "INTERNATIONAL", 600),
        call("d1", "de2", "+493012345678", "DOMESTIC", 60),
        call("d2", "de1", "+33142345678", "INTERNATIONAL", 60),
    )
    monkeypatch.setattr(pstn_reports, "PAGE", 2)
    out = tmp_path / f"usage.{ext}"
    code, _, err = run(
        "Get-CsCommunicationCreditsUsageReport", "-Month", "2026-11", "-Path", str(out), *TENANT
    )
    assert code == 0, err
    sheet = read(out)
    assert sheet.columns == USAGE_COLUMNS
    nodes = [e["node"] for e in api(USAGE, {"m": "2026-11"})["communicationCreditsUsage"]["edges"]]
    assert len(nodes) == 3

    def expected(n) -> tuple:
        reasons = "; ".join(
            f"{r['reason']}: {r['count']}" for r in n["blockedByReason"] if r["count"]
        )
        return (
            n["user"]["displayName"] or None,
            n["user"]["userPrincipalName"],
            n["user"]["usageLocation"],
            str(n["spent"]["amount"]),
            str(n["limit"]["amount"]) if n["limit"] else None,
            n["spent"]["currency"],
            str(n["calls"]),
            str(n["blockedCalls"]),
            reasons or None,
        )

    rows = cells(sheet)
    if ext == "xlsx":  # amounts are text: exact, never a float
        assert sheet.schema["Charge"] == pl.String
    assert rows == [expected(n) for n in nodes]
    by_user = {r[1]: r for r in rows}
    assert by_user[upn("de2")][8] == "USER_BLOCKED: 1"
    assert by_user[upn("us1")][4] == "0.05" and by_user[upn("us1")][7] != "0", rows
    assert "SPEND_LIMIT_REACHED" in by_user[upn("us1")][8], rows


def test_exports_over_http(api, office, keys, server, tmp_path):  # noqa: F811
    target = ["-Endpoint", server, "-ApiKey", keys["READER"]]  # a reader may export
    _block_five(api)  # de1, de2, us1, e5a, ac
    record(api, call("c1", "nocred", "+493012345678", "DOMESTIC", 120))
    out = tmp_path / "blocked.csv"
    code, _, err = run("Get-CsPstnBlockedUsersReport", "-Path", str(out), *target)
    assert code == 0, err
    assert read(out).columns == BLOCKED_COLUMNS and read(out).height == 5
    code, text, err = run("Get-CsPstnMinutePoolsReport", "-Month", "2026-11", *target)
    assert code == 0, err
    pools = pl.read_csv(text.encode(), infer_schema=False)
    assert pools.columns == POOL_COLUMNS
    used = pools.filter((pl.col("Capability") == "MCOPSTN1") & (pl.col("Call type") == "DOMESTIC"))
    assert used["Minutes used"].to_list() == ["2"], text
    out = tmp_path / "usage.xlsx"
    code, _, err = run(
        "Get-CsCommunicationCreditsUsageReport", "-Month", "2026-11", "-Path", str(out), *target
    )
    assert code == 0, err
    assert read(out).columns == USAGE_COLUMNS
    assert read(out)["Username"].to_list() == [upn("nocred")]


def test_help_lists_the_exports():
    code, out, _ = run("help")
    for name in (
        "Get-CsPstnMinutePoolsReport",
        "Get-CsPstnBlockedUsersReport",
        "Get-CsCommunicationCreditsUsageReport",
    ):
        assert name in out
        code, text, _ = run("help", name)
        assert code == 0 and "Columns" in text and "-Path" in text
