"""Import-Users' rows as importUserColumns takes them: one list per property, built and
checked column by column (no object per row), and its compact answer read back per row."""

from __future__ import annotations

import functools
import itertools
import re
from typing import Any

from commcredits.bulk.rows import DEFAULT_MAX_LENGTH, TEXT_LIMITS, UPN_NAMES, cell_bool, too_long
from commcredits.services.users import LIST_LIMITS

# Graph's name -> the headers it goes by: Graph's own (Get-MgUser | Export-Csv), the admin
# center's "Add multiple users" template (User Name, First name, ..., Country or region) and
# its Active users export (Title, Office, PhoneNumber, Fax, StreetAddress, PostalCode, ...).
# Headers are compared without case, spaces or punctuation (sheets.normalize_header).
USER_COLUMNS: dict[str, tuple[str, ...]] = {
    "userPrincipalName": UPN_NAMES,
    "displayName": ("DisplayName", "Display name", "Name"),
    "givenName": ("GivenName", "First name", "FirstName"),
    "surname": ("Surname", "Last name", "LastName"),
    "jobTitle": ("JobTitle", "Job title", "Title"),
    "department": ("Department",),
    "officeLocation": ("OfficeLocation", "Office Number", "Office"),
    "businessPhones": ("BusinessPhones", "Office phone", "PhoneNumber", "Business phone"),
    "mobilePhone": ("MobilePhone", "Mobile Phone", "Mobile"),
    "faxNumber": ("FaxNumber", "Fax", "Fax number"),
    "otherMails": (
        "OtherMails",
        "Alternate email address",
        "Alternate email addresses",
        "AlternateEmailAddresses",
    ),
    "streetAddress": ("StreetAddress", "Address", "Street address"),
    "city": ("City",),
    "state": ("State", "State or Province", "StateOrProvince"),
    "postalCode": ("PostalCode", "ZIP or Postal Code", "Postal code", "ZIP"),
    "country": ("Country", "Country or Region", "Country/Region", "CountryOrRegion"),
    "usageLocation": ("UsageLocation", "Usage location"),
    "accountEnabled": ("AccountEnabled", "Enabled"),
    "blockCredential": ("Block credential", "BlockCredential", "Block sign-in"),
}


# Multi-valued cells, separated as Get-Users writes them (';'). An e-mail address holds no
# unquoted ',', so ',' separates otherMails too; a phone number may (a dialling pause), so it
# does not separate businessPhones.
LIST_SEPARATORS: dict[str, str] = {"businessPhones": r";", "otherMails": r"[;,]"}


LIST_FIELDS = {"businessPhones": "business_phones", "otherMails": "other_mails"}


# The API's limit on a usage location argument or field (a code or a country name).
USAGE_LOCATION = TEXT_LIMITS["country"]


@functools.cache
def _limit(name: str) -> int:
    """The API's limit on a user property, by its GraphQL name (jobTitle -> job_title)."""
    if name == "usageLocation":
        return USAGE_LOCATION
    return TEXT_LIMITS.get(re.sub(r"([A-Z])", r"_\1", name).lower(), DEFAULT_MAX_LENGTH)


# The characters LIST_SEPARATORS' patterns split on: a cell without any is one item.
_SEPARATOR_CHARS = {"businessPhones": (";",), "otherMails": (";", ",")}


def _list_cell(name: str, value: str) -> list[str]:
    """A cell's items, each once (the API keeps a repeated item once: a cell naming one
    address 21 times is one address, not over the limit)."""
    if not any(ch in value for ch in _SEPARATOR_CHARS[name]):  # most cells: one item
        item = value.strip()
        return [item] if item else []
    items = (item.strip() for item in re.split(LIST_SEPARATORS[name], value))
    return list(dict.fromkeys(item for item in items if item))


def as_columns(values: dict[str, list[Any]], rows: list[int]) -> dict[str, list[Any]]:
    """Some rows as importUserColumns takes them: one list per property any of them gives
    (null where a row leaves it as it is), column by column (no object per row is built)."""
    out = {}
    # The rows of a batch are mostly consecutive (faulty rows are not sent): a slice then.
    run = bool(rows) and rows[-1] - rows[0] == len(rows) - 1
    for name, col in values.items():
        part = col[rows[0] : rows[-1] + 1] if run else [col[i] for i in rows]
        if name == "userPrincipalName" or any(v is not None for v in part):
            out[name] = part
    return out


def property_columns(
    cells: dict[str, list[str | None]], *, usage_location: str | None, from_country: bool
) -> dict[str, list[Any]]:
    """Each user property as the API takes it, one list per column: booleans parsed, lists
    split, Block credential turned into accountEnabled, the usage location chosen. A cell
    that cannot be parsed becomes the marker INVALID (a fault of its row)."""
    out: dict[str, list[Any]] = {}
    for name in USER_COLUMNS:
        col = cells[name]
        if name == "blockCredential":
            continue  # read with accountEnabled
        if name == "accountEnabled":
            col = [_bool_cell(v) for v in col]
            blocked = cells["blockCredential"]
            if any(v is not None for v in blocked):
                col = [
                    v if v is not None or b is None else _not(_bool_cell(b))
                    for v, b in zip(col, blocked, strict=True)
                ]
        elif name in LIST_SEPARATORS:
            col = [None if v is None else _list_cell(name, v) for v in col]
        elif name == "usageLocation":
            if usage_location is not None:
                col = [usage_location] * len(col)
            elif from_country:
                col = [
                    v if v is not None else c for v, c in zip(col, cells["country"], strict=True)
                ]
        out[name] = col
    return {name: col for name, col in out.items() if any(v is not None for v in col)}


INVALID = object()  # a cell that is not what its column takes (accountEnabled: true/false)


def _bool_cell(value: str | None) -> Any:
    if value is None:
        return None
    flag = cell_bool(value)
    return INVALID if flag is None else flag


def _not(flag: Any) -> Any:
    return flag if flag is None or flag is INVALID else not flag


def bad_cells(
    name: str, col: list[Any], cells: dict[str, list[str | None]], cols: dict[str, str]
) -> list[int]:
    """The rows whose value of this column cannot be sent (not parsed, or too long)."""
    if name == "accountEnabled":
        return [i for i, v in enumerate(col) if v is INVALID]
    if name == "userPrincipalName":
        return []  # key_faults judged the keys
    # The longest value first, in C (map): most columns have no cell over the limit.
    if name in LIST_SEPARATORS:
        limit, items = LIST_LIMITS[LIST_FIELDS[name]]
        lists = list(filter(None, col))
        if (
            max(map(len, lists), default=0) <= items
            and max(map(len, itertools.chain.from_iterable(lists)), default=0) <= limit
        ):
            return []
        return [
            i for i, v in enumerate(col) if v and (len(v) > items or any(len(x) > limit for x in v))
        ]
    limit = _limit(name)
    if max(map(len, filter(None, col)), default=0) <= limit:
        return []
    return [i for i, v in enumerate(col) if v is not None and len(v) > limit]


def cell_fault(
    name: str, cells: dict[str, list[str | None]], cols: dict[str, str], i: int
) -> tuple[str, str]:
    if name == "accountEnabled":
        given = cells["accountEnabled"][i]
        shown, value = (
            ("accountEnabled", given)
            if given is not None
            else (
                "blockCredential",
                cells["blockCredential"][i],
            )
        )
        return "InvalidValue", f"{shown}: {value!r} is not true/false."
    if name in LIST_SEPARATORS:
        limit, items = LIST_LIMITS[LIST_FIELDS[name]]
        given = _list_cell(name, cells[name][i] or "")
        if len(given) > items:
            # The API refuses a whole request whose list is far too long, so the row fails
            # alone, unsent, with the service's own code and words.
            return (
                "TOO_MANY_VALUES",
                f"{cols[name]} holds at most {items} value{'s' if items > 1 else ''}; "
                f"{len(given)} were given. This row was not sent.",
            )
        long = next(x for x in given if len(x) > limit)
        return too_long(long, limit, f"item of {cols[name]}")  # type: ignore[return-value]
    value = cells[name][i]
    what = cols.get(name) or name
    if name == "usageLocation" and value is None:
        value = cells["country"][i] if cells["country"][i] is not None else value
    return too_long(value, _limit(name), what) or ("VALUE_TOO_LONG", what)


def every_row_located(sent: list[Any] | None) -> bool:
    """Whether every row of a batch gives a usage location (a code or a country name): then
    no user it creates can be left without one (the API stores the location or fails the
    row), and the answer's usageLocations need not be asked for."""
    return sent is not None and all(isinstance(v, str) and v.strip() for v in sent)


def row_results(payload: dict[str, Any], sent_locations: list[Any] | None) -> list[dict[str, Any]]:
    """importUserColumns' compact answer as one result per row, the shape importUsers gives.

    The status is not asked for: a row's action says it (null: failed; UNCHANGED: unchanged;
    else applied), and a list of 1,000 enums less is a tenth of the answer's cost. Nor are
    the usage locations when every row gave one (`every_row_located`): a row's result then
    carries the location it sent, which is all the report reads of it (whether there is one).
    """
    errors = {f["index"]: f["userErrors"] for f in payload["failures"]}
    locations = payload.get("usageLocations")
    if locations is None:
        locations = sent_locations
    return [
        {
            "status": _STATUS.get(a, "APPLIED"),
            "action": a,
            "usageLocation": loc,
            "userErrors": errors.get(i, []),
        }
        for i, (a, loc) in enumerate(zip(payload["actions"], locations, strict=True))
    ]


_STATUS = {None: "FAILED", "UNCHANGED": "UNCHANGED"}
