"""Batches of directory users (SPEC §2, §8): create-or-update from a sheet, set usage locations.

A batch is up to 1,000 independent rows, each all or nothing, decided in input order against
one picture of the tenant's users and written with a few bulk statements. The rules are those
of `services.users` (the same validation, the same usage-location check), applied per row.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from commcredits.db import directory_lock, insert_rows
from commcredits.models import LicenseAssignment, Tenant, User
from commcredits.services import audit, table_stats, user_search, users
from commcredits.services.errors import DomainError, ErrorDetail, check_batch_size, not_found
from commcredits.services.principal import Principal

_CHUNK = 500


@dataclass
class UserRowOutcome:
    index: int
    user_principal_name: str
    action: str | None = None  # CREATED, UPDATED, UNCHANGED; None when the row failed
    user: User | None = None
    # The user's usage location once the row is applied (with what_if: would be), as stored:
    # the alpha-2 code a name given in the row resolved to, or None.
    usage_location: str | None = None
    errors: list[ErrorDetail] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def changed(self) -> bool:
        return self.ok and self.action in ("CREATED", "UPDATED")


def _existing(tenant: Tenant, keys: list[str]) -> dict[str, User]:
    found: dict[str, User] = {}
    unique = sorted(set(keys))
    for start in range(0, len(unique), _CHUNK):
        for user in User.select().where(
            (User.tenant == tenant.id) & User.upn_key.in_(unique[start : start + _CHUNK])
        ):
            found[user.upn_key] = user
    return found


def _licensed(user_ids: list[int]) -> set[int]:
    held: set[int] = set()
    for start in range(0, len(user_ids), _CHUNK):
        chunk = user_ids[start : start + _CHUNK]
        held.update(
            r.user_id
            for r in LicenseAssignment.select(LicenseAssignment.user)
            .where(LicenseAssignment.user.in_(chunk))
            .distinct()
        )
    return held


def upsert_users(
    tenant: Tenant,
    principal: Principal,
    rows: list[users.UserFields],
    *,
    now: dt.datetime,
    create: bool = True,
    what_if: bool = False,
) -> list[UserRowOutcome]:
    """Create the rows' users that do not exist (if `create`) and update those that do.

    Only the properties a row gives are written; a row equal to the stored user is UNCHANGED,
    so running the same sheet twice changes nothing the second time. One outcome per row, in
    order. With `what_if`, every row is checked as for real and nothing is written.
    """
    check_batch_size(len(rows), "users")
    if what_if:
        return _decide(tenant, rows, create=create)[0]
    with directory_lock(tenant.id):
        outcomes, creates, updates = _decide(tenant, rows, create=create)
        _write(tenant, principal, creates, updates, now=now)
    table_stats.rows_inserted(User._meta.table_name, len(creates))
    return outcomes


def set_usage_locations(
    tenant: Tenant,
    principal: Principal,
    user_principal_names: list[str],
    usage_location: str,
    *,
    now: dt.datetime,
    what_if: bool = False,
) -> list[UserRowOutcome]:
    """The same usage location ("" removes it) for many existing users, each row on its own."""
    rows = [
        users.UserFields(user_principal_name=upn, usage_location=usage_location)
        for upn in user_principal_names
    ]
    return upsert_users(tenant, principal, rows, now=now, create=False, what_if=what_if)


def _decide(
    tenant: Tenant, rows: list[users.UserFields], *, create: bool
) -> tuple[list[UserRowOutcome], list[dict[str, Any]], list[tuple[User, dict[str, Any]]]]:
    outcomes: list[UserRowOutcome] = []
    cleaned: list[dict[str, Any] | None] = []
    for index, row in enumerate(rows):
        out = UserRowOutcome(index=index, user_principal_name=(row.user_principal_name or ""))
        outcomes.append(out)
        try:
            if not (row.user_principal_name or "").strip():
                raise DomainError(
                    "INVALID_USER_PRINCIPAL_NAME",
                    "userPrincipalName is required.",
                    "userPrincipalName",
                )
            cleaned.append(users.validate_fields(row.given()))
        except DomainError as error:
            out.errors.extend(error.details)
            cleaned.append(None)
    existing = _existing(tenant, [v["upn_key"] for v in cleaned if v is not None])
    licensed = _licensed([u.id for u in existing.values()])

    creates: list[dict[str, Any]] = []
    updates: list[tuple[User, dict[str, Any]]] = []
    seen: dict[str, int] = {}
    for out, values in zip(outcomes, cleaned, strict=True):
        if values is None:
            continue
        key = values["upn_key"]
        if key in seen:
            out.errors.append(
                ErrorDetail(
                    "DUPLICATE_IN_BATCH",
                    f"'{values['user_principal_name']}' already appears in this batch "
                    f"(item {seen[key]}).",
                    "userPrincipalName",
                )
            )
            continue
        seen[key] = out.index
        user = existing.get(key)
        if user is None:
            if not create:
                out.errors.extend(not_found("User", out.user_principal_name, "userId").details)
                continue
            values.setdefault("display_name", values["user_principal_name"].split("@")[0])
            values["search_text"] = user_search.search_text(values)  # inserted with the row
            out.action = "CREATED"
            out.user = User(tenant=tenant.id, **values)  # its id once written
            creates.append((values, out.user))
            out.usage_location = values.get("usage_location")
            continue
        out.user = user
        out.usage_location = values.get("usage_location", user.usage_location)
        diff = {k: v for k, v in values.items() if getattr(user, k) != v}
        if "usage_location" in diff and user.id in licensed:
            try:
                users._check_location_change(user, diff["usage_location"])
            except DomainError as error:
                out.errors.extend(error.details)
                continue
        if diff:
            updates.append((user, diff))
            out.action = "UPDATED"
        else:
            out.action = "UNCHANGED"
    return outcomes, creates, updates


def _write(
    tenant: Tenant,
    principal: Principal,
    creates: list[tuple[dict[str, Any], User]],
    updates: list[tuple[User, dict[str, Any]]],
    *,
    now: dt.datetime,
) -> None:
    """Write the batch's rows; the created users (the outcomes' objects) get their ids."""
    entries: list[dict[str, Any]] = []
    if creates:
        rows = [
            {"tenant": tenant.id, "created_at": now, "updated_at": now, **v} for v, _ in creates
        ]
        # Rows differ in which columns they give: insert_many needs one shape per statement.
        by_shape: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row in rows:
            by_shape.setdefault(tuple(sorted(row)), []).append(row)
        # insert_rows, not insert_many: peewee builds its SQL value by value, which cost more
        # than SQLite's work (issue 16). RETURNING gives the ids, so the new rows need no
        # second SELECT: the outcomes' users, built from these values, take them.
        ids: dict[str, int] = {}
        for shape_rows in by_shape.values():
            for pk, key in insert_rows(User, shape_rows, returning=("id", "upn_key")):
                ids[key] = pk
        for values, user in creates:
            user.id = ids[values["upn_key"]]
            user.created_at = user.updated_at = now
            entries.append(
                {
                    "action": "createUser",
                    "target": user,
                    "tenant_id": tenant.id,
                    "before": None,
                    "after": users.describe(user),
                }
            )
    # One UPDATE per distinct change (a sheet setting one usage location is one statement).
    # Lists (businessPhones, otherMails) are keyed as tuples: a dict key must be hashable.
    by_change: dict[tuple, tuple[dict[str, Any], list[int]]] = {}
    renamed: list[tuple[int, str]] = []  # (user id, new search text)
    for user, diff in updates:
        before = users.describe(user)
        for name, value in diff.items():
            setattr(user, name, value)
        if user_search.touches_search(diff):
            user.search_text = user_search.search_text_of_user(user)
            renamed.append((user.id, user.search_text))
        key = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in diff.items()))
        by_change.setdefault(key, (diff, []))[1].append(user.id)
        entries.append(
            {
                "action": "updateUser",
                "target": user,
                "tenant_id": tenant.id,
                "before": before,
                "after": users.describe(user),
            }
        )
    for change, ids in by_change.values():
        for start in range(0, len(ids), _CHUNK):
            User.update(updated_at=now, **change).where(
                User.id.in_(ids[start : start + _CHUNK])
            ).execute()
    # Each renamed user's own search text, in this transaction: one statement per chunk.
    for start in range(0, len(renamed), _CHUNK):
        user_search.write_search_texts(renamed[start : start + _CHUNK])
    if entries:
        audit.record_many(principal, entries, now=now)
