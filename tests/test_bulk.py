"""The bulk layer end to end, in-process: sheets in, batched GraphQL, reports out, exit codes."""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter

from commcredits.bulk import cli, get_users, set_user_license
from commcredits.models import AuditEntry, LicenseAssignment, User
from commcredits.services import seats, user_import
from commcredits.services.access import SYSTEM
from commcredits.services.users import UserFields

M365_HEADER = (
    "User Name,First Name,Last Name,Display Name,Job Title,Department,Office Number,"
    "Office Phone,Mobile Phone,Fax,Alternate email address,Address,City,State or Province,"
    "ZIP or Postal Code,Country or Region"
)
M365_OLD_HEADER = (
    "User Name,First Name,Last Name,Display Name,Job Title,Department,Office Number,"
    "Office Phone,Mobile Phone,Fax,Address,City,State or Province,ZIP or Postal Code,"
    "Country or Region"
)


def run(*argv: str, stdin: bytes = b"") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.run(list(argv), stdin=io.BytesIO(stdin), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def report_of(err: str) -> pl.DataFrame:
    """The report a run wrote, read from the file its summary line names."""
    path = err.strip().splitlines()[-1].rsplit("; report: ", 1)[1]
    return pl.read_csv(path, infer_schema=False)


def make_users(tenant, clock, upns: list[str], *, location: str | None = "DE") -> None:
    for start in range(0, len(upns), 1000):
        rows = [
            UserFields(user_principal_name=u, usage_location=location)
            for u in upns[start : start + 1000]
        ]
        outcomes = user_import.upsert_users(tenant, SYSTEM, rows, now=clock())
        assert all(o.ok for o in outcomes)


def write_csv(path: Path, header: str, rows: list[str], *, sep=",", bom=False) -> Path:
    text = "\n".join([header.replace(",", sep), *rows]) + "\n"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def write_xlsx(path: Path, header: list[str], rows: list[list]) -> Path:
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet("Users")
    sheet.write_row(0, 0, header)
    for n, row in enumerate(rows, start=1):
        sheet.write_row(n, 0, row)
    book.close()
    return path


def counts() -> tuple[int, int, int]:
    return User.select().count(), LicenseAssignment.select().count(), AuditEntry.select().count()


@pytest.fixture
def fabrikam(tenant, clock):
    seats.purchase_seats(tenant, SYSTEM, "MCOPSTNC", 20_000, now=clock())
    seats.purchase_seats(tenant, SYSTEM, "MCOEV", 5, now=clock())
    make_users(tenant, clock, [f"user{i}@fabrikam.example" for i in range(5)])
    make_users(tenant, clock, ["nolocation@fabrikam.example"], location=None)
    return tenant


def test_set_user_license_whatif_then_apply_then_rerun(fabrikam, tmp_path):
    sheet = write_csv(
        tmp_path / "users.csv",
        "UserPrincipalName,Department",
        [
            "user0@fabrikam.example,Sales",
            "USER1@fabrikam.example,Sales",
            ",",
            "nolocation@fabrikam.example,IT",
            "ghost@fabrikam.example,IT",
            "not a upn,IT",
            "user1@fabrikam.example,Sales",
        ],
    )
    before = counts()
    code, _, err = run(
        "Set-UserLicense",
        "-Path",
        str(sheet),
        "-AddLicenses",
        "MCOPSTNC",
        "-WhatIf",
        "-Tenant",
        "Fabrikam",
    )
    assert code == 1, err
    assert counts() == before  # -WhatIf writes nothing
    report = report_of(err)
    assert report["Status"].to_list() == [
        "WouldAssign",
        "WouldAssign",
        "WouldFail",
        "WouldFail",
        "WouldFail",
        "WouldFail",
    ]
    assert report["Message"][0] == "MCOPSTNC would be assigned"
    assert "What if:" in err and "1 blank row skipped" in err

    code, _, err = run(
        "Set-UserLicense", "-Path", str(sheet), "-AddLicenses", "MCOPSTNC", "-Tenant", "Fabrikam"
    )
    assert code == 1
    report = report_of(err)
    assert report.select("Row", "Status", "Code").rows() == [
        ("2", "Assigned", None),
        ("3", "Assigned", None),
        ("5", "Failed", "ProhibitedInUsageLocationViolation"),
        ("6", "Failed", "NOT_FOUND"),
        ("7", "Failed", "NOT_FOUND"),
        ("8", "Failed", "DuplicateRow"),
    ]
    assert (
        report["Message"][5]
        == "user1@fabrikam.example already appears in row 3; this row was not sent."
    )
    assert report["Action"][0] == "Add MCOPSTNC"
    assert LicenseAssignment.select().count() == before[1] + 2

    code, _, err = run(
        "Set-UserLicense", "-Path", str(sheet), "-AddLicenses", "MCOPSTNC", "-Tenant", "Fabrikam"
    )
    report = report_of(err)
    assert report["Status"].to_list()[:2] == ["Unchanged", "Unchanged"]
    assert LicenseAssignment.select().count() == before[1] + 2
    # No run overwrote another's report: -WhatIf, the real run and the re-run each kept theirs.
    assert sorted(p.name for p in tmp_path.glob("users.*.csv")) == [
        "users.result.2.csv",
        "users.result.csv",
        "users.whatif.result.csv",
    ]
    assert err.rstrip().endswith(f"report: {tmp_path / 'users.result.2.csv'}")


def test_per_row_license_columns_and_remove(fabrikam, tmp_path):
    sheet = write_csv(
        tmp_path / "rows.csv",
        "upn;AddLicenses;RemoveLicenses",
        [
            "user0@fabrikam.example;MCOEV+MCOPSTNC;",
            "user1@fabrikam.example;mcoev;",
            "user2@fabrikam.example;;MCOPSTNC",
        ],
        sep=";",
    )
    code, _, err = run(
        "Set-UserLicense",
        str(sheet),
        "-Tenant",
        "Fabrikam",
        "-ResultPath",
        str(tmp_path / "out.xlsx"),
    )
    assert code == 0, err
    report = pl.read_excel(tmp_path / "out.xlsx")
    assert report["Status"].to_list() == ["Assigned", "Assigned", "Unchanged"]
    assert report["Message"][0] == "MCOEV assigned; MCOPSTNC assigned"
    code, _, _ = run(
        "Set-UserLicense",
        str(sheet),
        "-RemoveLicenses",
        "MCOEV",
        "-Tenant",
        "Fabrikam",
        "-ResultPath",
        str(tmp_path / "out.json"),
    )
    # user0: +MCOPSTNC and -MCOEV conflict with its own AddLicenses cell -> that row fails
    report = pl.read_json(tmp_path / "out.json")
    assert report["Code"][0] == "InvalidLicenseOperation"


def test_a_cell_that_repeats_the_command_s_change_keeps_its_place_for_seats(
    fabrikam, tenant, clock, tmp_path
):
    """Seats go in sheet order, whether a row names the command's SKU again or not."""
    make_users(tenant, clock, [f"late{i}@fabrikam.example" for i in range(3)])
    sheet = write_csv(
        tmp_path / "seats.csv",
        "UserPrincipalName,AddLicenses",
        [
            *(f"user{i}@fabrikam.example," for i in range(3)),
            "user3@fabrikam.example,MCOEV",  # the same change as -AddLicenses, in a cell
            "user4@fabrikam.example,",  # MCOEV has 5 seats: this row takes the last one
            "late0@fabrikam.example,MCOEV",
            "late1@fabrikam.example,",
        ],
    )
    code, _, err = run(
        "Set-UserLicense", "-Path", str(sheet), "-AddLicenses", "MCOEV", "-Tenant", "Fabrikam"
    )
    assert code == 1, err
    report = report_of(err)
    assert report.select("Row", "Status", "Code").rows() == [
        *((str(r), "Assigned", None) for r in range(2, 7)),
        ("7", "Failed", "CountViolation"),
        ("8", "Failed", "CountViolation"),
    ]


def test_ten_thousand_rows_with_three_percent_bad(tenant, clock, tmp_path):
    seats.purchase_seats(tenant, SYSTEM, "MCOPSTNC", 20_000, now=clock())
    good = [f"u{i:05d}@fabrikam.example" for i in range(9_800)]
    make_users(tenant, clock, good[:9_700])
    make_users(tenant, clock, good[9_700:], location=None)  # 100 without usage location
    rows = list(good)
    rows += [f"ghost{i}@fabrikam.example" for i in range(100)]  # unknown users
    rows += [f"bad upn {i}" for i in range(50)]  # malformed
    rows += good[:50]  # duplicates, reported on the second occurrence
    sheet = write_csv(tmp_path / "big.csv", "User principal name", rows)
    code, _, err = run(
        "Set-UserLicense", "-Path", str(sheet), "-AddLicenses", "MCOPSTNC", "-Tenant", "Fabrikam"
    )
    assert code == 1, err
    report = report_of(err)
    assert report.height == 10_000
    by_code = dict(report.group_by("Code").len().rows())
    assert by_code == {
        None: 9_700,
        "ProhibitedInUsageLocationViolation": 100,
        "NOT_FOUND": 150,
        "DuplicateRow": 50,
    }
    assert LicenseAssignment.select().count() == 9_700
    code, _, err = run(
        "Set-UserLicense", "-Path", str(sheet), "-AddLicenses", "MCOPSTNC", "-Tenant", "Fabrikam"
    )
    report = report_of(err)
    statuses = dict(report.group_by("Status").len().rows())
    assert statuses == {"Unchanged": 9_700, "Failed": 300}


def test_import_users_m365_template_csv_bom_semicolon(tenant, tmp_path):
    sheet = write_csv(
        tmp_path / "Add multiple users.csv",
        M365_HEADER,
        [
            "chris@fabrikam.example;Chris;Green;Chris Green;IT Manager;IT;123451;123-555-1211;"
            "123-555-6641;123-555-9821;chris@other.example;1 Microsoft Way;Redmond;WA;98052;"
            "United States",
            "ben@fabrikam.example;Ben;Andrews;Ben Andrews;IT Manager;IT;123452;;;;;;Redmond;;;",
            ";;;;;;;;;;;;;;;",
            "not-a-upn;X;Y;;;;;;;;;;;;;",
        ],
        sep=";",
        bom=True,
    )
    before = counts()
    code, _, err = run(
        "Import-Users",
        "-Path",
        str(sheet),
        "-UsageLocation",
        "US",
        "-Tenant",
        "Fabrikam",
        "-WhatIf",
    )
    assert code == 1 and counts() == before
    code, _, err = run(
        "Import-Users", "-Path", str(sheet), "-UsageLocation", "US", "-Tenant", "Fabrikam"
    )
    assert code == 1, err
    assert "columns not imported" not in err  # every column of the template is kept (issue 12)
    report = report_of(err)
    assert report.select("Row", "Status", "Code").rows() == [
        ("2", "Created", None),
        ("3", "Created", None),
        ("5", "Failed", "INVALID_USER_PRINCIPAL_NAME"),
    ]
    chris = User.get(User.upn_key == "chris@fabrikam.example")
    assert (chris.given_name, chris.surname, chris.job_title, chris.office_location) == (
        "Chris",
        "Green",
        "IT Manager",
        "123451",
    )
    assert (chris.mobile_phone, chris.city, chris.country, chris.usage_location) == (
        "123-555-6641",
        "Redmond",
        "United States",
        "US",
    )
    code, _, err = run(
        "Import-Users", "-Path", str(sheet), "-UsageLocation", "US", "-Tenant", "Fabrikam"
    )
    report = report_of(err)
    assert report["Status"].to_list() == ["Unchanged", "Unchanged", "Failed"]


def test_import_users_old_template_xlsx_and_update(tenant, tmp_path):
    header = M365_OLD_HEADER.split(",")
    rows = [
        [
            "anna@fabrikam.example",
            "Anna",
            "Berg",
            "Anna Berg",
            "Engineer",
            "R&D",
            4711,
            None,
            "0171 555",
            None,
            None,
            "Berlin",
            None,
            10115,
            "Germany",
        ],
        [
            "otto@fabrikam.example",
            "Otto",
            "Kern",
            None,
            None,
            "R&D",
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
        ],
    ]
    book = write_xlsx(tmp_path / "users.xlsx", header, rows)
    code, _, err = run("Import-Users", str(book), "-Tenant", "Fabrikam")
    assert code == 0, err
    anna = User.get(User.upn_key == "anna@fabrikam.example")
    assert anna.office_location == "4711"  # a number in Excel, a string here
    assert anna.usage_location is None and anna.department == "R&D"
    update = write_xlsx(
        tmp_path / "update.xlsx",
        ["UPN", "Department", "Usage location"],
        [["anna@fabrikam.example", "Sales", "de"], ["nobody@fabrikam.example", "X", ""]],
    )
    code, _, err = run("Import-Users", str(update), "-Tenant", "Fabrikam", "-UpdateOnly")
    report = report_of(err)
    assert report.select("Status", "Code").rows() == [("Updated", None), ("Failed", "NOT_FOUND")]
    anna = User.get(User.upn_key == "anna@fabrikam.example")
    assert (anna.department, anna.usage_location, anna.given_name) == ("Sales", "DE", "Anna")


def test_get_users_pipes_into_set_usage_location_and_set_user_license(fabrikam, tmp_path):
    code, out, _ = run("Get-Users", "-UsageLocation", "", "-Tenant", "Fabrikam")
    assert code == 0 and "nolocation@fabrikam.example" in out
    code, report, err = run(
        "Set-UsageLocation",
        "-Path",
        "-",
        "-UsageLocation",
        "at",
        "-Tenant",
        "Fabrikam",
        stdin=out.encode(),
    )
    assert code == 0, err
    assert (
        "Updated" in report
        and User.get(User.upn_key == "nolocation@fabrikam.example").usage_location == "AT"
    )
    # the pipeline as a shell runs it, in-process
    code = cli.run_pipeline(
        cli.split_pipeline(
            "commcredits Get-Users -UsageLocation AT -Tenant Fabrikam | "
            "Set-UserLicense -Path - --add-licenses MCOPSTNC -tenant Fabrikam"
        ),
        stdin=io.BytesIO(),
        stdout=(out := io.StringIO()),
        stderr=io.StringIO(),
    )
    assert code == 0 and "Assigned" in out.getvalue()


def test_get_license_report_and_subscribed_sku(fabrikam, tmp_path):
    run(
        "Set-UserLicense",
        "-Path",
        "-",
        "-AddLicenses",
        "MCOEV",
        "-Tenant",
        "Fabrikam",
        stdin=b"UPN\nuser0@fabrikam.example\n",
    )
    code, _, err = run(
        "Get-LicenseReport", "-Path", str(tmp_path / "lic.xlsx"), "-Tenant", "Fabrikam"
    )
    assert code == 0, err
    frame = pl.read_excel(tmp_path / "lic.xlsx")
    row = frame.filter(pl.col("UserPrincipalName") == "user0@fabrikam.example")
    assert row["MCOEV"][0] == 1 and row["MCOPSTNC"][0] == 0
    code, out, _ = run("Get-SubscribedSku", "-Tenant", "Fabrikam")
    skus = pl.read_csv(io.StringIO(out))
    assert skus.filter(pl.col("SkuPartNumber") == "MCOEV")["ConsumedUnits"][0] == 1


def test_invoke_script_stops_at_first_failure_unless_continue(fabrikam, tmp_path):
    script = tmp_path / "nightly.ccs"
    script.write_text(
        "# assign credits to everyone in Germany\n"
        "\n"
        "commcredits Get-Users -UsageLocation DE -Tenant Fabrikam | "
        "commcredits Set-UserLicense -Path - -AddLicenses MCOPSTNC -Tenant Fabrikam\n"
        "Set-UserLicense -Path missing.csv -AddLicenses MCOPSTNC -Tenant Fabrikam\n"
        f"Get-SubscribedSku -Tenant Fabrikam -Path '{tmp_path / 'skus.csv'}'\n"
    )
    code, out, err = run("Invoke-Script", str(script))
    assert code == 2 and "missing.csv: file not found" in err and "stopped at" in err
    assert out.count("Assigned") == 5 and not (tmp_path / "skus.csv").exists()
    code, _, err = run("Invoke-Script", str(script), "-ErrorAction", "Continue")
    assert code == 2 and (tmp_path / "skus.csv").exists()


def test_bad_input_is_one_line_and_exit_2(fabrikam, tmp_path):
    before = counts()
    (tmp_path / "protected.xlsx").write_bytes(b"\xd0\xcf\x11\xe0 not a zip")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "blank.csv").write_text("UserPrincipalName\n\n,\n")
    (tmp_path / "nokey.csv").write_text("Name,Dept\nx,y\n")
    (tmp_path / "ok.csv").write_text("UPN\nuser0@fabrikam.example\n")
    (tmp_path / "users.txt.gz").write_text("x")
    cases = [
        (["-Path", str(tmp_path / "nope.csv")], "file not found"),
        (["-Path", str(tmp_path / "users.txt.gz")], "unsupported file type '.gz'"),
        (["-Path", str(tmp_path / "protected.xlsx")], "cannot read the workbook"),
        (["-Path", str(tmp_path / "empty.csv")], "the sheet is empty"),
        (["-Path", str(tmp_path / "blank.csv")], "no rows"),
        (
            ["-Path", str(tmp_path / "nokey.csv")],
            "headers found: 'Name', 'Dept'; accepted: 'UserPrincipalName'",
        ),
        (["-Path", str(tmp_path / "ok.csv"), "-AddLicenses", "NOPE"], "unknown SKU 'NOPE'"),
        (["-Path", str(tmp_path / "ok.csv"), "-Bogus", "1"], "unknown parameter '-Bogus'"),
        (["-Path", str(tmp_path / "ok.csv"), "-Tenant", "Nobody"], "no tenant named 'Nobody'"),
    ]
    for extra, message in cases:
        argv = ["Set-UserLicense", *extra]
        if "-Tenant" not in extra:
            argv += ["-Tenant", "Fabrikam"]
        if "-AddLicenses" not in extra:
            argv += ["-AddLicenses", "MCOPSTNC"]
        code, _, err = run(*argv)
        assert code == 2, (extra, err)
        assert message in err, (message, err)
        assert err.count("\n") == 1 and "Traceback" not in err
    code, _, err = run(
        "Set-UserLicense",
        str(tmp_path / "ok.csv"),
        "-AddLicenses",
        "MCOPSTNC",
        "-ApiKey",
        "cck_wrong",
    )
    assert code == 2 and "invalid or revoked" in err
    code, _, err = run(
        "Set-UserLicense",
        str(tmp_path / "ok.csv"),
        "-AddLicenses",
        "MCOPSTNC",
        "-Endpoint",
        "http://127.0.0.1:9",
        "-ApiKey",
        "cck_x",
    )
    assert code == 2 and "cannot reach http://127.0.0.1:9/graphql" in err
    assert counts() == before


def test_reader_key_is_refused_with_exit_2(fabrikam, keys, tmp_path):
    code, _, err = run(
        "Set-UserLicense",
        "-Path",
        "-",
        "-AddLicenses",
        "MCOPSTNC",
        "-ApiKey",
        keys["READER"],
        stdin=b"UPN\nuser0@fabrikam.example\n",
    )
    assert code == 2 and "FORBIDDEN" in err
    code, out, _ = run("Get-Users", "-ApiKey", keys["READER"], "-Top", "2")
    assert code == 0 and out.count("\n") == 3


def test_parameters_help_and_styles(fabrikam):
    code, out, _ = run("help")
    assert code == 0 and "Set-UserLicense" in out and "Exit codes" in out
    code, out, _ = run("help", "set-userlicense")
    assert "SYNTAX" in out and "EXAMPLE" in out and "-AddLicenses" in out
    assert run("Import-Users", "-?")[1].startswith("Import-Users:")
    assert "EXAMPLE" in run("Get-Users", "--help")[1]
    stdin = b"UPN\nuser0@fabrikam.example\n"
    code, out, _ = run(
        "set-userlicense",
        "--path",
        "-",
        "--ADD-LICENSES",
        "mcopstnc",
        "-whatif:$true",
        "--tenant=Fabrikam",
        stdin=stdin,
    )
    assert code == 0 and "WouldAssign" in out
    code, out, _ = run(
        "Set-UserLicense",
        "-Path",
        "-",
        "-AddLicenses",
        "MCOEV,",
        "MCOPSTNC",
        "-WhatIf:$false",
        "-Tenant",
        "Fabrikam",
        "-BatchSize",
        "1",
        stdin=stdin,
    )
    assert code == 0 and "MCOEV assigned; MCOPSTNC assigned" in out
    assert (
        run(
            "Set-UserLicense",
            "-Path",
            "-",
            "-BatchSize",
            "5000",
            "-AddLicenses",
            "MCOEV",
            "-Tenant",
            "Fabrikam",
            stdin=stdin,
        )[0]
        == 2
    )


def test_python_api_takes_and_returns_dataframes(fabrikam):
    frame = pl.DataFrame(
        {"UserPrincipalName": ["user3@fabrikam.example", "ghost@fabrikam.example"]}
    )
    report = set_user_license(frame, add_licenses=["MCOPSTNC"], tenant="Fabrikam")
    assert report.select("Row", "Status").rows() == [(1, "Assigned"), (2, "Failed")]
    users = get_users(has_license="MCOPSTNC", tenant="Fabrikam")
    assert users["UserPrincipalName"].to_list() == ["user3@fabrikam.example"]
