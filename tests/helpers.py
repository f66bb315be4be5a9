"""Small helpers shared by test modules (GraphQL texts live in each module)."""

from __future__ import annotations

from commcredits.models import Tenant
from commcredits.services import seats, users
from commcredits.services.access import SYSTEM
from commcredits.services.tenants import create_tenant


def add_users(
    tenant: Tenant, now, specs: list[tuple[str, str | None]], *, domain: str = "fabrikam.example"
) -> None:
    """Create users from (alias, usage location) pairs; UPN is alias@domain."""
    for alias, location in specs:
        users.create_user(
            tenant,
            SYSTEM,
            users.UserFields(user_principal_name=f"{alias}@{domain}", usage_location=location),
            now=now,
        )


def add_five_users(tenant: Tenant, now) -> Tenant:
    """The group tests' organisation: anna, ben and carla in Germany, dana without a usage
    location, eve in Brazil (alias@fabrikam.example); returns the tenant."""
    add_users(
        tenant,
        now,
        [("anna", "DE"), ("ben", "DE"), ("carla", "DE"), ("dana", None), ("eve", "BR")],
    )
    return tenant


def buy(tenant: Tenant, now, **quantities: int) -> None:
    for part, quantity in quantities.items():
        seats.purchase_seats(tenant, SYSTEM, part, quantity, now=now)


def other_tenant(now, name: str = "Northwind") -> Tenant:
    return create_tenant(
        SYSTEM, name=name, country="US", currency="USD", agreement_type="MOSA", now=now
    )
