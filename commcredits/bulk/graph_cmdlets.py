"""The Microsoft Graph PowerShell cmdlets a script may hold, done through our GraphQL API.

Reads (Get-MgSubscribedSku, Get-MgUser, Get-MgUserLicenseDetail) return objects with Graph's
property names, so `$sku.SkuId`, `Where SkuPartNumber -eq 'X'` and `$user.AssignedLicenses`
work as in the documentation's examples. Changes (Set-MgUserLicense, Update-MgUser
-UsageLocation) become the native bulk commands over a sheet built from the values: one row
for a single line, one row per object for `Import-Csv … | ForEach-Object { … }` — one batched
run, in sheet order, with the native per-row report (and its -WhatIf), never a request per row.
"""

from __future__ import annotations

import re
import time
from typing import Any

import polars as pl

from commcredits.bulk.licensing import set_user_license, user_upns
from commcredits.bulk.powershell import Arr, Hash, ScriptError, Str, Var
from commcredits.bulk.ps_objects import switch_on
from commcredits.bulk.ps_values import Row, Scope, evaluate, text, uses
from commcredits.bulk.runner import rows_command
from commcredits.bulk.sheets import RowFault, Sheet
from commcredits.bulk.skus import SkuCatalog
from commcredits.bulk.transport import Transport
from commcredits.bulk.users import set_usage_location

_USER_FIELDS = """
  id userPrincipalName displayName givenName surname jobTitle department officeLocation
  mobilePhone city country usageLocation accountEnabled createdAt
  assignedLicenses { skuId skuPartNumber disabledPlans }
"""
MG_USERS = f"""
query MgUsers($first: Int!, $after: String, $filter: UserFilter) {{
  users(first: $first, after: $after, filter: $filter) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{ {_USER_FIELDS} }}
  }}
}}
"""
MG_USER = f"""
query MgUser($id: ID!) {{
  user(id: $id) {{
    {_USER_FIELDS}
    licenseDetails {{
      skuId skuPartNumber
      servicePlans {{ servicePlanId servicePlanName provisioningStatus appliesTo }}
    }}
  }}
}}
"""
MG_SKUS = """
query MgSubscribedSkus {
  subscribedSkus {
    id skuId skuPartNumber appliesTo capabilityStatus consumedUnits
    prepaidUnits { enabled suspended warning lockedOut }
  }
  skus { skuId servicePlans { servicePlanId servicePlanName } }
}
"""
PAGE = 100  # Graph's own page: Get-MgUser without -All or -Top returns the first 100


def _pascal(name: str) -> str:
    return name[:1].upper() + name[1:]


def user_object(node: dict[str, Any]) -> dict[str, Any]:
    """A user as Graph PowerShell shows it (Id first, Graph's property names)."""
    obj = {"Id": node["id"]}
    obj |= {_pascal(k): v for k, v in node.items() if k not in ("id", "assignedLicenses")}
    obj.pop("LicenseDetails", None)
    obj["AssignedLicenses"] = [
        {"SkuId": a["skuId"], "DisabledPlans": a["disabledPlans"]} for a in node["assignedLicenses"]
    ]
    obj["Licenses"] = ";".join(a["skuPartNumber"] for a in node["assignedLicenses"])
    return obj


def get_subscribed_sku(transport: Transport) -> list[dict[str, Any]]:
    data = transport.execute(MG_SKUS)
    plans = {s["skuId"]: s["servicePlans"] for s in data["skus"]}
    return [
        {
            "SkuId": s["skuId"],
            "SkuPartNumber": s["skuPartNumber"],
            "AppliesTo": s["appliesTo"],
            "CapabilityStatus": s["capabilityStatus"],
            "ConsumedUnits": s["consumedUnits"],
            "PrepaidUnits": {_pascal(k): v for k, v in s["prepaidUnits"].items()},
            "ServicePlans": [
                {"ServicePlanName": p["servicePlanName"], "ServicePlanId": p["servicePlanId"]}
                for p in plans.get(s["skuId"], [])
            ],
            "Id": s["id"],
        }
        for s in data["subscribedSkus"]
    ]


def get_user(transport: Transport, ref: str) -> dict[str, Any] | None:
    node = transport.execute(MG_USER, {"id": ref})["user"]
    return None if node is None else node


def license_details(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "SkuId": d["skuId"],
            "SkuPartNumber": d["skuPartNumber"],
            "ServicePlans": [
                {
                    "ServicePlanName": p["servicePlanName"],
                    "ServicePlanId": p["servicePlanId"],
                    "ProvisioningStatus": p["provisioningStatus"],
                    "AppliesTo": p["appliesTo"],
                }
                for p in d["servicePlans"]
            ],
        }
        for d in node["licenseDetails"]
    ]


# --- Get-MgUser -Filter: the OData subset --------------------------------------------------

FILTER_FIELDS = {
    "usagelocation": "usageLocation",
    "userprincipalname": "userPrincipalName",
    "displayname": "displayName",
    "accountenabled": "accountEnabled",
    "department": "department",
}
FILTER_SUPPORTED = (
    "<property> eq <value> joined by 'and'; properties "
    + ", ".join(FILTER_FIELDS.values())
    + "; values 'text', true, false, null"
)
_ODATA = re.compile(r"\s*(?:('(?:[^']|'')*')|([A-Za-z_][A-Za-z0-9_/$]*)|(\S))")


def parse_filter(flt: str, node: Any, source: str) -> list[tuple[str, Any]]:
    """`usageLocation eq 'DE' and accountEnabled eq true` as [(field, value)]."""

    def error(offset: int, what: str) -> ScriptError:
        line, col = getattr(node, "pos", (0, 0))
        exact = isinstance(node, Str) and all(isinstance(p, str) for p in node.parts)
        where = (line, col + 1 + offset) if exact else (line, col)
        return ScriptError(source, where, f"-Filter: {what}", FILTER_SUPPORTED)

    tokens = [(m.start(m.lastindex or 0), m.group(m.lastindex or 0)) for m in _ODATA.finditer(flt)]
    tokens = [t for t in tokens if t[1]]
    clauses: list[tuple[str, Any]] = []
    k = 0
    while True:
        if k + 3 > len(tokens):
            at = tokens[k][0] if k < len(tokens) else len(flt)
            raise error(at, "expected <property> eq <value>")
        (p_at, prop), (o_at, op), (v_at, raw) = tokens[k : k + 3]
        field = FILTER_FIELDS.get(prop.lower())
        if field is None:
            raise error(p_at, f"{prop!r} is not a property this filter supports")
        if op.lower() != "eq":
            raise error(o_at, f"the operator {op!r} is not supported")
        if raw.startswith("'"):
            value: Any = raw[1:-1].replace("''", "'")
        elif raw.lower() in ("true", "false"):
            value = raw.lower() == "true"
        elif raw.lower() == "null":
            value = None
        else:
            raise error(v_at, f"{raw!r} is not a value ('text', true, false or null)")
        clauses.append((field, value))
        k += 3
        if k == len(tokens):
            return clauses
        if tokens[k][1].lower() != "and":
            raise error(tokens[k][0], f"{tokens[k][1]!r} here; only 'and' joins conditions")
        k += 1


def get_users(
    transport: Transport, clauses: list[tuple[str, Any]], top: int | None
) -> list[dict[str, Any]]:
    """Users matching every clause: the server filters what it can, the rest is checked here
    (equality, case-insensitive, as Graph compares these properties)."""
    server: dict[str, Any] = {}
    for field, value in clauses:
        if field == "usageLocation":
            server["usageLocation"] = value or ""
        elif field in ("accountEnabled", "department") and value is not None:
            server[field] = value
        elif field in ("userPrincipalName", "displayName") and value:
            server["search"] = value
    found: list[dict[str, Any]] = []
    after = None
    while top is None or len(found) < top:
        page = transport.execute(
            MG_USERS, {"first": PAGE, "after": after, "filter": server or None}
        )["users"]
        for node in page["nodes"]:
            if all(_matches(node.get(f), v) for f, v in clauses):
                found.append(user_object(node))
        if not page["pageInfo"]["hasNextPage"] or not page["nodes"]:
            break
        after = page["pageInfo"]["endCursor"]
    return found if top is None else found[:top]


def _matches(have: Any, want: Any) -> bool:
    if want is None or isinstance(want, bool):
        return have == want or (want is None and have == "")
    return isinstance(have, str) and have.casefold() == str(want).casefold()


# --- changes: one batched native run ---------------------------------------------------------


def _licenses(value: Any, node: Any, scope: Scope) -> list[tuple[str, tuple[str, ...]]]:
    """-AddLicenses: @{SkuId = …; DisabledPlans = @(…)}, a list of them, or @()."""
    items = value if isinstance(value, list) else [] if value is None else [value]
    out = []
    for item in items:
        if not isinstance(item, dict):
            raise ScriptError(
                scope.source,
                node.pos,
                f"-AddLicenses takes hashtables, not {text(item)!r}",
                "@{SkuId = '<guid or part number>'; DisabledPlans = @(…)}, a list of them, @()",
            )
        keys = {k.lower(): v for k, v in item.items()}
        extra = set(keys) - {"skuid", "disabledplans"}
        if extra:
            raise ScriptError(
                scope.source,
                node.pos,
                f"-AddLicenses: unknown key {sorted(extra)[0]!r}",
                "SkuId, DisabledPlans",
            )
        plans = keys.get("disabledplans")
        plans = plans if isinstance(plans, list) else [] if plans is None else [plans]
        out.append((text(keys.get("skuid")).strip(), tuple(text(p) for p in plans if p)))
    return out


def _removes(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [] if value is None else [value]
    return [text(v).strip() for v in items if text(v).strip()]


def _check_constant(adds, removes, catalog: SkuCatalog, node_of: dict, scope: Scope) -> None:
    """Values the same for every row are checked before anything is sent: a bad one stops the
    run (exit 2) at its line and column, as a bad native parameter does."""
    for n, (sku, plans) in enumerate(adds or ()):
        node = _sku_node(node_of["AddLicenses"], n)
        part = catalog.part(sku) if sku else None
        if part is None:
            shown = f"{node.text} is empty ($null)" if isinstance(node, Var) else "SkuId is empty"
            what = f"unknown SKU {sku!r}" if sku else shown
            raise ScriptError(scope.source, node.pos, f"-AddLicenses: {what}", _SKU_HINT)
        for plan in plans:
            if plan.lower() not in catalog.plans(part):
                raise ScriptError(
                    scope.source,
                    node.pos,
                    f"service plan {plan!r} is not part of {part}",
                    "the servicePlanId or servicePlanName of a plan in the SKU",
                )
    for sku in removes or ():
        if catalog.part(sku) is None:
            node = node_of["RemoveLicenses"]
            raise ScriptError(
                scope.source, node.pos, f"-RemoveLicenses: unknown SKU {sku!r}", _SKU_HINT
            )


def _sku_node(node: Any, n: int) -> Any:
    """The SkuId value written for the n-th license, where the script spells it out (for the
    error's line and column), else the -AddLicenses value itself."""
    tables = node.items if isinstance(node, Arr) else (node,)
    table = tables[n] if n < len(tables) else None
    if isinstance(table, Hash):
        return next((v for k, v in table.items if k.lower() == "skuid"), node)
    return node


_SKU_HINT = "a skuId or skuPartNumber that Get-MgSubscribedSku lists"


def _required(bound: dict[str, Any], name: str, cmd: Any, scope: Scope) -> Any:
    if name not in bound:
        raise ScriptError(scope.source, cmd.pos, f"{cmd.name} needs -{name}")
    return bound[name]


def _derived(
    columns: dict[str, list[str | None]], rows: list[int], sheet: Sheet | None, key_of: Any
) -> Sheet:
    """The sheet the native command runs on: one row per object, with the source's row
    numbers (or the script line), and the rows the source refused while reading."""
    frame = pl.DataFrame(columns, schema={c: pl.String for c in columns})
    faults = []
    for fault in sheet.faults if sheet else ():
        faults.append(
            RowFault(
                fault.row,
                fault.code,
                fault.message,
                {**fault.cells, "UserPrincipalName": key_of(fault.cells)},
            )
        )
    return Sheet(
        frame=frame,
        rows=rows,
        source=sheet.source if sheet else "stdin",
        blank_rows=sheet.blank_rows if sheet else 0,
        headers=list(columns),
        faults=faults,
    )


def change_run(
    session: Any,
    cmd: Any,
    bound: dict[str, Any],
    items: list[tuple[int, Scope]],
    sheet: Sheet | None,
    row_name: str | None,
) -> int:
    """Set-MgUserLicense or Update-MgUser for each (row number, scope): one native run."""
    started = time.perf_counter()
    name = cmd.name.lower()
    base = items[0][1] if items else session.scope
    user_node = _required(bound, "UserId", cmd, base)

    def per_row(node: Any) -> bool:
        return row_name is not None and uses(node, row_name)

    def key_of(cells: dict[str, str]) -> str:
        try:
            row = Row(cells)
            return text(evaluate(user_node, base.with_row(row_name or "_", row)))
        except ScriptError:
            return ""

    keys = [text(evaluate(user_node, scope)).strip() or None for _, scope in items]
    columns: dict[str, list[str | None]] = {"UserPrincipalName": keys}
    if name == "update-mguser":
        loc = _required(bound, "UsageLocation", cmd, base)
        const = None if per_row(loc) else text(evaluate(loc, base))
        columns["UsageLocation"] = [
            const if const is not None else text(evaluate(loc, s)) for _, s in items
        ]
    else:
        add_node, remove_node = bound.get("AddLicenses"), bound.get("RemoveLicenses")
        catalog = SkuCatalog(session.transport())
        const_adds = const_removes = None
        if add_node is not None and not per_row(add_node):
            const_adds = _licenses(evaluate(add_node, base), add_node, base)
        if remove_node is not None and not per_row(remove_node):
            const_removes = _removes(evaluate(remove_node, base))
        nodes = {"AddLicenses": add_node, "RemoveLicenses": remove_node}
        _check_constant(const_adds, const_removes, catalog, nodes, base)
        adds, plans, removes = [], [], []
        for _, scope in items:
            row_adds = const_adds
            if row_adds is None:
                row_adds = _licenses(evaluate(add_node, scope), add_node, scope) if add_node else []
            row_removes = const_removes
            if row_removes is None:
                row_removes = _removes(evaluate(remove_node, scope)) if remove_node else []
            adds.append(";".join(s for s, _ in row_adds) or None)
            plans.append(";".join(f"{s}:{p}" for s, ps in row_adds for p in ps) or None)
            removes.append(";".join(row_removes) or None)
        columns |= {"AddLicenses": adds, "RemoveLicenses": removes, "DisabledPlans": plans}
    ids = [k for k in keys if k and "@" not in k]
    if ids:  # global ids: the native commands take user principal names
        upns = user_upns(session.transport(), ids)
        columns["UserPrincipalName"] = [upns.get(k, k) if k else k for k in keys]
    derived = _derived(columns, [n for n, _ in items], sheet, key_of)
    what_if = session.what_if or switch_on(bound, "WhatIf", base)
    inv = session.invocation(cmd.name, what_if)
    change = set_usage_location if name == "update-mguser" else set_user_license
    return rows_command(
        inv,
        derived if sheet else None,
        len(derived),
        lambda t, o: change(t, derived, o),
        started=started,
    )
