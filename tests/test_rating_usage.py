"""Usage: callRecords, usageSummary and the PSTN usage report export."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import pytest

from commcredits import cli
from commcredits.services.usage_report import EXPORT_COLUMNS
from tests.test_rating import call, office, record  # noqa: F401 - the fixture

CALLS = """
query($f: CallRecordFilter, $after: String) {
  callRecords(first: 2, filter: $f, after: $after) {
    totalCount
    nodes { id callId userPrincipalName status reason callType charge capability }
    pageInfo { hasNextPage endCursor }
  }
}"""
SUMMARY = """
query($m: String!) {
  usageSummary(month: $m) {
    month currency calls blockedCalls minutes poolMinutes chargedMinutes creditsSpent
    lines { callType country calls blockedCalls poolMinutes chargedMinutes creditsSpent }
  }
}"""


@pytest.fixture
def usage(api, office):  # noqa: F811
    record(
        api,
        call("u1", "e5a", "+4989123456", seconds=100 * 60),  # pool
        call("u2", "e5a", "+4989123456", seconds=30 * 60),  # split: 20 pool + 10 charged
        call("u3", "de1", "+498001234567", "TOLL_FREE_INBOUND", 150),
        call("u4", "nolic", "+493012345678", seconds=60),  # blocked
        call("u5", "us1", "+442071234567", "INTERNATIONAL", 60, at="2026-11-25T09:30:00Z"),
    )
    return office


def test_call_records_filter_and_pages(api, usage):
    page = api(CALLS, {"f": {"user": "e5a@fabrikam.example"}})["callRecords"]
    assert page["totalCount"] == 2
    assert [n["callId"] for n in page["nodes"]] == ["u2", "u1"]  # newest first
    blocked = api(CALLS, {"f": {"status": "BLOCKED"}})["callRecords"]
    assert [(n["callId"], n["reason"]) for n in blocked["nodes"]] == [("u4", "NO_CALLING_LICENSE")]
    late = api(CALLS, {"f": {"from": "2026-11-25T09:15:00Z", "callType": "INTERNATIONAL"}})
    assert [n["callId"] for n in late["callRecords"]["nodes"]] == ["u5"]
    first = api(CALLS, {})["callRecords"]
    assert first["pageInfo"]["hasNextPage"] and first["totalCount"] == 5
    rest = api(CALLS, {"after": first["pageInfo"]["endCursor"]})["callRecords"]
    assert [n["callId"] for n in rest["nodes"]] == ["u3", "u2"]


def test_usage_summary_by_call_type_and_country(api, usage):
    s = api(SUMMARY, {"m": "2026-11"})["usageSummary"]
    assert (s["calls"], s["blockedCalls"], s["poolMinutes"], s["chargedMinutes"]) == (5, 1, 121, 13)
    assert (s["creditsSpent"], s["currency"]) == ("0.28", "EUR")  # 0.19 + 0.09
    lines = {(x["callType"], x["country"]): x for x in s["lines"]}
    assert lines[("DOMESTIC", "DE")]["poolMinutes"] == 120
    assert lines[("DOMESTIC", "DE")]["blockedCalls"] == 1
    assert lines[("TOLL_FREE_INBOUND", "DE")]["creditsSpent"] == "0.09"
    assert lines[("INTERNATIONAL", "GB")]["poolMinutes"] == 1
    assert api(SUMMARY, {"m": "2026-10"})["usageSummary"]["calls"] == 0
    errors = api.errors(SUMMARY, {"m": "2026-13"})
    assert errors[0]["extensions"]["code"] == "INVALID_MONTH"


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".parquet"])
def test_export_usage_has_the_admin_center_columns(usage, db_url, monkeypatch, tmp_path, suffix):
    monkeypatch.setenv("COMMCREDITS_DATABASE_URL", db_url)
    out = tmp_path / f"usage{suffix}"
    argv = ["export-usage", "--tenant", "Fabrikam", "--month", "2026-11", "--out", str(out)]
    assert cli.main(argv) == 0
    read = {".csv": pl.read_csv, ".xlsx": pl.read_excel, ".parquet": pl.read_parquet}[suffix]
    frame = read(out)
    assert tuple(frame.columns) == EXPORT_COLUMNS
    rows = {r["Call ID"]: r for r in frame.to_dicts()}
    assert len(rows) == 5
    split = rows["u2"]
    assert split["Capability"] == "MCOPSTN5, MCOPSTNPP"
    assert (split["Pool minutes"], split["Charged minutes"], split["Duration"]) == (20, 10, 1800)
    assert Decimal(str(split["Charge"])) == Decimal("0.19")
    assert (split["Currency"], split["Domestic/International"]) == ("EUR", "Domestic")
    assert (split["Username"], split["Called to"]) == ("e5a@fabrikam.example", "+4989123456")
    assert rows["u1"]["Capability"] == "MCOPSTN5"
    assert rows["u3"]["Capability"] == "MCOPSTNPP"
    assert (rows["u4"]["Status"], rows["u4"]["Reason"], rows["u4"]["Capability"] or "") == (
        "BLOCKED",
        "NO_CALLING_LICENSE",
        "",
    )
    assert rows["u5"]["Domestic/International"] == "International"
    assert rows["u5"]["To country or region"] == "GB"


def test_export_usage_refuses_a_bad_month(usage, db_url, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("COMMCREDITS_DATABASE_URL", db_url)
    argv = ["export-usage", "--tenant", "Fabrikam", "--month", "11/2026", "--out", "x.csv"]
    assert cli.main(argv) == 1
    assert "not a month" in capsys.readouterr().err
