"""importUserColumns (issue 16 item 4): the rows of importUsers as one list per property, with
the same rules row by row and a compact answer; the bulk layer's Import-Users sends this."""

from __future__ import annotations

from commcredits import db as database
from commcredits.models import AuditEntry, User
from commcredits.services import user_import, user_search
from commcredits.services.access import SYSTEM

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


def _rows(start: int, stop: int, **extra) -> tuple[list[str], dict[str, list]]:
    n = range(start, stop)
    return [f"u{i}@fabrikam.example" for i in n], {
        "given_name": [f"Jürgen{i}" for i in n],
        "department": ["Sales"] * len(n),
        "usage_location": ["Germany"] * len(n),
        "other_mails": [[f"u{i}@private.example"] for i in n],
        **extra,
    }


def test_a_batch_costs_the_same_statements_whatever_its_size(tenant, clock):
    """Creating 3 users or 500, and updating them, is the same few statements: multi-row
    INSERT (FTS index kept by its trigger in the same statement), one UPDATE per distinct
    change, one audit entry."""
    statements = []
    for start, stop in ((0, 3), (3, 503)):
        with database.count_statements() as sql:
            upns, cols = _rows(start, stop)
            out = user_import.upsert_columns(tenant, SYSTEM, upns, cols, now=clock())
        assert {o.action for o in out} == {"CREATED"}
        # Not table_stats' look at the planner's figures: when it comes depends on what this
        # process inserted before (other tests), not on the batch.
        statements.append(len([q for q in sql if "analyze_if_grown" not in q]))
    assert statements[0] == statements[1], statements
    for start, stop in ((0, 3), (3, 503)):  # the same change for each user: one UPDATE
        with database.count_statements() as sql:
            upns, cols = _rows(start, stop, department=["Support"] * (stop - start))
            out = user_import.upsert_columns(tenant, SYSTEM, upns, cols, now=clock())
        assert {o.action for o in out} == {"UPDATED"}
        # Not table_stats' look at the planner's figures: when it comes depends on what this
        # process inserted before (other tests), not on the batch.
        statements.append(len([q for q in sql if "analyze_if_grown" not in q]))
    assert statements[2] == statements[3], statements
    assert User.select().where(User.department == "Support").count() == 503


def test_a_batch_writes_one_audit_entry_and_one_user_its_own(tenant, clock):
    before = AuditEntry.select().count()
    upns, cols = _rows(0, 4)
    user_import.upsert_columns(tenant, SYSTEM, upns, cols, now=clock())
    entry = AuditEntry.select().order_by(AuditEntry.id.desc()).get()
    assert AuditEntry.select().count() == before + 1
    assert (entry.action, entry.target_type, entry.target_id) == (
        "importUsers",
        "UserBatch",
        "u0@fabrikam.example…u3@fabrikam.example",
    )
    assert entry.after["count"] == 4 and entry.after["created"] == upns
    # One changed user is audited on the user, as createUser / updateUser are.
    upns, cols = _rows(3, 5, department=["Sales", "Sales"])
    user_import.upsert_columns(tenant, SYSTEM, upns, cols, now=clock())
    entry = AuditEntry.select().order_by(AuditEntry.id.desc()).get()
    created = User.get(User.upn_key == "u4@fabrikam.example")
    assert (entry.action, entry.target_id) == ("createUser", str(created.id))
    assert entry.after == {
        "userPrincipalName": "u4@fabrikam.example",
        "displayName": "u4",
        "department": "Sales",
        "usageLocation": "DE",
        "accountEnabled": True,
    }


def test_created_users_are_found_by_search_and_read_back_as_given(api, tenant, clock):
    upns, cols = _rows(0, 3, display_name=[None, "Ann  Müller", None])
    user_import.upsert_columns(tenant, SYSTEM, upns, cols, now=clock())
    ann = User.get(User.upn_key == "u1@fabrikam.example")
    assert (ann.display_name, ann.given_name, ann.surname, ann.other_mails) == (
        "Ann  Müller",
        "Jürgen1",
        "",
        ["u1@private.example"],
    )
    assert (ann.usage_location, ann.account_enabled, ann.business_phones) == ("DE", True, [])
    # Built column by column, each text is the one search_text gives the stored user.
    for user in User.select().where(User.tenant == tenant.id):
        assert user.search_text == user_search.search_text_of_user(user)
    assert ann.search_text == "u1@fabrikam.example\nann muller\njurgen1\nu1@private.example"
    query = "query($s: String!) { users(first: 5, filter: {search: $s}) { nodes { id } } }"
    for term in ("ann mull", "JURGEN1", "1@private", "u2@fab"):
        found = api(query, {"s": term})["users"]["nodes"]
        assert len(found) == 1, term


def test_a_row_fails_on_its_first_fault_in_property_order(tenant, clock):
    """Column by column, a row's error is the one validate_fields names first."""
    upns = ["a@fabrikam.example", "b@fabrikam.example", "a@fabrikam.example", " "]
    cols = {
        "department": ["x" * 65, "Sales", "Sales", "Sales"],
        "usage_location": ["Atlantis", "Atlantis", "DE", "DE"],
        "other_mails": [["not a mail"], None, None, None],
    }
    out = user_import.upsert_columns(tenant, SYSTEM, upns, cols, now=clock())
    assert [[(e.code, e.field) for e in o.errors] for o in out] == [
        [("VALUE_TOO_LONG", "department")],
        [("INVALID_USAGE_LOCATION", "usageLocation")],
        [],  # a@ failed above, so this row is its first valid one
        [("INVALID_USER_PRINCIPAL_NAME", "userPrincipalName")],
    ]
    assert out[2].action == "CREATED"


def test_a_text_over_its_limit_fails_its_row_and_a_malformed_column_the_request(api, tenant):
    cols = {
        "userPrincipalName": ["a@fabrikam.example", "b@fabrikam.example"],
        "department": ["x" * 65, "Sales"],  # department: at most 64
        "accountEnabled": [None, False],
    }
    out = api(COLUMNS, {"columns": cols, "whatIf": False})["importUserColumns"]
    assert out["statuses"] == ["FAILED", "APPLIED"]
    assert out["failures"][0]["userErrors"] == [{"field": "department", "code": "VALUE_TOO_LONG"}]
    assert User.get(User.upn_key == "b@fabrikam.example").account_enabled is False
    for bad in (
        {"department": ["x" * 1025, None]},  # over any property's limit: refused unread
        {"department": [1, None]},
        {"department": "Sales"},
        {"otherMails": ["a@b.example", None]},
        {"accountEnabled": ["yes", None]},
    ):
        body = api.raw(
            COLUMNS,
            {"columns": {"userPrincipalName": ["c@fabrikam.example", "d@x.example"], **bad}}
            | {"whatIf": False},
        ).json()
        assert body.get("data") is None and body["errors"], bad
    assert User.select().where(User.upn_key == "c@fabrikam.example").count() == 0


def test_columns_as_literals(api, tenant):
    query = """mutation { importUserColumns(columns: {
        userPrincipalName: ["e@fabrikam.example"], department: ["Ops"],
        otherMails: [["e@private.example"]], accountEnabled: [false] }) { statuses } }"""
    assert api(query)["importUserColumns"]["statuses"] == ["APPLIED"]
    e = User.get(User.upn_key == "e@fabrikam.example")
    assert (e.department, e.other_mails, e.account_enabled) == ("Ops", ["e@private.example"], False)


def test_texts_are_stored_exactly_as_given(api, tenant):
    """A created user's texts come back as sent, on either database: PostgreSQL loads new users
    by COPY, whose text format has escapes of its own (a backslash, `\\N` for null)."""
    odd = ["Back\\slash \\t \\n", "\\N", 'O\'Brien "Bob"', "Zoë 🎉 Ünal", ""]
    upns = [f"odd{i}@fabrikam.example" for i in range(len(odd))]
    cols = {
        "userPrincipalName": upns,
        "displayName": [v or "x" for v in odd],
        "department": odd,
        "businessPhones": [[v] if v else [] for v in odd],
        "usageLocation": ["DE", None, "DE", None, "DE"],
        "accountEnabled": [True, False, None, True, False],
    }
    out = api(COLUMNS, {"columns": cols, "whatIf": False})["importUserColumns"]
    assert out["actions"] == ["CREATED"] * len(odd), out
    stored = {u.user_principal_name: u for u in User.select().where(User.tenant == tenant.id)}
    for i, upn in enumerate(upns):
        user = stored[upn]
        assert user.display_name == (odd[i] or "x")
        assert user.department == odd[i]
        assert user.business_phones == ([odd[i]] if odd[i] else [])
        assert user.usage_location == cols["usageLocation"][i]
        assert user.account_enabled is (cols["accountEnabled"][i] is not False)
        assert user.search_text == user_search.search_text_of_user(user)
