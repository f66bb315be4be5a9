"""Groups over GraphQL (issue 18, item 1): create, update, delete, members, lists."""

from commcredits.models import AuditEntry, Group, GroupMember
from tests.helpers import add_users, other_tenant, upn

CREATE = """
mutation($input: CreateGroupInput!) {
  createGroup(input: $input) {
    group { id displayName description memberCount licenseProcessingState }
    userErrors { field code message }
  }
}"""

UPDATE = """
mutation($input: UpdateGroupInput!) {
  updateGroup(input: $input) { group { displayName description } userErrors { field code } }
}"""

DELETE = """
mutation($id: ID!) { deleteGroup(id: $id) { deletedGroupId userErrors { field code } } }"""

ADD = """
mutation($g: ID!, $users: [ID!]!) {
  addGroupMembers(groupId: $g, userIds: $users) {
    changed group { memberCount } userErrors { field code }
  }
}"""

REMOVE = """
mutation($g: ID!, $users: [ID!]!) {
  removeGroupMembers(groupId: $g, userIds: $users) {
    changed group { memberCount } userErrors { field code }
  }
}"""

GROUP = """
query($id: ID!, $first: Int, $after: String) {
  group(id: $id) {
    displayName memberCount
    members(first: $first, after: $after) {
      totalCount nodes { userPrincipalName } pageInfo { hasNextPage endCursor }
    }
  }
}"""

GROUPS = """
query($first: Int, $after: String, $search: String) {
  groups(first: $first, after: $after, filter: {search: $search}) {
    totalCount nodes { displayName memberCount } pageInfo { hasNextPage endCursor }
  }
}"""


def create(api, name: str, description: str | None = None) -> str:
    out = api(CREATE, {"input": {"displayName": name, "description": description}})
    assert out["createGroup"]["userErrors"] == []
    return out["createGroup"]["group"]["id"]


def test_create_update_list_and_delete(api, tenant, clock):
    gid = create(api, "  Sales  ", "EMEA sales")
    out = api(GROUP, {"id": gid})["group"]
    assert out["displayName"] == "Sales" and out["memberCount"] == 0
    for name in ("Support", "Sales Germany"):
        create(api, name)
    page = api(GROUPS, {"first": 2})["groups"]
    assert page["totalCount"] == 3
    assert [n["displayName"] for n in page["nodes"]] == ["Sales", "Support"]
    rest = api(GROUPS, {"first": 2, "after": page["pageInfo"]["endCursor"]})["groups"]
    assert [n["displayName"] for n in rest["nodes"]] == ["Sales Germany"]
    assert not rest["pageInfo"]["hasNextPage"]
    found = api(GROUPS, {"search": "sales"})["groups"]["nodes"]
    assert [n["displayName"] for n in found] == ["Sales", "Sales Germany"]
    create(api, "Änderung Team")
    for term in ("Änderung Team", "änderung", "ANDERUNG", "rung t"):  # case and accents aside
        found = api(GROUPS, {"search": term})["groups"]["nodes"]
        assert [n["displayName"] for n in found] == ["Änderung Team"], term

    out = api(UPDATE, {"input": {"id": gid, "displayName": "Sales EMEA"}})["updateGroup"]
    assert out["group"] == {"displayName": "Sales EMEA", "description": "EMEA sales"}
    found = api(GROUPS, {"search": "emea"})["groups"]["nodes"]  # a renamed group by its new name
    assert [n["displayName"] for n in found] == ["Sales EMEA"]
    out = api(DELETE, {"id": gid})["deleteGroup"]
    assert out == {"deletedGroupId": gid, "userErrors": []}
    assert api(GROUP, {"id": gid})["group"] is None
    actions = [a.action for a in AuditEntry.select().order_by(AuditEntry.id)]
    assert actions[-5:] == [
        "createGroup",
        "createGroup",
        "createGroup",
        "updateGroup",
        "deleteGroup",
    ]


def test_bad_names_are_refused_and_nothing_is_written(api):
    out = api(CREATE, {"input": {"displayName": "   "}})["createGroup"]
    assert out["group"] is None
    assert [(e["field"], e["code"]) for e in out["userErrors"]] == [("displayName", "INVALID_NAME")]
    long = api.raw(CREATE, {"input": {"displayName": "x" * 257}}).json()
    assert "VALUE_TOO_LONG" in str(long)
    assert Group.select().count() == 0
    gid = create(api, "Sales")
    out = api(UPDATE, {"input": {"id": gid, "displayName": ""}})["updateGroup"]
    assert [e["code"] for e in out["userErrors"]] == ["INVALID_NAME"]
    assert Group.get().display_name == "Sales"


def test_members_added_in_order_paged_and_removed(api, tenant, clock):
    add_users(tenant, clock(), [(a, "DE") for a in ("anna", "ben", "carla")])
    gid = create(api, "Sales")
    out = api(ADD, {"g": gid, "users": [upn("carla"), upn("anna"), upn("carla")]})
    assert out["addGroupMembers"] == {
        "changed": 2,
        "group": {"memberCount": 2},
        "userErrors": [],
    }
    again = api(ADD, {"g": gid, "users": [upn("anna"), upn("ben")]})["addGroupMembers"]
    assert again["changed"] == 1 and again["group"]["memberCount"] == 3
    page = api(GROUP, {"id": gid, "first": 2})["group"]["members"]
    assert page["totalCount"] == 3
    assert [n["userPrincipalName"] for n in page["nodes"]] == [upn("carla"), upn("anna")]
    rest = api(GROUP, {"id": gid, "first": 2, "after": page["pageInfo"]["endCursor"]})
    assert [n["userPrincipalName"] for n in rest["group"]["members"]["nodes"]] == [upn("ben")]
    out = api(REMOVE, {"g": gid, "users": [upn("anna"), upn("ben")]})["removeGroupMembers"]
    assert out == {"changed": 2, "group": {"memberCount": 1}, "userErrors": []}
    assert [m.user.user_principal_name for m in GroupMember.select()] == [upn("carla")]


def test_a_batch_that_changes_no_membership_writes_no_audit_entry(api, tenant, clock):
    add_users(tenant, clock(), [(a, "DE") for a in ("anna", "ben")])
    gid = create(api, "Sales")
    api(ADD, {"g": gid, "users": [upn("anna")]})
    entries = AuditEntry.select().where(AuditEntry.action.endswith("GroupMembers")).count
    assert entries() == 1
    again = api(ADD, {"g": gid, "users": [upn("anna")]})["addGroupMembers"]
    assert again["changed"] == 0 and again["userErrors"] == [] and entries() == 1
    out = api(REMOVE, {"g": gid, "users": [upn("ben")]})["removeGroupMembers"]
    assert out["changed"] == 0 and out["userErrors"] == [] and entries() == 1
    api(REMOVE, {"g": gid, "users": [upn("anna"), upn("ben")]})
    assert entries() == 2


def test_another_tenants_user_or_group_is_not_found_and_nothing_changes(api, tenant, clock):
    add_users(tenant, clock(), [("anna", "DE")])
    theirs = other_tenant(clock())
    add_users(theirs, clock(), [("zoe", "US")], domain="northwind.example")
    gid = create(api, "Sales")
    out = api(ADD, {"g": gid, "users": [upn("anna"), "zoe@northwind.example", "nobody"]})
    errors = out["addGroupMembers"]["userErrors"]
    assert [(e["field"], e["code"]) for e in errors] == [
        ("userIds.1", "NOT_FOUND"),
        ("userIds.2", "NOT_FOUND"),
    ]
    assert GroupMember.select().count() == 0
    from commcredits.services import groups
    from commcredits.services.access import SYSTEM

    their_group = groups.create_group(theirs, SYSTEM, "Theirs", now=clock())
    from commcredits.schema.common import to_global_id

    their_gid = to_global_id("Group", their_group.id)
    out = api(ADD, {"g": their_gid, "users": [upn("anna")]})["addGroupMembers"]
    assert [(e["field"], e["code"]) for e in out["userErrors"]] == [("groupId", "NOT_FOUND")]
    assert api(GROUP, {"id": their_gid})["group"] is None
    out = api(DELETE, {"id": their_gid})["deleteGroup"]
    assert [e["code"] for e in out["userErrors"]] == ["NOT_FOUND"]
    assert Group.select().count() == 2


def test_batch_size_limit(api, tenant, clock):
    gid = create(api, "Sales")
    out = api(ADD, {"g": gid, "users": [upn(f"u{i}") for i in range(1001)]})
    assert [e["code"] for e in out["addGroupMembers"]["userErrors"]] == ["BATCH_TOO_LARGE"]


def test_permissions(api_as, api):
    gid = create(api, "Sales")
    for role in ("READER", "BILLING_ADMIN"):
        out = api_as(role)(CREATE, {"input": {"displayName": "X"}})["createGroup"]
        assert [e["code"] for e in out["userErrors"]] == ["FORBIDDEN"], role
    assert create(api_as("LICENSE_ADMIN"), "Licensing") is not None
    assert api_as("READER")(GROUPS)["groups"]["totalCount"] == 2
    assert api_as("READER")(GROUP, {"id": gid})["group"]["displayName"] == "Sales"


def test_deleting_a_user_leaves_its_groups_and_their_counts(api, tenant, clock):
    from commcredits.services import users
    from commcredits.services.access import SYSTEM

    add_users(tenant, clock(), [("anna", "DE"), ("ben", "DE")])
    gid = create(api, "Sales")
    api(ADD, {"g": gid, "users": [upn("anna"), upn("ben")]})
    users.delete_user(tenant, SYSTEM, upn("anna"), now=clock())
    out = api(GROUP, {"id": gid})["group"]
    assert out["memberCount"] == 1
    assert [n["userPrincipalName"] for n in out["members"]["nodes"]] == [upn("ben")]
