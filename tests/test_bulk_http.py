"""The bulk commands against a real uvicorn server on a free loopback port, and the batch
mutations they rely on (importUsers, setUsageLocation) through GraphQL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import polars as pl
import pytest

from commcredits.models import LicenseAssignment, User
from commcredits.services import seats
from commcredits.services.access import SYSTEM
from tests.live_server import free_port
from tests.test_bulk import make_users, report_of, run, write_csv

IMPORT = """
mutation($users: [ImportUserInput!]!, $whatIf: Boolean!) {
  importUsers(users: $users, whatIf: $whatIf) {
    whatIf results { index userPrincipalName userId action status userErrors { field code } }
    summary { total applied unchanged failed } userErrors { code }
  }
}
"""
SET_LOCATION = """
mutation($upns: [String!]!, $loc: String!, $whatIf: Boolean!) {
  setUsageLocation(userPrincipalNames: $upns, usageLocation: $loc, whatIf: $whatIf) {
    results { status action userErrors { code } } userErrors { code }
  }
}
"""


@pytest.fixture
def server(db_url, tmp_path) -> Iterator[str]:
    port = free_port()  # reserved: parallel workers never pick it too
    env = {**os.environ, "COMMCREDITS_DATABASE_URL": db_url, "COMMCREDITS_LOG_LEVEL": "WARNING"}
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "commcredits.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError((tmp_path / "server.log").read_text())
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_every_command_over_http(tenant, clock, keys, server, tmp_path):
    seats.purchase_seats(tenant, SYSTEM, "MCOPSTNC", 100, now=clock())
    target = ["-Endpoint", server, "-ApiKey", keys["GLOBAL_ADMIN"]]
    users = write_csv(
        tmp_path / "new.csv",
        "User Name;First Name;Last Name;Country or Region",
        [f"p{i}@fabrikam.example;P{i};Q;Germany" for i in range(30)] + ["bad;X;Y;Z"],
        sep=";",
        bom=True,
    )
    code, _, err = run(
        "Import-Users", str(users), "-UsageLocation", "DE", "-BatchSize", "7", *target
    )
    assert code == 1, err
    report = report_of(err)
    assert report["Status"].value_counts().sort("Status").rows() == [("Created", 30), ("Failed", 1)]

    code, out, _ = run("Get-Users", "-Search", "p1", *target)
    assert code == 0 and pl.read_csv(out.encode()).height == 11  # p1, p10..p19

    code, _, err = run(
        "Set-UsageLocation",
        "-Path",
        str(users),
        "-UsageLocation",
        "AT",
        "-ResultPath",
        str(tmp_path / "loc.parquet"),
        *target,
    )
    assert code == 1, err
    assert pl.read_parquet(tmp_path / "loc.parquet")["Status"].to_list()[:2] == ["Updated"] * 2

    code, _, err = run("Set-UserLicense", str(users), "-AddLicenses", "MCOPSTNC", *target)
    assert code == 1 and LicenseAssignment.select().count() == 30
    code, out, _ = run("Get-LicenseReport", "-HasLicense", "MCOPSTNC", *target)
    assert pl.read_csv(out.encode())["MCOPSTNC"].sum() == 30
    code, out, _ = run("Get-SubscribedSku", *target)
    assert "MCOPSTNC" in out and code == 0

    # a real shell pipeline between two processes
    env = {
        **os.environ,
        "COMMCREDITS_ENDPOINT": server,
        "COMMCREDITS_API_KEY": keys["GLOBAL_ADMIN"],
    }
    exe = os.path.join(os.path.dirname(sys.executable), "commcredits")
    pipeline = subprocess.run(
        f"{exe} Get-Users -HasLicense MCOPSTNC | {exe} Set-UserLicense -Path - "
        "-RemoveLicenses MCOPSTNC -NoProgress",
        shell=True,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert pipeline.returncode == 0, pipeline.stderr
    assert pipeline.stdout.count("Removed") == 30 and LicenseAssignment.select().count() == 0

    code, _, err = run("Get-Users", "-Endpoint", server, "-ApiKey", "cck_nope")
    assert code == 2 and "refused the API key (401)" in err and "Traceback" not in err


def test_import_users_mutation_rows_and_whatif(api, tenant, clock):
    make_users(tenant, clock, ["held@fabrikam.example"])
    seats.purchase_seats(tenant, SYSTEM, "MCOPSTNC", 1, now=clock())
    api(
        'mutation { setUserLicenses(userPrincipalNames: ["held@fabrikam.example"], '
        'addLicenses: [{skuId: "MCOPSTNC"}]) { summary { applied } } }'
    )
    rows = [
        {"userPrincipalName": "new@fabrikam.example", "department": "IT"},
        {"userPrincipalName": "held@fabrikam.example", "usageLocation": "KP"},
        {"userPrincipalName": "held@fabrikam.example", "department": "IT"},
        {"userPrincipalName": "x@@y", "department": "IT"},
        {"userPrincipalName": "held@fabrikam.example", "usageLocation": "de"},
    ]
    what = api(IMPORT, {"users": rows, "whatIf": True})["importUsers"]
    assert [r["status"] for r in what["results"]] == [
        "WOULD_APPLY",
        "FAILED",
        "FAILED",
        "FAILED",
        "FAILED",
    ]
    assert User.select().count() == 1
    done = api(IMPORT, {"users": [rows[0], rows[1], rows[3]], "whatIf": False})["importUsers"]
    assert [(r["action"], r["status"]) for r in done["results"]] == [
        ("CREATED", "APPLIED"),
        (None, "FAILED"),
        (None, "FAILED"),
    ]
    assert done["results"][1]["userErrors"][0]["code"] == "ProhibitedInUsageLocationViolation"
    assert done["results"][2]["userErrors"][0]["code"] == "INVALID_USER_PRINCIPAL_NAME"
    assert done["results"][0]["userId"] and done["summary"] == {
        "total": 3,
        "applied": 1,
        "unchanged": 0,
        "failed": 2,
    }
    again = api(IMPORT, {"users": [rows[0]], "whatIf": False})["importUsers"]
    assert again["results"][0]["status"] == "UNCHANGED"
    too_many = [{"userPrincipalName": f"u{i}@fabrikam.example"} for i in range(1001)]
    assert api(IMPORT, {"users": too_many, "whatIf": True})["importUsers"]["userErrors"] == [
        {"code": "BATCH_TOO_LARGE"}
    ]


def test_set_usage_location_mutation_and_roles(api, api_as, tenant, clock):
    make_users(tenant, clock, ["a@fabrikam.example", "b@fabrikam.example"], location=None)
    variables = {
        "upns": ["a@fabrikam.example", "ghost@fabrikam.example"],
        "loc": "fr",
        "whatIf": False,
    }
    reader = api_as("READER")(SET_LOCATION, variables)["setUsageLocation"]
    assert reader["userErrors"] == [{"code": "FORBIDDEN"}]
    payload = api(SET_LOCATION, variables)["setUsageLocation"]
    assert [(r["status"], r["action"]) for r in payload["results"]] == [
        ("APPLIED", "UPDATED"),
        ("FAILED", None),
    ]
    assert payload["results"][1]["userErrors"] == [{"code": "NOT_FOUND"}]
    assert User.get(User.upn_key == "a@fabrikam.example").usage_location == "FR"
    bad = api(SET_LOCATION, {**variables, "loc": "XX"})["setUsageLocation"]
    assert bad["results"][0]["userErrors"] == [{"code": "INVALID_USAGE_LOCATION"}]
