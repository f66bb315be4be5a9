"""authorizeCall's statements (bench/README.md "authorizeCall under rating load"): what it
reads with no policy configured and with every kind configured, on both databases, and that
the outcomes still follow the policies (rating's reads, services/rating_policies.py)."""

from __future__ import annotations

from decimal import Decimal

from commcredits import db as database
from tests.test_rating import (  # noqa: F401 (office: a fixture)
    AUTHORIZE,
    configure_every_policy,
    office,
    upn,
)

POLICY_TABLES = ("dial_out_grant", "group_policy_grant", "calling_policy", "pstn_block")


def ask(api, who: str, dest: str, kind: str) -> tuple[dict, list[str]]:
    """The answer, and the statements of authorizeCall itself: from its first (the user),
    after those every request pays (the API key, the tenant)."""
    with database.count_statements() as seen:
        out = api(AUTHORIZE, {"u": upn(who), "d": dest, "t": kind})["authorizeCall"]
    first = next(i for i, q in enumerate(seen) if q.startswith("SELECT u.id"))
    assert first <= 2, seen[:first]  # the request's own: the key and the tenant, no policy
    return out, list(seen[first:])


def test_with_no_policy_configured_authorize_call_costs_four_statements(api, office):  # noqa: F811
    """The user with their licences and which policies the tenant has (one statement), the
    catalog, the destination's rates, the credit account: nothing else, on either database."""
    out, seen = ask(api, "de1", "+33142345678", "INTERNATIONAL")
    assert (out["allowed"], out["maxMinutesAffordable"]) == (True, 833)
    assert len(seen) == 4, seen
    assert "license_assignment" in seen[0]  # the user row with their licences
    # Policies: only the first statement's questions whether the tenant has any.
    for table in POLICY_TABLES:
        assert not [q for q in seen[1:] if f"FROM {table}" in q], table
    # By id as by user principal name; an unknown user is still "not found".
    errors = api.errors(
        AUTHORIZE, {"u": "zoe@fabrikam.example", "d": "+4930123456", "t": "DOMESTIC"}
    )
    assert errors[0]["extensions"]["code"] == "NOT_FOUND"


def test_with_every_policy_configured_authorize_call_reads_each_once(api, office, clock):  # noqa: F811
    """A dial-out grant, a group's dial-out and calling grants, a spend limit and a PSTN
    block: four reads of them (both group kinds in one) and the limited user's spend, and
    the reasons they give."""
    now = clock()
    configure_every_policy(office, Decimal("0.05"), now=now)

    out, seen = ask(api, "de1", "+33142345678", "INTERNATIONAL")
    assert (out["allowed"], out["reason"]) == (False, "USER_BLOCKED")
    out, _ = ask(api, "de2", "+493012345678", "DOMESTIC")
    assert (out["allowed"], out["reason"]) == (False, "DIAL_OUT_RESTRICTED")  # the group's
    out, _ = ask(api, "us1", "+12125550100", "DOMESTIC")  # its own DomesticOnly: domestic
    assert (out["allowed"], out["maxMinutesAffordable"]) == (True, 1440)
    out, _ = ask(api, "us1", "+33142345678", "INTERNATIONAL")
    assert (out["allowed"], out["reason"]) == (False, "DIAL_OUT_RESTRICTED")
    # payg inherits Capped's 0.05 a month from its group, none spent yet: 3 minutes at 0.018
    # cost 0.054, charged 0.05 (half up, as rating charges), which the limit still takes.
    out, limited_seen = ask(api, "payg", "+442071234567", "DOMESTIC")
    assert (out["allowed"], out["maxMinutesAffordable"]) == (True, 3)

    # de1: the four below the first three (the user, the catalog, the rates), then no more
    # (blocked). payg: the same four, the credit account and its month's spend.
    def policy_reads(statements: list[str]) -> list[str]:
        return [q for q in statements[3:] if any(f"FROM {t}" in q for t in POLICY_TABLES)]

    assert len(policy_reads(seen)) == 4, seen
    assert len(seen) == 7, seen
    assert len(policy_reads(limited_seen)) == 4, limited_seen
    assert len(limited_seen) == 9, limited_seen
    assert not [q for q in seen if q.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]
