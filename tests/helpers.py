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


def plan_inside(function: str, query: str, *, analyze: bool = False) -> str:
    """PostgreSQL: the plan of `query` (a statement's text with its parameters in, as a
    migration's planning function EXECUTEs it) under that function's own settings, read from
    pg_proc, so a test sees what the function does, not settings the test chose."""
    db = database.db
    config = db.execute_sql("SELECT proconfig FROM pg_proc WHERE proname = %s", (function,))
    settings = (config.fetchone() or [None])[0]
    assert settings, f"{function} sets nothing"
    with db.atomic():
        for setting in settings:
            key, value = setting.split("=", 1)
            db.execute_sql("SELECT set_config(%s, %s, true)", (key, value))
        head = "EXPLAIN (ANALYZE, FORMAT JSON) " if analyze else "EXPLAIN "
        rows = db.execute_sql(head + query.replace("%", "%%")).fetchall()
    return rows[0][0] if analyze else "\n".join(r[0] for r in rows)
