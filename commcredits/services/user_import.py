"""Batches of directory users (SPEC §2, §8): create-or-update from a sheet, set usage locations.

A batch is up to 1,000 independent rows, each all or nothing, decided in input order against
one picture of the tenant's users and written with a few bulk statements whatever its size.
The rules are those of `services.users` (the same validation, the same usage-location check),
applied per row but run column by column (`services.user_columns`): importUsers' rows and
importUserColumns' columns take the same path.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from commcredits.db import db, directory_lock, execute_in
from commcredits.models import LicenseAssignment, Tenant, User
from commcredits.services import audit, table_stats, user_columns, user_search, users
from commcredits.services.errors import DomainError, ErrorDetail, check_batch_size, not_found
from commcredits.services.principal import Principal
from commcredits.services.user_columns import MISSING, CheckedColumns

_CHUNK = 500


@dataclass
class UserRowOutcome:
    index: int
    user_principal_name: str
    action: str | None = None  # CREATED, UPDATED, UNCHANGED; None when the row failed
    # The user's id (None for a failed row, or a user whatIf would create); `user` is the
    # stored row for a user that existed before the batch (created ones get no object).
    user_id: int | None = None
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
    """The tenant's users with these keys. Their ids first, by raw SQL: peewee's `.in_()`
    renders each of 500 keys through its query builder, which cost more than the lookup, and
    most keys of an import match no user; then the users found, as models."""
    unique = sorted(set(keys))
    found = execute_in(
        f'SELECT "id" FROM "{User._meta.table_name}" WHERE "tenant_id" = {db.obj.param} '
        'AND "upn_key" IN {in}',
        unique,
        params=(tenant.id,),
        chunk=_CHUNK,
    )
    ids = [row[0] for row in found]
    users_found: dict[str, User] = {}
    for start in range(0, len(ids), _CHUNK):
        for user in User.select().where(User.id.in_(ids[start : start + _CHUNK])):
            users_found[user.upn_key] = user
    return users_found


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
    upns, columns = user_columns.columns_of_rows(rows)
    return upsert_columns(tenant, principal, upns, columns, now=now, create=create, what_if=what_if)


def upsert_columns(
    tenant: Tenant,
    principal: Principal,
    user_principal_names: Sequence[str | None],
    columns: Mapping[str, Sequence[Any] | None],
    *,
    now: dt.datetime,
    create: bool = True,
    what_if: bool = False,
) -> list[UserRowOutcome]:
    """upsert_users with the rows as columns: one list per property (None: a column left out;
    a None item: that row leaves the property as it is). A column of another length than the
    UPNs refuses the batch (COLUMN_LENGTH_MISMATCH), as does a batch over the limit."""
    given = user_columns.check_lengths(user_principal_names, columns)
    check_batch_size(len(user_principal_names), "users")
    checked = user_columns.check_columns(user_principal_names, given)
    if what_if:
        return _decide(tenant, checked, create=create)[0]
    with directory_lock(tenant.id):
        outcomes, creates, updates = _decide(tenant, checked, create=create)
        _write(tenant, principal, checked, outcomes, creates, updates, now=now)
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
    check_batch_size(len(user_principal_names), "users")
    return upsert_columns(
        tenant,
        principal,
        user_principal_names,
        {"usage_location": [usage_location] * len(user_principal_names)},
        now=now,
        create=False,
        what_if=what_if,
    )


def _decide(
    tenant: Tenant, checked: CheckedColumns, *, create: bool
) -> tuple[list[UserRowOutcome], list[int], list[tuple[User, dict[str, Any]]]]:
    """Each row's outcome, the rows to create (their indexes) and the users to update."""
    outcomes = [
        UserRowOutcome(index=i, user_principal_name=u) for i, u in enumerate(checked.given_upns)
    ]
    for i, fault in checked.faults.items():
        outcomes[i].errors.extend(fault.details)
    keys = checked.keys
    existing = _existing(tenant, [k for k in keys if k is not None])
    licensed = _licensed([u.id for u in existing.values()])
    locations = checked.columns.get("usage_location")

    creates: list[int] = []
    updates: list[tuple[User, dict[str, Any]]] = []
    seen: dict[str, int] = {}
    for i, key in enumerate(keys):
        if key is None:
            continue
        out = outcomes[i]
        if key in seen:
            out.errors.append(
                ErrorDetail(
                    "DUPLICATE_IN_BATCH",
                    f"'{checked.upns[i]}' already appears in this batch (item {seen[key]}).",
                    "userPrincipalName",
                )
            )
            continue
        seen[key] = i
        user = existing.get(key)
        if user is None:
            if not create:
                out.errors.extend(not_found("User", out.user_principal_name, "userId").details)
                continue
            out.action = "CREATED"
            location = locations[i] if locations is not None else MISSING
            out.usage_location = None if location is MISSING else location
            creates.append(i)
            continue
        values = checked.values(i)
        out.user = user
        out.user_id = user.id
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
    checked: CheckedColumns,
    outcomes: list[UserRowOutcome],
    creates: list[int],
    updates: list[tuple[User, dict[str, Any]]],
    *,
    now: dt.datetime,
) -> None:
    """Write the batch: its new users in multi-row INSERTs (the outcomes take their ids), one
    UPDATE per distinct change, and one audit entry."""
    if creates:
        for pk, index in user_columns.insert_created(tenant, checked, creates, now=now):
            outcomes[index].user_id = pk
    # One UPDATE per distinct change (a sheet setting one usage location is one statement).
    # Lists (businessPhones, otherMails) are keyed as tuples: a dict key must be hashable.
    by_change: dict[tuple, tuple[dict[str, Any], list[int]]] = {}
    renamed: list[tuple[int, str]] = []  # (user id, new search text)
    changes: list[tuple[dict[str, Any], dict[str, Any]]] = []  # (before, after) per user
    for user, diff in updates:
        before = users.describe(user)
        for name, value in diff.items():
            setattr(user, name, value)
        if user_search.touches_search(diff):
            user.search_text = user_search.search_text_of_user(user)
            renamed.append((user.id, user.search_text))
        key = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in diff.items()))
        by_change.setdefault(key, (diff, []))[1].append(user.id)
        changes.append((before, users.describe(user)))
    for change, ids in by_change.values():
        for start in range(0, len(ids), _CHUNK):
            User.update(updated_at=now, **change).where(
                User.id.in_(ids[start : start + _CHUNK])
            ).execute()
    # Each renamed user's own search text, in this transaction: one statement per chunk.
    for start in range(0, len(renamed), _CHUNK):
        user_search.write_search_texts(renamed[start : start + _CHUNK])
    # A new usage location retries the user's group license errors, as Entra does (one
    # query when none of them is in error).
    moved = [user.id for user, diff in updates if "usage_location" in diff]
    if moved:
        users.retry_group_errors(tenant, moved, now=now)
    _audit(tenant, principal, checked, outcomes, creates, updates, changes, now=now)


def _audit(
    tenant: Tenant,
    principal: Principal,
    checked: CheckedColumns,
    outcomes: list[UserRowOutcome],
    creates: list[int],
    updates: list[tuple[User, dict[str, Any]]],
    changes: list[tuple[dict[str, Any], dict[str, Any]]],
    *,
    now: dt.datetime,
) -> None:
    """One entry for the batch: on the user when one user changed (createUser / updateUser,
    as before), else on the batch (`importUsers`), as a license batch writes one.

    The batch's entry lists the created users' UPNs, and each updated user before and after;
    an entry per created user cost more than inserting the user."""
    if not creates and not updates:
        return
    if len(creates) + len(updates) == 1:
        if creates:
            (i,) = creates
            after = _created_summary(checked, i)
            target: Any = ("User", outcomes[i].user_id)
            action, before = "createUser", None
        else:
            ((user, _),) = updates
            ((before, after),) = changes
            target, action = user, "updateUser"
        audit.record(
            principal, action, target, tenant_id=tenant.id, before=before, after=after, now=now
        )
        return
    changed = [out.user_principal_name.strip() for out in outcomes if out.changed]
    audit.record(
        principal,
        "importUsers",
        ("UserBatch", _span(changed[0], changed[-1])),
        tenant_id=tenant.id,
        before={"updated": [b for b, _ in changes]},
        after={
            "count": len(changed),
            "created": [checked.upns[i] for i in creates],
            "updated": [a for _, a in changes],
        },
        now=now,
    )


def _span(first: str, last: str) -> str:
    """The batch's target: its first and last changed UPN, within the column's 200."""
    span = f"{first}…{last}"
    return span if len(span) <= 200 else f"{first[:99]}…{last[:100]}"


def _created_summary(checked: CheckedColumns, i: int) -> dict[str, Any]:
    """What `users.describe` shows of a created user, from its row."""
    values = checked.values(i)
    return {
        "userPrincipalName": checked.upns[i],
        "displayName": values.get("display_name", checked.upns[i].split("@")[0]),
        "department": values.get("department", ""),
        "usageLocation": values.get("usage_location"),
        "accountEnabled": values.get("account_enabled", True),
    }
