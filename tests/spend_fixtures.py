"""Shared by the calling-policy and spend-limit tests: an office of DE users and GraphQL texts.

Prices of the SAMPLE card (EUR) the tests rely on: a DE user's call to +1 212… is INTERNATIONAL
at 0.0180 per minute (MCOPSTN1 has no international pool: every minute is charged); +49 30… is
DOMESTIC from the pool (1,200 minutes per MCOPSTN1 user in DE); +1 900… dial-out is premium
(0.9500, no pool); +49 800… is TOLL_FREE_INBOUND at 0.0300; +49 112 is DE's emergency number.
"""

from __future__ import annotations

from decimal import Decimal

from commcredits.services import credits, licenses, rates
from commcredits.services.access import SYSTEM
from commcredits.services.licenses import AddLicense, LicenseRequest
from tests.helpers import add_users, buy, upn

DOMAIN = "fabrikam.example"
US = "+12125550100"  # INTERNATIONAL from DE, 0.0180 / minute
DE = "+493012345678"  # DOMESTIC, from the pool
PREMIUM_US = "+19005550100"  # CONFERENCE_DIAL_OUT premium: 0.9500 / minute, no pool
TOLL_FREE = "+49800123456"  # TOLL_FREE_INBOUND, 0.0300 / minute
EMERGENCY = "+49112"

CREATE = """
mutation($input: CreateCallingPolicyInput!) {
  createCallingPolicy(input: $input) {
    policy { name description enableSpendLimits callingSpendUserLimit { amount currency } }
    userErrors { field code message }
  }
}"""
UPDATE = """
mutation($name: String!, $input: UpdateCallingPolicyInput!) {
  updateCallingPolicy(name: $name, input: $input) {
    policy { name description enableSpendLimits callingSpendUserLimit { amount currency } }
    userErrors { field code message }
  }
}"""
REMOVE = """
mutation($name: String!) {
  removeCallingPolicy(name: $name) { policy { name } userErrors { field code message } }
}"""
GRANT = """
mutation($users: [ID!], $global: Boolean, $name: String) {
  grantCallingPolicy(userIds: $users, global: $global, policyName: $name) {
    policy { name description enableSpendLimits callingSpendUserLimit { amount currency } }
    global userIds
    userErrors { field code message }
  }
}"""
RECORD = """
mutation($items: [CallRecordInput!]!) {
  recordCalls(items: $items) {
    results { callId status reason call { callType poolMinutes chargedMinutes charge }
              userErrors { code message } }
  }
}"""
AUTHORIZE = """
query($u: ID!, $d: String!, $t: CallType!) {
  authorizeCall(userId: $u, destination: $d, callType: $t) {
    allowed reason callType poolMinutesLeft maxMinutesAffordable
  }
}"""
USER_SPEND = """
query($u: String!) {
  user(userPrincipalName: $u) {
    callingPolicy { name source effective { name enableSpendLimits
      callingSpendUserLimit { amount currency } } }
    spendThisMonth { amount currency }
    spendLimitLeft { amount currency }
  }
}"""


def make_office(tenant, clock, *, calling_plan: str = "MCOPSTN1"):
    """Fabrikam (EUR): three DE users with Phone System, a calling plan (domestic unless
    said), Audio Conferencing and Communication Credits; 20.00 EUR of credits."""
    now = clock()
    rates.ensure_sample_card(SYSTEM, now=now)
    people = ("ann", "bob", "cem")
    add_users(tenant, now, [(a, "DE") for a in people], domain=DOMAIN)
    skus = ("MCOEV", calling_plan, "MCOMEETADV", "MCOPSTNC")
    buy(tenant, now, **dict.fromkeys(skus, 5))
    licenses.assign_licenses(
        tenant,
        SYSTEM,
        [LicenseRequest(upn(a), tuple(AddLicense(s) for s in skus)) for a in people],
        now=now,
    )
    credits.purchase_credits(tenant, SYSTEM, Decimal("20.00"), idempotency_key="f-1", now=now)
    return tenant


def call(
    cid: str,
    who: str,
    dest: str = US,
    minutes: int = 20,
    call_type: str = "INTERNATIONAL",
    at: str = "2026-11-25T09:00:00Z",
) -> dict:
    return {
        "callId": cid,
        "userPrincipalName": upn(who),
        "startedAt": at,
        "durationSeconds": minutes * 60,
        "destination": dest,
        "callType": call_type,
    }


def record(api, *items: dict) -> list[dict]:
    return api(RECORD, {"items": list(items)})["recordCalls"]["results"]


def policy(api, name: str, limit: str | None, *, enabled: bool = True, **more) -> dict:
    data = {"name": name, "enableSpendLimits": enabled, "callingSpendUserLimit": limit, **more}
    return api(CREATE, {"input": data})["createCallingPolicy"]


def grant(api, name, users=None, global_=None) -> dict:
    return api(GRANT, {"users": users, "global": global_, "name": name})["grantCallingPolicy"]
