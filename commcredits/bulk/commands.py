"""What each bulk command does, independent of how it was called (command line or Python).

A command reads a `Sheet`, builds GraphQL operations, sends them through a `Transport` in
batches, and turns the per-row results into a report frame: Row, Key, Action, Status, Code,
Message. Every rule is the server's: this module only groups, batches and reads results.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import polars as pl

from commcredits.bulk import operations as ops
from commcredits.bulk.errors import UsageError
from commcredits.bulk.sheets import REPORT_COLUMNS, Sheet, column, match_columns
from commcredits.bulk.transport import Transport
from commcredits.services.errors import MAX_BATCH  # the API's own limit, not a rule copied

DEFAULT_BATCH = 1000
# A change shared by at least this many rows travels as one list of names per batch
# (setUserLicenses); rarer changes go row by row as items (assignLicenses), in input order.
MIN_GROUP = 20
PAGE = 100

UPN_NAMES = (
    "UserPrincipalName",
    "User principal name",
    "UPN",
    "User Name",
    "UserName",
    "User",
    "UserId",
    "Sign-in name",
)

USER_COLUMNS: dict[str, tuple[str, ...]] = {
    "userPrincipalName": UPN_NAMES,
    "displayName": ("DisplayName", "Display name", "Name"),
    "givenName": ("GivenName", "First name", "FirstName"),
    "surname": ("Surname", "Last name", "LastName"),
    "jobTitle": ("JobTitle", "Job title", "Title"),
    "department": ("Department",),
    "officeLocation": ("OfficeLocation", "Office Number", "Office"),
    "mobilePhone": ("MobilePhone", "Mobile Phone", "Mobile"),
    "city": ("City",),
    "country": ("Country", "Country or Region", "Country/Region", "CountryOrRegion"),
    "usageLocation": ("UsageLocation", "Usage location"),
    "accountEnabled": ("AccountEnabled", "Enabled"),
    "blockCredential": ("Block credential", "BlockCredential", "Block sign-in"),
}

LICENSE_COLUMNS: dict[str, tuple[str, ...]] = {
    "upn": UPN_NAMES,
    "add": ("AddLicenses", "AddLicense", "Add", "LicensesToAdd", "SkuPartNumber", "Sku"),
    "remove": ("RemoveLicenses", "RemoveLicense", "Remove", "LicensesToRemove"),
    "disabled": ("DisabledPlans", "DisabledPlan", "DisabledServicePlans"),
}

LOCATION_COLUMNS: dict[str, tuple[str, ...]] = {
    "upn": UPN_NAMES,
    "location": ("UsageLocation", "Usage location", "Location"),
}

CREDIT_COLUMNS: dict[str, tuple[str, ...]] = {
    "amount": ("Amount", "Credits", "CreditAmount"),
    "reference": ("IdempotencyKey", "Reference", "PurchaseOrder", "PO", "Id"),
}

_TRUE = {"true", "yes", "y", "1", "enabled", "$true"}
_FALSE = {"false", "no", "n", "0", "disabled", "$false"}


@dataclass
class Options:
    what_if: bool = False
    batch_size: int = DEFAULT_BATCH
    progress: Callable[[int], None] | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= MAX_BATCH:
            raise UsageError(f"-BatchSize must be between 1 and {MAX_BATCH:,}")

    def advance(self, n: int) -> None:
        if self.progress is not None and n:
            self.progress(n)


@dataclass
class Report:
    """Per-row results, collected in any order and sorted by row at the end.

    Rows that share an outcome (a run of a batch's results) are kept as one run, and their
    repeated columns are filled in by polars when the frame is built.
    """

    what_if: bool = False
    blank_rows: int = 0
    rows: list[int] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    # (action, status, code, message) -> the rows and keys of every run with that outcome
    runs: dict[tuple[str, str, str, str], tuple[list[int], list[str]]] = field(default_factory=dict)

    def add(self, row: int, key: str, action: str, status: str, code: str = "", message: str = ""):
        self.rows.append(row)
        self.keys.append(key)
        self.actions.append(action)
        self.statuses.append(status)
        self.codes.append(code)
        self.messages.append(message)

    def add_many(
        self,
        rows: list[int],
        keys: list[str],
        action: str,
        status: str,
        code: str = "",
        message: str = "",
    ) -> None:
        """Rows that share one outcome."""
        kept = self.runs.setdefault((action, status, code, message), ([], []))
        kept[0].extend(rows)
        kept[1].extend(keys)

    def fail(self, row: int, key: str, action: str, code: str, message: str) -> None:
        self.add(row, key, action, _status("Failed", self.what_if), code, message)

    def frame(self) -> pl.DataFrame:
        schema = {c: (pl.Int64 if c == "Row" else pl.String) for c in REPORT_COLUMNS}
        single = {
            "Row": self.rows,
            "Key": self.keys,
            "Action": self.actions,
            "Status": self.statuses,
            "Code": self.codes,
            "Message": self.messages,
        }
        parts = [pl.DataFrame(single, schema=schema)]
        for shared, (rows, keys) in self.runs.items():
            part = pl.DataFrame(
                {"Row": rows, "Key": keys}, schema={"Row": pl.Int64, "Key": pl.String}
            )
            constant = zip(("Action", "Status", "Code", "Message"), shared, strict=True)
            parts.append(part.with_columns(pl.lit(v, pl.String).alias(c) for c, v in constant))
        frame = pl.concat(parts)
        # Empty cells as nulls: a CSV report shows nothing rather than "".
        empty = [pl.col(c).replace("", None) for c in ("Key", "Code", "Message")]
        return frame.with_columns(empty).sort("Row")


_WOULD = {
    "Assigned": "WouldAssign",
    "Removed": "WouldRemove",
    "Updated": "WouldUpdate",
    "Created": "WouldCreate",
    "Purchased": "WouldPurchase",
    "Failed": "WouldFail",
    "Unchanged": "Unchanged",
}


def _status(name: str, what_if: bool) -> str:
    return _WOULD[name] if what_if else name


def _batch_error(payload: dict[str, Any]) -> None:
    errors = payload.get("userErrors") or []
    if errors:
        first = errors[0]
        raise UsageError(f"the server refused the batch: {first['code']}: {first['message']}")


def _row_errors(result: dict[str, Any]) -> tuple[str, str]:
    errors = result.get("userErrors") or []
    codes = list(dict.fromkeys(e["code"] for e in errors))
    return "; ".join(codes), " | ".join(e["message"] for e in errors)


def _slices(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _pick(values: list[Any], idx: Sequence[int]) -> list[Any]:
    """values[i] for each index, as one slice when the indexes are a range (the common case:
    every row of a sheet shares the command's change)."""
    if isinstance(idx, range) and idx.step == 1:
        return values[idx.start : idx.stop]
    return [values[i] for i in idx]


def _split_list(value: str | None) -> list[str]:
    """`A;B`, `A,B`, `A+B` or `contoso:A+contoso:B` (the M365 export's Licenses column)."""
    if not value:
        return []
    parts = [p.strip() for p in re.split(r"[;,+\s]+", value) if p.strip()]
    return [p.rsplit(":", 1)[-1] for p in parts]


def _missing_key(what: str) -> tuple[str, str]:
    return "MissingKey", f"This row has no {what}."


def _duplicate_key(key: str, first_row: int) -> tuple[str, str]:
    return "DuplicateRow", f"{key} already appears in row {first_row}; this row was not sent."


def _key_faults(
    rows: Sequence[int], keys: Sequence[str | None], what: str
) -> dict[int, tuple[str, str]]:
    """The rows whose key cannot be sent, for a whole column at once: index -> (code, message)
    for a missing key, or for a key repeated (case-insensitively) on a later row, which is
    reported and not sent; the first occurrence goes on."""
    blank_as_null = [k or None for k in keys]
    frame = pl.DataFrame({"norm": blank_as_null}, schema={"norm": pl.String}).with_row_index("i")
    frame = frame.with_columns(pl.col("norm").str.to_lowercase())  # Unicode, as str.lower()
    faults = frame.with_columns(first=pl.col("i").first().over("norm")).filter(
        pl.col("norm").is_null() | (pl.col("i") != pl.col("first"))
    )
    out: dict[int, tuple[str, str]] = {}
    for i, key, first_i in zip(
        faults["i"].to_list(), faults["norm"].to_list(), faults["first"].to_list(), strict=True
    ):
        out[i] = _missing_key(what) if key is None else _duplicate_key(keys[i], rows[first_i])
    return out


# --- Set-UserLicense --------------------------------------------------------------------------


class SkuCatalog:
    """The server's SKUs, to turn names in a sheet into canonical part numbers before sending."""

    def __init__(self, transport: Transport):
        self.by_ref: dict[str, dict[str, Any]] = {}
        for sku in transport.execute(ops.SKUS)["skus"]:
            self.by_ref[sku["skuPartNumber"].lower()] = sku
            self.by_ref[sku["skuId"].lower()] = sku

    def part(self, ref: str) -> str | None:
        sku = self.by_ref.get(ref.strip().lower())
        return sku["skuPartNumber"] if sku else None

    def plans(self, part: str) -> set[str]:
        sku = self.by_ref[part.lower()]
        names = {p["servicePlanName"].lower() for p in sku["servicePlans"]}
        return names | {p["servicePlanId"].lower() for p in sku["servicePlans"]}

    def resolve(self, refs: Iterable[str], where: str) -> list[str]:
        parts, unknown = [], []
        for ref in refs:
            part = self.part(ref)
            (parts if part else unknown).append(part or ref)
        if unknown:
            raise UsageError(
                f"unknown SKU {', '.join(repr(u) for u in unknown)} in {where}; give a "
                f"skuPartNumber or skuId (Get-SubscribedSku lists them)"
            )
        return list(dict.fromkeys(parts))


def _adds_with_plans(
    catalog: SkuCatalog, adds: list[str], plans: list[str], *, strict: bool
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Give each disabled plan to the added SKU that contains it."""
    per_sku: dict[str, list[str]] = {a: [] for a in adds}
    for plan in plans:
        owners = [a for a in adds if plan.lower() in catalog.plans(a)]
        if not owners:
            if strict or not adds:
                raise UsageError(
                    f"service plan {plan!r} is not part of any SKU being added "
                    f"({', '.join(adds) or 'none'})"
                )
            owners = adds[:1]  # the server reports the row's InvalidServicePlan
        for owner in owners:
            per_sku[owner].append(plan)
    return tuple((a, tuple(sorted(set(per_sku[a])))) for a in adds)


def _describe_change(adds: tuple, removes: tuple) -> str:
    parts = [f"Add {a}" + (f" (disabled: {','.join(p)})" if p else "") for a, p in adds]
    parts += [f"Remove {r}" for r in removes]
    return "; ".join(parts) or "None"


def _license_runs(
    payload: dict[str, Any], what_if: bool, items: int
) -> list[tuple[int, tuple[str, str, str]]]:
    """(count, (status, code, message)) per run of the payload, in input order."""
    runs = []
    for run in payload["runs"]:
        if run["status"] == "FAILED":
            code, message = _row_errors(run)
            result = (_status("Failed", what_if), code, message)
        elif run["status"] == "UNCHANGED":
            result = ("Unchanged", "", "Already as requested.")
        else:
            result = _applied(run["changes"], what_if)
        runs.append((run["count"], result))
    if sum(count for count, _ in runs) != items:
        raise UsageError(f"the server answered for {sum(c for c, _ in runs):,} of {items:,} rows")
    return runs


def _applied(changes: list[dict[str, str]], what_if: bool) -> tuple[str, str, str]:
    done = [(c["skuPartNumber"], c["action"]) for c in changes if c["action"] != "UNCHANGED"]
    actions = {a for _, a in done}
    name = (
        "Assigned"
        if actions == {"ASSIGNED"}
        else "Removed"
        if actions == {"REMOVED"}
        else "Updated"
    )
    verb = "would be " if what_if else ""
    message = "; ".join(f"{sku} {verb}{action.lower()}" for sku, action in done)
    return (_status(name, what_if), "", message)


def set_user_license(
    transport: Transport,
    sheet: Sheet,
    options: Options,
    *,
    add_licenses: Sequence[str] = (),
    remove_licenses: Sequence[str] = (),
    disabled_plans: Sequence[str] = (),
) -> Report:
    cols, _ = match_columns(sheet, LICENSE_COLUMNS, key="upn")
    if not (add_licenses or remove_licenses or "add" in cols or "remove" in cols):
        raise UsageError(
            "nothing to do: give -AddLicenses and/or -RemoveLicenses, or AddLicenses / "
            "RemoveLicenses columns"
        )
    catalog = SkuCatalog(transport)
    global_adds = catalog.resolve(add_licenses, "-AddLicenses")
    global_removes = catalog.resolve(remove_licenses, "-RemoveLicenses")
    if disabled_plans and not global_adds:
        raise UsageError("-DisabledPlans needs -AddLicenses (plans are switched off per SKU)")
    upns = column(sheet, cols["upn"])
    add_cells = column(sheet, cols.get("add"))
    remove_cells = column(sheet, cols.get("remove"))
    plan_cells = column(sheet, cols.get("disabled"))
    # Names in cells are checked up front too: an unknown SKU anywhere stops the run (exit 2).
    listed = [cells for cells in (add_cells, remove_cells) if any(cells)]
    cell_refs = {r for cells in listed for c in cells if c for r in _split_list(c)}
    catalog.resolve(sorted(cell_refs), "the sheet's license columns")

    report = Report(what_if=options.what_if, blank_rows=sheet.blank_rows)
    actions: dict[tuple, str] = {}

    def described(change: tuple) -> str:
        return actions.get(change) or actions.setdefault(change, _describe_change(*change))

    base = _adds_with_plans(catalog, global_adds, list(disabled_plans), strict=True)
    base_change = (base, tuple(global_removes))
    # Rows with license cells of their own get their own change; all others share the
    # command's, and are grouped without a look at each (a sheet is often 100,000 such rows).
    own: dict[int, tuple] = {}
    present = [cells for cells in (add_cells, remove_cells, plan_cells) if any(cells)]
    for i in sorted({i for cells in present for i, cell in enumerate(cells) if cell}):
        adds = list(dict.fromkeys(global_adds + catalog.resolve(_split_list(add_cells[i]), "")))
        plans = list(disabled_plans) + _split_list(plan_cells[i])
        add_spec = (
            _adds_with_plans(catalog, adds, plans, strict=False)
            if plans
            else tuple((a, ()) for a in adds)
        )
        if plans and not adds:
            add_spec = ()
        removes = tuple(
            dict.fromkeys(global_removes + catalog.resolve(_split_list(remove_cells[i]), ""))
        )
        own[i] = (add_spec, removes)
    faults = _key_faults(sheet.rows, upns, "user principal name")
    for i, (code, message) in faults.items():
        report.fail(sheet.rows[i], upns[i] or "", described(own.get(i, base_change)), code, message)
    skip = faults.keys() | own.keys()
    groups: dict[tuple, Sequence[int]] = {
        base_change: [i for i in range(len(upns)) if i not in skip] if skip else range(len(upns))
    }
    own_groups: dict[tuple, list[int]] = {}
    for i, change in own.items():
        if i not in faults:
            own_groups.setdefault(change, []).append(i)
    for change, idx in own_groups.items():
        # The command's change spelt out in cells too joins its group, in sheet order.
        groups[change] = sorted([*groups[change], *idx]) if change in groups else idx
    for change, idx in list(groups.items()):
        if idx and not change[0] and not change[1]:  # nothing to add or remove: not sent
            rows, names = _pick(sheet.rows, idx), _pick(upns, idx)
            report.add_many(
                rows, names, described(change), "Unchanged", "", "No license to add or remove."
            )
        if not idx or not change[0] and not change[1]:
            del groups[change]

    big = [(c, idx) for c, idx in groups.items() if len(idx) >= MIN_GROUP or len(groups) == 1]
    big_changes = {c for c, _ in big}
    rest = sorted(i for c, idx in groups.items() if c not in big_changes for i in idx)
    for change, idx in big:
        add_spec, removes = change
        add_input = [{"skuId": a, "disabledPlans": list(p)} for a, p in add_spec] or None
        for part in _slices(idx, options.batch_size):
            payload = transport.execute(
                ops.SET_USER_LICENSES,
                {
                    "upns": _pick(upns, part),
                    "add": add_input,
                    "remove": list(removes) or None,
                    "whatIf": options.what_if,
                },
            )["setUserLicenses"]
            _batch_error(payload)
            start = 0
            for count, result in _license_runs(payload, options.what_if, len(part)):
                run = part[start : start + count]
                start += count
                rows, names = _pick(sheet.rows, run), _pick(upns, run)
                report.add_many(rows, names, described(change), *result)
            options.advance(len(part))
    change_of = {i: c for c, idx in groups.items() if c not in big_changes for i in idx}
    for part in _slices(rest, options.batch_size):
        items = []
        for i in part:
            add_spec, removes = change_of[i]
            items.append(
                {
                    "userId": upns[i],
                    "addLicenses": [{"skuId": a, "disabledPlans": list(p)} for a, p in add_spec],
                    "removeLicenses": list(removes),
                }
            )
        payload = transport.execute(
            ops.ASSIGN_LICENSES, {"items": items, "whatIf": options.what_if}
        )["assignLicenses"]
        _batch_error(payload)
        results = [
            r
            for count, r in _license_runs(payload, options.what_if, len(part))
            for _ in range(count)
        ]
        for i, (status, code, message) in zip(part, results, strict=True):
            report.add(sheet.rows[i], upns[i], described(change_of[i]), status, code, message)
        options.advance(len(part))
    return report


# --- Import-Users and Set-UsageLocation -------------------------------------------------------


def _user_outcome(result: dict[str, Any], what_if: bool) -> tuple[str, str, str]:
    if result["status"] == "FAILED":
        code, message = _row_errors(result)
        return _status("Failed", what_if), code, message
    if result["status"] == "UNCHANGED":
        return "Unchanged", "", "Already as given."
    name = "Created" if result["action"] == "CREATED" else "Updated"
    return _status(name, what_if), "", ""


def _parse_bool(value: str) -> bool | None:
    low = value.strip().lower()
    return True if low in _TRUE else False if low in _FALSE else None


def import_users(
    transport: Transport,
    sheet: Sheet,
    options: Options,
    *,
    usage_location: str | None = None,
    update_only: bool = False,
) -> tuple[Report, list[str]]:
    """Create or update users from a sheet; returns the report and the ignored columns."""
    cols, ignored = match_columns(sheet, USER_COLUMNS, key="userPrincipalName")
    cells = {name: column(sheet, cols.get(name)) for name in USER_COLUMNS}
    action = "Update" if update_only else "CreateOrUpdate"
    report = Report(what_if=options.what_if, blank_rows=sheet.blank_rows)
    faults = _key_faults(sheet.rows, cells["userPrincipalName"], "user principal name")
    pending: list[tuple[int, str, dict[str, Any]]] = []
    for i, upn in enumerate(cells["userPrincipalName"]):
        row = sheet.rows[i]
        if i in faults:
            report.fail(row, upn or "", action, *faults[i])
            continue
        item: dict[str, Any] = {}
        bad = None
        for name in USER_COLUMNS:
            value = cells[name][i]
            if value is None or name == "blockCredential":
                continue
            if name == "accountEnabled":
                item[name] = _parse_bool(value)
                bad = bad or (None if item[name] is not None else (name, value))
            else:
                item[name] = value
        block = cells["blockCredential"][i]
        if block is not None and "accountEnabled" not in item:
            flag = _parse_bool(block)
            item["accountEnabled"] = None if flag is None else not flag
            bad = bad or (None if flag is not None else ("blockCredential", block))
        if usage_location is not None:
            item["usageLocation"] = usage_location
        if bad:
            report.fail(
                row, upn, action, "InvalidValue", f"{bad[0]}: {bad[1]!r} is not true/false."
            )
            continue
        pending.append((row, upn, item))
    for part in _slices(pending, options.batch_size):
        payload = transport.execute(
            ops.IMPORT_USERS,
            {
                "users": [item for _, _, item in part],
                "whatIf": options.what_if,
                "create": not update_only,
            },
        )["importUsers"]
        _batch_error(payload)
        for (row, upn, _), result in zip(part, payload["results"], strict=True):
            status, code, message = _user_outcome(result, options.what_if)
            report.add(row, upn, action, status, code, message)
        options.advance(len(part))
    return report, ignored


def set_usage_location(
    transport: Transport, sheet: Sheet, options: Options, *, usage_location: str | None = None
) -> Report:
    """Set each row's usage location (the -UsageLocation value, if given, for every row)."""
    cols, _ = match_columns(sheet, LOCATION_COLUMNS, key="upn")
    if usage_location is None and "location" not in cols:
        raise UsageError("give -UsageLocation XX or a UsageLocation column")
    upns = column(sheet, cols["upn"])
    cells = column(sheet, cols.get("location"))
    report = Report(what_if=options.what_if, blank_rows=sheet.blank_rows)
    faults = _key_faults(sheet.rows, upns, "user principal name")
    groups: dict[str, list[int]] = {}
    for i, upn in enumerate(upns):
        location = usage_location if usage_location is not None else cells[i]
        action = f"UsageLocation={(location or '').upper()}"
        if i in faults:
            report.fail(sheet.rows[i], upn or "", action, *faults[i])
            continue
        if location is None:
            report.fail(
                sheet.rows[i], upn, action, "MissingValue", "This row has no usage location."
            )
            continue
        groups.setdefault(location.strip().upper(), []).append(i)
    for location, idx in groups.items():
        for part in _slices(idx, options.batch_size):
            payload = transport.execute(
                ops.SET_USAGE_LOCATION,
                {"upns": [upns[i] for i in part], "location": location, "whatIf": options.what_if},
            )["setUsageLocation"]
            _batch_error(payload)
            for i, result in zip(part, payload["results"], strict=True):
                status, code, message = _user_outcome(result, options.what_if)
                report.add(
                    sheet.rows[i], upns[i], f"UsageLocation={location}", status, code, message
                )
            options.advance(len(part))
    return report


# --- Get-Users, Get-SubscribedSku, Get-LicenseReport ------------------------------------------


def _users(
    transport: Transport, filters: dict[str, Any], *, top: int | None, progress: Callable | None
) -> list[dict[str, Any]]:
    flt = {k: v for k, v in filters.items() if v is not None}
    found: list[dict[str, Any]] = []
    after = None
    while top is None or len(found) < top:
        first = PAGE if top is None else min(PAGE, top - len(found))
        page = transport.execute(
            ops.USERS_PAGE, {"first": first, "after": after, "filter": flt or None}
        )["users"]
        found.extend(page["nodes"])
        if progress is not None:
            progress(len(page["nodes"]))
        if not page["pageInfo"]["hasNextPage"] or not page["nodes"]:
            break
        after = page["pageInfo"]["endCursor"]
    return found


USER_OUTPUT = (
    ("UserPrincipalName", "userPrincipalName"),
    ("DisplayName", "displayName"),
    ("GivenName", "givenName"),
    ("Surname", "surname"),
    ("JobTitle", "jobTitle"),
    ("Department", "department"),
    ("OfficeLocation", "officeLocation"),
    ("MobilePhone", "mobilePhone"),
    ("City", "city"),
    ("Country", "country"),
    ("UsageLocation", "usageLocation"),
    ("AccountEnabled", "accountEnabled"),
)


def get_users(
    transport: Transport,
    filters: dict[str, Any],
    *,
    top: int | None = None,
    progress: Callable | None = None,
) -> pl.DataFrame:
    users = _users(transport, filters, top=top, progress=progress)
    data: dict[str, list[Any]] = {out: [u[key] for u in users] for out, key in USER_OUTPUT}
    data["AccountEnabled"] = [str(v).lower() for v in data["AccountEnabled"]]
    data["AssignedLicenses"] = [
        ";".join(a["skuPartNumber"] for a in u["assignedLicenses"]) for u in users
    ]
    data["CreatedAt"] = [u["createdAt"] for u in users]
    return pl.DataFrame(data, schema={k: pl.String for k in data})


def get_subscribed_sku(transport: Transport) -> pl.DataFrame:
    skus = transport.execute(ops.SUBSCRIBED_SKUS)["subscribedSkus"]
    return pl.DataFrame(
        {
            "SkuPartNumber": [s["skuPartNumber"] for s in skus],
            "SkuId": [s["skuId"] for s in skus],
            "CapabilityStatus": [s["capabilityStatus"] for s in skus],
            "EnabledUnits": [s["prepaidUnits"]["enabled"] for s in skus],
            "ConsumedUnits": [s["consumedUnits"] for s in skus],
            "AvailableUnits": [s["availableUnits"] for s in skus],
            "SuspendedUnits": [s["prepaidUnits"]["suspended"] for s in skus],
            "WarningUnits": [s["prepaidUnits"]["warning"] for s in skus],
        },
        schema={
            "SkuPartNumber": pl.String,
            "SkuId": pl.String,
            "CapabilityStatus": pl.String,
            "EnabledUnits": pl.Int64,
            "ConsumedUnits": pl.Int64,
            "AvailableUnits": pl.Int64,
            "SuspendedUnits": pl.Int64,
            "WarningUnits": pl.Int64,
        },
    )


def get_license_report(
    transport: Transport,
    filters: dict[str, Any],
    *,
    top: int | None = None,
    progress: Callable | None = None,
) -> pl.DataFrame:
    """Users × SKUs: 1 where the user holds the SKU (the tenant's SKUs, then any others held)."""
    skus = [s["skuPartNumber"] for s in transport.execute(ops.SUBSCRIBED_SKUS)["subscribedSkus"]]
    users = _users(transport, filters, top=top, progress=progress)
    for u in users:
        for a in u["assignedLicenses"]:
            if a["skuPartNumber"] not in skus:
                skus.append(a["skuPartNumber"])
    held = [{a["skuPartNumber"]: a for a in u["assignedLicenses"]} for u in users]
    data: dict[str, list[Any]] = {
        "UserPrincipalName": [u["userPrincipalName"] for u in users],
        "DisplayName": [u["displayName"] for u in users],
        "Department": [u["department"] for u in users],
        "UsageLocation": [u["usageLocation"] for u in users],
    }
    schema: dict[str, Any] = {k: pl.String for k in data}
    for sku in skus:
        data[sku] = [1 if sku in h else 0 for h in held]
        schema[sku] = pl.Int64
    data["DisabledPlans"] = [
        ";".join(f"{part}:{plan}" for part, a in h.items() for plan in a["disabledPlans"])
        for h in held
    ]
    schema["DisabledPlans"] = pl.String
    return pl.DataFrame(data, schema=schema)


# --- Add-Credits and Set-AutoRecharge ---------------------------------------------------------


def _decimal(value: str | None, what: str) -> Decimal | None:
    if value is None or not str(value).strip():
        return None
    try:
        number = Decimal(str(value).strip().replace(",", "."))
    except InvalidOperation:
        raise UsageError(f"{what}: {value!r} is not a number") from None
    if not number.is_finite():
        raise UsageError(f"{what}: {value!r} is not a number")
    return number


def idempotency_key(parts: Sequence[str]) -> str:
    """A key derived from what identifies a purchase, so running a sheet twice buys once."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
    return f"bulk-{digest}"


def add_credits(
    transport: Transport,
    sheet: Sheet | None,
    options: Options,
    *,
    amount: str | None = None,
    idempotency_key_value: str | None = None,
    day: str,
) -> Report:
    """Buy credits: one purchase per sheet row (Amount, optional Reference), or `amount` once.

    Each purchase carries an idempotency key: the Reference cell (or -IdempotencyKey) when given,
    else one derived from the row's content and number (a sheet), or from the amount and the UTC
    day (a single -Amount), so re-running the same command buys nothing twice.
    """
    report = Report(what_if=options.what_if, blank_rows=sheet.blank_rows if sheet else 0)
    purchases: list[tuple[int, str, Decimal | None, str]] = []
    if sheet is None:
        value = _decimal(amount, "-Amount")
        if value is None:
            raise UsageError("give -Amount N or -Path with an Amount column")
        key = idempotency_key_value or idempotency_key(["Add-Credits", str(value), day])
        purchases.append((1, key, value, f"Purchase {value}"))
    else:
        cols, _ = match_columns(sheet, CREDIT_COLUMNS, key="amount")
        amounts = column(sheet, cols["amount"])
        refs = column(sheet, cols.get("reference"))
        keys = [
            refs[i] or idempotency_key(["Add-Credits", str(row)] + [str(v) for v in values])
            for i, (row, values) in enumerate(zip(sheet.rows, sheet.frame.iter_rows(), strict=True))
        ]
        faults = _key_faults(sheet.rows, keys, "idempotency key")
        for i, cell in enumerate(amounts):
            row, key = sheet.rows[i], keys[i]
            action = f"Purchase {cell}"
            if i in faults:
                report.fail(row, key, action, *faults[i])
                continue
            try:
                value = _decimal(cell, f"row {row}")
            except UsageError as error:
                report.fail(row, key, action, "InvalidAmount", str(error))
                continue
            if value is None:
                report.fail(row, key, action, "MissingValue", "This row has no amount.")
                continue
            purchases.append((row, key, value, f"Purchase {value}"))
    for row, key, value, action in purchases:
        payload = transport.execute(
            ops.PURCHASE_CREDITS,
            {"amount": str(value), "key": key, "whatIf": options.what_if},
        )["purchaseCredits"]
        errors = payload.get("userErrors") or []
        if errors:
            code, message = _row_errors(payload)
            report.fail(row, key, action, code, message)
        else:
            invoice = payload.get("invoice") or {}
            balance = payload.get("balance") or {}
            message = (
                f"invoice {invoice.get('number')}; " if invoice.get("number") else ""
            ) + f"balance {balance.get('amount')} {balance.get('currency')}"
            report.add(row, key, action, _status("Purchased", options.what_if), "", message)
        options.advance(1)
    return report


def set_auto_recharge(
    transport: Transport,
    options: Options,
    *,
    enabled: bool,
    recharge_amount: str | None,
    trigger_balance: str | None,
    max_recharges_per_day: int | None,
) -> Report:
    """Configure automatic recharge once; the report has one row."""
    report = Report(what_if=options.what_if)
    variables = {
        "enabled": enabled,
        "amount": str(_decimal(recharge_amount, "-RechargeAmount"))
        if recharge_amount is not None
        else None,
        "trigger": str(_decimal(trigger_balance, "-TriggerBalance"))
        if trigger_balance is not None
        else None,
        "perDay": max_recharges_per_day,
    }
    action = "Enable" if enabled else "Disable"
    if options.what_if:
        # configureAutoRecharge has no whatIf: report what would be sent, send nothing.
        shown = ", ".join(f"{k}={v}" for k, v in variables.items() if v is not None)
        report.add(1, "autoRecharge", action, "WouldUpdate", "", shown)
        return report
    payload = transport.execute(ops.CONFIGURE_AUTO_RECHARGE, variables)["configureAutoRecharge"]
    if payload.get("userErrors"):
        code, message = _row_errors(payload)
        report.fail(1, "autoRecharge", action, code, message)
    else:
        ar = payload["autoRecharge"] or {}
        shown = ", ".join(f"{k}={ar.get(k)}" for k in ar if ar.get(k) is not None)
        report.add(1, "autoRecharge", action, "Updated", "", shown)
    options.advance(1)
    return report
