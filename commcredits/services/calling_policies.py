"""Teams calling policies (issue 17): `CsTeamsCallingPolicy`, the spend-limit subset. Here:
creating, changing and removing a tenant's policies, finding one by name, and the effective
policy of users. What the inputs may be: services/calling_policy_input.py; the `Policy` value
and which grant applies: services/calling_policy_values.py; granting:
services/calling_policy_grants.py.

A tenant names its own policies (`New-CsTeamsCallingPolicy -Identity <name>`), each with
`EnableSpendLimits` and `CallingSpendUserLimit` (a monthly cap, in the tenant's currency, on
what one user's PSTN calls and meeting dial-outs take from credits: services/spend_limits.py).
The built-in `Global` instance is not a row and cannot be changed here.

A policy is removed only once nobody holds it: removing a granted one would silently lift its
users' caps.

Changes (here and the grants) hold the tenant's directory lock (`db.directory_lock`): a name's
check and its insert, a removal and a grant of that policy, two grants to one user never
interleave. Rating reads the policies under the money lock and never waits for this one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

import peewee

from commcredits.db import db, directory_lock, execute_in
from commcredits.models import CallingPolicy, CallingPolicyGrant, GroupPolicyGrant, Tenant
from commcredits.money import Money
from commcredits.services import audit
from commcredits.services.calling_policy_input import (
    PolicyInput,
    check_description,
    check_limit,
    check_name,
    name_key,
    needs_limit,
)
from commcredits.services.calling_policy_values import (
    BUILTIN_NAME,
    EffectiveCallingPolicy,
    Policy,
    resolve,
)
from commcredits.services.errors import DomainError
from commcredits.services.group_policy_lookup import (
    CALLING,
    InheritedGrant,
    best_for_users,
    own_and_global,
)

# A tenant's policies are few (Teams caps custom policies of a type in the hundreds); the
# UNKNOWN_POLICY message lists at most this many names.
LISTED_NAMES = 50
CHUNK = 1000  # a rating batch's users in one statement


def _snapshot(row: CallingPolicy, currency: str) -> dict:
    limit = row.spend_limit_minor
    return {
        "name": row.name,
        "description": row.description,
        "enableSpendLimits": row.enable_spend_limits,
        "callingSpendUserLimit": None
        if limit is None
        else str(Money.from_minor(limit, currency).amount),
        "currency": currency,
    }


def _taken(name: str) -> DomainError:
    return DomainError(
        "POLICY_NAME_TAKEN",
        f"The tenant already has a calling policy named '{name}'.",
        "input.name",
    )


# -- create, update, remove ------------------------------------------------------------------
def create_calling_policy(
    tenant: Tenant, principal, data: PolicyInput, *, now: dt.datetime, what_if: bool = False
) -> Policy:
    """`New-CsTeamsCallingPolicy`: a named policy of the tenant; audited. With `what_if` every
    check runs (the name free, the limit) and the policy it would be is returned, unsaved."""
    name = check_name(data.name or "", "input.name")
    description = check_description(data.description, "input.description")
    limit = check_limit(tenant, data.calling_spend_user_limit, data.currency)
    enabled = bool(data.enable_spend_limits)
    needs_limit(enabled, limit)
    try:
        with directory_lock(tenant.id):
            if _find(tenant, name) is not None:
                raise _taken(name)
            if what_if:
                return Policy(None, name, description, enabled, limit, tenant.currency)
            row = CallingPolicy.create(
                tenant=tenant.id,
                name=name,
                name_key=name.lower(),
                description=description,
                enable_spend_limits=enabled,
                spend_limit_minor=limit,
                created_at=now,
                updated_at=now,
            )
            audit.record(
                principal,
                "createCallingPolicy",
                ("CallingPolicy", name),
                tenant_id=tenant.id,
                before=None,
                after=_snapshot(row, tenant.currency),
                now=now,
            )
    except peewee.IntegrityError:  # created by a concurrent request in the meantime
        raise _taken(name) from None
    return Policy.of(row, tenant.currency)


def update_calling_policy(
    tenant: Tenant,
    principal,
    name: str,
    data: PolicyInput,
    *,
    now: dt.datetime,
    what_if: bool = False,
) -> Policy:
    """`Set-CsTeamsCallingPolicy`: only the fields given change; audited when one does. A
    rename (`input.name`) keeps the grants (they point at the policy, not its name). With
    `what_if` every check runs and the policy as it would be is returned, unsaved."""
    new_name = check_name(data.name, "input.name") if data.name is not None else None
    description = (
        check_description(data.description, "input.description")
        if data.description is not None
        else None
    )
    limit = check_limit(tenant, data.calling_spend_user_limit, data.currency)
    try:
        with directory_lock(tenant.id):
            row = _changeable(tenant, name)
            before = _snapshot(row, tenant.currency)
            renamed = new_name is not None and new_name.lower() != row.name_key
            if renamed and _find(tenant, new_name) is not None:
                raise _taken(new_name)
            if new_name is not None:
                row.name, row.name_key = new_name, new_name.lower()
            if description is not None:
                row.description = description
            if data.enable_spend_limits is not None:
                row.enable_spend_limits = data.enable_spend_limits
            if limit is not None:
                row.spend_limit_minor = limit
            needs_limit(row.enable_spend_limits, row.spend_limit_minor)
            after = _snapshot(row, tenant.currency)
            if after != before and not what_if:
                row.updated_at = now
                row.save()
                audit.record(
                    principal,
                    "updateCallingPolicy",
                    ("CallingPolicy", row.name),
                    tenant_id=tenant.id,
                    before=before,
                    after=after,
                    now=now,
                )
    except peewee.IntegrityError:
        raise _taken(new_name or name) from None
    return Policy.of(row, tenant.currency)


def remove_calling_policy(
    tenant: Tenant, principal, name: str, *, now: dt.datetime, what_if: bool = False
) -> Policy:
    """`Remove-CsTeamsCallingPolicy`: refused (POLICY_IN_USE) while a user, a group or the
    global grant holds it, since removing it would lift those users' limits unannounced;
    audited. With `what_if` the same checks run and nothing is removed."""
    try:
        return _remove(tenant, principal, name, now=now, what_if=what_if)
    except peewee.IntegrityError:  # granted by a concurrent request in the meantime
        raise _in_use(name, "users") from None


def _in_use(name: str, holders: str) -> DomainError:
    return DomainError(
        "POLICY_IN_USE",
        f"'{name}' is granted to {holders}; grant another policy (or none) first.",
        "name",
    )


def _remove(tenant: Tenant, principal, name: str, *, now: dt.datetime, what_if: bool) -> Policy:
    with directory_lock(tenant.id):
        row = _changeable(tenant, name)
        held = CallingPolicyGrant.select().where(CallingPolicyGrant.policy == row.id)
        users = held.where(CallingPolicyGrant.user.is_null(False)).count()
        is_global = held.where(CallingPolicyGrant.user.is_null()).exists()
        groups = GroupPolicyGrant.select().where(GroupPolicyGrant.calling_policy == row.id).count()
        if users or is_global or groups:
            holders = [f"{users:,} user(s)"] if users else []
            holders += [f"{groups:,} group(s)"] if groups else []
            holders += ["the global grant"] if is_global else []
            raise _in_use(row.name, " and ".join(holders))
        policy = Policy.of(row, tenant.currency)
        if what_if:
            return policy
        audit.record(
            principal,
            "removeCallingPolicy",
            ("CallingPolicy", row.name),
            tenant_id=tenant.id,
            before=_snapshot(row, tenant.currency),
            after=None,
            now=now,
        )
        row.delete_instance()
    return policy


# -- the read side ---------------------------------------------------------------------------
def _find(tenant: Tenant, name: str) -> CallingPolicy | None:
    return CallingPolicy.get_or_none(
        (CallingPolicy.tenant == tenant.id) & (CallingPolicy.name_key == name_key(name))
    )


def policy_named(tenant: Tenant, name: str, *, field: str = "policyName") -> CallingPolicy:
    """The tenant's policy of that name (any case); else UNKNOWN_POLICY listing the names."""
    row = _find(tenant, name) if name_key(name) else None
    if row is not None:
        return row
    names = [
        n
        for (n,) in CallingPolicy.select(CallingPolicy.name)
        .where(CallingPolicy.tenant == tenant.id)
        .order_by(CallingPolicy.name_key)
        .limit(LISTED_NAMES + 1)
        .tuples()
    ]
    if not names:
        listed = "the tenant has none yet (createCallingPolicy)"
    else:
        more = ", …" if len(names) > LISTED_NAMES else ""
        listed = "the tenant's are " + ", ".join(names[:LISTED_NAMES]) + more
    raise DomainError("UNKNOWN_POLICY", f"'{name}' is not a calling policy; {listed}.", field)


def _changeable(tenant: Tenant, name: str) -> CallingPolicy:
    """The tenant's policy to update or remove; the built-in Global is not one (no row)."""
    if name_key(name) == BUILTIN_NAME.lower():
        raise DomainError(
            "INVALID_POLICY_NAME",
            "Global is Teams's built-in calling policy (no spend limit) and cannot be changed "
            "or removed; for a tenant-wide limit create a policy and grant it with global: true.",
            "name",
        )
    return policy_named(tenant, name, field="name")


def policies_query(tenant: Tenant) -> peewee.ModelSelect:
    return CallingPolicy.select().where(CallingPolicy.tenant == tenant.id)


def effective_for_users(
    tenant: Tenant,
    user_ids: Iterable[int],
    *,
    inherited: Mapping[int, InheritedGrant] | None = None,
) -> dict[int, EffectiveCallingPolicy]:
    """Each user's effective calling policy, none written: their own grants with the global
    one (one statement per 1,000 users) and their best group grants — `inherited` when the
    caller read them already (rating: group_policy_lookup.best_by_type), else one more."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    p = db.obj.param
    # The global grant, then the users' own: two index lookups. As one condition
    # (`user_id IS NULL OR user_id IN …`) both databases read every grant of the tenant for
    # each batch, a tenant that grants each user a policy being the one that has most.
    grants = (
        "SELECT g.user_id, c.id, c.name, c.description, c.enable_spend_limits, "
        f"c.spend_limit_minor FROM {CallingPolicyGrant._meta.table_name} g "
        f"JOIN {CallingPolicy._meta.table_name} c ON c.id = g.policy_id "
        f"WHERE g.tenant_id = {p} AND "
    )
    sql = f"{grants}g.user_id IS NULL UNION ALL {grants}g.user_id IN {{in}}"
    rows = execute_in(sql, ids, params=[tenant.id, tenant.id], chunk=CHUNK)
    own, glob = own_and_global(
        (tenant.id, user_id, Policy(pid, name, text, bool(enabled), limit, tenant.currency))
        for user_id, pid, name, text, enabled, limit in rows
    )
    global_grant = glob.get(tenant.id)
    if inherited is None:
        inherited = best_for_users(CALLING, ids, tenant_id=tenant.id)
    return {u: resolve(own.get(u), global_grant, tenant.currency, inherited.get(u)) for u in ids}
