"""A user without a usage location calls from the tenant's country (review finding): a user
whose licenses all come from groups may have none, and group licensing already gives it the
tenant's country. Its calls home are domestic, its plan's minutes are that country's pool,
and authorizeCall says the same."""

from __future__ import annotations

from decimal import Decimal

from commcredits.services import authorization, credits, group_assign, groups, rates, rating
from commcredits.services.access import SYSTEM
from commcredits.services.group_assign import GroupLicenseInput
from commcredits.services.pools import minute_pools
from tests.helpers import add_users, buy, upn


def test_a_user_without_usage_location_calls_from_the_tenants_country(tenant, clock):
    now = clock()
    rates.ensure_sample_card(SYSTEM, now=now)
    add_users(tenant, now, [("nol", None)])  # Fabrikam is in DE
    buy(tenant, now, MCOEV=1, MCOPSTN1=1, MCOPSTNC=1)
    group = groups.create_group(tenant, SYSTEM, "Calling", now=now)
    groups.add_members(tenant, SYSTEM, group.id, [upn("nol")], now=now)
    plan = [GroupLicenseInput(s) for s in ("MCOEV", "MCOPSTN1", "MCOPSTNC")]
    group_assign.assign_group_license(tenant, SYSTEM, group.id, plan, [], now=now)
    credits.purchase_credits(tenant, SYSTEM, Decimal("20.00"), idempotency_key="k", now=now)

    allowed = authorization.authorize_call(
        tenant, SYSTEM, upn("nol"), "+493012345678", "DOMESTIC", now=now
    )
    assert (allowed.call_type, allowed.pool_minutes_left) == ("DOMESTIC", 1200)
    call = rating.CallInput("c1", upn("nol"), now, 60, "+493012345678", "DOMESTIC")
    rated = rating.record_call(tenant, SYSTEM, call, now=now).call
    assert (rated.call_type, rated.usage_location) == ("DOMESTIC", "DE")
    assert (rated.pool_minutes, rated.charge_minor) == (1, 0)
    pools = {
        (p.plan, p.country, p.call_type): (p.granted, p.used)
        for p in minute_pools(tenant, rated.month, now=now)
    }
    assert pools == {("MCOPSTN1", "DE", "DOMESTIC"): (1200, 1)}
