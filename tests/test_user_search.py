"""users(filter: { search }): case- and accent-insensitive "contains" over the user principal
name, display name, given name, surname and other mails (docs/large-tenants.md), on both
databases; the stored search text follows every write path."""

import pytest

from commcredits.models import User
from tests.helpers import add_users, other_tenant

CREATE = """
mutation($input: CreateUserInput!) {
  createUser(input: $input) { user { id } userErrors { field code message } }
}"""
UPDATE = """
mutation($input: UpdateUserInput!) {
  updateUser(input: $input) { user { id } userErrors { code } }
}"""
DELETE = "mutation($id: ID!) { deleteUser(id: $id) { deletedUserId userErrors { code } } }"
IMPORT = """
mutation($users: [ImportUserInput!]!) {
  importUsers(users: $users) { results { action userErrors { code } } }
}"""
SEARCH = """
query($filter: UserFilter) {
  users(first: 100, filter: $filter) {
    totalCount totalCountIsCapped nodes { userPrincipalName }
  }
}"""

PEOPLE = [
    {
        "userPrincipalName": "jurgen.muller@fabrikam.example",
        "displayName": "Jürgen Müller",
        "givenName": "Jürgen",
        "surname": "Müller",
        "usageLocation": "DE",
    },
    {
        "userPrincipalName": "anders@fabrikam.example",
        "displayName": "Anders Ångström",
        "usageLocation": "SE",
    },
    {"userPrincipalName": "heinz@fabrikam.example", "displayName": "Heinz Groß"},
    {"userPrincipalName": "o'brien@fabrikam.example", "displayName": "Sinéad O'Brien"},
    {
        # Names only in given name and surname, a mail only in otherMails.
        "userPrincipalName": "x1@fabrikam.example",
        "displayName": "X One",
        "givenName": "Wilhelmina",
        "surname": "Zwackelmann",
        "otherMails": ["jm.private+news@example.org"],
    },
    {"userPrincipalName": "sales1@fabrikam.example", "displayName": "100% Sales_Team"},
    # Would match "100%" and "s_t" if % and _ were wildcards.
    {"userPrincipalName": "sales2@fabrikam.example", "displayName": "1000 SalesXTeam"},
]


def upns(api, term: str, **flt) -> list[str]:
    found = api(SEARCH, {"filter": {"search": term, **flt}})["users"]
    return [n["userPrincipalName"].split("@")[0] for n in found["nodes"]]


@pytest.fixture
def people(api):
    ids = {}
    for person in PEOPLE:
        out = api(CREATE, {"input": person})["createUser"]
        assert out["userErrors"] == [], out
        ids[person["userPrincipalName"].split("@")[0]] = out["user"]["id"]
    return ids


@pytest.mark.parametrize("term", ["müller", "MÜLLER", "Muller", "muller", "jürgen müller"])
def test_case_and_accents_do_not_matter(api, people, term):
    assert upns(api, term) == ["jurgen.muller"]


@pytest.mark.parametrize("term", ["Ångström", "angstrom", "ANGSTRÖM", "ngstr"])
def test_a_ring_is_an_a(api, people, term):
    assert upns(api, term) == ["anders"]


@pytest.mark.parametrize("term", ["Groß", "gross", "GROSS", "ß", "oß"])
def test_sharp_s_is_ss(api, people, term):
    assert "heinz" in upns(api, term)


def test_prefix_and_contains(api, people):
    assert upns(api, "jür") == ["jurgen.muller"]  # prefix of the display name and the UPN
    assert upns(api, "urge") == ["jurgen.muller"]  # inside a word
    assert upns(api, "ller@fabrikam") == ["jurgen.muller"]  # across the UPN's @


def test_given_name_surname_and_other_mails_are_searched(api, people):
    assert upns(api, "wilhelm") == ["x1"]
    assert upns(api, "ZWACKEL") == ["x1"]
    assert upns(api, "private+news") == ["x1"]  # a + taken as it is
    assert upns(api, "@example.org") == ["x1"]


def test_apostrophe_in_a_upn(api, people):
    assert upns(api, "o'brien") == ["o'brien"]
    assert upns(api, "o'b") == ["o'brien"]
    assert upns(api, "sinead") == ["o'brien"]


def test_percent_and_underscore_are_literal(api, people):
    assert upns(api, "100%") == ["sales1"]
    assert upns(api, "s_t") == ["sales1"]
    assert upns(api, "%") == ["sales1"]  # one character: the scan, literal too
    assert upns(api, "_") == ["sales1"]
    assert upns(api, "%_") == []
    assert upns(api, '"') == []  # a quote cannot break the index's query
    assert upns(api, 'a"b') == []


def test_one_and_two_character_terms(api, people):
    assert set(upns(api, "mü")) >= {"jurgen.muller"}
    assert set(upns(api, "Å")) >= {"anders"}
    assert "x1" in upns(api, "zw")
    assert upns(api, "qq") == []


def test_search_with_other_filters_and_its_count(api, people):
    assert upns(api, "fabrikam", usageLocation="DE") == ["jurgen.muller"]
    assert upns(api, "muller", usageLocation="SE") == []
    found = api(SEARCH, {"filter": {"search": "sales"}})["users"]
    assert found["totalCount"] == 2 and found["totalCountIsCapped"] is False


def test_another_tenant_s_users_are_never_found(api, people, clock):
    other = other_tenant(clock())
    add_users(other, clock(), [("jurgen.muller", "US"), ("zwackelmann", "US")], domain="nw.example")
    assert upns(api, "muller") == ["jurgen.muller"]  # ours, not Northwind's
    assert upns(api, "nw.example") == []
    assert upns(api, "zwackelmann") == ["x1"]  # by surname here; Northwind's by UPN


def test_search_text_follows_update_rename_and_delete(api, people):
    api(UPDATE, {"input": {"id": people["heinz"], "displayName": "Heinz Weiß", "surname": "Weiß"}})
    assert upns(api, "gross") == []
    assert upns(api, "weiss") == ["heinz"]
    api(UPDATE, {"input": {"id": people["heinz"], "userPrincipalName": "h.weiss@fabrikam.example"}})
    assert upns(api, "heinz@") == []
    assert upns(api, "h.weiss@") == ["h.weiss"]
    api(UPDATE, {"input": {"id": people["x1"], "otherMails": []}})
    assert upns(api, "private+news") == []
    assert api(DELETE, {"id": people["anders"]})["deleteUser"]["userErrors"] == []
    assert upns(api, "angstrom") == []
    assert upns(api, "ngs") == []


def test_search_text_follows_a_bulk_import(api, people):
    rows = [
        {"userPrincipalName": f"imp{i}@fabrikam.example", "displayName": f"Zoë Dvořák {i}"}
        for i in range(30)
    ]
    # An update of an existing user in the same batch, by a name field.
    rows.append({"userPrincipalName": "jurgen.muller@fabrikam.example", "surname": "Schäfer"})
    results = api(IMPORT, {"users": rows})["importUsers"]["results"]
    assert [r["action"] for r in results] == ["CREATED"] * 30 + ["UPDATED"]
    assert len(upns(api, "dvorak")) == 30
    assert upns(api, "zoe dvorak 17") == ["imp17"]
    assert upns(api, "schafer") == ["jurgen.muller"]
    assert upns(api, "muller") == ["jurgen.muller"]  # still in the UPN and display name
    # A second import renaming them all: one text per user, written in the same batch.
    renamed = [
        {"userPrincipalName": f"imp{i}@fabrikam.example", "displayName": f"Renée {i}"}
        for i in range(30)
    ]
    api(IMPORT, {"users": renamed})
    assert upns(api, "dvorak") == []
    assert len(upns(api, "renee")) == 30
    stored = User.get(User.upn_key == "imp3@fabrikam.example").search_text
    assert stored == "imp3@fabrikam.example\nrenee 3"
