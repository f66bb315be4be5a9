"""Get-Users, Get-LicenseReport and export-usage stream their pages to the sheet (issue 16,
item 5): the files are those the whole-frame code wrote, pages are fetched only as the sheet
takes them, and what a listing holds does not grow with the tenant."""

from __future__ import annotations

import datetime as dt
import io
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import fastexcel
import polars as pl
import pytest

from commcredits import sheet_stream
from commcredits.bulk import listings
from commcredits.bulk import operations as ops
from commcredits.bulk.report_files import open_output, write_report
from commcredits.bulk.transport import connect
from commcredits.models import CallRecord
from commcredits.services import seats, usage_report
from commcredits.services.access import SYSTEM
from commcredits.sheet_stream import FrameSink, SheetSink
from tests.test_bulk import make_users, run

SUFFIXES = [".csv", ".xlsx", ".parquet", ".ndjson", ".json"]


# -- the code before streaming, kept as the oracle the streamed files are compared with ------


def old_get_users(transport: Any, filters: dict[str, Any]) -> pl.DataFrame:
    users = [u for page in listings.user_pages(transport, filters) for u in page]
    data: dict[str, list[Any]] = {out: [u[key] for u in users] for out, key in listings.USER_OUTPUT}
    data["AccountEnabled"] = [str(v).lower() for v in data["AccountEnabled"]]
    for name in listings.LIST_COLUMNS:
        data[name] = [";".join(v) for v in data[name]]
    data["AssignedLicenses"] = [
        ";".join(a["skuPartNumber"] for a in u["assignedLicenses"]) for u in users
    ]
    data["CreatedAt"] = [u["createdAt"] for u in users]
    return pl.DataFrame(data, schema={k: pl.String for k in data})


def old_get_license_report(transport: Any, filters: dict[str, Any]) -> pl.DataFrame:
    skus = [s["skuPartNumber"] for s in transport.execute(ops.SUBSCRIBED_SKUS)["subscribedSkus"]]
    users = [u for page in listings.user_pages(transport, filters) for u in page]
    for u in users:
        for a in u["assignedLicenses"]:
            if a["skuPartNumber"] not in skus:
                skus.append(a["skuPartNumber"])
    held = [{a["skuPartNumber"]: a for a in u["assignedLicenses"]} for u in users]
    data: dict[str, list[Any]] = {
        "UserPrincipalName": [u["userPrincipalName"] for u in users],
        "DisplayName": [u["displayName"] for u in users],
        "Department": [u["department"] for u in users],
        "UsageLocation": [u["usageLocation"] for u in users],
    }
    schema: dict[str, Any] = {k: pl.String for k in data}
    for sku in skus:
        data[sku] = [1 if sku in h else 0 for h in held]
        schema[sku] = pl.Int64
    data["DisabledPlans"] = [
        ";".join(f"{part}:{plan}" for part, a in h.items() for plan in a["disabledPlans"])
        for h in held
    ]
    schema["DisabledPlans"] = pl.String
    return pl.DataFrame(data, schema=schema)


def old_export_usage(tenant: Any, month: str, out: Path) -> None:
    """export-usage before streaming: every row read (in id order), sorted, written whole."""
    rows = [
        usage_report._export_row(r)
        for r in CallRecord.select()
        .where((CallRecord.tenant == tenant.id) & (CallRecord.month == month))
        .order_by(CallRecord.id)
    ]
    rows.sort(key=lambda r: (r["Time stamp (UTC)"], r["Call ID"]))
    schema = usage_report.export_schema(tenant.currency)
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    if out.suffix == ".csv":
        frame.write_csv(out, datetime_format="%Y-%m-%dT%H:%M:%SZ")
    elif out.suffix == ".parquet":
        frame.write_parquet(out)
    else:
        frame.write_excel(out, worksheet="PSTN usage", autofit=True)


# -- helpers -------------------------------------------------------------------------------


def cells(path: Path) -> pl.DataFrame:
    """A workbook's first sheet as text, the way Import-* reads it back."""
    return fastexcel.read_excel(str(path)).load_sheet(0, dtypes="string").to_polars()


def assert_same_file(new: Path, old: Path) -> None:
    if new.suffix == ".xlsx":
        assert cells(new).equals(cells(old))
    elif new.suffix == ".parquet":
        assert pl.read_parquet(new).equals(pl.read_parquet(old))
    else:
        assert new.read_bytes() == old.read_bytes()


@pytest.fixture
def small_buffers(monkeypatch):
    """XLSX and Parquet stream past a few dozen rows, so a few hundred users take the path a
    million do."""
    monkeypatch.setattr(sheet_stream, "XLSX_BUFFER_ROWS", 50)
    monkeypatch.setattr(sheet_stream, "PARQUET_PART_ROWS", 64)


def node(i: int, skus: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "userPrincipalName": f"user{i:06}@fabrikam.example",
        "displayName": "=HYPERLINK(1)" if i % 97 == 0 else f"User {i}",
        "givenName": "Ada",
        "surname": f"Surname {i}",
        "jobTitle": None,
        "department": "Sales" if i % 2 else None,
        "officeLocation": None,
        "businessPhones": ["+49 89 1", "+49 89 2"] if i % 3 == 0 else [],
        "mobilePhone": None,
        "faxNumber": None,
        "otherMails": [],
        "streetAddress": "Hauptstraße 1",
        "city": "München",
        "state": None,
        "postalCode": "80331",
        "country": "Deutschland",
        "usageLocation": "DE" if i % 10 else None,
        "accountEnabled": i % 7 != 0,
        "createdAt": "2026-11-01T00:00:00+00:00",
        "assignedLicenses": [
            {"skuPartNumber": s, "disabledPlans": ["EXCHANGE_S_STANDARD"]} for s in skus
        ],
    }


class FakeTransport:
    """The tenant's users made up a page at a time, every request logged."""

    description = "fake"

    def __init__(self, users: int, *, skus_of=lambda i: (), log: list | None = None):
        self.users, self.skus_of = users, skus_of
        self.log = log if log is not None else []

    def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        if query == ops.SUBSCRIBED_SKUS:
            self.log.append(("skus",))
            return {"subscribedSkus": [{"skuPartNumber": "MCOPSTNC"}, {"skuPartNumber": "MCOEV"}]}
        assert query == ops.USERS_PAGE
        start = int(variables["after"] or 0)
        stop = min(start + variables["first"], self.users)
        self.log.append(("page", start))
        return {
            "users": {
                "nodes": [node(i, self.skus_of(i)) for i in range(start, stop)],
                "pageInfo": {"hasNextPage": stop < self.users, "endCursor": str(stop)},
            }
        }

    def close(self) -> None:
        pass


class RecordingSink(SheetSink):
    def __init__(self, schema: Any, log: list):
        super().__init__(schema)
        self.log = log

    def _write(self, frame: pl.DataFrame) -> None:
        self.log.append(("write", frame.height))


# -- Get-Users and Get-LicenseReport -------------------------------------------------------


@pytest.fixture
def many_users(tenant, clock):
    seats.purchase_seats(tenant, SYSTEM, "MCOPSTNC", 1000, now=clock())
    upns = [f"user{i:04}@fabrikam.example" for i in range(250)]
    make_users(tenant, clock, upns)
    make_users(tenant, clock, ["nolocation@fabrikam.example"], location=None)
    code, _, _ = run(
        "Set-UserLicense",
        "-Path",
        "-",
        "-AddLicenses",
        "MCOPSTNC",
        "-Tenant",
        "Fabrikam",
        stdin=("UserPrincipalName\n" + "\n".join(upns[::3]) + "\n").encode(),
    )
    assert code == 0
    return tenant


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_get_users_and_license_report_files_are_those_written_whole(
    many_users, tmp_path, small_buffers, suffix
):
    transport = connect(tenant="Fabrikam")
    try:
        write_report(old_get_users(transport, {}), tmp_path / f"old-users{suffix}")
        write_report(old_get_license_report(transport, {}), tmp_path / f"old-lic{suffix}")
    finally:
        transport.close()
    for command, name in (("Get-Users", "users"), ("Get-LicenseReport", "lic")):
        new = tmp_path / f"{name}{suffix}"
        code, _, err = run(command, "-Path", str(new), "-Tenant", "Fabrikam")
        assert code == 0, err
        assert "251 users" in err
        assert_same_file(new, tmp_path / f"old-{name}{suffix}")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_csv_on_stdout_is_the_same_and_neutralized(many_users, tmp_path):
    transport = connect(tenant="Fabrikam")
    try:
        old = io.StringIO()
        write_report(old_get_users(transport, {"usageLocation": "DE"}), old)
    finally:
        transport.close()
    code, out, _ = run("Get-Users", "-UsageLocation", "DE", "-Tenant", "Fabrikam")
    assert code == 0 and out == old.getvalue()


def test_a_small_workbook_is_still_the_polars_table(many_users, tmp_path):
    import zipfile

    code, _, _ = run("Get-Users", "-Path", str(tmp_path / "u.xlsx"), "-Tenant", "Fabrikam")
    assert code == 0
    assert "xl/tables/table1.xml" in zipfile.ZipFile(tmp_path / "u.xlsx").namelist()


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", "stdout"])
def test_a_sku_met_late_starts_the_report_again_with_its_column(tmp_path, small_buffers, suffix):
    def skus_of(i: int) -> tuple[str, ...]:
        return ("MCOEV", "OLDSKU") if i == 250 else ("MCOPSTNC",) if i % 2 else ()

    old_frame = old_get_license_report(FakeTransport(320, skus_of=skus_of), {})
    old, new = (tmp_path / f"old{suffix}", tmp_path / f"new{suffix}")
    if suffix == "stdout":
        old, new = io.StringIO(), io.StringIO()
    write_report(old_frame, old)
    log: list = []

    @contextmanager
    def open_sink(schema: pl.Schema) -> Iterator[SheetSink]:
        log.append(("open", list(schema)))
        with open_output(new, schema) as sink:
            yield sink

    transport = FakeTransport(320, skus_of=skus_of)
    rows = listings.stream_license_report(transport, {}, open_sink)
    assert rows == 320
    assert [cols[-2] for _, cols in log] == ["MCOEV", "OLDSKU"]  # a second start, one column more
    if suffix == "stdout":  # the first start's pages never reached the pipe
        assert new.getvalue() == old.getvalue()
    else:
        assert_same_file(new, old)


def test_pages_are_asked_for_only_after_the_previous_one_was_written():
    log: list = []
    sink = RecordingSink(listings.USER_SCHEMA, log)
    listings.stream_users(FakeTransport(350, log=log), {}, sink)
    assert log == [
        ("page", 0), ("write", 100),
        ("page", 100), ("write", 100),
        ("page", 200), ("write", 100),
        ("page", 300), ("write", 50),
    ]  # fmt: skip
    log.clear()
    listings.stream_users(
        FakeTransport(350, log=log), {}, RecordingSink(listings.USER_SCHEMA, log), top=150
    )
    assert log == [("page", 0), ("write", 100), ("page", 100), ("write", 50)]


def _peak(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_what_a_listing_holds_does_not_grow_with_the_tenant(tmp_path, monkeypatch, suffix):
    """Python memory at its peak while 20,000 users (5,000 for XLSX, written cell by cell) go
    to a sheet: a page's worth, where the whole-frame code held every user."""
    users = 20_000 if suffix == ".csv" else 5_000
    monkeypatch.setattr(sheet_stream, "XLSX_BUFFER_ROWS", 100)

    def streamed() -> None:
        with open_output(tmp_path / f"new{suffix}", listings.USER_SCHEMA) as sink:
            listings.stream_users(FakeTransport(users), {}, sink)

    def whole() -> None:
        write_report(old_get_users(FakeTransport(users), {}), tmp_path / f"old{suffix}")

    bound = 4 * 1024 * 1024
    assert _peak(streamed) < bound
    assert _peak(whole) > 4 * bound  # the bound tells the two apart
    assert_same_file(tmp_path / f"new{suffix}", tmp_path / f"old{suffix}")


def test_a_failed_listing_leaves_the_earlier_file_as_it_was(tmp_path):
    target = tmp_path / "users.csv"
    target.write_text("earlier\n")

    class Broken(FakeTransport):
        def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
            if variables and variables.get("after") == "200":
                raise RuntimeError("connection lost")
            return super().execute(query, variables)

    with pytest.raises(RuntimeError), open_output(target, listings.USER_SCHEMA) as sink:
        listings.stream_users(Broken(500), {}, sink)
    assert target.read_text() == "earlier\n"
    assert [p.name for p in tmp_path.iterdir()] == ["users.csv"]


def test_the_python_api_still_returns_the_whole_frame():
    transport = FakeTransport(230)
    assert listings.get_users(transport, {}).equals(old_get_users(FakeTransport(230), {}))
    frame = listings.get_license_report(FakeTransport(230, skus_of=lambda i: ("X",) * (i == 7)), {})
    expected = old_get_license_report(FakeTransport(230, skus_of=lambda i: ("X",) * (i == 7)), {})
    assert frame.equals(expected)
    assert isinstance(FrameSink(listings.USER_SCHEMA).frame(), pl.DataFrame)


# -- export-usage --------------------------------------------------------------------------


@pytest.fixture
def month_of_calls(tenant, clock):
    """257 calls in November, many at one instant, ids whose order differs by case and
    accent, plus calls of October and of another tenant that must not appear."""
    base = dt.datetime(2026, 11, 1, 8, 0)
    ids = ["a", "B", "b", "é", "Z", "z0", "_"]
    rows = []
    for i in range(257):
        started = base + dt.timedelta(minutes=(i * 7919) % 40)  # ~6 calls per instant
        rows.append(
            {
                "tenant": tenant.id,
                "call_id": f"{ids[i % len(ids)]}{i:03}",
                "user_principal_name": f"user{i % 13}@fabrikam.example",
                "display_name": "=SUM(1)" if i == 3 else f"User {i % 13}",
                "started_at": started + dt.timedelta(microseconds=250_000 * (i % 3 == 0)),
                "month": "2026-11",
                "duration_seconds": 60 + i,
                "destination": "+4989123456",
                "destination_country": "DE",
                "call_type": "DOMESTIC",
                "domestic": True,
                "status": "BLOCKED" if i % 11 == 0 else "RATED",
                "reason": "NO_CALLING_LICENSE" if i % 11 == 0 else None,
                "minutes": 2,
                "pool_minutes": i % 2,
                "charged_minutes": 2 - i % 2,
                "pool_plan": "MCOPSTN1" if i % 2 else "",
                "charge_minor": i,
                "currency": "EUR",
                "rated_at": base,
            }
        )
    october = dict(rows[0], call_id="oct", month="2026-10", started_at=dt.datetime(2026, 10, 9))
    CallRecord.insert_many([*rows[::-1], october]).execute()  # ids in no useful order
    return tenant


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".parquet"])
def test_export_usage_files_are_those_written_whole(
    month_of_calls, tmp_path, monkeypatch, small_buffers, suffix
):
    monkeypatch.setattr(usage_report, "EXPORT_PAGE", 10)
    old_export_usage(month_of_calls, "2026-11", tmp_path / f"old{suffix}")
    rows = usage_report.export_usage(month_of_calls, "2026-11", tmp_path / f"new{suffix}")
    assert rows == 257
    assert_same_file(tmp_path / f"new{suffix}", tmp_path / f"old{suffix}")


def test_export_usage_reads_a_page_at_a_time(month_of_calls):
    pages = usage_report.usage_pages(month_of_calls, "2026-11", size=50)
    first = next(pages)
    assert len(first) == 50
    sizes = [len(p) for p in pages]
    assert sizes == [50, 50, 50, 50, 7]
    empty = list(usage_report.usage_pages(month_of_calls, "2026-09", size=50))
    assert empty == []


def test_export_of_an_empty_month_has_the_header(month_of_calls, tmp_path):
    assert usage_report.export_usage(month_of_calls, "2026-09", tmp_path / "e.csv") == 0
    header = (tmp_path / "e.csv").read_text().splitlines()
    assert header == [",".join(usage_report.EXPORT_COLUMNS)]


def test_more_rows_than_a_worksheet_holds_is_refused_and_leaves_no_file(
    month_of_calls, db_url, monkeypatch, tmp_path, capsys
):
    from commcredits import cli as admin_cli
    from commcredits.bulk.errors import UsageError

    monkeypatch.setattr(sheet_stream, "XLSX_BUFFER_ROWS", 50)
    monkeypatch.setattr(sheet_stream, "XLSX_MAX_ROWS", 201)
    monkeypatch.setenv("COMMCREDITS_DATABASE_URL", db_url)
    out = tmp_path / "usage.xlsx"
    argv = ["export-usage", "--tenant", "Fabrikam", "--month", "2026-11", "--out", str(out)]
    assert admin_cli.main(argv) == 1
    assert "do not fit a worksheet; write .csv or .parquet" in capsys.readouterr().err
    users = tmp_path / "users.xlsx"
    with (
        pytest.raises(UsageError, match="do not fit a worksheet"),
        open_output(users, listings.USER_SCHEMA) as sink,
    ):
        listings.stream_users(FakeTransport(300), {}, sink)
    assert list(tmp_path.iterdir()) == []


URL_LIKE = ["mailto:boss@contoso.example", "http://x.example/" + "a" * 2_100, "plain"]


@pytest.mark.parametrize("rows", [3, sheet_stream.XLSX_BUFFER_ROWS + 3], ids=["small", "streamed"])
def test_xlsx_keeps_url_like_text_as_text(tmp_path, monkeypatch, rows):
    """xlsxwriter's default made a `mailto:` cell a link shown without its scheme and dropped
    a URL over Excel's 2,079 characters — streamed, with the rest of its row. Text stays text."""
    frame = pl.DataFrame(
        {"Mail": [URL_LIKE[i % 3] for i in range(rows)], "After": [f"x{i}" for i in range(rows)]}
    )
    path = tmp_path / "out.xlsx"
    with sheet_stream.sheet_sink(path, frame.schema) as sink:
        sink.write(frame)
    back = pl.read_excel(path, engine="calamine", infer_schema_length=0)
    assert back["Mail"].to_list()[:3] == URL_LIKE
    assert back["After"].to_list() == frame["After"].to_list()
