"""Listing a tenant's users (issue 16, docs/large-tenants.md): filters, search, pages in id
order and counts that cost the same on a tenant of 1,000 users and one of 1,000,000."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import peewee

from commcredits.db import contains, db, is_sqlite
from commcredits.models import LicenseAssignment, Subscription, Tenant, TenantUserCount, User
from commcredits.services import user_search
from commcredits.services.catalog import Catalog
from commcredits.services.countries import country_code
from commcredits.services.errors import DomainError
from commcredits.services.list_counts import (
    SEARCH_COUNT,
    USER_COUNT,
    Count,
    capped_count,
    count_by_index,
    in_id_order,
)


@dataclass
class UserFilter:
    search: str | None = None
    usage_location: str | None = None
    department: str | None = None
    has_license: str | None = None  # skuPartNumber or skuId
    account_enabled: bool | None = None

    def __post_init__(self) -> None:
        # A department is stored without surrounding spaces (users.validate_fields): a filter
        # given with them means the same department.
        if self.department is not None:
            self.department = self.department.strip()

    def only_license(self) -> bool:
        """Whether `has_license` is the one filter given (its count is maintained)."""
        return bool(self.has_license) and not (
            self.search
            or self.usage_location is not None
            or self.department is not None
            or self.account_enabled is not None
        )

    def only_location_and_license(self) -> bool:
        """Whether the filter is a usage location and a license, nothing else (PostgreSQL
        keeps that count: migration 0022)."""
        return (
            bool(self.has_license)
            and self.usage_location is not None
            and not (self.search or self.department is not None or self.account_enabled is not None)
        )

    def is_empty(self) -> bool:
        return not (
            self.search
            or self.has_license
            or self.usage_location is not None
            or self.department is not None
            or self.account_enabled is not None
        )


MAX_SEARCH = 256
# PostgreSQL: a search first looks at the next sqrt(21 × users) (at least 1,000) filtered
# users in id order; only a term too rare to fill its page there goes to the trigram index
# (see _pg_search_page).
MIN_SEARCH_WINDOW = 1000


@dataclass(frozen=True)
class UserPage:
    users: list[User]
    has_next: bool


def _search_term(flt: UserFilter | None) -> str | None:
    """The filter's search term, normalized as the stored text is; None for no search."""
    if flt is None or not flt.search:
        return None
    if len(flt.search) > MAX_SEARCH:
        # SQLite refuses LIKE patterns past 50,000 bytes; no name is this long anyway.
        raise DomainError(
            "INVALID_SEARCH", f"A search has at most {MAX_SEARCH} characters.", "search"
        )
    return user_search.normalize(flt.search) or None


def _filtered(
    tenant: Tenant, flt: UserFilter | None, *, tenant_is: peewee.Expression | None = None
) -> peewee.ModelSelect | None:
    """The tenant's users matching every filter but the search, unordered; None when none can
    (an unknown license). Each filter has an index ending in id (migration 0012), so a page
    of one filter is read in id order within the filter's value. `tenant_is`: how the tenant
    is named (see _search_tenant)."""
    query = User.select().where(User.tenant == tenant.id if tenant_is is None else tenant_is)
    if flt is None:
        return query
    if flt.usage_location is not None:
        location = _location(flt.usage_location)
        query = query.where(
            User.usage_location.is_null() if location == "" else User.usage_location == location
        )
    if flt.department is not None:
        query = query.where(User.department == flt.department)
    if flt.account_enabled is not None:
        query = query.where(User.account_enabled == flt.account_enabled)
    if flt.has_license:
        sku = Catalog.load().find(flt.has_license)
        if sku is None:
            return None
        # EXISTS on the (user, sku) index: one probe per user read, whatever the statistics
        # say (an IN over the SKU's holders became a quadratic nested loop on unanalysed
        # PostgreSQL tables).
        held = LicenseAssignment.alias("held")
        query = query.where(
            peewee.fn.EXISTS(
                held.select(peewee.SQL("1")).where((held.user == User.id) & (held.sku == sku.id))
            )
        )
    return query


def _location(text: str) -> str:
    """The usage location a filter names, as stored ("" for none). A name filters as its code
    does ('Deutschland' = 'DE'); one naming no country matches no user, as an unknown code
    always has."""
    text = text.strip()
    return country_code(text) or text.upper() if text else ""


def _like(term: str) -> peewee.Node:
    return contains(User.search_text, term)


_FTS = peewee.Table("directory_user_search", ("rowid",)).alias("fts")


def _fts_matching(query: peewee.ModelSelect, tenant: Tenant, term: str) -> peewee.ModelSelect:
    """SQLite: `query` joined to the FTS5 index, the tenant's key ANDed with the term's
    trigrams. The index yields this tenant's candidates in rowid (= id) order, so a page stops
    reading as soon as it is full, and a small tenant never walks a large tenant's matches;
    the LIKE keeps the candidates that contain the term (the index has no positions: see
    user_search.fts_query)."""
    match = peewee.NodeList(
        (
            peewee.SQL('"fts"."directory_user_search"'),
            peewee.SQL("MATCH"),
            user_search.fts_query(tenant.id, term),
        )
    )
    return query.join(_FTS, on=(_FTS.rowid == User.id)).where(match & _like(term))


def _search_tenant(tenant: Tenant) -> peewee.Expression:
    """The tenant, written so that only the search index can serve it: the planner then
    cannot walk a (tenant_id, …) B-tree and test every user of a large tenant for a rare term.

    SQLite: `+tenant_id` (no index applies), so the FTS5 table drives the join. PostgreSQL:
    (tenant_id::bigint), the expression the GIN index is built on (migration 0012), which no
    B-tree matches; without statistics the planner took the B-tree, whose row estimate was
    ~30 times too small."""
    if is_sqlite():
        unindexed = peewee.NodeList((peewee.SQL("+"), User.tenant), glue="")
        return peewee.Expression(unindexed, "=", tenant.id)
    return User.tenant.cast("bigint") == peewee.Cast(peewee.Value(tenant.id), "bigint")


def users_page(tenant: Tenant, flt: UserFilter | None, *, after: int | None, size: int) -> UserPage:
    """One page of the tenant's users matching `flt`, in id order, after the user `after`
    (keyset: a user added or removed elsewhere in the list moves no other user in or out).
    One statement, and for a PostgreSQL search up to three more (_pg_search_page)."""
    term = _search_term(flt)
    query = _filtered(tenant, flt)
    if query is None:
        return UserPage([], False)
    if term is not None and len(term) >= user_search.MIN_INDEXED and not is_sqlite():
        rows = _pg_search_page(tenant, flt, term, after=after, limit=size + 1)
    else:
        rows = in_id_order(_page_query(tenant, flt, query, term, after=after, limit=size + 1))
    return UserPage(rows[:size], len(rows) > size)


def _page_query(
    tenant: Tenant,
    flt: UserFilter | None,
    query: peewee.ModelSelect,
    term: str | None,
    *,
    after: int | None,
    limit: int,
) -> peewee.ModelSelect:
    if after is not None:
        query = query.where(User.id > after)
    if term is None:
        return query.order_by(User.id).limit(limit)
    if len(term) < user_search.MIN_INDEXED:
        # No trigram in the term: a scan in id order, which stops once the page is full
        # (docs/large-tenants.md: a rare one- or two-letter term reads the whole tenant).
        return query.where(_like(term)).order_by(User.id).limit(limit)
    indexed = _filtered(tenant, flt, tenant_is=_search_tenant(tenant))
    assert indexed is not None  # as `query`
    matching = _fts_matching(indexed, tenant, term)
    if after is not None:  # on the index's rowid: the FTS5 table stays the outer loop
        matching = matching.where(_FTS.rowid > after)
    return matching.order_by(_FTS.rowid).limit(limit)


def _pg_search_page(
    tenant: Tenant, flt: UserFilter | None, term: str, *, after: int | None, limit: int
) -> list[User]:
    """PostgreSQL: a GIN index answers "contains" unordered, so a page of a common term from
    it would sort every match. So the next W filtered users in id order are tried first: a
    term that fills its page there costs a scan of W rows at most. A rarer one (fewer than
    `limit` in W) goes to the index, and has fewer than limit/W × n matches in a tenant of n
    users. W = sqrt(limit × n) makes both at most W rows: a search costs O(sqrt(n)), 2,000 rows
    at 200,000 users, 4,600 at a million; a tenant no larger than the window is done in it.

    One statement reads the window and keeps its matches, stopping at the page's last (_window
    says which index walks it); a page it leaves short costs one count of the window more."""
    size = TenantUserCount.get_or_none(TenantUserCount.tenant == tenant.id)
    width = max(MIN_SEARCH_WINDOW, math.isqrt(limit * (size.users if size else 0)))
    window, order = _window(tenant, flt, after=after)
    # "t1" outside as inside: the page is the window's rows, as in_id_order reads a table's.
    ahead = window.select(peewee.SQL('"t1".*')).order_by(*order).limit(width).alias("t1")
    rows = in_id_order(User.select().from_(ahead).where(_like(term)).order_by(*order).limit(limit))
    if len(rows) == limit:
        return rows
    ids = window.select(User.id).order_by(*order).limit(width).alias("window")
    if count_by_index(peewee.Select((ids,), (peewee.fn.COUNT(ids.c.id),)), USER_COUNT) < width:
        return rows  # the window held the rest of the list: nothing more to find
    # Sorted by the database: `id + 0` keeps the planner from reading the matches in id order
    # from a B-tree that would test the tenant's every user.
    indexed = _filtered(tenant, flt, tenant_is=_search_tenant(tenant))
    assert indexed is not None
    if after is not None:
        indexed = indexed.where(User.id > after)
    return list(indexed.where(_like(term)).order_by(User.id + 0).limit(limit))


# The filters whose (tenant_id, column, id) index (migration 0012) can walk a search window, in
# the order one is picked when several are given: a department is usually the narrower of
# department and location, an account state (mostly enabled) rarely narrows at all.
_WINDOW_KEYS = ("department", "usage_location", "account_enabled")


def _window(
    tenant: Tenant, flt: UserFilter | None, *, after: int | None
) -> tuple[peewee.ModelSelect, tuple[peewee.Node, ...]]:
    """PostgreSQL: the tenant's users after `after` matching every filter but the search, and
    the order that reads them in id order from the index of the first of _WINDOW_KEYS given.

    Written `department = 'Sales'`, the filter is a constant to the planner, so ORDER BY id is
    met by the primary key as well as by (tenant_id, department, id). Once analysed (a tenant
    that is most of the table), the planner took the primary key and tested every user of the
    range: 28,000 rows read for a window of 2,049 DE + Sales users of 200,000, 9 ms against 3.
    So the column is bounded to its one value instead, and the order is (department, id): id
    order still, as the value is one, but only that index yields it without a sort, which
    `directory_user_in_id_order` rules out (enable_sort = off) whatever the statistics.
    `(department, id) > ('Sales', after)` starts the walk at the cursor. This holds while no
    other index starts (tenant_id, department, …): its order would feed an incremental sort,
    which enable_sort leaves on, reading all of one department.

    No such filter: tenant_id = … and id order, as the planner likes, from the primary key or
    (tenant_id, id). (Bounding the tenant instead would let (tenant_id, upn_key) feed such an
    incremental sort of the whole tenant: 400 ms measured.)"""
    name = next((n for n in _WINDOW_KEYS if flt is not None and getattr(flt, n) is not None), None)
    if flt is None or name is None:
        query = _filtered(tenant, flt)
        assert query is not None  # users_page returned already
        return (query if after is None else query.where(User.id > after)), (User.id,)
    query = _filtered(tenant, dataclasses.replace(flt, **{name: None}))
    assert query is not None
    column = getattr(User, name)
    value = _location(flt.usage_location or "") if name == "usage_location" else getattr(flt, name)
    if name == "usage_location" and value == "":  # no location: IS NULL, not a constant either
        query = query.where(column.is_null())
        if after is not None:
            query = query.where(User.id > after)
    elif after is None:
        query = query.where((column >= value) & (column <= value))
    else:
        query = query.where(
            (peewee.Tuple(column, User.id) > peewee.Tuple(value, after)) & (column <= value)
        )
    return query, (column, User.id)


def count_users(tenant: Tenant, flt: UserFilter | None) -> Count:
    """How many users match: exact from a maintained number with no filter (tenant_user_count)
    or a license alone (the subscription's consumed units); else counted up to COUNT_CAP."""
    if flt is None or flt.is_empty():
        row = TenantUserCount.get_or_none(TenantUserCount.tenant == tenant.id)
        return Count(row.users if row else 0, False)
    if flt.only_license():
        sku = Catalog.load().find(flt.has_license or "")
        if sku is None:
            return Count(0, False)
        sub = Subscription.get_or_none(
            (Subscription.tenant == tenant.id) & (Subscription.sku == sku.id)
        )
        return Count(sub.consumed_units if sub else 0, False)
    if flt.only_location_and_license() and not is_sqlite():
        return _location_license_count(tenant, flt)
    query = _matching(tenant, flt)
    if query is None:
        return Count(0, False)
    # A search's trigram index answers by bitmap only: its count keeps bitmap scans, but
    # never reads the whole table (an analysed planner chose that for a common term: 0032).
    searched = _search_term(flt) is not None
    return capped_count(query, planned_by=SEARCH_COUNT if searched else USER_COUNT)


def _location_license_count(tenant: Tenant, flt: UserFilter) -> Count:
    """PostgreSQL: the users of a usage location holding a SKU, exact, from the number the
    triggers of migration 0022 keep (one row, whatever the tenant's size)."""
    sku = Catalog.load().find(flt.has_license or "")
    if sku is None:
        return Count(0, False)
    location = _location(flt.usage_location or "")
    n = db.execute_sql(
        "SELECT users FROM user_location_sku_count "
        "WHERE tenant_id = %s AND usage_location = %s AND sku_id = %s",
        (tenant.id, location, sku.id),
    ).fetchone()
    return Count(n[0] if n else 0, False)


def _matching(tenant: Tenant, flt: UserFilter | None) -> peewee.ModelSelect | None:
    """Every user matching the filter and search, unordered, through the search index."""
    term = _search_term(flt)
    if term is None or len(term) < user_search.MIN_INDEXED:
        query = _filtered(tenant, flt)
        return query if query is None or term is None else query.where(_like(term))
    query = _filtered(tenant, flt, tenant_is=_search_tenant(tenant))
    if query is None:
        return None
    return _fts_matching(query, tenant, term) if is_sqlite() else query.where(_like(term))


def licenses_for_users(user_ids: list[int]) -> dict[int, list[LicenseAssignment]]:
    """Every license of the given users, in one query per 1,000 ids (a dataloader's batch)."""
    result: dict[int, list[LicenseAssignment]] = {uid: [] for uid in user_ids}
    for start in range(0, len(user_ids), 1000):
        chunk = user_ids[start : start + 1000]
        for row in (
            LicenseAssignment.select()
            .where(LicenseAssignment.user.in_(chunk))
            .order_by(LicenseAssignment.id)
        ):
            result[row.user_id].append(row)
    return result
