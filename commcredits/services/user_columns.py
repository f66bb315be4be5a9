"""A batch of user rows as columns (one list per property), and the rules applied column by
column: importUserColumns' shape, and the shape every user batch is decided in.

Sending 1,000 users as 1,000 input objects cost the server more to check and convert than to
write them (issue 16: 4,000 rows/s against 54,000 for license batches). As columns, each
property is one list; its rule runs over the list (a usage location is resolved once per
distinct value, a text column is stripped and measured in one pass), and no object is built
per row. The rules are `services.users`' own (validate_upn, validate_usage_location,
_validate_list, TEXT_LIMITS): a row fails with the same first error, code and message, as
`users.validate_fields` gives it. The batch's new users are inserted from the columns too
(insert_created): one shape, a multi-row INSERT per chunk, search texts normalized per column.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import peewee

from commcredits.db import insert_values, is_sqlite, sent_as
from commcredits.db_copy import copy_rows
from commcredits.models import Tenant, User
from commcredits.models.base import JSONField
from commcredits.services import user_search, users
from commcredits.services.billing import is_email
from commcredits.services.errors import DomainError
from commcredits.services.users import LIST_LIMITS, TEXT_LIMITS, UserFields

# UserFields' properties, in its order; userPrincipalName sets the batch's length.
PROPERTIES = [name for name in UserFields.__dataclass_fields__ if name != "user_principal_name"]

# A cell that gives nothing (null: leave the property as it is). Distinct from None, which a
# checked usage location may be ("" clears it).
MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING"})()


_TEXT_TYPES = {str, type(None)}


@dataclass
class CheckedColumns:
    """A batch after the rules: per row its UPN as given, as stored and its key (None when
    the row failed); per given property its checked values (MISSING where a row gives none);
    per failed row its first fault, in property order."""

    given_upns: list[str]
    upns: list[str]
    keys: list[str | None]
    columns: dict[str, list[Any]]
    faults: dict[int, DomainError]

    def __len__(self) -> int:
        return len(self.upns)

    def values(self, i: int) -> dict[str, Any]:
        """Row i's given properties, checked, as `users.validate_fields` answers them."""
        out: dict[str, Any] = {"user_principal_name": self.upns[i], "upn_key": self.keys[i]}
        for name, col in self.columns.items():
            value = col[i]
            if value is not MISSING:
                out[name] = value
        return out


def columns_of_rows(rows: Sequence[UserFields]) -> tuple[list[str], dict[str, list[Any]]]:
    """Rows as columns: the UPNs and one list per property some row gives."""
    upns = [row.user_principal_name for row in rows]
    columns: dict[str, list[Any]] = {}
    for name in PROPERTIES:
        col = [getattr(row, name) for row in rows]
        if any(v is not None for v in col):
            columns[name] = col
    return upns, columns  # type: ignore[return-value]


def check_lengths(
    user_principal_names: Sequence[Any], columns: Mapping[str, Sequence[Any] | None]
) -> dict[str, Sequence[Any]]:
    """The given columns (None: left out); one of another length refuses the batch."""
    count = len(user_principal_names)
    given: dict[str, Sequence[Any]] = {}
    for name, values in columns.items():
        if values is None:
            continue
        if name not in PROPERTIES:
            raise ValueError(f"not a user property: {name}")  # a programming error, not input
        if len(values) != count:
            raise DomainError(
                "COLUMN_LENGTH_MISMATCH",
                f"{_camel(name)} has {len(values):,} values for {count:,} user principal "
                "names; every column has one value (or null) per row.",
                _camel(name),
            )
        given[name] = values
    return given


def check_columns(
    user_principal_names: Sequence[Any], columns: Mapping[str, Sequence[Any]]
) -> CheckedColumns:
    """Every row's values checked, column by column (columns as check_lengths gives them)."""
    given_upns = [upn or "" for upn in user_principal_names]
    upns: list[str] = []
    keys: list[str | None] = []
    faults: dict[int, DomainError] = {}
    for i, raw in enumerate(given_upns):
        try:
            if not raw.strip():
                raise DomainError(
                    "INVALID_USER_PRINCIPAL_NAME",
                    "userPrincipalName is required.",
                    "userPrincipalName",
                )
            upn = users.validate_upn(raw)
        except DomainError as error:
            faults[i] = error
            upns.append(raw)
            keys.append(None)
            continue
        upns.append(upn)
        keys.append(users.upn_key(upn))
    checked: dict[str, list[Any]] = {}
    # Property order, so a row's first fault is the one validate_fields would name.
    for name in PROPERTIES:
        raw_col = columns.get(name)
        if raw_col is None:
            continue
        limit = TEXT_LIMITS.get(name)
        types = set(map(type, raw_col))
        if limit is not None and types <= _TEXT_TYPES:
            # Text, the common column: stripped and measured in C (map), no frame per cell.
            if type(None) in types:
                stripped = [MISSING if v is None else v.strip() for v in raw_col]
                longest = max(map(len, (v for v in stripped if v is not MISSING)), default=0)
            else:
                stripped = list(map(str.strip, raw_col))
                longest = max(map(len, stripped), default=0)
            if longest <= limit:
                checked[name] = stripped
                continue
        if name in LIST_LIMITS:
            single = _single_items(name, raw_col)
            if single is not None:
                checked[name] = single
                continue
        rule = _rule(name)
        out: list[Any] = []
        # Rows repeat values (a department, a country, the same phone): each distinct value
        # is checked once per batch.
        seen: dict[Any, Any] = {}
        for i, value in enumerate(raw_col):
            if value is None:
                out.append(MISSING)
                continue
            key = tuple(value) if isinstance(value, list) else value
            try:
                result = seen[key]
            except KeyError:
                try:
                    result = seen[key] = rule(value)
                except DomainError as error:
                    result = seen[key] = error
            except TypeError:  # an unhashable item: checked on its own
                try:
                    result = rule(value)
                except DomainError as error:
                    result = error
            if isinstance(result, DomainError):
                if i not in faults:
                    faults[i] = result
                out.append(MISSING)
            else:
                # A list is the row's own: rows that gave equal lists do not share one.
                out.append(list(result) if isinstance(result, list) else result)
        checked[name] = out
    for i in faults:
        keys[i] = None
    return CheckedColumns(given_upns, upns, keys, checked, faults)


def _single_items(name: str, col: Sequence[Any]) -> list[list[str]] | None:
    """A list column in which every row gives one text (one mail, one phone: the common
    sheet), checked in C: stripped, the longest measured, each mail checked as an address.
    None when any row needs the per-row rule (users._validate_list): another count, a blank,
    a fault; this only accepts what that rule accepts unchanged."""
    if set(map(type, col)) != {list} or set(map(len, col)) != {1}:
        return None
    items = list(map(itemgetter(0), col))
    if set(map(type, items)) != {str}:
        return None
    stripped = list(map(str.strip, items))
    if not all(stripped) or max(map(len, stripped)) > LIST_LIMITS[name][0]:
        return None
    if name == "other_mails" and not all(map(is_email, stripped)):
        return None
    return [[item] for item in stripped]


def _rule(name: str) -> Callable[[Any], Any]:
    """The check of one property's value, as users.validate_fields applies it."""
    if name == "usage_location":
        return users.validate_usage_location
    if name == "account_enabled":
        return bool
    if name in LIST_LIMITS:
        return lambda value: users._validate_list(name, value)
    limit = TEXT_LIMITS[name]

    def text(value: Any) -> str:
        clean = (value if isinstance(value, str) else str(value)).strip()
        if len(clean) > limit:
            raise DomainError(
                "VALUE_TOO_LONG", f"{_camel(name)} has at most {limit} characters.", _camel(name)
            )
        return clean

    return text


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


# -- writing the created rows ------------------------------------------------------------------


def insert_created(
    tenant: Tenant, checked: CheckedColumns, creates: list[int], *, now: dt.datetime
) -> list[tuple[int, int]]:
    """INSERT the new users, column by column: (id, index of the row) per user.

    One shape for the whole batch: a property a row leaves out takes the column's default, as
    a row inserted without it would. Values go as the fields' db_value gives them; text needs
    no conversion, and each distinct list or flag is converted once.
    """
    fields = User._meta.fields
    upns = [checked.upns[i] for i in creates]
    cols: dict[str, list[Any]] = {
        "tenant": [tenant.id] * len(creates),
        "user_principal_name": upns,
        "upn_key": [checked.keys[i] for i in creates],
    }
    for name, col in checked.columns.items():
        cols[name] = _with_default(fields[name], [col[i] for i in creates])
    given_names = cols.get("display_name")
    cols["display_name"] = [
        upn.split("@")[0] if given_names is None or given_names[n] is None else given_names[n]
        for n, upn in enumerate(upns)
    ]
    cols["search_text"] = search_texts(checked, creates, cols["display_name"])
    stamp = sent_as(fields["created_at"].db_value(now))
    cols["created_at"] = cols["updated_at"] = [stamp] * len(creates)
    # peewee's defaults are Python's, not the table's: a column no row gives takes its own.
    for f in User._meta.sorted_fields:
        if f.name not in cols and f.default is not None and not f.primary_key:
            default = f.db_value(f.default() if callable(f.default) else f.default)
            cols[f.name] = [default] * len(creates)
    for name, col in cols.items():
        if name in checked.columns:
            cols[name] = _db_values(fields[name], col)
    names = list(cols)
    columns = [fields[n].column_name for n in names]
    if not is_sqlite():  # COPY, ids drawn first (db_copy): the INSERT's parse cost more
        ids = copy_rows(User._meta.table_name, columns, [cols[n] for n in names])
        return list(zip(ids, creates, strict=True))
    rows = list(zip(*(cols[n] for n in names), strict=True))
    index_of = {checked.keys[i]: i for i in creates}
    found = insert_values(User._meta.table_name, columns, rows, returning=("id", "upn_key"))
    return [(pk, index_of[key]) for pk, key in found]


def _with_default(field: peewee.Field, values: list[Any]) -> list[Any]:
    """The column's values, its default where a row gives none (None: display name's own)."""
    if field.name == "display_name":
        return [None if v is MISSING else v for v in values]
    default = field.default
    if callable(default):
        return [default() if v is MISSING else v for v in values]
    return [default if v is MISSING else v for v in values]


def _db_values(field: peewee.Field, values: list[Any]) -> list[Any]:
    """A column's values as the field's db_value gives them (text needs no conversion)."""
    if isinstance(field, peewee.BooleanField):
        return [None if v is None else bool(v) for v in values]
    if not isinstance(field, JSONField):
        return values  # text, or None in a nullable column
    converted: dict[tuple[str, ...], Any] = {}
    out = []
    for value in values:  # rows repeat a few lists (one phone, no other mail)
        key = tuple(value)
        found = converted.get(key)
        if found is None:
            found = converted[key] = field.db_value(value)
        out.append(found)
    return out


def search_texts(
    checked: CheckedColumns, creates: list[int], display_names: list[str]
) -> list[str]:
    """Each new user's search text, as user_search.search_text gives it: its searched
    columns (UPN, display name, given name, surname, other mails) normalized column by
    column, then joined per user."""
    columns = [[checked.upns[i] for i in creates], display_names]
    for name in ("given_name", "surname"):
        col = checked.columns.get(name)
        if col is not None:
            columns.append(["" if col[i] is MISSING else col[i] for i in creates])
    normalized = [user_search.normalize_many(col) for col in columns]
    mails = checked.columns.get("other_mails")
    lists = [() if mails is None or mails[i] is MISSING else mails[i] for i in creates]
    flat = iter(user_search.normalize_many([m for items in lists for m in items]))
    if all(len(items) == 1 for items in lists):  # one mail a row (or none given): a column
        normalized.append([next(flat) for _ in lists])
        lists = [()] * len(lists)
    separator = user_search.SEPARATOR
    if not any("" in col for col in normalized) and not any(lists):
        return list(map(separator.join, zip(*normalized, strict=True)))  # joined in C
    texts = []
    for parts, items in zip(zip(*normalized, strict=True), lists, strict=True):
        found = [p for p in parts if p]
        found.extend(m for m in (next(flat) for _ in items) if m)
        texts.append(separator.join(found))
    return texts
