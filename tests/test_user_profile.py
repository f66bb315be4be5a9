"""Issue 12, item 5: the whole Microsoft 365 user template on the user, and usage locations
given as codes or country names (English, German, alpha-2, alpha-3) — in the API, in
Import-Users / Set-UsageLocation / Get-Users in-process, and against a real server."""

from __future__ import annotations

import importlib
from pathlib import Path

import polars as pl
import pytest

from commcredits import db as database
from commcredits.bulk.transport import LocalTransport
from commcredits.migrate import migrate
from commcredits.models import User
from commcredits.services import countries
from tests.test_bulk import M365_HEADER, report_of, run, write_csv
from tests.test_bulk_http import server  # noqa: F401 - the real-server fixture

PROFILE = """
  userPrincipalName givenName surname jobTitle department officeLocation businessPhones
  mobilePhone faxNumber otherMails streetAddress city state postalCode country usageLocation
"""
CREATE = (
    "mutation($input: CreateUserInput!) { createUser(input: $input) { user {"
    + PROFILE
    + "} userErrors { field code message } } }"
)
UPDATE = (
    "mutation($input: UpdateUserInput!) { updateUser(input: $input) { user {"
    + PROFILE
    + "} userErrors { field code message } } }"
)
IMPORT = """
mutation($users: [ImportUserInput!]!, $whatIf: Boolean!) {
  importUsers(users: $users, whatIf: $whatIf) {
    results { action status usageLocation userErrors { field code } }
  }
}"""
SET_LOCATION = """
mutation($upns: [String!]!, $loc: String!) {
  setUsageLocation(userPrincipalNames: $upns, usageLocation: $loc) {
    results { status usageLocation userErrors { code } }
  }
}"""
USERS = "query($f: UserFilter) { users(filter: $f) { nodes { userPrincipalName } } }"

ADA = {
    "userPrincipalName": "ada@fabrikam.example",
    "givenName": "Ada",
    "surname": "Lovelace",
    "jobTitle": "Analyst",
    "department": "R&D",
    "officeLocation": "B 12",
    "businessPhones": ["+49 30 555 0100"],
    "mobilePhone": "+49 171 555 0101",
    "faxNumber": "+49 30 555 0199",
    "otherMails": ["ada@home.example", "a.lovelace@other.example"],
    "streetAddress": "Unter den Linden 1",
    "city": "Berlin",
    "state": "Berlin",
    "postalCode": "10117",
    "country": "Deutschland",
}

# The admin center's "Add multiple users" sample rows, with the country written four ways.
TEMPLATE_ROWS = [
    "chris@fabrikam.example;Chris;Green;Chris Green;IT Manager;IT;123451;123-555-1211;"
    "123-555-6641;123-555-9821;chris@other.example;1 Microsoft Way;Redmond;WA;98052;"
    "United States",
    "ben@fabrikam.example;Ben;Andrews;Ben Andrews;IT Manager;IT;123452;123-555-1212;"
    "123-555-6642;123-555-9822;ben@other.example, ben2@other.example;1 Microsoft Way;"
    "Redmond;WA;98052;Vereinigte Staaten",
    "david@fabrikam.example;David;Longmuir;David Longmuir;IT Manager;IT;123453;;;;;"
    "Friedrichstr. 1;Berlin;;10117;Deutschland",
    "cynthia@fabrikam.example;Cynthia;Carey;Cynthia Carey;IT Manager;IT;123454;;;;;;;;;DEU",
    "melissa@fabrikam.example;Melissa;Macbeth;Melissa Macbeth;IT Manager;IT;123455;;;;;;;;;",
]


# -- the country lookup --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("DE", "DE"),
        ("de", "DE"),
        ("DEU", "DE"),
        ("Germany", "DE"),
        ("Deutschland", "DE"),
        ("  bundesrepublik  DEUTSCHLAND ", "DE"),
        ("Vereinigte Staaten", "US"),
        ("United States of America", "US"),
        ("USA", "US"),
        ("Österreich", "AT"),
        ("osterreich", "AT"),
        ("Côte d’Ivoire", "CI"),
        ("South Korea", "KR"),
        ("Südkorea", "KR"),
        ("Vereinigtes Königreich", "GB"),
        ("Czechia", "CZ"),
        ("Tschechien", "CZ"),
        # CLDR's everyday names, where ISO's are formal ('Russian Federation')
        ("Russia", "RU"),
        ("Russland", "RU"),
        ("Vatikanstadt", "VA"),
        ("Cape Verde", "CV"),
    ],
)
def test_country_names_and_codes_resolve_to_alpha_2(text, code):
    assert countries.country_code(text) == code


# Kosovo (XK) is a CLDR territory but no ISO 3166-1 country: not a usage location.
@pytest.mark.parametrize(
    "text", ["", "XZ", "Atlantis", "Germany!", "D E", "Kosovo", "Europa", "x" * 10_000]
)
def test_anything_else_names_no_country(text):
    assert countries.country_code(text) is None


def test_codes_come_from_the_iso_package_not_a_table():
    import pycountry

    assert {c.alpha_2 for c in pycountry.countries} == countries.ISO_COUNTRIES
    assert {"DE", "US", "SS", "XK"} & countries.ISO_COUNTRIES == {"DE", "US", "SS"}


# -- the API -------------------------------------------------------------------------------------


def test_every_profile_property_is_stored_and_answered(api):
    out = api(CREATE, {"input": {**ADA, "usageLocation": "Deutschland"}})["createUser"]
    assert out["userErrors"] == []
    assert out["user"] == {**ADA, "usageLocation": "DE"}
    row = User.get(User.upn_key == "ada@fabrikam.example")
    assert row.business_phones == ["+49 30 555 0100"] and row.postal_code == "10117"

    # Lists are replaced as a whole; [] clears one, null leaves it as it is.
    changed = api(
        UPDATE,
        {"input": {"id": "ada@fabrikam.example", "otherMails": [], "usageLocation": "AUT"}},
    )["updateUser"]
    assert changed["userErrors"] == []
    assert changed["user"]["otherMails"] == [] and changed["user"]["usageLocation"] == "AT"
    assert changed["user"]["businessPhones"] == ["+49 30 555 0100"]


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({"businessPhones": ["1", "2"]}, "businessPhones", "TOO_MANY_VALUES"),
        ({"otherMails": ["not-an-address"]}, "otherMails", "INVALID_EMAIL"),
        ({"usageLocation": "Atlantis"}, "usageLocation", "INVALID_USAGE_LOCATION"),
    ],
)
def test_bad_values_fail_with_a_user_error(api, fields, field, code):
    out = api(CREATE, {"input": {"userPrincipalName": "ada@fabrikam.example", **fields}})
    assert [(e["field"], e["code"]) for e in out["createUser"]["userErrors"]] == [(field, code)]
    assert User.select().count() == 0


@pytest.mark.parametrize(
    ("name", "limit"),
    [
        ("jobTitle", 128),
        ("faxNumber", 64),
        ("streetAddress", 1024),
        ("state", 128),
        ("postalCode", 40),
        ("usageLocation", 128),
    ],
)
def test_each_new_field_declares_its_limit(api, name, limit):
    base = {"userPrincipalName": "ada@fabrikam.example"}
    assert api(CREATE, {"input": {**base, name: "x" * limit}})  # at the limit: no request error
    errors = api.errors(CREATE, {"input": {**base, name: "x" * (limit + 1)}})
    assert errors[0]["extensions"]["code"] == "VALUE_TOO_LONG"


def test_list_items_have_declared_limits(api):
    base = {"userPrincipalName": "ada@fabrikam.example"}
    for name, limit in (("businessPhones", 64), ("otherMails", 254)):
        errors = api.errors(CREATE, {"input": {**base, name: ["x" * (limit + 1)]}})
        assert errors[0]["extensions"]["code"] == "VALUE_TOO_LONG"


def test_batch_results_answer_the_stored_code_and_filters_take_names(api):
    rows = [
        {"userPrincipalName": "a@fabrikam.example", "usageLocation": "Vereinigte Staaten"},
        {"userPrincipalName": "b@fabrikam.example"},
        {"userPrincipalName": "c@fabrikam.example", "usageLocation": "Nowhere"},
    ]
    dry = api(IMPORT, {"users": rows, "whatIf": True})["importUsers"]["results"]
    done = api(IMPORT, {"users": rows, "whatIf": False})["importUsers"]["results"]
    assert dry[:2] == [
        {"action": "CREATED", "status": "WOULD_APPLY", "usageLocation": "US", "userErrors": []},
        {"action": "CREATED", "status": "WOULD_APPLY", "usageLocation": None, "userErrors": []},
    ]
    assert [r["usageLocation"] for r in done] == ["US", None, None]
    assert done[2]["userErrors"] == [{"field": "usageLocation", "code": "INVALID_USAGE_LOCATION"}]

    moved = api(SET_LOCATION, {"upns": ["b@fabrikam.example"], "loc": "Frankreich"})
    assert moved["setUsageLocation"]["results"][0]["usageLocation"] == "FR"
    found = api(USERS, {"f": {"usageLocation": "United States"}})["users"]["nodes"]
    assert found == [{"userPrincipalName": "a@fabrikam.example"}]
    assert api(USERS, {"f": {"usageLocation": "Atlantis"}})["users"]["nodes"] == []


# -- the bulk layer, in-process ------------------------------------------------------------------


def _template(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "Add multiple users.csv", M365_HEADER, TEMPLATE_ROWS, sep=";")


def _import(tmp_path: Path, *args: str, target: tuple[str, ...]) -> tuple[int, str]:
    code, _, err = run("Import-Users", "-Path", str(_template(tmp_path)), *args, *target)
    return code, err


def _check_template_imported(err: str) -> None:
    assert "columns not imported" not in err
    report = report_of(err)
    assert report["Status"].to_list() == ["Created"] * 5
    ben = User.get(User.upn_key == "ben@fabrikam.example")
    assert ben.business_phones == ["123-555-1212"] and ben.fax_number == "123-555-9822"
    assert ben.other_mails == ["ben@other.example", "ben2@other.example"]
    assert (ben.street_address, ben.state, ben.postal_code) == ("1 Microsoft Way", "WA", "98052")
    assert ben.country == "Vereinigte Staaten"  # stored as written; the usage location is a code
    locations = {u.upn_key.split("@")[0]: u.usage_location for u in User.select()}
    assert locations == {
        "chris": "US",
        "ben": "US",
        "david": "DE",
        "cynthia": "DE",
        "melissa": None,
    }
    assert "1 user has no usage location and cannot be licensed; use -UsageLocation, a " in err
    assert report.filter(pl.col("Key") == "melissa@fabrikam.example")["Message"].to_list() == [
        "No usage location: cannot be licensed."
    ]


def test_import_users_keeps_the_whole_template_and_maps_countries(tenant, tmp_path):
    target = ("-Tenant", "Fabrikam")
    code, err = _import(tmp_path, "-UsageLocationFromCountry", "-WhatIf", target=target)
    assert code == 0 and User.select().count() == 0, err
    assert "1 user would have no usage location and could not be licensed" in err
    code, err = _import(tmp_path, "-UsageLocationFromCountry", target=target)
    assert code == 0, err
    _check_template_imported(err)

    # Get-Users writes every property back, lists joined by ';', and reads in as it wrote.
    code, out, _ = run("Get-Users", "-UsageLocation", "Deutschland", *target)
    listing = pl.read_csv(out.encode(), infer_schema=False)
    assert sorted(listing["UserPrincipalName"]) == [
        "cynthia@fabrikam.example",
        "david@fabrikam.example",
    ]
    code, out, _ = run("Get-Users", "-Search", "ben", *target)
    ben = pl.read_csv(out.encode(), infer_schema=False).row(0, named=True)
    assert ben["OtherMails"] == "ben@other.example;ben2@other.example"
    assert (ben["BusinessPhones"], ben["FaxNumber"], ben["PostalCode"]) == (
        "123-555-1212",
        "123-555-9822",
        "98052",
    )
    listing_path = tmp_path / "all.csv"
    assert run("Get-Users", "-Path", str(listing_path), *target)[0] == 0
    code, _, err = run("Import-Users", "-Path", str(listing_path), *target)
    assert code == 0 and "columns not imported: AssignedLicenses, CreatedAt" in err, err
    assert set(report_of(err)["Status"]) == {"Unchanged"}


def test_usage_location_names_as_parameter_and_column(tenant, tmp_path, monkeypatch):
    target = ("-Tenant", "Fabrikam")
    asked: list[bool] = []  # each batch: were the stored usage locations asked for?
    real = LocalTransport.execute

    def spy(self, query, variables=None):
        if "importUserColumns" in query:
            asked.append(variables["locations"])
        return real(self, query, variables)

    monkeypatch.setattr(LocalTransport, "execute", spy)
    code, err = _import(tmp_path, "-UsageLocation", "Österreich", target=target)
    assert code == 0, err
    assert {u.usage_location for u in User.select()} == {"AT"}
    assert "usage location" not in err.splitlines()[-1]  # every user has one: no warning
    # Every row gave one: the answer's usageLocations were not needed, nor asked for.
    assert asked == [False] and set(report_of(err)["Message"].fill_null("")) == {""}
    # A sheet where a row gives none: asked for, and that user's row says so.
    sheet = write_csv(
        tmp_path / "new.csv",
        "UserPrincipalName,UsageLocation",
        ["nora@fabrikam.example,DE", "otto@fabrikam.example,"],
    )
    code, _, err = run("Import-Users", "-Path", str(sheet), *target)
    assert code == 0 and asked == [False, True], err
    assert report_of(err)["Message"].to_list()[1] == "No usage location: cannot be licensed."
    monkeypatch.setattr(LocalTransport, "execute", real)

    sheet = write_csv(
        tmp_path / "loc.csv",
        "UserPrincipalName,UsageLocation",
        [
            "chris@fabrikam.example,Schweiz",
            "ben@fabrikam.example,FRA",
            "david@fabrikam.example,Mars",
        ],
    )
    code, _, err = run("Set-UsageLocation", "-Path", str(sheet), *target)
    assert code == 1, err
    report = report_of(err)
    assert report.select("Action", "Status", "Code").rows() == [
        ("UsageLocation=Schweiz", "Updated", None),
        ("UsageLocation=FRA", "Updated", None),
        ("UsageLocation=Mars", "Failed", "INVALID_USAGE_LOCATION"),
    ]
    assert report["Message"][0] == "Usage location CH."
    assert User.get(User.upn_key == "ben@fabrikam.example").usage_location == "FR"


def test_without_a_country_column_or_with_both_choices_nothing_is_sent(tenant, tmp_path):
    sheet = write_csv(tmp_path / "u.csv", "UserPrincipalName", ["a@fabrikam.example"])
    code, _, err = run(
        "Import-Users", str(sheet), "-UsageLocationFromCountry", "-Tenant", "Fabrikam"
    )
    assert code == 2 and "needs a Country or region column" in err
    code, _, err = run(
        "Import-Users",
        str(sheet),
        "-UsageLocation",
        "DE",
        "-UsageLocationFromCountry",
        "-Tenant",
        "Fabrikam",
    )
    assert code == 2 and "not both" in err
    long = "Z" * 200
    code, _, err = run("Import-Users", str(sheet), "-UsageLocation", long, "-Tenant", "Fabrikam")
    assert code == 2 and "-UsageLocation has 200 characters" in err, err
    assert User.select().count() == 0
    code, _, err = run("Import-Users", str(sheet), "-Tenant", "Fabrikam")
    assert code == 0 and "1 user has no usage location" in err.splitlines()[-1]
    assert User.select().count() == 1


def test_a_long_list_item_fails_its_row_unsent(tenant, tmp_path):
    sheet = write_csv(
        tmp_path / "u.csv",
        "UserPrincipalName,OtherMails",
        ["a@fabrikam.example,a@x.example", f"b@fabrikam.example,{'b' * 250}@x.example"],
    )
    code, _, err = run("Import-Users", str(sheet), "-UsageLocation", "DE", "-Tenant", "Fabrikam")
    assert code == 1, err
    report = report_of(err)
    assert report.select("Status", "Code").rows() == [
        ("Created", None),
        ("Failed", "VALUE_TOO_LONG"),
    ]


def test_a_list_of_too_many_items_fails_its_row_alone(tenant, tmp_path):
    """21 alternate addresses: that row fails (TOO_MANY_VALUES) and the others are imported;
    the same address 21 times is one address. (The API refuses a whole request carrying a
    list that long, so the row is not sent.)"""
    many = ";".join(f"m{i}@x.example" for i in range(21))
    same = ";".join(["m@x.example"] * 21)
    sheet = write_csv(
        tmp_path / "u.csv",
        "UserPrincipalName,OtherMails,BusinessPhones",
        [
            "a@fabrikam.example,,",
            f'b@fabrikam.example,"{many}",',
            f'c@fabrikam.example,"{same}",',
            "d@fabrikam.example,,+49 1;+49 2",
        ],
    )
    code, _, err = run("Import-Users", str(sheet), "-UsageLocation", "DE", "-Tenant", "Fabrikam")
    assert code == 1, err
    report = report_of(err)
    assert report.select("Row", "Status", "Code").rows() == [
        ("2", "Created", None),
        ("3", "Failed", "TOO_MANY_VALUES"),
        ("4", "Created", None),
        ("5", "Failed", "TOO_MANY_VALUES"),
    ]
    assert "21 were given" in report["Message"][1]
    assert sorted(u.user_principal_name for u in User.select()) == [
        "a@fabrikam.example",
        "c@fabrikam.example",
    ]
    assert User.get(User.user_principal_name == "c@fabrikam.example").other_mails == ["m@x.example"]


# -- against a real server -----------------------------------------------------------------------


def test_template_import_and_listing_over_http(tenant, keys, server, tmp_path):  # noqa: F811
    target = ("-Endpoint", server, "-ApiKey", keys["GLOBAL_ADMIN"])
    code, err = _import(tmp_path, "-UsageLocationFromCountry", target=target)
    assert code == 0, err
    _check_template_imported(err)
    code, out, _ = run("Get-Users", "-UsageLocation", "Vereinigte Staaten", *target)
    listing = pl.read_csv(out.encode(), infer_schema=False)
    assert sorted(listing["UserPrincipalName"]) == [
        "ben@fabrikam.example",
        "chris@fabrikam.example",
    ]
    assert listing.filter(pl.col("UserPrincipalName") == "chris@fabrikam.example")[
        "StreetAddress"
    ].to_list() == ["1 Microsoft Way"]
    code, _, err = run(
        "Import-Users",
        str(
            write_csv(
                tmp_path / "m.csv", "User Name,Country or region", ["melissa@fabrikam.example,DEU"]
            )
        ),
        "-UsageLocationFromCountry",
        *target,
    )
    assert code == 0 and report_of(err)["Status"].to_list() == ["Updated"], err
    assert User.get(User.upn_key == "melissa@fabrikam.example").usage_location == "DE"


# -- the migration -------------------------------------------------------------------------------


def test_migration_adds_the_columns_to_existing_users(db_url, tenant, clock):
    """0011 down and up again on this backend: a user that existed before gets '' and []."""
    step = importlib.import_module("commcredits.migrations.0011_user_profile")
    User.create(
        tenant=tenant.id,
        user_principal_name="old@fabrikam.example",
        upn_key="old@fabrikam.example",
        created_at=clock(),
        updated_at=clock(),
    )
    step.down(None, database.db)
    try:
        columns = {c.name for c in database.db.get_columns("directory_user")}
        assert "business_phones" not in columns and "postal_code" not in columns
    finally:
        step.up(None, database.db)
    old = User.get(User.upn_key == "old@fabrikam.example")
    assert (old.business_phones, old.other_mails, old.fax_number, old.street_address) == (
        [],
        [],
        "",
        "",
    )
    assert (old.state, old.postal_code) == ("", "")


def test_an_older_sqlite_database_is_brought_forward(tmp_path):
    database.bind(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        migrate("0010_browser_sessions")
        assert "0011_user_profile" in migrate()
        columns = {c.name for c in database.db.get_columns("directory_user")}
        assert {"business_phones", "fax_number", "other_mails", "street_address"} <= columns
        assert {"state", "postal_code"} <= columns
    finally:
        database.close()
