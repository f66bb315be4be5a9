"""What a batch needs, loaded once: users, their licenses, the seats left per SKU."""

from __future__ import annotations

import json
from collections.abc import Mapping
from operator import itemgetter
from types import MappingProxyType

from commcredits.db import db, execute_in
from commcredits.models import LicenseAssignment, Subscription, Tenant, User
from commcredits.services.catalog import Catalog
from commcredits.services.licenses.requests import LicenseRequest, UserRef
from commcredits.services.licenses.rules import Decision
from commcredits.services.users import upn_key

# Users by id or by UPN key, each with its licenses (one row per license, or one with NULLs):
# built by hand, since rendering 1,000 keys through peewee costs more than the query itself.
# The UPN comes back only where it differs from its key (it is mostly stored in lower case):
# a thousand strings fewer to build per batch.
_USERS_SQL = (
    "SELECT u.id, NULLIF(u.user_principal_name, u.upn_key), u.upn_key, u.usage_location, "
    f'la.id, la.sku_id, la.disabled_plans FROM "{User._meta.table_name}" AS u '
    f'LEFT JOIN "{LicenseAssignment._meta.table_name}" AS la ON la.user_id = u.id '
    "WHERE u.tenant_id = {p} AND u.{column} IN {{in}}"
)


_SEATS_SQL = (
    "SELECT sku_id, enabled_units, consumed_units "
    f'FROM "{Subscription._meta.table_name}" WHERE tenant_id = {{p}}'
)


# The licenses of every user who holds none: one shared mapping, never changed (a change
# gives a user a new mapping), so a batch of unlicensed users builds no dict per user.
NO_LICENSES: Mapping[int, tuple[str, ...]] = MappingProxyType({})


def _references(
    requests: list[LicenseRequest],
) -> tuple[list[int], list[str], dict[str, list[str]]]:
    """The batch's distinct user ids, distinct UPN keys (stripped, lower case), and per key
    the references that spell it otherwise; whole lists at a time, as a batch is a thousand
    references, almost always UPNs already in their key's form."""
    refs = list(dict.fromkeys(map(itemgetter(0), requests)))
    if set(map(type, refs)) <= {str}:
        ids: list[int] = []
        texts: list[str] = refs
    else:
        ids = [r for r in refs if isinstance(r, int)]
        texts = [r for r in refs if not isinstance(r, int)]
    keys = list(map(upn_key, texts))
    odd: dict[str, list[str]] = {}
    if keys != texts:
        for key, ref in zip(keys, texts, strict=True):
            if key != ref:
                odd.setdefault(key, []).append(ref)
    return ids, list(dict.fromkeys(keys)), odd


class TenantPicture:
    """What a batch needs, loaded once: users, their licenses, the seats left per SKU."""

    def __init__(self, tenant: Tenant, requests: list[LicenseRequest], *, applying: bool):
        self.catalog = Catalog.load()
        tenant_id = tenant.id
        by_id: dict[int, UserRef] = {}
        by_key: dict[int | str, UserRef] = {}  # UPN key (stripped, lower case) -> user
        # user id -> {sku pk: disabled plans}: `initial` as loaded, `held` as the batch leaves
        # it. A change replaces a user's mapping in `held` and never mutates one, so the two
        # share the loaded mappings.
        initial: dict[int, Mapping[int, tuple[str, ...]]] = {}
        licensed: dict[int, dict[int, tuple[str, ...]]] = {}  # filled while loading
        row_ids: dict[tuple[int, int], int] = {}  # (user, sku pk) -> license row id
        ids, keys, odd = _references(requests)
        plans: dict[str, tuple[str, ...]] = {}  # disabled_plans JSON -> tuple, decoded once
        new = tuple.__new__  # a user's tuple without the named tuple's Python-level call
        for column, values in (("id", ids), ("upn_key", keys)):
            sql = _USERS_SQL.format(p=db.obj.param, column=column)
            for uid, upn, key, location, row_id, sku_id, disabled in execute_in(
                sql, values, params=(tenant_id,)
            ):
                if row_id is None:  # the join's one row for a user without licenses
                    by_id[uid] = by_key[key] = new(UserRef, (uid, upn or key, key, location))
                    initial[uid] = NO_LICENSES
                    continue
                held = licensed.get(uid)
                if held is None:
                    by_id[uid] = by_key[key] = new(UserRef, (uid, upn or key, key, location))
                    held = licensed[uid] = {}
                    initial[uid] = held
                decoded = plans.get(disabled)
                if decoded is None:
                    decoded = plans[disabled] = tuple(json.loads(disabled))
                held[sku_id] = decoded
                row_ids[uid, sku_id] = row_id
        # Each reference as the requests give it: a key as is, an id, or a UPN spelt otherwise.
        users = by_key
        for key, refs in odd.items():
            if key in by_key:
                users.update(dict.fromkeys(refs, by_key[key]))
        users.update((i, by_id[i]) for i in ids if i in by_id)
        self.users: dict[int | str, UserRef] = users
        self.users_by_id = by_id
        self.initial: dict[int, Mapping[int, tuple[str, ...]]] = initial
        self.held: dict[int, Mapping[int, tuple[str, ...]]] = dict(initial)
        self.row_ids = row_ids
        # Users the batch changed, in order, with the (last) decision applied to each; those
        # changed more than once are in `retouched` too.
        self.touched: dict[int, Decision] = {}
        self.retouched: set[int] = set()
        seats = db.execute_sql(_SEATS_SQL.format(p=db.obj.param), (tenant_id,))
        self.available: dict[int, int] = {sku: enabled - used for sku, enabled, used in seats}
        # A batch repeats the same change over users in the same few states (the bulk layer's
        # whole point), so the rules run once per distinct (change, licenses, location).
        self.decisions: dict[tuple, Decision] = {}
        self.applying = applying  # outcomes that pass are written (False: whatIf)
        # Users with group license states (licenses/inherited.py): SKU -> the groups' disabled
        # plans; their `held` is their direct assignments. Empty for tenants without groups.
        self.inherited: dict[int, Mapping[int, tuple[str, ...]]] = {}
        self.inherited_touched: dict[int, None] = {}  # those of them the batch changed
