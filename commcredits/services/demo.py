"""The demo tenant `make run` serves: Contoso (DE, EUR, MOSA) with seats and ~25 users."""

from __future__ import annotations

import datetime as dt

from commcredits.models import Tenant
from commcredits.services import licenses, seats, tenants, users
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
    _, operator_key = create_api_key(
        SYSTEM, role=Role.OPERATOR, tenant=None, name="demo operator", now=now
    )
    _, admin_key = create_api_key(
        SYSTEM, role=Role.GLOBAL_ADMIN, tenant=tenant, name="demo global admin", now=now
    )
    return tenant, {"operator": operator_key, "global_admin": admin_key}
