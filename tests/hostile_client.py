"""The hostile-input test's world and machinery (tests/test_hostile_inputs.py): a tenant with
data for ids to resolve, valid baseline arguments per field, the documents, and a runner that
sends requests and keeps each 5xx or INTERNAL_ERROR with its document, variables and traceback.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from graphql import GraphQLInputObjectType, GraphQLInterfaceType, GraphQLList, GraphQLNonNull

from commcredits.models import (
    ApiKey,
    AuditEntry,
    CallRecord,
    CreditLot,
    Group,
    Invoice,
    LedgerEntry,
    Notification,
    Rate,
    RateCard,
    Sku,
    Subscription,
    Tenant,
    User,
)
from commcredits.schema.common import to_global_id
from commcredits.services import billing, credits, groups, rating, webhooks
from commcredits.services.access import SYSTEM, Role, create_api_key
from commcredits.services.tenants import create_tenant
from tests.conftest import T0, Api
from tests.helpers import add_users, buy, other_tenant
from tests.hostile_values import (
    Fresh,
    encode,
    literal,
    materialize,
    set_path,
    short,
)
from tests.schema_walk import (
    GQL,
    Slot,
    Target,
    deep_selection,
    unwrap,
    value_for,
)

ALPHA = "alpha@fabrikam.example"
# COMMCREDITS_HOSTILE_EXHAUSTIVE=1: every value of every class at every slot (about 16,000
# requests, minutes per backend): for hunting, not for `make test`.
EXHAUSTIVE = os.environ.get("COMMCREDITS_HOSTILE_EXHAUSTIVE") == "1"
# A baseline answered with one of these never reached the service: the walk would be vacuous.
BROKEN = {"GRAPHQL_VALIDATION_FAILED", "FORBIDDEN", "UNAUTHENTICATED", "INTERNAL_ERROR"}


# -- the tenant the requests act on --------------------------------------------------------------


@dataclass
class World:
    client: Any
    keys: dict[str, str]
    tenant: Tenant
    backend: str
    ids: dict[str, str]  # Node type -> a global id of ours
    foreign: dict[str, str]  # Node type -> a global id of another tenant's
    overrides: dict[str, dict[str, Any]]  # target label -> baseline arguments (merged)
    roles: dict[str, dict[str, str]] = field(default_factory=dict)  # target label -> headers


def _first_ids(tenant_id: int) -> dict[str, str]:
    """One global id per Node type: the tenant's own rows, shared rows for the rest."""
    owned = {
        "User": User, "ApiKey": ApiKey, "AuditEntry": AuditEntry, "CreditLot": CreditLot,
        "Invoice": Invoice, "CreditTransaction": LedgerEntry, "Notification": Notification,
        "CallRecord": CallRecord, "SubscribedSku": Subscription, "Group": Group,
    }  # fmt: skip
    found = {"Tenant": to_global_id("Tenant", tenant_id)}
    for name, model in owned.items():
        row = model.select().where(model.tenant == tenant_id).order_by(model.id).first()
        if row is not None:
            found[name] = to_global_id(name, row.id)
    for name, model in {"Sku": Sku, "RateCard": RateCard, "Rate": Rate}.items():
        found[name] = to_global_id(name, model.select().order_by(model.id).first().id)
    return found


def build_world(backend: str, tenant: Tenant, clock: Any, client: Any, keys: dict) -> World:
    """Fabrikam with users, licenses, credits, a rated call, invoices, a webhook and a billing
    profile; Contoso (MCA, for the billing-period fields); Northwind, for foreign ids."""
    now = clock()
    buy(tenant, now, MCOEV=5, MCOPSTN1=5, MCOMEETADV=5)
    add_users(tenant, now, [("alpha", "DE"), ("beta", "DE"), ("gamma", None), ("doomed", None)])
    credits.purchase_credits(tenant, SYSTEM, Decimal("10.00"), idempotency_key="lot-1", now=now)
    Api(client, keys["GLOBAL_ADMIN"])(
        f'mutation {{ setUserLicenses(userPrincipalNames: ["{ALPHA}"], '
        'addLicenses: [{skuId: "MCOEV"}, {skuId: "MCOPSTN1"}]) { summary { applied } } }'
    )
    call = rating.CallInput(
        call_id="call-0", user=ALPHA, started_at=now, duration_seconds=90,
        destination="+33142345678", call_type="INTERNATIONAL",
    )  # fmt: skip
    rating.record_calls(tenant, SYSTEM, [call], now=now)
    billing.update_billing_profile(
        tenant, SYSTEM, billing.BillingFields(company_name="Fabrikam GmbH"), now=now
    )
    webhooks.set_webhook(tenant, SYSTEM, "http://127.0.0.1:9/hook", now=now)
    contoso = create_tenant(
        SYSTEM, name="Contoso", country="US", currency="USD", agreement_type="MCA", now=now
    )
    northwind = other_tenant(now)
    add_users(northwind, now, [("nora", "US")], domain="northwind.example")
    credits.purchase_credits(northwind, SYSTEM, Decimal("5.00"), idempotency_key="n-1", now=now)
    create_api_key(SYSTEM, role=Role.READER, tenant=northwind, now=now)
    groups.create_group(northwind, SYSTEM, "Northwind Sales", now=now)
    groups.create_group(tenant, SYSTEM, "Sales", now=now)  # the first: what the others stand on
    spare_group = groups.create_group(tenant, SYSTEM, "Doomed", now=now)
    spare_key = create_api_key(SYSTEM, role=Role.READER, tenant=tenant, now=now)[0]

    def user(alias: str) -> str:
        upn = f"{alias}@fabrikam.example"
        return to_global_id("User", User.get(User.user_principal_name == upn).id)

    ids = _first_ids(tenant.id) | {"User": user("gamma")}  # alpha keeps its name and licenses
    overrides: dict[str, dict[str, Any]] = {
        "Query.user": {"userPrincipalName": ALPHA},
        "Mutation.closeBillingPeriod": {  # an ended month, so the baseline gets past that
            "tenantId": to_global_id("Tenant", contoso.id),
            "month": (T0 - dt.timedelta(days=31)).strftime("%Y-%m"),
        },
        "Mutation.setCreditLimit": {"tenantId": to_global_id("Tenant", contoso.id)},
        # The baselines that would destroy what the others stand on act on spares.
        "Mutation.deleteUser": {"id": user("doomed")},
        "Mutation.revokeApiKey": {"id": to_global_id("ApiKey", spare_key.id)},
        "Mutation.deleteGroup": {"id": to_global_id("Group", spare_group.id)},
        "Mutation.createUser": {"input": {"userPrincipalName": Fresh("new{n}@fabrikam.example")}},
        "Mutation.createTenant": {"input": {"name": Fresh("Hostile {n}")}},
    }
    return World(client, keys, tenant, backend, ids, _first_ids(northwind.id), overrides)


# -- baseline values and documents ---------------------------------------------------------------

NAMED: dict[str, Any] = {
    "month": T0.strftime("%Y-%m"), "userId": ALPHA, "userPrincipalName": ALPHA, "user": ALPHA,
    "userPrincipalNames": [ALPHA], "destination": "+33142345678", "callType": "INTERNATIONAL",
    "skuId": "MCOEV", "skuPartNumber": "MCOEV", "countries": ["DE"], "usageLocation": "DE",
    "country": "DE", "currency": "EUR", "prefix": "33", "idempotencyKey": Fresh("hostile-{n}"),
    "number": 1, "days": 30, "first": 5, "name": "hostile", "reason": "hostile",
    "url": "http://127.0.0.1:9/hook", "durationSeconds": 60, "callId": Fresh("call-{n}"),
    "startedAt": T0.isoformat(), "from": T0.isoformat(), "to": T0.isoformat(),
    "zone": "Z1", "description": "d", "pricePerMinute": "0.10", "amount": "1.00",
    "removeLicenses": [], "disabledPlans": [],
}  # fmt: skip


def id_type(slot_name: str, target: Target) -> str:
    """The Node type an id-taking slot means: from its name (`tenantId`), else its field's."""
    node_types = sorted(t.name for t in GQL.get_possible_types(GQL.get_type("Node")))
    if slot_name != "id":
        stem = slot_name.removesuffix("Id").lower()
        return next((n for n in node_types if n.lower().endswith(stem)), "User")
    in_name = [n for n in node_types if n.lower() in target.name.lower()]
    return max(in_name, key=len) if in_name else "User"


def baseline(name: str, t: Any, target: Target, world: World) -> Any:
    """A valid-ish value of input type `t` for the argument or input field `name`."""
    base = t.of_type if isinstance(t, GraphQLNonNull) else t
    if name in NAMED and not isinstance(unwrap(base), GraphQLInputObjectType):
        value = NAMED[name]
        return [value] if isinstance(base, GraphQLList) and not isinstance(value, list) else value
    if isinstance(base, GraphQLList):
        return [baseline(name, base.of_type, target, world)]
    if isinstance(base, GraphQLInputObjectType):  # its required fields, and ids
        return {
            n: baseline(n, f.type, target, world)
            for n, f in base.fields.items()
            if isinstance(f.type, GraphQLNonNull) or n == "id"
        }
    if base.name == "ID" or name in ("id", "tenantId", "cardId"):
        return world.ids[id_type(name, target)]
    return value_for(name, t, ["x"], 0)


def baseline_args(target: Target, world: World) -> dict[str, Any]:
    """Every non-null argument (with a default too: the variable is declared `T!`), `first`,
    and the target's overrides merged in. `Fresh` values stay unfilled (see `with_value`)."""
    found = {
        name: baseline(name, a.type, target, world)
        for name, a in target.field.args.items()
        if isinstance(a.type, GraphQLNonNull) or name == "first"
    }
    for name, value in world.overrides.get(target.label, {}).items():
        merge = isinstance(value, dict) and isinstance(found.get(name), dict)
        found[name] = found[name] | value if merge else value
    return found


def with_value(base: dict[str, Any], slot: Slot, value: Any) -> dict[str, Any]:
    """The baseline with `value` at `slot`, fresh values filled in."""
    return materialize({**base, slot.arg: set_path(base.get(slot.arg), slot.path, value)})


def _arg_sets(owner: Any, f: Any) -> list[dict[str, Any]]:
    required = any(isinstance(a.type, GraphQLNonNull) for a in f.args.values())
    return [] if required else [{}]


def document(target: Target, values: dict[str, Any] | None = None) -> str:
    """The operation for `target`: arguments as variables (one text per target, so parsed and
    validated once), or, given `values`, as literals."""
    returns = unwrap(target.field.type)
    if isinstance(returns, GraphQLInterfaceType):  # node: its types' fields would clash
        selection = "{ __typename id }"
    else:
        selection = deep_selection(returns, _arg_sets, depth=1)
    args = target.field.args
    if values is None:
        head = "(" + ", ".join(f"${n}: {a.type}" for n, a in args.items()) + ")"
        call = ", ".join(f"{n}: ${n}" for n in args)
    else:
        head = ""
        call = ", ".join(f"{n}: {literal(v, args[n].type)}" for n, v in values.items())
    inner = f"{target.name}({call}) {selection}" if call else f"{target.name} {selection}"
    for name in reversed(target.via):
        inner = f"{name} {{ {inner} }}"
    return f"{target.kind} Hostile{head} {{ {inner} }}"


# -- sending and judging -------------------------------------------------------------------------


@dataclass
class Failure:
    report: str  # the document, the variables, the traceback
    cause: str  # where it was raised | our innermost frame | the exception's last line


def _cause(error: BaseException | None) -> str:
    """A traceback's signature, for the report: the frame that raised, the
    innermost frame in commcredits (where ours handed it over), and the exception's line."""
    if error is None:
        return "(no traceback logged)"
    frames = traceback.extract_tb(error.__traceback__)
    where = [f"{'/'.join(f.filename.split('/')[-2:])}:{f.name}" for f in frames]
    ours = [w for w, f in zip(where, frames, strict=True) if "/commcredits/" in f.filename]
    line = traceback.format_exception_only(type(error), error)[-1].strip()
    return f"{where[-1] if where else '?'} | {ours[-1] if ours else '?'} | {line}"


class Runner:
    """Sends requests; keeps each (slot, class) that got a 5xx or INTERNAL_ERROR with the
    document, the variables and the server's traceback (the app logs it with the request id)."""

    def __init__(self, world: World, caplog: pytest.LogCaptureFixture) -> None:
        self.world, self.caplog = world, caplog
        self.failures: dict[tuple[str, str], Failure] = {}
        self.statuses: Counter[int] = Counter()
        # Requests per target that ran (not refused before execution): the hostile value
        # reached the resolvers and services.
        self.executed: Counter[str] = Counter()
        self.slowest: list[tuple[float, str, str]] = []
        self.ids = itertools.count()

    @property
    def sent(self) -> int:
        return self.statuses.total()

    def _logged(self, request_id: str) -> BaseException | None:
        for record in self.caplog.records:
            said = record.getMessage()
            ours = request_id in said or getattr(record, "request_id", "") == request_id
            if ours and record.exc_info:
                return record.exc_info[1]
        return None

    def check(self, slot: Slot, cls: str, text: str, variables: Any, headers: dict) -> Any:
        """Send one request; the decoded answer (None if not JSON)."""
        request_id = f"hostile-{next(self.ids)}"
        started = time.perf_counter()
        response = self.world.client.post(
            "/graphql",
            content=encode({"query": text, "variables": variables}),
            headers={**headers, "content-type": "application/json", "x-request-id": request_id},
        )
        self.slowest = sorted([*self.slowest, (time.perf_counter() - started, slot.label, cls)])
        self.slowest = self.slowest[-3:]
        self.statuses[response.status_code] += 1
        try:
            body = response.json()
        except ValueError:
            body = None
        errors = (body or {}).get("errors") or []
        # Ran: some data, or an error raised in a resolver (it has a path; a refusal before
        # execution has none, and a non-null field's error nulls all the data).
        if isinstance((body or {}).get("data"), dict) or any("path" in e for e in errors):
            self.executed[slot.target.label] += 1
        codes = {(e.get("extensions") or {}).get("code") for e in errors}
        if response.status_code >= 500 or "INTERNAL_ERROR" in codes or body is None:
            error = self._logged(request_id)
            trace = "".join(traceback.format_exception(error))[-2500:] if error else ""
            self.failures.setdefault(
                (slot.label, cls),
                Failure(
                    f"--- {slot.label} [{cls}] HTTP {response.status_code}\n{text[:600]}\n"
                    f"variables: {short(variables, 400)}\n{trace}",
                    _cause(error),
                ),
            )
        self.caplog.clear()
        return body

    def judge(self) -> list[str]:
        """Every failure kept: each (slot, class) that got a 5xx or INTERNAL_ERROR."""
        return [f"{f.report}\ncause: {f.cause}" for f in self.failures.values()]


def _codes(body: dict[str, Any]) -> set[str | None]:
    """Top-level error codes and every userErrors code in the data."""
    found = {(e.get("extensions") or {}).get("code") for e in body.get("errors") or []}
    stack = [body.get("data")]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            found |= {e.get("code") for e in value.get("userErrors") or [] if isinstance(e, dict)}
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return found


def choose_roles(world: World, runner: Runner, all_targets: list[Target]) -> list[str]:
    """Per target, the first key its baseline gets past validation and authorization with
    (GLOBAL_ADMIN, OPERATOR, OPERATOR acting in the tenant); the targets none could run."""
    bearer = {role: {"Authorization": f"Bearer {world.keys[role]}"} for role in world.keys}
    candidates = [
        bearer["GLOBAL_ADMIN"],
        bearer["OPERATOR"],
        bearer["OPERATOR"] | {"X-Commcredits-Tenant": world.tenant.name},
    ]
    stuck = []
    for target in all_targets:
        values = materialize(baseline_args(target, world))
        probe = Slot(target, "(baseline)", (), GQL.get_type("String"))
        for headers in candidates:
            body = runner.check(probe, "baseline", document(target), values, headers) or {}
            if not _codes(body) & BROKEN:
                world.roles[target.label] = headers
                break
        else:
            stuck.append(f"{target.label}: {body}")
    return stuck
