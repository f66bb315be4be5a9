"""Pooled plan minutes (SPEC §5): per tenant, calendar month (UTC), plan and usage location.

The rule, so it can be tested:
- **granted** = the minutes the licenses held *when a call of that month is rated* give
  (`granted_minutes`); the pool row keeps the highest figure seen in the month, so a license
  removed mid-month does not take back minutes already granted, and one added mid-month adds
  its minutes at once. A month nobody has rated yet shows the live figure.
- **used** = the sum of the pool minutes of the month's rated calls (BLOCKED calls use none).
- **left** = max(0, granted − used). A new month has its own rows: it starts full.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from commcredits.db import db, execute_in, insert_values, sent_as
from commcredits.models import MinutePool, Tenant
from commcredits.services import notifications
from commcredits.services.catalog import AUDIO_CONFERENCING_PLAN, CREDITS_SKU, Catalog

NORTH_AMERICA = frozenset({"US", "CA", "PR"})
DIAL_OUT_POOL = AUDIO_CONFERENCING_PLAN  # the tenant-wide pool is named for its plan
DIAL_OUT_MINUTES = 60
POOLED_PLANS = ("MCOPSTN1", "MCOPSTN2", "MCOPSTN5")
WARN_SHARE = 0.8
LOOKUP_CHUNK = 1000  # a rating batch's users in one statement


def domestic_minutes(plan: str, country: str) -> int:
    """Domestic minutes one user of `plan` in `country` adds to the pool."""
    if plan in ("MCOPSTN1", "MCOPSTN2"):
        return 3000 if country in NORTH_AMERICA else 1200
    if plan == "MCOPSTN5":
        return 120
    return 0  # MCOPSTN_PAYG_1: every minute from credits


def international_minutes(plan: str) -> int:
    return 600 if plan == "MCOPSTN2" else 0


def calling_location(usage_location: str | None, tenant_country: str) -> str:
    """Where a user calls from, for pools and domestic calls: its usage location, or the
    tenant's country when it has none (a user whose licenses all come from groups may have
    none: Entra then takes the directory's country, as group licensing does here)."""
    return usage_location or tenant_country


def is_domestic(usage_location: str, country: str) -> bool:
    """Calls within one country are domestic; so are calls among US, Canada and Puerto Rico,
    which share +1 and the North American calling plans."""
    if not usage_location or not country:
        return False
    if usage_location == country:
        return True
    return usage_location in NORTH_AMERICA and country in NORTH_AMERICA


def month_of(at: dt.datetime) -> str:
    """The UTC month of an instant, 'YYYY-MM' (zero-padded: strftime's %Y is not, for a year
    before 1000): every call's month, as rated and as reported, comes from here."""
    utc = at.astimezone(dt.UTC)
    return f"{utc.year:04d}-{utc.month:02d}"


@dataclass(frozen=True)
class PoolKey:
    plan: str
    country: str  # "" for the tenant-wide dial-out pool
    call_type: str  # DOMESTIC, INTERNATIONAL, CONFERENCE_DIAL_OUT


@dataclass(frozen=True)
class Entitlements:
    """What one user's licenses give for calling."""

    calling_plan: str | None  # MCOPSTN1/2/5/PAYG_1 (they exclude each other)
    audio_conferencing: bool  # MCOMEETADV held directly or through SPE_E5, not disabled
    credits: bool  # MCOPSTNC (Communication Credits)


NO_ENTITLEMENTS = Entitlements(None, False, False)


def pooled_sku_ids(catalog: Catalog) -> frozenset[int]:
    """The SKUs (pks) whose licenses count toward a pool: a calling plan with pooled minutes,
    or a SKU carrying Audio Conferencing among its service plans (its holders add dial-out
    minutes). Only their licenses are in the sets `granted_minutes` reads; migration 0027's
    triggers keep `pooled_sku` in step with the catalog by the same rule, and
    `commcredits audit` (services/kept_counts.py) compares that table against this one."""
    return frozenset(
        sku.id
        for sku in catalog.skus
        if sku.part_number in POOLED_PLANS
        or any(p["servicePlanName"] == AUDIO_CONFERENCING_PLAN for p in sku.service_plans)
    )


def entitlements(catalog: Catalog, held: list[tuple[int, list[str]]]) -> Entitlements:
    """Entitlements from a user's (sku pk, disabled plans) licenses."""
    plans: set[str] = set()
    for sku_pk, disabled in held:
        sku = catalog.by_pk.get(sku_pk)
        if sku is not None:
            plans |= Catalog.plan_names(sku, disabled)
    calling = next(
        (p for p in ("MCOPSTN1", "MCOPSTN2", "MCOPSTN5", "MCOPSTN_PAYG_1") if p in plans), None
    )
    return Entitlements(calling, AUDIO_CONFERENCING_PLAN in plans, CREDITS_SKU in plans)


def entitlements_for_users(catalog: Catalog, user_ids: list[int]) -> dict[int, Entitlements]:
    """Entitlements of many users: one statement per 1,000 users (a rating batch's in one)."""
    # Hand-built, and the disabled plans kept as the JSON text stored: users hold a handful
    # of distinct licence combinations, so each text is decoded once per combination below,
    # not once per row (peewee decoded every row's list and rendered every id: half of this).
    rows = execute_in(
        "SELECT user_id, sku_id, disabled_plans FROM license_assignment WHERE user_id IN {in}",
        user_ids,
        chunk=LOOKUP_CHUNK,
    )
    return entitlements_from_rows(catalog, user_ids, rows)


def entitlements_from_rows(
    catalog: Catalog, user_ids: list[int], rows: Iterable[tuple[int, int | None, str | None]]
) -> dict[int, Entitlements]:
    """Entitlements of these users from their (user id, sku pk, disabled plans as stored)
    license rows, read by the caller (authorizeCall reads them with the user row); a row whose
    sku pk is None (a LEFT JOIN that found no license) is no license."""
    held: dict[int, list[tuple[int, str | None]]] = defaultdict(list)
    for user_id, sku_pk, disabled in rows:
        if sku_pk is not None:
            held[user_id].append((sku_pk, disabled))
    # Decide each combination once.
    seen: dict[tuple, Entitlements] = {}
    found: dict[int, Entitlements] = {}
    for uid in user_ids:
        combo = tuple(sorted(held.get(uid, ()), key=_combo_order))
        ent = seen.get(combo)
        if ent is None:
            decoded = [(sku, tuple(json.loads(text) or ()) if text else ()) for sku, text in combo]
            ent = seen[combo] = entitlements(catalog, decoded)
        found[uid] = ent
    return found


def _combo_order(item: tuple[int, str | None]) -> tuple[int, str]:
    return item[0], item[1] or ""


def pool_key_for_call(
    ent: Entitlements,
    usage_location: str,
    call_type: str,
    *,
    zone: str,
    premium: bool,
) -> PoolKey | None:
    """The pool a call draws from first, if any (call_type already classified)."""
    if call_type == "DOMESTIC" and ent.calling_plan in POOLED_PLANS:
        return PoolKey(ent.calling_plan, usage_location, "DOMESTIC")
    if call_type == "INTERNATIONAL" and ent.calling_plan == "MCOPSTN2":
        return PoolKey("MCOPSTN2", usage_location, "INTERNATIONAL")
    if (
        call_type == "CONFERENCE_DIAL_OUT"
        and ent.audio_conferencing
        and zone == "A"
        and not premium
    ):
        return PoolKey(DIAL_OUT_POOL, "", "CONFERENCE_DIAL_OUT")
    return None


# Each user's set of licenses, counted per usage location by triggers (migration 0027).
_LICENSE_SETS_SQL = (
    "SELECT usage_location, licenses, users FROM user_license_set_count "
    "WHERE tenant_id = {p} AND users <> 0"
)


def granted_minutes(tenant: Tenant, catalog: Catalog) -> dict[PoolKey, int]:
    """Minutes every pool of the tenant is granted by the licenses held now.

    One read of the sets of licenses its users hold, counted per usage location (a tenant has
    a few dozen, whatever its number of users), not of its licenses: this runs on every rating
    batch and authorizeCall. Each license of a pooled SKU adds its calling plans' minutes;
    each user holding Audio Conferencing, through one SKU or more, adds 60 dial-out minutes.
    """
    # Only licenses of pooled SKUs are in the sets (the table's `pooled_sku`, kept from the
    # catalog by 0027's triggers), one row per (location, set), each set in sku order.
    rows = db.execute_sql(_LICENSE_SETS_SQL.format(p=db.obj.param), (tenant.id,)).fetchall()
    granted: dict[PoolKey, int] = defaultdict(int)
    dial_out_users = 0
    for location, text, users in rows:
        # The sets are counted per usage location as stored ('' for none): minutes go to the
        # pool of the country the user calls from.
        country = calling_location(location, tenant.country)
        audio_conferencing = False
        for sku_pk, disabled in _licenses(text):
            plans = Catalog.plan_names(catalog.by_pk[sku_pk], disabled)
            for plan in POOLED_PLANS:
                if plan in plans:
                    granted[PoolKey(plan, country, "DOMESTIC")] += users * domestic_minutes(
                        plan, country
                    )
                    if international_minutes(plan):
                        granted[PoolKey(plan, country, "INTERNATIONAL")] += users * (
                            international_minutes(plan)
                        )
            audio_conferencing = audio_conferencing or AUDIO_CONFERENCING_PLAN in plans
        if audio_conferencing:
            dial_out_users += users
    if dial_out_users:
        granted[PoolKey(DIAL_OUT_POOL, "", "CONFERENCE_DIAL_OUT")] = (
            dial_out_users * DIAL_OUT_MINUTES
        )
    return {key: minutes for key, minutes in granted.items() if minutes}


def _licenses(text: str) -> Iterator[tuple[int, list[str]]]:
    """The (sku pk, disabled plans) of a stored set: one `sku_id disabled_plans-as-JSON`
    line per license."""
    for line in text.split("\n"):
        sku, _, plans = line.partition(" ")
        yield int(sku), (json.loads(plans) or []) if plans else []


@dataclass
class PoolState:
    month: str
    key: PoolKey
    granted: int
    used: int
    notified_80: bool = False
    notified_100: bool = False
    touched: bool = False

    @property
    def left(self) -> int:
        return max(0, self.granted - self.used)


class PoolBook:
    """A tenant's pools for some months, loaded once; changed in memory, written in one go."""

    def __init__(self, tenant: Tenant, catalog: Catalog, months: set[str]):
        self.tenant = tenant
        self.live = granted_minutes(tenant, catalog)
        self.states: dict[tuple[str, PoolKey], PoolState] = {}
        if months:
            for row in MinutePool.select().where(
                (MinutePool.tenant == tenant.id) & MinutePool.month.in_(sorted(months))
            ):
                key = PoolKey(row.plan, row.country, row.call_type)
                self.states[(row.month, key)] = PoolState(
                    row.month, key, row.granted, row.used, row.notified_80, row.notified_100
                )

    def state(self, month: str, key: PoolKey) -> PoolState:
        """The pool as of now: granted raised to what the licenses held now give."""
        state = self.states.get((month, key))
        live = self.live.get(key, 0)
        if state is None:
            state = PoolState(month, key, live, 0)
            self.states[(month, key)] = state
        elif live > state.granted:
            state.granted = live
        return state

    def use(self, state: PoolState, minutes: int) -> None:
        state.used += minutes
        state.touched = True

    def write(self, *, now: dt.datetime) -> int:
        """Upsert the pools the batch used and emit 80 % / 100 % notifications once per month.

        Returns the number of notifications emitted.
        """
        touched = [s for s in self.states.values() if s.touched]
        events: list[dict] = []
        for s in touched:
            payload = {
                "month": s.month,
                "plan": s.key.plan,
                "country": s.key.country,
                "callType": s.key.call_type,
                "granted": s.granted,
                "used": s.used,
            }
            if s.granted and not s.notified_80 and s.used >= WARN_SHARE * s.granted:
                s.notified_80 = True
                events.append(
                    notifications.row(self.tenant.id, "POOL_80_PERCENT", payload, now=now)
                )
            if s.granted and not s.notified_100 and s.used >= s.granted:
                s.notified_100 = True
                events.append(
                    notifications.row(self.tenant.id, "POOL_100_PERCENT", payload, now=now)
                )
        if touched:
            stamp = sent_as(MinutePool.updated_at.db_value(now))
            rows = [
                (self.tenant.id, s.month, s.key.plan, s.key.country, s.key.call_type)
                + (s.granted, s.used, s.notified_80, s.notified_100, stamp)
                for s in touched
            ]
            # Hand-built (insert_values): peewee's insert_many rendered it value by value.
            insert_values(MinutePool._meta.table_name, _POOL_COLUMNS, rows, on_conflict=_UPSERT)
        if events:
            notifications.emit_many(events)
        return len(events)


_POOL_COLUMNS = (
    "tenant_id",
    "month",
    "plan",
    "country",
    "call_type",
    "granted",
    "used",
    "notified_80",
    "notified_100",
    "updated_at",
)
_UPSERT = (
    'ON CONFLICT ("tenant_id", "month", "plan", "country", "call_type") DO UPDATE SET '
    + ", ".join(
        f'"{c}" = excluded."{c}"' for c in ("granted", "used", "notified_80", "notified_100")
    )
    + ', "updated_at" = excluded."updated_at"'
)


@dataclass(frozen=True)
class PoolView:
    month: str
    plan: str
    country: str
    call_type: str
    granted: int
    used: int

    @property
    def left(self) -> int:
        return max(0, self.granted - self.used)


def minute_pools(tenant: Tenant, month: str, *, now: dt.datetime) -> list[PoolView]:
    """A month's pools: as rated, and for the current or a later month raised to the live grant."""
    stored = {
        PoolKey(r.plan, r.country, r.call_type): r
        for r in MinutePool.select().where(
            (MinutePool.tenant == tenant.id) & (MinutePool.month == month)
        )
    }
    live = granted_minutes(tenant, Catalog.load()) if month >= month_of(now) else {}
    views = []
    for key in set(stored) | set(live):
        row = stored.get(key)
        granted = max(row.granted if row else 0, live.get(key, 0))
        views.append(
            PoolView(month, key.plan, key.country, key.call_type, granted, row.used if row else 0)
        )
    return sorted(views, key=lambda v: (v.call_type, v.plan, v.country))
