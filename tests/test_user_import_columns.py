"""importUserColumns (issue 16 item 4): the rows of importUsers as one list per property, with
the same rules row by row and a compact answer; the bulk layer's Import-Users sends this."""

from __future__ import annotations

from commcredits.models import AuditEntry, User

COLUMNS = """
mutation($columns: ImportUserColumnsInput!, $whatIf: Boolean!) {
  importUserColumns(columns: $columns, whatIf: $whatIf) {
    statuses actions usageLocations
    failures { index userPrincipalName userErrors { field code } }
    summary { total applied unchanged failed }
    userErrors { field code message }
  }
}"""
ROWS = """
mutation($users: [ImportUserInput!]!, $whatIf: Boolean!) {
  importUsers(users: $users, whatIf: $whatIf) { results { action status usageLocation } }
}"""


def columns() -> dict[str, list]:
    return {
        "userPrincipalName": ["ann@fabrikam.example", "bad upn", "bob@fabrikam.example"],
        "displayName": ["Ann Example", None, None],  # null: left as it is (the default here)
        "usageLocation": ["Deutschland", "DE", None],
        "otherMails": [["ann@private.example"], None, []],
        "accountEnabled": [True, None, False],
    }


def test_columns_create_users_row_by_row(api, tenant):
    out = api(COLUMNS, {"columns": columns(), "whatIf": False})["importUserColumns"]
    assert out["userErrors"] == []
    assert out["statuses"] == ["APPLIED", "FAILED", "APPLIED"]
    assert out["actions"] == ["CREATED", None, "CREATED"]
    assert out["usageLocations"] == ["DE", None, None]  # the name stored as its code
    assert out["failures"] == [
        {
            "index": 1,
            "userPrincipalName": "bad upn",
            "userErrors": [{"field": "userPrincipalName", "code": "INVALID_USER_PRINCIPAL_NAME"}],
        }
    ]
    assert out["summary"] == {"total": 3, "applied": 2, "unchanged": 0, "failed": 1}
    ann = User.get(User.upn_key == "ann@fabrikam.example")
    assert (ann.display_name, ann.other_mails, ann.account_enabled) == (
        "Ann Example",
        ["ann@private.example"],
        True,
    )
    bob = User.get(User.upn_key == "bob@fabrikam.example")
    assert (bob.display_name, bob.usage_location, bob.account_enabled) == ("bob", None, False)
    # The same rows again change nothing; as input objects they answer the same.
    again = api(COLUMNS, {"columns": columns(), "whatIf": False})["importUserColumns"]
    assert again["statuses"] == ["UNCHANGED", "FAILED", "UNCHANGED"]
    rows = [
        {k: v for k, v in zip(columns(), values, strict=True) if v is not None}
        for values in zip(*columns().values(), strict=True)
    ]
    as_rows = api(ROWS, {"users": rows, "whatIf": True})["importUsers"]["results"]
    assert [r["status"] for r in as_rows] == ["UNCHANGED", "FAILED", "UNCHANGED"]


def test_what_if_writes_nothing(api, tenant):
    out = api(COLUMNS, {"columns": columns(), "whatIf": True})["importUserColumns"]
    assert out["statuses"] == ["WOULD_APPLY", "FAILED", "WOULD_APPLY"]
    assert User.select().where(User.tenant == tenant.id).count() == 0


def test_a_column_of_another_length_refuses_the_batch(api, tenant):
    bad = columns() | {"surname": ["Example", "Other"]}
    audits = AuditEntry.select().count()
    out = api(COLUMNS, {"columns": bad, "whatIf": False})["importUserColumns"]
    assert out["userErrors"] == [
        {
            "field": "surname",
            "code": "COLUMN_LENGTH_MISMATCH",
            "message": "surname has 2 values for 3 user principal names; every column has one "
            "value (or null) per row.",
        }
    ]
    assert out["statuses"] == [] and out["summary"] is None
    assert User.select().where(User.tenant == tenant.id).count() == 0
    assert AuditEntry.select().count() == audits
