"""Small helpers shared by test modules (GraphQL texts live in each module)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import peewee

from commcredits import db as database
from commcredits.db import insert_values
from commcredits.models import (
    ALL_MODELS,
    Group,
    GroupLicense,
    GroupLicenseState,
    GroupMember,
    Sku,
    Tenant,
    User,
)
from commcredits.services import groups, seats, users
from commcredits.services.access import SYSTEM
from commcredits.services.group_summary import LicenseSummary
from commcredits.services.tenants import create_tenant

DOMAIN = "fabrikam.example"  # the test organisation's users: alias@DOMAIN


def upn(alias: str) -> str:
    return f"{alias}@{DOMAIN}"


def uid(alias: str) -> int:
    """The id of the test organisation's user `alias`."""
    return User.get(User.upn_key == upn(alias)).id


def add_users(
    tenant: Tenant, now, specs: list[tuple[str, str | None]], *, domain: str = DOMAIN
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


def numbered_upn(i: int, domain: str = "fabrikam") -> str:
    return f"user{i:05d}@{domain}.example"


def group_with_errors(
    tenant: Tenant, now, n: int, in_error: Callable[[int], int], domain: str = "fabrikam"
) -> Group:
    """A group of users 0 … n-1 (of `domain`), added in reverse (member order is not user
    order), holding two SKUs; member i is in error for `in_error(i)` of them (0, 1 or 2)."""
    upns = [numbered_upn(i, domain) for i in range(n)]
    rows = [
        {"tenant": tenant.id, "user_principal_name": upn, "upn_key": upn,
         "usage_location": "DE", "created_at": now, "updated_at": now, "search_text": upn}
        for upn in upns
    ]  # fmt: skip
    with database.db.atomic():
        for start in range(0, n, 500):
            User.insert_many(rows[start : start + 500]).execute()
    ids = dict(
        User.select(User.upn_key, User.id)
        .where((User.tenant == tenant.id) & User.upn_key.in_(upns))
        .tuples()
    )
    group = groups.create_group(tenant, SYSTEM, f"Group of {n}", now=now)
    skus = [Sku.get(Sku.part_number == p).id for p in ("SPE_E5", "MCOEV")]
    at = GroupMember.added_at.db_value(now)
    members, states = [], []
    for i in reversed(range(n)):
        user = ids[upns[i]]
        members.append((group.id, user, at))
        for k, sku in enumerate(skus):
            error = k < in_error(i)
            states.append((tenant.id, group.id, user, sku,
                           "Error" if error else "Active", "CountViolation" if error else None,
                           "[]", at))  # fmt: skip
    with database.db.atomic():
        for sku in skus:
            GroupLicense.create(group=group.id, sku=sku, assigned_at=now)
        for start in range(0, len(members), 500):
            insert_values("group_member", ("group_id", "user_id", "added_at"),
                          members[start : start + 500])  # fmt: skip
        for start in range(0, len(states), 500):
            insert_values(
                "group_license_state",
                ("tenant_id", "group_id", "user_id", "sku_id", "state", "error",
                 "disabled_plans", "updated_at"),
                states[start : start + 500],
            )  # fmt: skip
    return Group.get_by_id(group.id)


def statements_sent(read: Callable[[], Any]) -> list[tuple[str, Any]]:
    """Run `read` and return each statement it sent, with its parameters."""
    db = database.db
    sent: list[tuple[str, Any]] = []
    real = db.obj.execute_sql

    def spy(sql: str, params: Any = None, *args: Any, **kwargs: Any) -> Any:
        sent.append((sql, params))
        return real(sql, params, *args, **kwargs)

    db.obj.execute_sql = spy
    try:
        read()
    finally:
        db.obj.execute_sql = real
    return sent


def sqlite_steps(sql: str, params: Any) -> int:
    """SQLite: the virtual machine's steps running a statement (a progress handler called at
    each), the work it does whatever the machine's speed."""
    steps = [0]

    def step() -> int:
        steps[0] += 1
        return 0

    conn = database.db.connection()
    conn.set_progress_handler(step, 1)
    try:
        database.db.execute_sql(sql, params).fetchall()
    finally:
        conn.set_progress_handler(None, 1)
    return steps[0]


def rows_read(node: dict) -> int:
    """PostgreSQL: the rows a plan (EXPLAIN ANALYZE's JSON node) read: index and table entries,
    filtered out ones included, times loops."""
    here = 0
    if node["Node Type"].endswith("Scan"):
        per_loop = node["Actual Rows"] + node.get("Rows Removed by Filter", 0)
        here = per_loop * node["Actual Loops"]
    return here + sum(rows_read(child) for child in node.get("Plans", ()))


def license_summary_from_states(group_id: int) -> LicenseSummary:
    """The summary worked out from the group's rows, as the states say it."""
    members = {
        m.user_id for m in GroupMember.select().where(GroupMember.group == group_id)
    }  # fmt: skip
    skus = {gl.sku_id for gl in GroupLicense.select().where(GroupLicense.group == group_id)}
    states = list(GroupLicenseState.select().where(GroupLicenseState.group == group_id))
    active = {(s.user_id, s.sku_id) for s in states if s.state == "Active"}
    by_code: dict[str, set[int]] = {}
    for s in states:
        if s.state == "Error":
            by_code.setdefault(s.error, set()).add(s.user_id)
    return LicenseSummary(
        members=len(members),
        licensed=sum(1 for u in members if skus and all((u, s) in active for s in skus)),
        in_error=len(set().union(*by_code.values())),
        errors={code: len(who) for code, who in sorted(by_code.items())},
    )


@contextmanager
def older_schema() -> Iterator[None]:
    """A connection to a database an older migration left, with today's models lacking the
    columns later migrations add (Tenant.search_name, …) until the block ends: today's
    services seed it with the rows that version wrote and read them back, writing and reading
    only the columns it has (a value given for a missing one stays on the Python object)."""
    removed: list[tuple[type, peewee.Field]] = []
    with database.db.connection_context():
        try:
            for model in ALL_MODELS:
                present = {c.name for c in database.db.get_columns(model._meta.table_name)}
                for field in list(model._meta.sorted_fields) if present else ():
                    if field.column_name not in present:
                        model._meta.remove_field(field.name)
                        delattr(model, field.name)
                        removed.append((model, field))
            yield
        finally:
            for model, field in removed:
                model._meta.add_field(field.name, field)
