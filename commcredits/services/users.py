"""Directory users (SPEC §2): create, update, delete, look up (lists: services/user_list)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, fields
from typing import Any

from commcredits.db import directory_lock
from commcredits.models import GroupLicenseState, LicenseAssignment, Sku, Subscription, Tenant, User
from commcredits.services import audit, group_licensing, group_seats, user_search
from commcredits.services.billing import MAX_EMAIL, is_email
from commcredits.services.catalog import Catalog
from commcredits.services.countries import normalize_usage_location
from commcredits.services.errors import DomainError, not_found
from commcredits.services.principal import Principal

# Entra's rules: alias of letters, digits and ' . - _ ! # ^ ~, no leading, trailing or double
# dot, at most 64 characters; then @ and a domain of dot-separated labels, at most 48.
# Linear: the text is bounded first (MAX_UPN), the lookahead for '..' scans it once, and each
# label ends at a '.', which no label character matches. fullmatch: no trailing newline.
_UPN = re.compile(
    r"(?!\.)(?!.*\.\.)[A-Za-z0-9'._!#^~-]{1,64}(?<!\.)"
    r"@(?=.{1,48}\Z)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
MAX_UPN = 113  # 64 + '@' + 48: the column, and the API's limit on every UPN argument

# Graph's limits on the user's properties (its user resource: jobTitle 128, department 64,
# streetAddress 1024, postalCode 40, ...), and the columns' sizes.
TEXT_LIMITS = {
    "display_name": 256,
    "given_name": 64,
    "surname": 64,
    "job_title": 128,
    "department": 64,
    "office_location": 128,
    "mobile_phone": 64,
    "fax_number": 64,
    "street_address": 1024,
    "city": 128,
    "state": 128,
    "postal_code": 40,
    "country": 128,
}
# Graph's string collections: (characters per item, items). Graph keeps one business phone
# ("only one number can be set"); otherMails are e-mail addresses (RFC 5321's 254), and a
# bound on how many keeps a row's JSON small.
LIST_LIMITS = {
    "business_phones": (64, 1),
    "other_mails": (MAX_EMAIL, 20),
}


@dataclass
class UserFields:
    """The writable properties of a user; None means "not given" (left as is)."""

    user_principal_name: str | None = None
    display_name: str | None = None
    given_name: str | None = None
    surname: str | None = None
    job_title: str | None = None
    department: str | None = None
    office_location: str | None = None
    mobile_phone: str | None = None
    business_phones: list[str] | None = None
    fax_number: str | None = None
    other_mails: list[str] | None = None
    street_address: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None
    usage_location: str | None = None
    account_enabled: bool | None = None

    def given(self) -> dict[str, Any]:
        return {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None
        }


def validate_upn(upn: str, *, field: str = "userPrincipalName") -> str:
    value = (upn or "").strip()
    if len(value) > MAX_UPN or not _UPN.fullmatch(value):
        shown = value if len(value) <= MAX_UPN else value[:40] + "…"
        raise DomainError(
            "INVALID_USER_PRINCIPAL_NAME",
            f"'{shown}' is not a valid user principal name (alias@domain, letters, digits and "
            ". - _ ! # ^ ~ ' in the alias).",
            field,
        )
    return value


def upn_key(upn: str) -> str:
    """A user principal name's key, as stored in upn_key and looked up by: stripped, lower
    case (a UPN is unique and found whatever its case). The one rule for it: every write and
    every lookup by name (find_users, ref_column, license batches, group members) goes by it."""
    return upn.strip().lower()


def validate_fields(values: dict[str, Any]) -> dict[str, Any]:
    """Checked and normalized column values, or a DomainError naming the first bad field."""
    clean: dict[str, Any] = {}
    for name, value in values.items():
        if name == "user_principal_name":
            clean[name] = validate_upn(value)
            clean["upn_key"] = upn_key(clean[name])
        elif name == "usage_location":
            clean[name] = validate_usage_location(value)
        elif name == "account_enabled":
            clean[name] = bool(value)
        elif name in LIST_LIMITS:
            clean[name] = _validate_list(name, value)
        else:
            text = str(value).strip()
            if len(text) > TEXT_LIMITS[name]:
                raise DomainError(
                    "VALUE_TOO_LONG",
                    f"{_camel(name)} has at most {TEXT_LIMITS[name]} characters.",
                    _camel(name),
                )
            clean[name] = text
    return clean


def validate_usage_location(value: str | None, *, field: str = "usageLocation") -> str | None:
    """An ISO 3166-1 alpha-2 code from a code or a country name (countries.country_code:
    'DE', 'DEU', 'Germany', 'Deutschland'); None for empty (no usage location)."""
    try:
        return normalize_usage_location(value)
    except ValueError:
        shown = value if len(value or "") <= 60 else (value or "")[:40] + "…"
        if len(shown.strip()) == 2:  # what a mistyped code gets, as it always has
            message = f"'{shown}' is not an ISO 3166-1 alpha-2 country code."
        else:
            message = (
                f"'{shown}' is neither an ISO 3166-1 country code (DE, DEU) nor a country "
                "name in English or German."
            )
        raise DomainError("INVALID_USAGE_LOCATION", message, field) from None


def _validate_list(name: str, value: list[str]) -> list[str]:
    """Items stripped, blanks and repeats dropped (in order); Graph's limits; e-mail checked."""
    item_limit, max_items = LIST_LIMITS[name]
    items: list[str] = []
    for raw in value:
        item = str(raw).strip()
        if len(item) > item_limit:
            field = _camel(name)
            raise DomainError(
                "VALUE_TOO_LONG", f"Each of {field} has at most {item_limit} characters.", field
            )
        if item and item not in items:
            items.append(item)
    if len(items) > max_items:
        field = _camel(name)
        raise DomainError(
            "TOO_MANY_VALUES",
            f"{field} holds at most {max_items} value{'s' if max_items > 1 else ''}; "
            f"{len(items)} were given.",
            field,
        )
    if name == "other_mails":
        bad = next((m for m in items if not is_email(m)), None)
        if bad is not None:
            field = _camel(name)
            raise DomainError("INVALID_EMAIL", f"'{bad}' is not an e-mail address.", field)
    return items


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.capitalize() for p in rest)


def describe(user: User) -> dict[str, Any]:
    return {
        "userPrincipalName": user.user_principal_name,
        "displayName": user.display_name,
        "department": user.department,
        "usageLocation": user.usage_location,
        "accountEnabled": user.account_enabled,
    }


def create_user(
    tenant: Tenant, principal: Principal, data: UserFields, *, now: dt.datetime
) -> User:
    if not data.user_principal_name:
        raise DomainError(
            "INVALID_USER_PRINCIPAL_NAME", "userPrincipalName is required.", "userPrincipalName"
        )
    values = validate_fields(data.given())
    values.setdefault("display_name", values["user_principal_name"].split("@")[0])
    values["search_text"] = user_search.search_text(values)
    with directory_lock(tenant.id):
        if _upn_taken(tenant, values["upn_key"]):
            raise duplicate_upn(values["user_principal_name"])
        user = User.create(tenant=tenant.id, created_at=now, updated_at=now, **values)
        audit.record(
            principal,
            "createUser",
            user,
            tenant_id=tenant.id,
            before=None,
            after=describe(user),
            now=now,
        )
    return user


def duplicate_upn(upn: str) -> DomainError:
    return DomainError(
        "DUPLICATE_USER_PRINCIPAL_NAME",
        f"Another object with the same value for property userPrincipalName already exists: "
        f"'{upn}'.",
        "userPrincipalName",
    )


def _upn_taken(tenant: Tenant, upn_key: str, *, except_id: int | None = None) -> bool:
    query = User.select(User.id).where((User.tenant == tenant.id) & (User.upn_key == upn_key))
    if except_id is not None:
        query = query.where(User.id != except_id)
    return query.exists()


def update_user(
    tenant: Tenant, principal: Principal, user_ref: int | str, data: UserFields, *, now: dt.datetime
) -> User:
    values = validate_fields(data.given())
    with directory_lock(tenant.id):
        user = get_user(tenant, user_ref)
        before = describe(user)
        if "upn_key" in values and _upn_taken(tenant, values["upn_key"], except_id=user.id):
            raise duplicate_upn(values["user_principal_name"])
        moved = "usage_location" in values and values["usage_location"] != user.usage_location
        if moved:
            _check_location_change(user, values["usage_location"])
        for name, value in values.items():
            setattr(user, name, value)
        user.search_text = user_search.search_text_of_user(user)  # in the same UPDATE
        user.updated_at = now
        user.save()
        if moved:
            retry_group_errors(tenant, [user.id], now=now)
        audit.record(
            principal,
            "updateUser",
            user,
            tenant_id=tenant.id,
            before=before,
            after=describe(user),
            now=now,
        )
    return user


def _check_location_change(user: User, new_location: str | None) -> None:
    """A licensed user keeps a usage location where every license held may be assigned.

    Entra lets the location go from a user whose licenses all come from groups: group
    assignments use the tenant's country then (services/group_licensing.py), so that country
    is the one checked. A direct assignment needs the user's own location."""
    held = list(
        Sku.select(Sku, LicenseAssignment.direct)
        .join(LicenseAssignment)
        .where(LicenseAssignment.user == user.id)
        .objects()
    )
    if not held:
        return
    if new_location is None:
        if any(sku.direct for sku in held):
            raise DomainError(
                "ProhibitedInUsageLocationViolation",
                "Usage location cannot be removed from a user who has licenses assigned directly.",
                "usageLocation",
            )
        new_location = Tenant.get_by_id(user.tenant_id).country
    for sku in held:
        if not Catalog.sold_in(sku, new_location):
            raise DomainError(
                "ProhibitedInUsageLocationViolation",
                f"License {sku.part_number} held by this user cannot be used in usage location "
                f"'{new_location}'; remove it first.",
                "usageLocation",
            )


def retry_group_errors(tenant: Tenant, user_ids: list[int], *, now: dt.datetime) -> None:
    """After these users' usage locations changed: their group license errors are tried
    again (a ProhibitedInUsageLocationViolation may be gone, and Entra reprocesses a user
    whose location changes). In the caller's directory lock; one query when none is in error."""
    in_error: dict[int, set[int]] = {}
    for start in range(0, len(user_ids), 500):
        for uid, group_id in (
            GroupLicenseState.select(GroupLicenseState.user, GroupLicenseState.group)
            .where(
                (GroupLicenseState.tenant == tenant.id)
                & GroupLicenseState.user.in_(user_ids[start : start + 500])
                & (GroupLicenseState.state == group_licensing.ERROR)
            )
            .tuples()
        ):
            in_error.setdefault(uid, set()).add(group_id)
    if not in_error:
        return
    proc = group_licensing.Processor(tenant, now=now)
    proc.load_users(sorted(in_error))
    for uid in sorted(in_error):
        for group_id in sorted(in_error[uid]):
            proc.apply(uid, group_id)
    proc.settle()
    proc.flush()
    proc.notify(proc.in_error)


def delete_user(
    tenant: Tenant, principal: Principal, user_ref: int | str, *, now: dt.datetime
) -> int:
    """Delete a user and free the seats of every license it held. Returns the user's id."""
    with directory_lock(tenant.id):
        user = get_user(tenant, user_ref)
        before = describe(user)
        held = list(
            LicenseAssignment.select(LicenseAssignment.sku).where(LicenseAssignment.user == user.id)
        )
        if held:  # a user holds a SKU once, so each of its subscriptions frees one seat
            Subscription.update(
                consumed_units=Subscription.consumed_units - 1, updated_at=now
            ).where(
                (Subscription.tenant == tenant.id) & Subscription.sku.in_([a.sku_id for a in held])
            ).execute()
        LicenseAssignment.delete().where(LicenseAssignment.user == user.id).execute()
        user_id = user.id
        user.delete_instance()  # memberships and group states: ON DELETE CASCADE
        # The seats it held go to members waiting with CountViolation, in member order.
        group_seats.settle_seats(tenant, now=now)
        catalog = Catalog.load()
        before["assignedLicenses"] = [catalog.by_pk[a.sku_id].part_number for a in held]
        audit.record(
            principal,
            "deleteUser",
            ("User", user_id),
            tenant_id=tenant.id,
            before=before,
            after=None,
            now=now,
        )
    return user_id


def find_users(tenant: Tenant, refs: list[int | str], *, field: str = "userIds") -> list[User]:
    """The users a batch names (ids or user principal names), in input order, each once (id,
    UPN and its key loaded). Every entry naming no user of this tenant is NOT_FOUND at
    `field.N`, all of them in one refusal. One statement per 500 ids and per 500 names."""
    return [user for _, user in find_named_users(tenant, refs, field=field)]


def find_named_users(
    tenant: Tenant, refs: list[int | str], *, field: str = "userIds"
) -> list[tuple[int, User]]:
    """`find_users`, each user with the index of the first entry naming it."""
    ids = list(dict.fromkeys(r for r in refs if isinstance(r, int)))
    keys = list(dict.fromkeys(upn_key(r) for r in refs if isinstance(r, str)))
    by_id: dict[int, User] = {}
    by_key: dict[str, User] = {}
    for column, values in ((User.id, ids), (User.upn_key, keys)):
        for start in range(0, len(values), 500):
            for user in User.select(User.id, User.user_principal_name, User.upn_key).where(
                (User.tenant == tenant.id) & column.in_(values[start : start + 500])
            ):
                by_id[user.id] = user
                by_key[user.upn_key] = user
    found = [by_id.get(r) if isinstance(r, int) else by_key.get(upn_key(r)) for r in refs]
    missing = [
        not_found("User", ref, f"{field}.{i}").details[0]
        for i, (ref, user) in enumerate(zip(refs, found, strict=True))
        if user is None
    ]
    if missing:
        raise DomainError.many(missing)
    first: dict[int, tuple[int, User]] = {}
    for index, user in enumerate(found):
        if user is not None and user.id not in first:
            first[user.id] = (index, user)
    return list(first.values())


def ref_column(ref: int | str) -> tuple[str, int | str]:
    """Where a reference to a user points: its id, or its user principal name's key
    (`upn_key`). get_user's lookup, and authorizeCall's hand-built one
    (services/authorization.py), go by it."""
    if isinstance(ref, int):
        return "id", ref
    return "upn_key", upn_key(ref)


def get_user(tenant: Tenant, ref: int | str) -> User:
    """A user of this tenant by id or user principal name; another tenant's is 'not found'."""
    column, key = ref_column(ref)
    user = User.select().where((User.tenant == tenant.id) & (getattr(User, column) == key)).first()
    if user is None:
        raise not_found("User", ref)
    return user
