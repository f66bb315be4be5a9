"""Issue 12, items 1 and 2: seats go in sheet order whatever shape a row has, -WhatIf says what
the real run then does, and a bad cell fails its row only — in-process and against a real
server; and the setUserLicenses arguments this rests on (changes, changeIndexes,
priorSeatChanges, seatChanges)."""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl
import pytest

from commcredits.models import AuditEntry, LicenseAssignment, Sku, User
from commcredits.services import seats
from commcredits.services.access import SYSTEM
from tests.live_server import live_server
from tests.test_bulk import counts, make_users, report_of, run, write_csv, write_xlsx

DOMAIN = "contoso.example"


@pytest.fixture(params=["in-process", "http"])
def target(request, db_url, keys, tmp_path) -> Iterator[list[str]]:
    """The parameters that pick where commands run: this process, or a real server."""
    if request.param == "in-process":
        yield ["-Tenant", "Fabrikam"]
        return
    with live_server(db_url, tmp_path) as server:
        yield ["-Endpoint", server.url, "-ApiKey", keys["GLOBAL_ADMIN"]]


def held(sku: str) -> list[str]:
    """The users holding `sku`, by user principal name, sorted."""
    query = (
        User.select(User.user_principal_name)
        .join(LicenseAssignment)
        .join(Sku)
        .where(Sku.part_number == sku)
    )
    return sorted(u.user_principal_name for u in query)


def test_the_issue_s_sheet_seats_in_sheet_order_and_what_if_tells_the_truth(
    tenant, clock, target, tmp_path
):
    """50 new users, 15 free MCOPSTNC seats, rows 2–4 with an AddLicenses cell of their own,
    batches of 7 rows: -WhatIf and the real run give the 15 seats to rows 2–16."""
    upns = [f"user{n:02d}@{DOMAIN}" for n in range(50)]
    make_users(tenant, clock, upns)
    for sku, units in (("MCOPSTNC", 15), ("MCOEV", 5), ("MCOPSTN1", 5)):
        seats.purchase_seats(tenant, SYSTEM, sku, units, now=clock())
    rows = [[upn, "MCOEV; MCOPSTN1" if n < 3 else None] for n, upn in enumerate(upns)]
    book = write_xlsx(tmp_path / "users.xlsx", ["UserPrincipalName", "AddLicenses"], rows)
    argv = ["Set-UserLicense", "-Path", str(book), "-AddLicenses", "MCOPSTNC", "-BatchSize", "7"]

    before = counts()
    code, _, err = run(*argv, "-WhatIf", *target)
    assert code == 1, err
    assert counts() == before
    what_if = report_of(err)
    assert "What if: Set-UserLicense: 50 rows: 35 WouldFail, 15 WouldAssign" in err

    code, _, err = run(*argv, "-ResultPath", str(tmp_path / "real.csv"), *target)
    assert code == 1, err
    real = pl.read_csv(tmp_path / "real.csv", infer_schema=False)
    assert real.select("Row", "Status", "Code").rows() == [
        *((str(r), "Assigned", None) for r in range(2, 17)),
        *((str(r), "Failed", "CountViolation") for r in range(17, 52)),
    ]
    assert real["Message"][0] == "MCOPSTNC assigned; MCOEV assigned; MCOPSTN1 assigned"
    assert real["Action"][0] == "Add MCOPSTNC; Add MCOEV; Add MCOPSTN1"
    assert what_if["Status"].to_list() == ["WouldAssign"] * 15 + ["WouldFail"] * 35
    assert what_if.select("Row", "Code").rows() == real.select("Row", "Code").rows()
    assert held("MCOPSTNC") == upns[:15]
    assert held("MCOEV") == held("MCOPSTN1") == upns[:3]


def test_a_bad_cell_fails_its_row_and_the_others_proceed(tenant, clock, target, tmp_path):
    upns = [f"u{n}@{DOMAIN}" for n in range(6)]
    make_users(tenant, clock, upns)
    seats.purchase_seats(tenant, SYSTEM, "MCOPSTNC", 10, now=clock())
    seats.purchase_seats(tenant, SYSTEM, "MCOEV", 10, now=clock())
    sheet = write_csv(
        tmp_path / "cells.csv",
        "UserPrincipalName,AddLicenses,RemoveLicenses,DisabledPlans",
        [
            f"{upns[0]},,,",
            f"{upns[1]},NOPE;MCOEV,,",
            f"{upns[2]},,BOGUS,",
            f"{upns[3]},MCOEV,,NOPE:MCOEV",
            f"{upns[4]},,,MCOEV",  # a plan of MCOEV, but the row adds MCOPSTNC only
            f"{upns[5]},mcoev,,",
        ],
    )
    for what_if, prefix in ((["-WhatIf"], "Would"), ([], "")):
        code, _, err = run(
            "Set-UserLicense", str(sheet), "-AddLicenses", "MCOPSTNC", *what_if, *target
        )
        assert code == 1, err
        report = report_of(err)
        fail, assign = ("WouldFail", "WouldAssign") if prefix else ("Failed", "Assigned")
        assert report.select("Row", "Status", "Code").rows() == [
            ("2", assign, None),
            ("3", fail, "InvalidSku"),
            ("4", fail, "InvalidSku"),
            ("5", fail, "InvalidSku"),
            ("6", fail, "InvalidServicePlan"),
            ("7", assign, None),
        ]
        messages = report["Message"].to_list()
        assert "Unknown SKU 'NOPE' in AddLicenses" in messages[1]
        assert "Unknown SKU 'BOGUS' in RemoveLicenses" in messages[2]
        assert "Unknown SKU 'NOPE' in DisabledPlans" in messages[3]
        assert "Service plan 'MCOEV' is not part of any SKU this row adds (MCOPSTNC)" in messages[4]
        assert report["Action"][1] == "Add MCOPSTNC; Add NOPE; Add MCOEV"
    assert held("MCOPSTNC") == [upns[0], upns[5]] and held("MCOEV") == [upns[5]]


def test_a_bad_parameter_stops_the_run_before_anything_is_sent(tenant, clock, target, tmp_path):
    make_users(tenant, clock, [f"u0@{DOMAIN}"])
    seats.purchase_seats(tenant, SYSTEM, "MCOPSTNC", 10, now=clock())
    sheet = write_csv(tmp_path / "one.csv", "UPN,AddLicenses", [f"u0@{DOMAIN},MCOEV"])
    before = counts()
    for bad in (["-AddLicenses", "NOPE"], ["-RemoveLicenses", "MCOPSTNC,BOGUS"]):
        code, out, err = run("Set-UserLicense", str(sheet), *bad, *target)
        assert code == 2 and out == "" and err.count("\n") == 1, err
        assert "unknown SKU" in err and ("'NOPE'" in err or "'BOGUS'" in err)
    assert counts() == before and not (tmp_path / "one.result.csv").exists()
    assert AuditEntry.select().where(AuditEntry.action.startswith("assignLicense")).count() == 0


# -- the mutation the bulk layer sends -----------------------------------------------------------

SET = """
mutation($upns: [String!]!, $add: [AssignedLicenseInput!], $remove: [ID!],
         $whatIf: Boolean!, $changes: [LicenseChangeInput!], $indexes: [Int],
         $prior: [SeatChangeInput!]) {
  setUserLicenses(userPrincipalNames: $upns, addLicenses: $add, removeLicenses: $remove,
                  whatIf: $whatIf, changes: $changes, changeIndexes: $indexes,
                  priorSeatChanges: $prior) {
    statuses
    results { userErrors { code } }
    seatChanges { skuId skuPartNumber units }
    userErrors { field code message }
  }
}
"""


def test_set_user_licenses_changes_in_input_order_and_seat_changes(api, tenant, clock):
    upns = [f"m{n}@{DOMAIN}" for n in range(5)]
    make_users(tenant, clock, upns)
    seats.purchase_seats(tenant, SYSTEM, "MCOEV", 2, now=clock())
    seats.purchase_seats(tenant, SYSTEM, "MCOPSTNC", 5, now=clock())
    base = {"upns": upns, "add": [{"skuId": "MCOPSTNC"}], "whatIf": False}
    # Items 1 and 3 also add MCOEV (2 seats): they get them, before and after plain items.
    mixed = {
        **base,
        "changes": [{"addLicenses": [{"skuId": "MCOPSTNC"}, {"skuId": "MCOEV"}]}],
        "indexes": [None, 0, None, 0, 0],
    }
    what = api(SET, {**mixed, "whatIf": True})["setUserLicenses"]
    assert what["statuses"] == ["WOULD_APPLY"] * 4 + ["FAILED"]
    assert what["results"][4]["userErrors"] == [{"code": "CountViolation"}]
    assert sorted((s["skuPartNumber"], s["units"]) for s in what["seatChanges"]) == [
        ("MCOEV", 2),
        ("MCOPSTNC", 4),
    ]
    done = api(SET, mixed)["setUserLicenses"]
    assert done["statuses"] == ["APPLIED"] * 4 + ["FAILED"]
    assert done["seatChanges"] == what["seatChanges"]
    assert held("MCOEV") == [upns[1], upns[3]]
    freed = api(SET, {"upns": upns[:2], "remove": ["MCOEV"], "whatIf": False})["setUserLicenses"]
    assert freed["statuses"] == ["UNCHANGED", "APPLIED"]
    assert [(s["skuPartNumber"], s["units"]) for s in freed["seatChanges"]] == [("MCOEV", -1)]


def test_prior_seat_changes_carry_a_dry_run_across_batches(api, tenant, clock):
    upns = [f"p{n}@{DOMAIN}" for n in range(3)]
    make_users(tenant, clock, upns)
    seats.purchase_seats(tenant, SYSTEM, "MCOEV", 2, now=clock())
    add = [{"skuId": "MCOEV"}]
    first = api(SET, {"upns": upns[:2], "add": add, "whatIf": True})["setUserLicenses"]
    prior = [{"skuId": s["skuId"], "units": s["units"]} for s in first["seatChanges"]]
    assert prior == [{"skuId": "e43b5b99-8dfb-405f-9987-dc307f34bcbd", "units": 2}]
    alone = api(SET, {"upns": upns[2:], "add": add, "whatIf": True})["setUserLicenses"]
    assert alone["statuses"] == ["WOULD_APPLY"]  # without the earlier batch: a seat is free
    after = api(SET, {"upns": upns[2:], "add": add, "whatIf": True, "prior": prior})
    assert after["setUserLicenses"]["statuses"] == ["FAILED"]  # as the real run will say
    # A batch that frees seats makes room for the next one's, by part number too.
    room = [{"skuId": "MCOEV", "units": -1}]
    assert api(SET, {"upns": upns[2:], "add": add, "whatIf": True, "prior": prior + room})[
        "setUserLicenses"
    ]["statuses"] == ["WOULD_APPLY"]


@pytest.mark.parametrize(
    ("variables", "code", "field"),
    [
        ({"prior": [{"skuId": "MCOEV", "units": 1}]}, "WHAT_IF_REQUIRED", "priorSeatChanges"),
        (
            {"whatIf": True, "prior": [{"skuId": "NOPE", "units": 1}]},
            "InvalidSku",
            "priorSeatChanges.0.skuId",
        ),
        ({"indexes": [None]}, "INVALID_CHANGE_INDEXES", "changeIndexes"),
        ({"changes": [{"removeLicenses": ["MCOEV"]}]}, "INVALID_CHANGE_INDEXES", "changeIndexes"),
        (
            {"changes": [{"removeLicenses": ["MCOEV"]}], "indexes": [0, 1]},
            "INVALID_CHANGE_INDEXES",
            "changeIndexes.1",
        ),
    ],
)
def test_set_user_licenses_refuses_a_malformed_batch_whole(api, tenant, variables, code, field):
    base = {"upns": [f"a@{DOMAIN}", f"b@{DOMAIN}"], "add": [{"skuId": "MCOEV"}], "whatIf": False}
    payload = api(SET, {**base, **variables})["setUserLicenses"]
    assert payload["statuses"] == [] and payload["seatChanges"] == []
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [(code, field)]
    assert LicenseAssignment.select().count() == 0
