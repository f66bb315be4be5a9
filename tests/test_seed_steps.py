"""The seed page's steps 1 and 3, end to end through the real ASGI app over HTTP.

Step 1: give users Audio Conferencing and/or a Teams Calling Plan (with Teams Phone).
Step 3: give those users (E5 users too) the Communication Credits license.
"""

from commcredits.models import AuditEntry

Q_SEATS = "{ subscribedSkus { skuPartNumber consumedUnits availableUnits } }"
PURCHASE = """mutation($sku: String!, $q: Int!) {
  purchaseSeats(skuPartNumber: $sku, quantity: $q) { userErrors { code } } }"""
CREATE = """mutation($upn: String!, $loc: String) {
  createUser(input: {userPrincipalName: $upn, usageLocation: $loc}) { userErrors { code } } }"""
ASSIGN = """mutation($u: ID!, $add: [AssignedLicenseInput!]!) {
  assignLicense(userId: $u, addLicenses: $add, removeLicenses: []) {
    user { assignedLicenses { skuPartNumber } } userErrors { code message } } }"""
BATCH = """mutation($upns: [String!]!, $add: [AssignedLicenseInput!]) {
  setUserLicenses(userPrincipalNames: $upns, addLicenses: $add) {
    results { userId status userErrors { code message } } } }"""


def seats(api) -> dict[str, tuple[int, int]]:
    return {
        s["skuPartNumber"]: (s["consumedUnits"], s["availableUnits"])
        for s in api(Q_SEATS)["subscribedSkus"]
    }


def test_seed_steps_one_and_three(api_as):
    billing, licenses = api_as("BILLING_ADMIN"), api_as("LICENSE_ADMIN")
    for sku, quantity in [
        ("MCOMEETADV", 2),
        ("MCOEV", 2),
        ("MCOPSTN1", 1),
        ("SPE_E5", 1),
        ("MCOPSTNC", 4),
    ]:
        assert billing(PURCHASE, {"sku": sku, "q": quantity})["purchaseSeats"]["userErrors"] == []
    people = {"mia": "DE", "noah": "DE", "olga": "US", "piet": "NL", "quinn": None}
    for alias, loc in people.items():
        licenses(CREATE, {"upn": f"{alias}@fabrikam.example", "loc": loc})

    # Step 1: Audio Conferencing for mia, a calling plan (with Teams Phone) for olga, E5 for piet.
    def assign(alias, *parts):
        return licenses(
            ASSIGN, {"u": f"{alias}@fabrikam.example", "add": [{"skuId": p} for p in parts]}
        )["assignLicense"]

    assert assign("mia", "MCOMEETADV")["userErrors"] == []
    plan_only = assign("olga", "MCOPSTN1")
    assert plan_only["userErrors"] == [
        {
            "code": "DependencyViolation",
            "message": "To assign a license that contains MCOPSTN1, you must also assign one of "
            "the following service plans: MCOEV.",
        }
    ]
    assert assign("olga", "MCOEV", "MCOPSTN1")["userErrors"] == []
    assert assign("piet", "SPE_E5")["userErrors"] == []
    no_location = assign("quinn", "MCOMEETADV")
    assert no_location["userErrors"][0]["message"] == (
        "License assignment cannot be done for user with invalid usage location."
    )
    assert assign("noah", "MCOEV", "MCOPSTN1")["userErrors"] == [
        {
            "code": "CountViolation",
            "message": "Subscription for SKU MCOPSTN1 does not have any available licenses.",
        }
    ]
    assert seats(licenses) == {
        "MCOMEETADV": (1, 1),
        "MCOEV": (1, 1),
        "MCOPSTN1": (1, 0),
        "SPE_E5": (1, 0),
        "MCOPSTNC": (0, 4),
    }

    # Step 3: the Communication Credits license for every user who calls (E5 user included).
    upns = [f"{a}@fabrikam.example" for a in ("mia", "olga", "piet", "quinn")]
    out = licenses(BATCH, {"upns": upns, "add": [{"skuId": "MCOPSTNC"}]})["setUserLicenses"]
    assert [r["status"] for r in out["results"]] == ["APPLIED", "APPLIED", "APPLIED", "FAILED"]
    assert out["results"][3]["userErrors"][0]["code"] == "ProhibitedInUsageLocationViolation"
    assert seats(licenses)["MCOPSTNC"] == (3, 1)
    piet = licenses(
        '{ user(userPrincipalName: "piet@fabrikam.example") '
        "{ assignedLicenses { skuPartNumber } } }"
    )["user"]
    assert {lic["skuPartNumber"] for lic in piet["assignedLicenses"]} == {"SPE_E5", "MCOPSTNC"}
    # Re-running step 3 is safe: nothing changes the second time.
    again = licenses(BATCH, {"upns": upns[:3], "add": [{"skuId": "MCOPSTNC"}]})
    assert {r["status"] for r in again["setUserLicenses"]["results"]} == {"UNCHANGED"}
    # Audited: one entry per single-user change, one for the batch naming every user it changed.
    assert AuditEntry.select().where(AuditEntry.action == "assignLicense").count() == 3
    batch = AuditEntry.get(AuditEntry.action == "assignLicenses")
    assert batch.target_type == "UserBatch"
    assert {"licenses": ["MCOPSTNC", "SPE_E5"], "users": ["piet@fabrikam.example"]} in batch.after
    assert {"licenses": ["SPE_E5"], "users": ["piet@fabrikam.example"]} in batch.before
    assert sorted(u for group in batch.after for u in group["users"]) == sorted(upns[:3])


def test_demo_seed_is_idempotent(db_url, clock):
    from commcredits.models import Tenant, User
    from commcredits.services.demo import seed_demo

    tenant, keys = seed_demo(now=clock())
    assert keys is not None and set(keys) == {"operator", "global_admin"}
    users = User.select().where(User.tenant == tenant.id).count()
    assert 20 <= users <= 30
    assert User.select().where(User.usage_location.is_null()).count() >= 3
    again, no_keys = seed_demo(now=clock())
    assert again.id == tenant.id and no_keys is None
    assert Tenant.select().count() == 1 and User.select().count() == users
