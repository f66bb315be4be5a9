"""API keys, roles and tenant isolation (SPEC §7)."""

import hashlib

import pytest

from commcredits.models import ApiKey, AuditEntry, Subscription, User
from tests.conftest import Api
from tests.helpers import add_users, buy, other_tenant

CREATE_USER = """
mutation { createUser(input: {userPrincipalName: "zed@fabrikam.example", usageLocation: "DE"})
  { user { id } userErrors { code message } } }"""
PURCHASE = """
mutation { purchaseSeats(skuPartNumber: "MCOEV", quantity: 2)
  { subscribedSku { prepaidUnits { enabled } } userErrors { code } } }"""
CREATE_KEY = """
mutation($role: Role!) { createApiKey(role: $role, name: "ci") {
  key apiKey { id role prefix revokedAt } userErrors { code } } }"""
REVOKE_KEY = """
mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { revokedAt } userErrors { code } } }"""
CREATE_TENANT = """
mutation($input: CreateTenantInput!) { createTenant(input: $input) {
  tenant { name currency agreementType } userErrors { field code } } }"""


def test_missing_key_gets_unauthenticated(client):
    anonymous = Api(client, None)
    errors = anonymous.errors("{ tenant { name } }")
    assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED"
    out = anonymous(CREATE_USER)["createUser"]
    assert out["userErrors"][0]["code"] == "UNAUTHENTICATED"
    assert User.select().count() == 0


def test_unknown_and_revoked_keys_get_401(client, api, keys):
    response = Api(client, "cck_not-a-key").raw("{ tenant { name } }")
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert response.headers["x-request-id"]
    reader = ApiKey.get(ApiKey.role == "READER")
    out = api(REVOKE_KEY, {"id": _gid("ApiKey", reader.id)})["revokeApiKey"]
    assert out["apiKey"]["revokedAt"] is not None
    assert Api(client, keys["READER"]).raw("{ tenant { name } }").status_code == 401


def test_keys_are_stored_hashed_and_shown_once(api, client):
    out = api(CREATE_KEY, {"role": "READER"})["createApiKey"]
    secret = out["key"]
    assert secret.startswith("cck_") and len(secret) > 40
    row = ApiKey.get(ApiKey.key_hash == hashlib.sha256(secret.encode()).hexdigest())
    assert secret not in (row.key_hash, row.prefix, row.name)
    listed = api("{ apiKeys { prefix role lastUsedAt } }")["apiKeys"]
    assert all("key" not in k for k in listed)
    assert Api(client, secret)("{ viewer { role } }")["viewer"]["role"] == "READER"
    used = ApiKey.get_by_id(row.id)
    assert used.last_used_at is not None


def test_wrong_role_is_forbidden_and_changes_nothing(api_as, tenant, clock):
    reader, licenser, biller = api_as("READER"), api_as("LICENSE_ADMIN"), api_as("BILLING_ADMIN")
    assert reader(CREATE_USER)["createUser"]["userErrors"][0]["code"] == "FORBIDDEN"
    assert reader(PURCHASE)["purchaseSeats"]["userErrors"][0]["code"] == "FORBIDDEN"
    assert licenser(PURCHASE)["purchaseSeats"]["userErrors"][0]["code"] == "FORBIDDEN"
    assert biller(CREATE_USER)["createUser"]["userErrors"][0]["code"] == "FORBIDDEN"
    assert licenser(CREATE_KEY, {"role": "READER"})["createApiKey"]["userErrors"] == [
        {"code": "FORBIDDEN"}
    ]
    assert User.select().count() == 0 and Subscription.select().count() == 0
    # and the right roles may
    assert licenser(CREATE_USER)["createUser"]["userErrors"] == []
    assert biller(PURCHASE)["purchaseSeats"]["subscribedSku"]["prepaidUnits"]["enabled"] == 2
    assert reader("{ users { totalCount } }")["users"]["totalCount"] == 1


def test_a_key_never_sees_or_changes_another_tenant(api, tenant, clock, client):
    buy(tenant, clock(), MCOEV=1)
    add_users(tenant, clock(), [("ada", "DE")])
    ada = User.get(User.user_principal_name == "ada@fabrikam.example")
    northwind = other_tenant(clock())
    from commcredits.services.access import SYSTEM, Role, create_api_key

    _, secret = create_api_key(SYSTEM, role=Role.GLOBAL_ADMIN, tenant=northwind, now=clock())
    intruder = Api(client, secret)
    gid = _gid("User", ada.id)
    assert intruder("query($id: ID!) { node(id: $id) { id } }", {"id": gid})["node"] is None
    assert intruder("query($id: ID) { user(id: $id) { id } }", {"id": gid})["user"] is None
    assert intruder("{ users { totalCount } }")["users"]["totalCount"] == 0
    out = intruder(
        "mutation($id: ID!) { deleteUser(id: $id) { userErrors { code message } } }", {"id": gid}
    )["deleteUser"]
    assert out["userErrors"][0]["code"] == "NOT_FOUND"  # never "forbidden"
    out = intruder(
        'mutation($u: ID!) { assignLicense(userId: $u, addLicenses: [{skuId: "MCOEV"}], '
        "removeLicenses: []) { userErrors { code } } }",
        {"u": gid},
    )["assignLicense"]
    assert out["userErrors"][0]["code"] == "NOT_FOUND"
    key = ApiKey.get(ApiKey.role == "READER", ApiKey.tenant == tenant.id)
    out = intruder(REVOKE_KEY, {"id": _gid("ApiKey", key.id)})["revokeApiKey"]
    assert out["userErrors"][0]["code"] == "NOT_FOUND"
    assert ApiKey.get_by_id(key.id).revoked_at is None
    assert User.get_by_id(ada.id).usage_location == "DE"
    # Its audit log holds only its own tenant's history (its creation and its key).
    log = intruder("{ auditLog { edges { node { action } } } }")["auditLog"]["edges"]
    assert sorted(e["node"]["action"] for e in log) == ["createApiKey", "createTenant"]


def test_create_tenant_is_operator_only(api, keys, client):
    variables = {
        "input": {"name": "Tailspin", "country": "GB", "currency": "GBP", "agreementType": "MCA"}
    }
    assert api(CREATE_TENANT, variables)["createTenant"]["userErrors"][0]["code"] == "FORBIDDEN"
    operator = Api(client, keys["OPERATOR"])
    out = operator(CREATE_TENANT, variables)["createTenant"]
    assert out["tenant"] == {"name": "Tailspin", "currency": "GBP", "agreementType": "MCA"}
    again = operator(CREATE_TENANT, variables)["createTenant"]
    assert again["userErrors"] == [{"field": "name", "code": "DUPLICATE_TENANT"}]
    bad = operator(
        CREATE_TENANT,
        {"input": {"name": "X", "country": "ZZ", "currency": "EUR", "agreementType": "EA"}},
    )["createTenant"]
    assert bad["userErrors"] == [{"field": "country", "code": "INVALID_COUNTRY"}]
    bad = operator(
        CREATE_TENANT,
        {"input": {"name": "X", "country": "DE", "currency": "XXX", "agreementType": "EA"}},
    )["createTenant"]
    assert bad["userErrors"] == [{"field": "currency", "code": "INVALID_CURRENCY"}]
    assert operator("{ tenants { totalCount } }")["tenants"]["totalCount"] == 2


UNICODE = ("Ärzte GmbH", "İstanbul Ofis")


def test_operator_finds_tenants_by_part_of_their_name(keys, client, tenant):
    """tenants(search:): the names containing it, case aside; % _ and \\ taken literally;
    pages and totalCount over the matches only."""
    operator = Api(client, keys["OPERATOR"])
    for name in ("Northwind Traders", "Tailspin Toys", "50% Off_Shop", "Contoso\\Lab") + UNICODE:
        variables = {
            "input": {"name": name, "country": "DE", "currency": "EUR", "agreementType": "EA"}
        }
        assert operator(CREATE_TENANT, variables)["createTenant"]["userErrors"] == []
    query = """query($s: String, $after: String) { tenants(search: $s, first: 1, after: $after) {
      totalCount pageInfo { hasNextPage endCursor } nodes { name } } }"""

    def names(term: str) -> list[str]:
        found, after = [], None
        while True:
            page = operator(query, {"s": term, "after": after})["tenants"]
            found += [n["name"] for n in page["nodes"]]
            if not page["pageInfo"]["hasNextPage"]:
                assert page["totalCount"] == len(found)
                return found
            after = page["pageInfo"]["endCursor"]

    assert names("TOYS") == ["Tailspin Toys"]
    assert names("O") == [
        "Northwind Traders", "Tailspin Toys", "50% Off_Shop", "Contoso\\Lab", "İstanbul Ofis"
    ]  # fmt: skip
    # Case and accents aside, as a user search: by its own name, or without the marks.
    for term in ("Ärzte", "ärzte", "ARZTE", "rzte g"):
        assert names(term) == ["Ärzte GmbH"], term
    for term in ("İstanbul Ofis", "istanbul", "ISTANBUL"):
        assert names(term) == ["İstanbul Ofis"], term
    assert names("%") == ["50% Off_Shop"] and names("_") == ["50% Off_Shop"]
    assert names("\\") == ["Contoso\\Lab"] and names("zz") == []
    assert "Fabrikam" in names("") and len(names("  ")) == 7
    too_long = operator.raw(query, {"s": "x" * 201}).json()
    assert too_long["errors"][0]["extensions"]["code"] == "VALUE_TOO_LONG"


def test_operator_creates_keys_for_a_named_tenant(keys, client, tenant):
    operator = Api(client, keys["OPERATOR"])
    out = operator(
        'mutation { createApiKey(role: LICENSE_ADMIN, tenantId: "Fabrikam") { key '
        "userErrors { code } } }"
    )["createApiKey"]
    assert Api(client, out["key"])("{ viewer { role tenant { name } } }")["viewer"] == {
        "role": "LICENSE_ADMIN",
        "tenant": {"name": "Fabrikam"},
    }
    # An admin of a tenant cannot mint operator keys.
    admin = Api(client, keys["GLOBAL_ADMIN"])
    out = admin(CREATE_KEY, {"role": "OPERATOR"})["createApiKey"]
    assert out["userErrors"] == [{"code": "FORBIDDEN"}]


def test_every_mutation_writes_an_audit_entry(api, tenant):
    before = AuditEntry.select().count()
    api(CREATE_USER)
    api(PURCHASE)
    api(CREATE_KEY, {"role": "READER"})
    entries = list(AuditEntry.select().order_by(AuditEntry.id))[before:]
    assert [e.action for e in entries] == ["createUser", "purchaseSeats", "createApiKey"]
    assert all(e.tenant_id == tenant.id and e.actor_key_id for e in entries)
    assert entries[1].before == {"enabled": 0, "consumed": 0}
    assert entries[1].after["enabled"] == 2
    log = api("{ auditLog(first: 2) { totalCount edges { node { action before after } } } }")
    assert [e["node"]["action"] for e in log["auditLog"]["edges"]] == [
        "createApiKey",
        "purchaseSeats",
    ]


def _gid(type_name: str, pk: int) -> str:
    from commcredits.schema.common import to_global_id

    return str(to_global_id(type_name, pk))


def test_an_operator_sees_a_tenant_through_the_tenant_header(client, keys, tenant, clock):
    add_users(tenant, clock(), [("ada", "DE")])
    operator = Api(client, keys["OPERATOR"])
    errors = operator.errors("{ users { totalCount } }")
    assert errors[0]["extensions"]["code"] == "TENANT_REQUIRED"

    def as_operator(query: str, tenant_ref: str):
        return client.post(
            "/graphql",
            json={"query": query},
            headers={
                "Authorization": f"Bearer {keys['OPERATOR']}",
                "X-Commcredits-Tenant": tenant_ref,
            },
        )

    seen = as_operator("{ tenant { name } users { totalCount } }", "Fabrikam").json()["data"]
    assert seen == {"tenant": {"name": "Fabrikam"}, "users": {"totalCount": 1}}
    assert as_operator("{ tenant { name } }", str(tenant.id)).json()["data"]["tenant"] == {
        "name": "Fabrikam"
    }
    # It looks; it does not act in the tenant's name.
    out = as_operator(CREATE_USER, "Fabrikam").json()["data"]["createUser"]
    assert out["userErrors"][0]["code"] == "FORBIDDEN"
    assert User.select().count() == 1
    missing = as_operator("{ tenant { name } }", "Nowhere")
    assert missing.status_code == 404 and missing.json()["errors"][0]["extensions"]["code"] == (
        "NOT_FOUND"
    )
    # A tenant key may not switch tenant.
    other = client.post(
        "/graphql",
        json={"query": "{ tenant { name } }"},
        headers={"Authorization": f"Bearer {keys['READER']}", "X-Commcredits-Tenant": "Fabrikam"},
    )
    assert other.status_code == 403


@pytest.mark.parametrize("name", ["1", " 42 ", "²"])
def test_a_tenant_name_of_digits_is_refused(keys, client, tenant, name):
    """Tenants are named by id or name (the operator's X-Commcredits-Tenant, a JWT's tenant
    claim): a name of digits would be read as another tenant's id."""
    operator = Api(client, keys["OPERATOR"])
    variables = {"input": {"name": name, "country": "DE", "currency": "EUR", "agreementType": "EA"}}
    out = operator(CREATE_TENANT, variables)["createTenant"]
    assert [(e["field"], e["code"]) for e in out["userErrors"]] == [("name", "INVALID_NAME")]


def test_an_operator_names_a_tenant_of_non_ascii_name_in_the_header(keys, client, tenant):
    """HTTP hands header bytes over as Latin-1; a name sent as UTF-8 is read as written."""
    operator = Api(client, keys["OPERATOR"])
    for name in ("Zürich AG", "Łódź Sp. z o.o."):
        variables = {
            "input": {"name": name, "country": "DE", "currency": "EUR", "agreementType": "EA"}
        }
        assert operator(CREATE_TENANT, variables)["createTenant"]["userErrors"] == []
        response = client.post(
            "/graphql",
            json={"query": "{ tenant { name } }"},
            headers={
                "Authorization": f"Bearer {keys['OPERATOR']}",
                "X-Commcredits-Tenant": name.encode(),
            },
        )
        assert response.json()["data"] == {"tenant": {"name": name}}, response.text
