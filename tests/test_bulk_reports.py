"""Issue 12, item 6: reports are never lost — not to -WhatIf, not to a re-run, not to a run
that stops part way — and no report cell runs as a formula in Excel (OWASP CSV injection).
In-process and against a real server."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator

import polars as pl
import pytest

from commcredits.bulk import RunStopped, set_user_license
from commcredits.bulk.errors import UsageError
from commcredits.bulk.report_files import neutralize_formulas
from commcredits.bulk.transport import NoAnswer, connect
from commcredits.models import LicenseAssignment, User
from commcredits.services import seats
from commcredits.services.access import SYSTEM
from tests.live_server import live_server
from tests.test_bulk import make_users, report_of, run, write_csv

DOMAIN = "fabrikam.example"


@pytest.fixture(params=["in-process", "http"])
def target(request, db_url, keys, tmp_path) -> Iterator[list[str]]:
    if request.param == "in-process":
        yield ["-ApiKey", keys["GLOBAL_ADMIN"]]
        return
    with live_server(db_url, tmp_path) as server:
        yield ["-Endpoint", server.url, "-ApiKey", keys["GLOBAL_ADMIN"]]


def test_neutralize_formulas_prefixes_what_excel_would_run():
    cells = ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", "a=1", "", None, "'=kept"]
    frame = pl.DataFrame({"Key": cells, "Row": list(range(len(cells)))})
    out = neutralize_formulas(frame)
    assert out["Key"].to_list() == [
        "'=1+1",
        "'+1",
        "'-1",
        "'@SUM(A1)",
        "'\t=1",
        "'\r=1",
        "a=1",
        "",
        None,
        "'=kept",
    ]
    assert out["Row"].to_list() == frame["Row"].to_list()  # numbers are not text


def test_report_cells_never_run_as_formulas(tenant, target, tmp_path):
    """Keys and references a sheet wrote come back in the report: escaped in CSV (a file or
    stdout), exact in XLSX (text cells, never formulas) and JSON."""
    hostile = ['=HYPERLINK("http://evil.example","x")@x', "+1@x", "-1@x", "@SUM(1)@x"]
    sheet = tmp_path / "hostile.csv"
    pl.DataFrame({"UserPrincipalName": hostile}).write_csv(sheet)
    argv = ["Set-UsageLocation", "-Path", str(sheet), "-UsageLocation", "DE", *target]
    code, _, err = run(*argv)
    assert code == 1, err
    text = (tmp_path / "hostile.result.csv").read_text()
    report = pl.read_csv(io.StringIO(text), infer_schema=False)
    assert report["Key"].to_list() == ["'" + k for k in hostile]
    assert report["Status"].to_list() == ["Failed"] * 4
    assert all(
        not cell.startswith(("=", "+", "-", "@"))
        for column in report.columns
        for cell in report[column].drop_nulls()
    )

    code, _, _ = run(*argv, "-ResultPath", str(tmp_path / "report.xlsx"))
    book = zipfile.ZipFile(tmp_path / "report.xlsx")
    sheet_xml = book.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet_xml and 't="s"' in sheet_xml  # text cells, not one formula
    assert pl.read_excel(tmp_path / "report.xlsx")["Key"].to_list() == hostile

    code, _, _ = run(*argv, "-ResultPath", str(tmp_path / "report.json"))
    assert pl.read_json(tmp_path / "report.json")["Key"].to_list() == hostile

    code, out, _ = run(*argv[:2], "-", *argv[3:], stdin=sheet.read_bytes())
    assert pl.read_csv(io.StringIO(out))["Key"].to_list() == ["'" + k for k in hostile]

    code, out, _ = run("Add-Credits", "-Amount", "5", "-Reference", "=cmd|'/c calc'!A1", *target)
    assert pl.read_csv(io.StringIO(out))["Reference"].to_list() == ["'=cmd|'/c calc'!A1"]


def test_no_run_overwrites_an_earlier_report(tenant, clock, target, tmp_path):
    make_users(tenant, clock, [f"u{n}@{DOMAIN}" for n in range(3)])
    seats.purchase_seats(tenant, SYSTEM, "MCOPSTNC", 5, now=clock())
    sheet = write_csv(tmp_path / "users.csv", "UPN", [f"u{n}@{DOMAIN}" for n in range(3)])
    argv = ["Set-UserLicense", str(sheet), "-AddLicenses", "MCOPSTNC", *target]
    names = []
    for extra in (["-WhatIf"], [], ["-WhatIf"], []):
        code, _, err = run(*argv, *extra)
        assert code == 0, err
        names.append(err.rstrip().rsplit("report: ", 1)[1])
    assert [p.rsplit("/", 1)[1] for p in names] == [
        "users.whatif.result.csv",
        "users.result.csv",
        "users.whatif.result.2.csv",
        "users.result.2.csv",
    ]
    assert pl.read_csv(names[1])["Status"].to_list() == ["Assigned"] * 3  # the first real run
    assert pl.read_csv(names[3])["Status"].to_list() == ["Unchanged"] * 3
    code, _, err = run(*argv, "-ResultPath", names[1])  # a path given is a path taken
    assert err.rstrip().endswith(f"report: {names[1]}")
    assert pl.read_csv(names[1])["Status"].to_list() == ["Unchanged"] * 3


def test_an_over_long_key_fails_its_row_only(tenant, clock, target, tmp_path):
    """A user principal name longer than the API takes would have the server refuse the
    whole batch that carried it (VALUE_TOO_LONG): the bulk layer fails that row alone."""
    upns = [f"s{n}@{DOMAIN}" for n in range(6)]
    make_users(tenant, clock, upns)
    seats.purchase_seats(tenant, SYSTEM, "MCOPSTNC", 10, now=clock())
    sheet = write_csv(tmp_path / "stop.csv", "UPN", [*upns[:4], "x" * 200 + "@x", *upns[4:]])
    argv = ["Set-UserLicense", str(sheet), "-AddLicenses", "MCOPSTNC", "-BatchSize", "2"]
    code, _, err = run(*argv, *target)
    assert code == 1, err
    report = report_of(err)
    assert report.select("Status", "Code").rows() == [
        *(("Assigned", None),) * 4,
        ("Failed", "VALUE_TOO_LONG"),
        *(("Assigned", None),) * 2,
    ]


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        # The server answered with a refusal: that batch was not applied.
        (UsageError, ("NotSent", "RunStopped")),
        # No answer came: that batch may have been applied; the rows after it were not sent.
        (NoAnswer, ("Unknown", "NoAnswer")),
    ],
)
def test_a_run_stopped_part_way_keeps_the_report(
    tenant, clock, tmp_path, monkeypatch, error, outcome
):
    upns = [f"s{n}@{DOMAIN}" for n in range(7)]  # batches of 2: the third fails
    make_users(tenant, clock, upns)
    seats.purchase_seats(tenant, SYSTEM, "MCOPSTNC", 10, now=clock())
    sheet = write_csv(tmp_path / "stop.csv", "UPN", upns)

    class Failing:
        """The real transport, until the server goes away at the third request."""

        def __init__(self, inner):
            self.inner, self.calls, self.description = inner, 0, inner.description

        def execute(self, query, variables=None):
            self.calls += 1
            if self.calls == 4:  # 1: the SKU catalog, 2-3: two batches
                raise error("cannot reach http://127.0.0.1:9/graphql: connection refused")
            return self.inner.execute(query, variables)

        def close(self):
            self.inner.close()

    monkeypatch.setattr(
        "commcredits.bulk.runner.connect", lambda **kw: Failing(connect(tenant="Fabrikam"))
    )
    argv = ["Set-UserLicense", str(sheet), "-AddLicenses", "MCOPSTNC", "-BatchSize", "2"]
    code, _, err = run(*argv)
    assert code == 2
    summary, line = err.strip().splitlines()
    assert "Set-UserLicense: 7 rows: 4 Assigned" in summary
    assert line.startswith("Set-UserLicense: stopped part way: cannot reach")
    report = report_of(summary)
    assert report.select("Status", "Code").rows() == [
        *(("Assigned", None),) * 4,
        outcome,
        outcome,
        ("NotSent", "RunStopped"),
    ]
    assert LicenseAssignment.select().count() == 4

    # The Python API raises RunStopped with the same report, written to result_path first.
    def failing(**kw):
        return Failing(connect(tenant="Fabrikam"))

    with pytest.raises(RunStopped) as stopped:
        set_user_license(
            pl.DataFrame({"UPN": upns}),
            remove_licenses=["MCOPSTNC"],
            batch_size=2,
            result_path=tmp_path / "api.csv",
            transport=failing(),
        )
    rest = [outcome[0], outcome[0], "NotSent"]
    assert stopped.value.report.frame()["Status"].to_list() == ["Removed"] * 4 + rest
    assert pl.read_csv(tmp_path / "api.csv")["Status"].to_list() == ["Removed"] * 4 + rest


def test_a_first_batch_without_an_answer_keeps_the_report(tenant, tmp_path, monkeypatch):
    """The server applied the first request but its answer was lost (a timeout): the report
    says those rows are Unknown, the rest NotSent, and keeps the rows the client refused."""

    class AnswerLost:
        def __init__(self, inner):
            self.inner, self.description = inner, inner.description

        def execute(self, query, variables=None):
            answer = self.inner.execute(query, variables)
            if "importUserColumns" in query:
                raise NoAnswer("http://127.0.0.1:9/graphql timed out")
            return answer

        def close(self):
            self.inner.close()

    monkeypatch.setattr(
        "commcredits.bulk.runner.connect", lambda **kw: AnswerLost(connect(tenant="Fabrikam"))
    )
    rows = [
        "ann@fabrikam.example",
        "ANN@fabrikam.example",  # refused by the client: a repeat
        "bob@fabrikam.example",
        "cy@fabrikam.example",
    ]
    sheet = write_csv(tmp_path / "new.csv", "UserPrincipalName", rows)
    code, _, err = run("Import-Users", str(sheet), "-UsageLocation", "DE", "-BatchSize", "2")
    assert code == 2, err
    summary, line = err.strip().splitlines()
    assert "timed out" in line
    assert report_of(summary).select("Row", "Status", "Code").rows() == [
        ("2", "Unknown", "NoAnswer"),
        ("3", "Failed", "DuplicateRow"),
        ("4", "Unknown", "NoAnswer"),
        ("5", "NotSent", "RunStopped"),
    ]
    assert User.select().count() == 2  # what the report calls Unknown was applied


def test_an_over_long_cell_fails_its_row_only(tenant, target, tmp_path):
    sheet = write_csv(
        tmp_path / "new.csv",
        "UserPrincipalName,JobTitle,Department",
        [f"a@{DOMAIN},Engineer,IT", f"b@{DOMAIN},{'x' * 129},IT", f"c@{DOMAIN},,{'y' * 65}"],
    )
    code, _, err = run("Import-Users", str(sheet), "-BatchSize", "1", *target)
    assert code == 1, err
    report = report_of(err)
    assert report.select("Status", "Code").rows() == [
        ("Created", None),
        ("Failed", "VALUE_TOO_LONG"),
        ("Failed", "VALUE_TOO_LONG"),
    ]
    assert report["Message"][1].startswith("The JobTitle has 129 characters; the API takes at")
    assert report["Message"][2].startswith("The Department has 65 characters")


def test_a_get_users_export_is_neutralized_and_reads_back_as_written(tenant, target, tmp_path):
    """A Get-Users CSV is opened in Excel as often as a report: a display name like
    `=HYPERLINK(…)` is written as text. Read back (Import-Users, a pipeline), the `'` the writer
    added is dropped again, so the round trip changes nothing."""
    sheet = write_csv(
        tmp_path / "new.csv",
        "UserPrincipalName,DisplayName",
        [f'a@{DOMAIN},"=HYPERLINK(""http://evil.example"",""x"")"', f"b@{DOMAIN},@Bob"],
    )
    assert run("Import-Users", "-Path", str(sheet), *target)[0] == 0
    export = tmp_path / "users.csv"
    code, _, err = run("Get-Users", "-Path", str(export), *target)
    assert code == 0, err
    written = export.read_text()
    assert "'=HYPERLINK(" in written and "'@Bob" in written
    assert not [line for line in written.splitlines() if ",=" in line or ",@" in line]
    code, _, err = run("Import-Users", "-Path", str(export), "-UpdateOnly", *target)
    assert code == 0, err
    assert set(report_of(err)["Status"]) == {"Unchanged"}
    code, out, _ = run("Get-Users", *target)
    assert "'=HYPERLINK(" in out  # stdout is CSV too: the next command (or a file) reads it


@pytest.mark.parametrize(
    ("before", "first"),
    [("", 2), ("\n\n", 4), ("\r\n \r\n", 4), ("sep=,\n", 3), ("sep=,\n\n", 4)],
)
def test_report_rows_are_the_files_lines_after_leading_lines(tenant, tmp_path, before, first):
    """Blank lines before the header, or Excel's `sep=` line, move every row down: a report's
    row is the line an admin finds it on."""
    sheet = tmp_path / "new.csv"
    sheet.write_text(f"{before}UserPrincipalName\nann@fabrikam.example\nbad upn\n")
    code, _, err = run("Import-Users", str(sheet), "-UsageLocation", "DE", "-Tenant", "Fabrikam")
    assert code == 1, err
    assert report_of(err).select("Row", "Status").rows() == [
        (str(first), "Created"),
        (str(first + 1), "Failed"),
    ]


def test_report_rows_are_the_workbooks_rows_below_blank_ones(tenant, tmp_path):
    """A workbook whose header is on row 3 (a styled empty cell above it): the reader skips
    those rows, and the report still numbers the rows as Excel shows them."""
    import xlsxwriter

    path = tmp_path / "new.xlsx"
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet()
    sheet.write_blank(0, 0, None, book.add_format({"bold": True}))
    for r, value in ((2, "UserPrincipalName"), (3, "ann@fabrikam.example"), (5, "bad upn")):
        sheet.write(r, 1, value)
    book.close()
    code, _, err = run("Import-Users", str(path), "-UsageLocation", "DE", "-Tenant", "Fabrikam")
    assert code == 1, err
    assert report_of(err).select("Row", "Status").rows() == [("4", "Created"), ("6", "Failed")]


class _Answers:
    """A loopback HTTP server answering each POST with the next (status, content type, body)."""

    def __init__(self, answers: list[tuple[int, str, bytes]]) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        queue = list(answers)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                self.rfile.read(int(self.headers["Content-Length"]))
                status, kind, body = queue.pop(0)
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/graphql"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize(
    ("answer", "lost"),
    [
        ((504, "text/html", b"<html>Gateway Time-out</html>"), True),
        ((502, "application/json", b'{"message": "bad gateway"}'), True),
        ((500, "text/plain", b"Internal Server Error"), True),
        ((400, "text/plain", b"Bad Request"), False),
    ],
)
def test_a_proxys_answer_in_place_of_the_servers_is_no_answer(answer, lost):
    """A gateway's error page says nothing of what the server did: the rows of that request
    are Unknown (NoAnswer: it may have been applied), not NotSent."""
    from commcredits.bulk.transport import HttpTransport

    server = _Answers([answer])
    transport = HttpTransport(server.url, "cck_test", timeout=5)
    try:
        with pytest.raises(UsageError) as raised:
            transport.execute("query { viewer { role } }")
    finally:
        transport.close()
        server.close()
    assert isinstance(raised.value, NoAnswer) == lost, raised.value
