"""Reads never write (SPEC §4; STYLE.md "Reads and writes apart").

The tenant is in the state that tempts a read to write: its only lots are past `expires_at`,
no `expire` has run, and auto-recharge is on with the balance (once expiry is counted) below
the trigger. Then every Query field of the schema — enumerated from the schema, with
arguments generated from their types and selections that reach every nested resolver a few
levels down — is asked at every role that can read, over the real ASGI app, and:

1. no row of any table changes (the API key's "last used" stamp aside);
2. every statement a request runs is a plain SELECT: no INSERT/UPDATE/DELETE, no transaction
   (`BEGIN …`, seen by wrapping the database's `begin`), no `FOR [NO KEY] UPDATE`/`FOR SHARE`,
   no advisory lock — except the key's "last used" UPDATE, matched exactly;
3. the payment gateway is never called;
4. neither tenant write lock (`tenant_lock`, `directory_lock`) is entered.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLUnionType,
    Undefined,
)

from commcredits import db as database
from commcredits.models import ApiKey
from commcredits.services import billing, credits, group_assign, groups, payments, rating, webhooks
from commcredits.services.access import SYSTEM
from commcredits.services.tenants import create_tenant
from tests.conftest import T0, Api
from tests.helpers import add_users, buy
from tests.schema_walk import GQL, deep_selection, literal, root_fields, unwrap, value_for

DEPTH = 4  # object levels below each root field's own type (connection wrappers are free)
ROLES = ("GLOBAL_ADMIN", "BILLING_ADMIN", "LICENSE_ADMIN", "READER", "OPERATOR@tenant", "OPERATOR")
ALPHA = "alpha@fabrikam.example"  # calling plan + Communication Credits
BETA = "beta@fabrikam.example"  # audio conferencing only
LOCKS = ("tenant_lock", "directory_lock")

# The one write a read may cause: `authenticate` stamps the key's last use, at most once per
# LAST_USED_RESOLUTION (services/access.py). Matched exactly, so no other UPDATE slips by.
_KEY = ApiKey._meta.table_name
_STAMP = ApiKey.last_used_at.column_name
KEY_STAMP = re.compile(rf'UPDATE "{_KEY}" SET "{_STAMP}" = \S+ WHERE \("{_KEY}"\."id" = \S+\)')
LOCKING = re.compile(r"\bFOR\s+(NO\s+KEY\s+)?(UPDATE|SHARE)\b|\bpg_\w*advisory|\bBEGIN\b", re.I)
# A response carrying one of these did not run the field as meant: the test would be vacuous.
BROKEN = {"GRAPHQL_VALIDATION_FAILED", "QUERY_TOO_EXPENSIVE", "INTERNAL_ERROR", None}


class RecordingGateway:
    """Answers as the built-in gateway does and remembers every charge asked of it."""

    name = "recording"

    def __init__(self) -> None:
        self.inner = payments.BuiltinGateway()
        self.charges: list[dict[str, Any]] = []

    def charge(self, **kw: Any) -> Any:
        self.charges.append(kw)
        return self.inner.charge(**kw)


@dataclass
class Seen:
    """What requests did besides SELECT: transactions begun and write locks entered."""

    begun: list[str] = field(default_factory=list)
    locks: list[str] = field(default_factory=list)


@pytest.fixture
def gateway() -> Iterator[RecordingGateway]:
    recording = RecordingGateway()
    previous = payments.set_gateway(recording)
    try:
        yield recording
    finally:
        payments.set_gateway(previous)


@pytest.fixture
def seen(db_url, app, monkeypatch) -> Seen:
    """Transactions and lock entries, recorded (and let through, so the SQL shows too)."""
    found = Seen()
    bound = database.db.obj
    begin = bound.begin

    def recording_begin(*args: Any, **kwargs: Any) -> Any:
        found.begun.append(" ".join(["BEGIN", *map(str, args), *map(str, kwargs.values())]))
        return begin(*args, **kwargs)

    monkeypatch.setattr(bound, "begin", recording_begin)
    # Every module that imported a lock by name (`from commcredits.db import tenant_lock`)
    # holds its own reference: patch them all, found by identity. Importing the schema (see
    # tests/schema_walk.py) imported every resolver and the services they reach; a module
    # imported later still shows in the SQL (BEGIN, FOR NO KEY UPDATE, pg_advisory_xact_lock).
    for name in LOCKS:
        patched = []
        original = getattr(database, name)

        @contextmanager
        def watched(tenant_id: int, _name: str = name, _original: Any = original) -> Iterator:
            found.locks.append(f"{_name}({tenant_id})")
            with _original(tenant_id):
                yield

        for module in list(sys.modules.values()):
            if (getattr(module, "__name__", "") or "").startswith("commcredits") and getattr(
                module, name, None
            ) is original:
                monkeypatch.setattr(module, name, watched)
                patched.append(module.__name__)
        assert "commcredits.db" in patched and len(patched) > 1, (name, patched)
    return found


@pytest.fixture
def due(tenant, clock, client, keys, gateway) -> dict[str, Any]:
    """Fabrikam with users, licenses, rated calls, invoices, notifications, a webhook and a
    billing profile, its credit lots bought 13 months ago (past expiry, never expired) and
    auto-recharge on: balance 0 < trigger 50.00 once expiry counts."""
    now = clock()
    buy(tenant, now, MCOEV=5, MCOPSTN1=5, MCOMEETADV=5)
    add_users(tenant, now, [("alpha", "DE"), ("beta", "DE"), ("gamma", None)])
    # A licensed group whose members wait for seats (no SPE_E5 bought): errors to report.
    sales = groups.create_group(tenant, SYSTEM, "Sales", now=now)
    groups.add_members(tenant, SYSTEM, sales.id, [ALPHA, "gamma@fabrikam.example"], now=now)
    group_assign.assign_group_license(
        tenant, SYSTEM, sales.id, [group_assign.GroupLicenseInput("SPE_E5")], [], now=now
    )
    credits.purchase_credits(tenant, SYSTEM, Decimal("10.00"), idempotency_key="lot-1", now=now)
    admin = Api(client, keys["GLOBAL_ADMIN"])
    for user, skus in ((ALPHA, ("MCOEV", "MCOPSTN1", "MCOPSTNC")), (BETA, ("MCOMEETADV",))):
        add = ", ".join(f'{{skuId: "{sku}"}}' for sku in skus)
        admin(
            f'mutation {{ setUserLicenses(userPrincipalNames: ["{user}"], addLicenses: [{add}]) '
            "{ summary { applied } } }"
        )
    calls = [
        rating.CallInput(
            call_id=f"call-{i}",
            user=user,
            started_at=now,
            duration_seconds=90,
            destination=destination,
            call_type=kind,
        )
        for i, (user, destination, kind) in enumerate(
            [
                (ALPHA, "+33142345678", "INTERNATIONAL"),  # paid from credits
                (ALPHA, "+4930123456", "DOMESTIC"),  # from the domestic pool
                (BETA, "+33142345678", "INTERNATIONAL"),  # blocked: no calling plan
            ]
        )
    ]
    rating.record_calls(tenant, SYSTEM, calls, now=now)
    billing.update_billing_profile(
        tenant,
        SYSTEM,
        billing.BillingFields(
            company_name="Fabrikam GmbH",
            contact_email="billing@fabrikam.example",
            vat_id="DE123456789",
        ),
        now=now,
    )
    webhooks.set_webhook(tenant, SYSTEM, "http://127.0.0.1:9/hook", now=now)
    # Below the trigger at once: one recharge now (a second lot, a second invoice, a note).
    credits.configure_auto_recharge(
        tenant,
        SYSTEM,
        enabled=True,
        recharge_amount=Decimal("20.00"),
        trigger_balance=Decimal("50.00"),
        now=now,
    )
    # An MCA tenant with a credit limit, so an operator's `tenants` list has a creditLimit.
    contoso = create_tenant(
        SYSTEM, name="Contoso", country="US", currency="USD", agreement_type="MCA", now=now
    )
    credits.set_credit_limit(contoso, SYSTEM, Decimal("100.00"), now=now)
    clock.advance(days=400)  # 13 months on: every lot is past `expires_at`, none expired
    gateway.charges.clear()
    return {"tenant": tenant, "keys": keys, "client": client}


def _headers(keys: dict[str, str], role: str, tenant_name: str) -> dict[str, str]:
    if role == "OPERATOR@tenant":
        return {"Authorization": f"Bearer {keys['OPERATOR']}", "X-Commcredits-Tenant": tenant_name}
    return {"Authorization": f"Bearer {keys[role]}"}


# -- generated operations ----------------------------------------------------------------------


class Arguments:
    """Argument values: named domain values where the name says what is meant, every enum
    value, both booleans, ids of the matching Node type (from earlier answers), else the
    isolation test's `value_for`. One argument set per field to start with, then one more per
    further candidate of each argument (varied one at a time) and per filter, filled in."""

    ALWAYS = ("first",)  # optional arguments always given (connections: first 5)

    def __init__(self, now: dt.datetime, ids: dict[str, str]):
        self.ids = ids  # Node type name -> one global id of it
        self.named: dict[str, list[Any]] = {
            "first": [5],
            "month": [T0.strftime("%Y-%m"), now.strftime("%Y-%m")],
            "userId": [ALPHA, BETA],
            "userPrincipalName": [ALPHA],
            "user": [ALPHA],
            "destination": ["+33142345678", "+4930123456"],
            "number": [1, 2],
            "days": [30, 400],
            "search": ["alpha"],
            "usageLocation": ["DE"],
            "hasLicense": ["MCOPSTN1"],
            "country": ["FR"],
            "currency": ["EUR"],
            "prefix": ["33"],
            "action": ["purchaseCredits"],
            "targetType": ["Invoice"],
            "reference": ["call-0"],
            "from": [T0.isoformat()],
            "to": [now.isoformat()],
        }

    def _ids_for(self, arg_name: str, returns: Any) -> list[str]:
        wanted: set[str] | None = None
        if arg_name == "id" and isinstance(returns, GraphQLObjectType):
            wanted = {returns.name}
        elif arg_name.lower().endswith("id") and arg_name != "id":
            stem = arg_name[:-2].lower()
            wanted = {n for n in self.ids if n.lower().endswith(stem)}
        return [v for n, v in sorted(self.ids.items()) if wanted is None or n in wanted]

    def candidates(self, name: str, t: Any, returns: Any = None) -> list[Any]:
        base = t.of_type if isinstance(t, GraphQLNonNull) else t
        if isinstance(base, GraphQLList):
            return [[c] for c in self.candidates(name, base.of_type, returns)[:1]]
        if isinstance(base, GraphQLInputObjectType):
            filled = {}
            for fname, f in base.fields.items():
                found = self.candidates(fname, f.type)
                if found:
                    filled[fname] = found[0]
            return [filled]
        if getattr(base, "name", None) == "ID":
            return self._ids_for(name, returns)
        if name in self.named:
            return self.named[name]
        if isinstance(base, GraphQLEnumType):
            return list(base.values)
        if base.name == "Boolean":
            return [False, True]
        return [value_for(name, t, ["x"], 0)]

    def sets(self, owner: Any, f: GraphQLField) -> list[dict[str, Any]]:
        returns = unwrap(f.type)
        start: dict[str, Any] = {}
        more: list[tuple[str, Any]] = []
        for name, arg in f.args.items():
            found = self.candidates(name, arg.type, returns)
            required = isinstance(arg.type, GraphQLNonNull) and arg.default_value is Undefined
            if not found:
                if required:
                    return []  # cannot be asked (yet: its ids come from earlier answers)
                continue
            given = name in self.ALWAYS or unwrap(arg.type).name == "ID"
            if given or isinstance(arg.type, GraphQLNonNull):  # with or without a default
                start[name] = found[0]
                more += [(name, c) for c in found[1:]]
            elif isinstance(unwrap(arg.type), GraphQLInputObjectType) or name in self.named:
                more.append((name, found[0]))
        found_sets = [start] + [start | {name: c} for name, c in more]
        unique: dict[str, dict[str, Any]] = {}
        for values in found_sets:
            unique.setdefault(repr(sorted(values.items(), key=str)), values)
        return list(unique.values())

    def operations(self) -> list[tuple[str, str]]:
        """(root field, query text) for every Query field and argument set."""
        found = []
        by_id = {v: k for k, v in self.ids.items()}
        for name, f in root_fields("query"):
            returns = unwrap(f.type)
            for values in self.sets(GQL.query_type, f) if f.args else [{}]:
                only = None
                if isinstance(returns, GraphQLInterfaceType | GraphQLUnionType):
                    only = next((by_id[v] for v in values.values() if v in by_id), None)
                args = ", ".join(f"{k}: {literal(v, f.args[k].type)}" for k, v in values.items())
                head = f"{name}({args})" if args else name
                selection = deep_selection(f.type, self.sets, depth=DEPTH, only=only)
                found.append((name, f"query {{ {head} {selection} }}"))
        return found


def _collect_ids(value: Any, into: dict[str, str]) -> None:
    if isinstance(value, dict):
        if isinstance(value.get("id"), str) and isinstance(value.get("__typename"), str):
            into.setdefault(value["__typename"], value["id"])
        for inner in value.values():
            _collect_ids(inner, into)
    elif isinstance(value, list):
        for inner in value:
            _collect_ids(inner, into)


# -- checks ----------------------------------------------------------------------------------


def snapshot() -> dict[str, list[tuple]]:
    """Every row of every table, sorted; the key "last used" column left out (see KEY_STAMP)."""
    tables: dict[str, list[tuple]] = {}
    for table in sorted(database.db.get_tables()):
        if table == "directory_user_search":
            # SQLite's contentless FTS5 table cannot be scanned (migration 0020); its shadow
            # tables (`directory_user_search_data`, `_idx`, …) hold all it stores, and are read.
            continue
        cursor = database.db.execute_sql(f'SELECT * FROM "{table}"')
        columns = [c[0] for c in cursor.description]
        keep = [i for i, c in enumerate(columns) if not (table == _KEY and c == _STAMP)]
        rows = [tuple(row[i] for i in keep) for row in cursor.fetchall()]
        tables[table] = sorted(rows, key=repr)
    return tables


def changes(before: dict[str, list[tuple]], after: dict[str, list[tuple]]) -> list[str]:
    found = []
    for table in sorted(set(before) | set(after)):
        old, new = before.get(table, []), after.get(table, [])
        if old != new:
            gone = [r for r in old if r not in new][:3]
            added = [r for r in new if r not in old][:3]
            found.append(f"{table}: {len(old)} -> {len(new)} rows; gone {gone}; new {added}")
    return found


def not_a_read(statements: list[str]) -> list[str]:
    """Statements other than a plain SELECT (and the key stamp), whitespace folded."""
    found = []
    for sql in statements:
        text = " ".join(sql.split())
        if KEY_STAMP.fullmatch(text):
            continue
        if not text.upper().startswith("SELECT ") or LOCKING.search(text):
            found.append(text[:200])
    return found


@dataclass
class Outcome:
    body: dict[str, Any]
    problems: list[str]
    stamps: int


def ask(client, headers: dict[str, str], text: str, seen: Seen, gateway) -> Outcome:
    """One request, and everything it did that a read must not."""
    begun, locks, charges = len(seen.begun), len(seen.locks), len(gateway.charges)
    with database.count_statements() as statements:
        response = client.post("/graphql", json={"query": text}, headers=headers)
    problems = []
    if response.status_code != 200:
        problems.append(f"HTTP {response.status_code}: {response.text[:300]}")
    problems += [f"statement: {s}" for s in dict.fromkeys(not_a_read(statements))]
    problems += [f"transaction: {b}" for b in seen.begun[begun:]]
    problems += [f"lock: {lock}" for lock in seen.locks[locks:]]
    problems += [f"gateway charge: {c}" for c in gateway.charges[charges:]]
    stamps = sum(1 for s in statements if KEY_STAMP.fullmatch(" ".join(s.split())))
    body = response.json() if response.status_code == 200 else {}
    return Outcome(body, problems, stamps)


def _codes(body: dict[str, Any]) -> set[str | None]:
    return {e.get("extensions", {}).get("code") for e in body.get("errors", [])}


# -- tests -----------------------------------------------------------------------------------


def test_every_query_field_at_every_role_only_reads(due, clock, seen, gateway):
    client, keys, tenant = due["client"], due["keys"], due["tenant"]
    before = snapshot()
    ids: dict[str, str] = {}
    ran: set[tuple[str, str]] = set()
    answered: dict[str, set[str]] = {}  # root field -> roles it answered without errors
    problems: dict[tuple[str, str], list[str]] = {}
    stamps = 0
    # Two passes: the second asks what needs ids (node, user, filters by id) with the ids the
    # first pass's answers carried, one of each Node type.
    for _ in range(2):
        for role in ROLES:
            headers = _headers(keys, role, tenant.name)
            for name, text in Arguments(clock(), dict(ids)).operations():
                if (role, text) in ran:
                    continue
                ran.add((role, text))
                outcome = ask(client, headers, text, seen, gateway)
                stamps += outcome.stamps
                _collect_ids(outcome.body.get("data"), ids)
                broken = _codes(outcome.body) & BROKEN
                if broken:
                    outcome.problems.append(f"did not run: {outcome.body['errors'][:2]}")
                elif not outcome.body.get("errors"):
                    answered.setdefault(name, set()).add(role)
                if outcome.problems:
                    problems.setdefault((name, role), []).extend(outcome.problems)
    after = snapshot()

    report = [
        f"{name} as {role}: " + "; ".join(dict.fromkeys(found))[:1500]
        for (name, role), found in sorted(problems.items())
    ]
    report += [f"table changed: {change}" for change in changes(before, after)]
    report += [f"gateway charged: {charge}" for charge in gateway.charges]
    assert not report, "Query fields that did not only read:\n" + "\n".join(report)
    # The walk covered what it claims: every root field answered at some role, every Node
    # type asked through `node`, and the one write allowed was seen (so its exclusion is live).
    assert sorted(answered) == [name for name, _ in root_fields("query")], sorted(answered)
    node_types = {t.name for t in GQL.get_possible_types(GQL.get_type("Node"))}
    assert set(ids) >= node_types, node_types - set(ids)
    assert stamps >= 1
    assert len(ran) >= 100, len(ran)


def test_reader_authorize_call_after_due_expiry_writes_nothing(due, seen, gateway):
    """The issue's reproduction: a READER's `authorizeCall` on a tenant whose lots have expired
    (no `expire` run) and whose auto-recharge is due must not expire, recharge or lock."""
    client, keys, tenant = due["client"], due["keys"], due["tenant"]
    reader = _headers(keys, "READER", tenant.name)
    before = snapshot()
    outcome = ask(
        client,
        reader,
        f'query {{ authorizeCall(userId: "{ALPHA}", destination: "+33142345678", '
        "callType: INTERNATIONAL) { allowed reason creditsLeft maxMinutesAffordable } "
        "tenant { balance { amount } } }",
        seen,
        gateway,
    )
    assert not outcome.problems, outcome.problems
    assert "errors" not in outcome.body, outcome.body
    assert not changes(before, snapshot()), changes(before, snapshot())
    assert gateway.charges == []
    # As of now the expired lots count for nothing, written or not (SPEC §4).
    assert Decimal(outcome.body["data"]["tenant"]["balance"]["amount"]) == 0, outcome.body
    assert Decimal(outcome.body["data"]["authorizeCall"]["creditsLeft"]) == 0, outcome.body
    assert [row for row in credits.audit_balances() if not row.ok] == []

    bought = Api(client, keys["BILLING_ADMIN"])(
        'mutation { purchaseCredits(amount: "10.00", idempotencyKey: "after-the-read") '
        "{ invoice { number status } lot { remaining { amount } } userErrors { code message } } }"
    )["purchaseCredits"]
    assert bought["userErrors"] == [], bought
    assert bought["invoice"] is not None, bought
    assert [row for row in credits.audit_balances() if not row.ok] == []
