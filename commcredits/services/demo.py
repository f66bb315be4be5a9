"""The demo tenant `make run` serves: Contoso (DE, EUR, MOSA) with seats and ~25 users."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from commcredits.models import Tenant
from commcredits.services import (
    credits,
    group_assign,
    groups,
    licenses,
    rating,
    seats,
    tenants,
    users,
)
from commcredits.services.access import SYSTEM, Role, create_api_key
from commcredits.services.licenses import AddLicense, LicenseRequest

DEMO_TENANT = "Contoso"

_PEOPLE = [
    # (alias, display name, department, usage location or None, licenses)
    ("adele.vance", "Adele Vance", "Sales", "DE", ("SPE_E5", "MCOPSTN1")),
    ("alex.wilber", "Alex Wilber", "Sales", "DE", ("SPE_E5",)),
    ("allan.deyoung", "Allan Deyoung", "IT", "DE", ("MCOEV", "MCOPSTN2")),
    ("bianca.pisani", "Bianca Pisani", "Finance", "AT", ("MCOMEETADV",)),
    ("brian.johnson", "Brian Johnson", "IT", "US", ("MCOEV", "MCOPSTN1")),
    ("cameron.white", "Cameron White", "Marketing", "GB", ("SPE_E5", "MCOPSTN5")),
    ("christie.cline", "Christie Cline", "Legal", "FR", ("MCOMEETADV",)),
    ("debra.berger", "Debra Berger", "Executive", "DE", ("SPE_E5", "MCOPSTN2")),
    ("diego.siciliani", "Diego Siciliani", "HR", "IT", ()),
    ("emily.braun", "Emily Braun", "Finance", "DE", ("MCOMEETADV",)),
    ("enrico.cattaneo", "Enrico Cattaneo", "Operations", "IT", ()),
    ("grady.archie", "Grady Archie", "R&D", "DE", ()),
    ("henrietta.mueller", "Henrietta Mueller", "R&D", "DE", ("SPE_E5",)),
    ("irvin.sayers", "Irvin Sayers", "R&D", "CH", ()),
    ("isaiah.langer", "Isaiah Langer", "Sales", "NL", ()),
    ("johanna.lorenz", "Johanna Lorenz", "Engineering", "DE", ()),
    ("joni.sherman", "Joni Sherman", "Legal", None, ()),
    ("lee.gu", "Lee Gu", "Manufacturing", None, ()),
    ("lidia.holloway", "Lidia Holloway", "Engineering", None, ()),
    ("lynne.robbins", "Lynne Robbins", "Retail", "DE", ()),
    ("megan.bowen", "Megan Bowen", "Marketing", "US", ()),
    ("miriam.graham", "Miriam Graham", "Executive", None, ()),
    ("nestor.wilke", "Nestor Wilke", "Operations", "DE", ()),
    ("patti.fernandez", "Patti Fernandez", "Executive", None, ()),
    ("pradeep.gupta", "Pradeep Gupta", "Finance", "BR", ()),
]

# (caller, destination, call type): pool minutes, calls charged to credits, and one blocked.
_DEMO_CALLS = [
    ("adele.vance", "+493012345678", "DOMESTIC"),
    ("adele.vance", "+33142345678", "INTERNATIONAL"),
    ("allan.deyoung", "+14155550123", "INTERNATIONAL"),
    ("debra.berger", "+81312345678", "INTERNATIONAL"),
    ("debra.berger", "+4989123456", "DOMESTIC"),
    ("bianca.pisani", "+442071234567", "CONFERENCE_DIAL_OUT"),
    ("cameron.white", "+498001234567", "TOLL_FREE_INBOUND"),
    ("alex.wilber", "+4915112345678", "DOMESTIC"),
]

_SEATS = {
    "SPE_E5": 10,
    "MCOMEETADV": 10,
    "MCOEV": 10,
    "MCOPSTN1": 5,
    "MCOPSTN2": 5,
    "MCOPSTN5": 5,
    "MCOPSTNC": 25,
}


def seed_demo(*, now: dt.datetime) -> tuple[Tenant, dict[str, str] | None]:
    """Create the demo tenant once. Returns it, with fresh keys only when it was just created."""
    existing = Tenant.select().where(Tenant.name == DEMO_TENANT).first()
    if existing is not None:
        return existing, None
    tenant = tenants.create_tenant(
        SYSTEM, name=DEMO_TENANT, country="DE", currency="EUR", agreement_type="MOSA", now=now
    )
    for part, quantity in _SEATS.items():
        seats.purchase_seats(tenant, SYSTEM, part, quantity, now=now)
    requests = []
    for alias, name, department, location, skus in _PEOPLE:
        given, _, surname = name.partition(" ")
        users.create_user(
            tenant,
            SYSTEM,
            users.UserFields(
                user_principal_name=f"{alias}@contoso.example",
                display_name=name,
                given_name=given,
                surname=surname,
                department=department,
                usage_location=location,
            ),
            now=now,
        )
        if skus:
            add = tuple(AddLicense(s) for s in skus)
            requests.append(LicenseRequest(user=f"{alias}@contoso.example", add=add))
    licenses.assign_licenses(tenant, SYSTEM, requests, now=now)
    # The seed page's steps 2 and 3: fund credits (which adds Communication Credits seats),
    # turn on auto-recharge, give the calling users the credits license, and rate a few calls.
    credits.purchase_credits(
        tenant, SYSTEM, Decimal("200.00"), idempotency_key="demo-seed", now=now
    )
    credits.configure_auto_recharge(
        tenant,
        SYSTEM,
        enabled=True,
        recharge_amount=Decimal("100.00"),
        trigger_balance=Decimal("20.00"),
        now=now,
    )
    callers = [f"{alias}@contoso.example" for alias, *_, skus in _PEOPLE if skus]
    credits_license = (AddLicense("MCOPSTNC"),)
    licenses.assign_licenses(
        tenant, SYSTEM, [LicenseRequest(u, credits_license) for u in callers], now=now
    )
    # A licensed group (issue 18): the sales team inherits Audio Conferencing from "Sales".
    sales = groups.create_group(
        tenant, SYSTEM, "Sales", "Audio Conferencing for the sales team", now=now
    )
    members = [f"{alias}@contoso.example" for alias, _, dept, *_ in _PEOPLE if dept == "Sales"]
    groups.add_members(tenant, SYSTEM, sales.id, members, now=now)
    group_assign.assign_group_license(
        tenant, SYSTEM, sales.id, [group_assign.GroupLicenseInput("MCOMEETADV")], [], now=now
    )
    calls = [
        rating.CallInput(
            call_id=f"demo-{i}",
            user=f"{alias}@contoso.example",
            started_at=now - dt.timedelta(hours=i + 1),
            duration_seconds=60 * (i + 2) + 17,
            destination=destination,
            call_type=call_type,
        )
        for i, (alias, destination, call_type) in enumerate(_DEMO_CALLS)
    ]
    rating.record_calls(tenant, SYSTEM, calls, now=now)
    _, operator_key = create_api_key(
        SYSTEM, role=Role.OPERATOR, tenant=None, name="demo operator", now=now
    )
    _, admin_key = create_api_key(
        SYSTEM, role=Role.GLOBAL_ADMIN, tenant=tenant, name="demo global admin", now=now
    )
    return tenant, {"operator": operator_key, "global_admin": admin_key}
