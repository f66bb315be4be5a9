"""Small helpers shared by test modules (GraphQL texts live in each module)."""

from __future__ import annotations

from commcredits import db as database
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


def trigger_plans(steps, mentioning: str) -> list[str]:
    """PostgreSQL: the plans of the trigger statements that mention `mentioning` while
    `steps` run (auto_explain of nested statements, sent to this connection as notices), in
    one transaction."""
    conn = database.db.connection()
    plans: list[str] = []
    with database.db.atomic():
        for setting in (
            "LOAD 'auto_explain'",
            "SET LOCAL auto_explain.log_min_duration = 0",
            "SET LOCAL auto_explain.log_nested_statements = on",
            "SET LOCAL client_min_messages = log",
        ):
            database.db.execute_sql(setting)
        for step in steps:
            del conn.notices[:]
            step()
            plans += [n for n in conn.notices if mentioning in n]
    return plans
