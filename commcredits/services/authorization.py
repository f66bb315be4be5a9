"""Pre-call authorization (SPEC §5): may this user place this call now, and for how long?

The same rules as rating, read-only: the licences for the call type, an emergency number
(always allowed, free), a block from PSTN calls (USER_BLOCKED), the user's dial-out policy
(DIAL_OUT_RESTRICTED), the pool the call would draw from, the card's price, the user's
monthly spend limit (SPEND_LIMIT_REACHED) and the credit balance. `maxMinutesAffordable` = pool
minutes left + whole minutes the spendable credit buys at the price (at most 24 hours), fewer
if the spend limit leaves fewer: the balance plus the pending auto-recharges and those today's
cap still allows, or for an MCA tenant its lots (spent first) plus the rest of the month's
credit limit; each charge rounded as rating rounds it (`prices.minutes_affordable`), so a call
allowed here is one rating rates. `creditsLeft` is the balance itself, as of `now`. It reads
only: no lock, no ledger, no write, so it never queues behind a batch being rated.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from commcredits.db import db
from commcredits.models import LicenseAssignment, Tenant, User
from commcredits.money import Money
from commcredits.services import credits, dial_out, pstn_blocks, rating_policies, spend_limits
from commcredits.services.call_fields import (
    MIN_SUBSCRIBER_DIGITS,
    parse_call_type,
    parse_destination,
)
from commcredits.services.catalog import Catalog
from commcredits.services.errors import not_found
from commcredits.services.pools import (
    PoolBook,
    calling_location,
    entitlements_from_rows,
    is_domestic,
    month_of,
    pool_key_for_call,
)
from commcredits.services.prices import minutes_affordable, price_from_micros
from commcredits.services.principal import Principal
from commcredits.services.rate_tables import pool_terms, table_for
from commcredits.services.rating import (
    INSUFFICIENT_BALANCE,
    MAX_DURATION_SECONDS,
    NO_CREDITS_LICENSE,
    NO_RATE,
    calling_license_missing,
    dial_out_restriction,
)
from commcredits.services.users import ref_column

MAX_MINUTES = MAX_DURATION_SECONDS // 60


@dataclass(frozen=True)
class _Caller:
    id: int
    location: str  # where the user calls from (pools.calling_location)
    licenses: list[tuple]  # (user id, sku pk, disabled plans as stored); sku pk None: none
    present: rating_policies.Presence  # which policies the tenant has at all


def _caller(tenant: Tenant, ref: int | str) -> _Caller:
    """The user, found as services/users.get_user finds them (`ref_column`: by id or user
    principal name, case-insensitively, in this tenant), with their licence rows and which
    policies the tenant has: one hand-built statement, a row per licence. Three statements
    through the ORM cost authorizeCall more than the rest of its reads."""
    flags, flag_params = rating_policies.presence_columns(tenant.id)
    column, key = ref_column(ref)
    p = db.obj.param
    rows = db.execute_sql(
        f"SELECT u.id, u.usage_location, la.sku_id, la.disabled_plans, {flags} "
        f"FROM {User._meta.table_name} u LEFT JOIN {LicenseAssignment._meta.table_name} la "
        f"ON la.user_id = u.id WHERE u.tenant_id = {p} AND u.{column} = {p}",
        [*flag_params, tenant.id, key],
    ).fetchall()
    if not rows:
        raise not_found("User", ref, "userId")
    uid, location = rows[0][0], calling_location(rows[0][1], tenant.country)
    return _Caller(
        uid,
        location,
        [(uid, sku, disabled) for _, _, sku, disabled, *_ in rows],
        rating_policies.presence_of(rows[0][4:]),
    )


@dataclass(frozen=True)
class Authorization:
    allowed: bool
    reason: str | None
    call_type: str  # as classified (DOMESTIC vs INTERNATIONAL by country)
    destination_country: str | None
    pool_minutes_left: int
    credits_left: Decimal | None  # None when credits cannot pay for this call at all
    price_per_minute: Decimal | None
    max_minutes_affordable: int
    currency: str


def authorize_call(
    tenant: Tenant,
    principal: Principal,
    user_ref: int | str,
    destination: str,
    call_type: str,
    *,
    now: dt.datetime,
) -> Authorization:
    """Whether `user` may call `destination` now, with the minutes and credit left for it."""
    digits = parse_destination(destination)
    requested = parse_call_type(call_type)
    user = _caller(tenant, user_ref)
    catalog = Catalog.load()
    ent = entitlements_from_rows(catalog, [user.id], user.licenses)[user.id]
    location = user.location
    table = table_for(tenant.currency, now, digits)
    place = table.place(digits)
    country = place.country if place else None
    kind = requested
    if requested in ("DOMESTIC", "INTERNATIONAL") and place is not None:
        kind = "DOMESTIC" if is_domestic(location, place.country) else "INTERNATIONAL"

    def answer(reason: str | None, pool_left: int, balance, price, minutes: int):  # noqa: ANN001
        return Authorization(
            allowed=minutes > 0,
            reason=None if minutes > 0 else reason,
            call_type=kind,
            destination_country=country,
            pool_minutes_left=pool_left,
            credits_left=balance,
            price_per_minute=price,
            max_minutes_affordable=min(minutes, MAX_MINUTES),
            currency=tenant.currency,
        )

    missing = calling_license_missing(ent, kind)
    if missing:
        return answer(missing, 0, None, None, 0)
    if table.emergency_number(digits) is not None:
        # Never restricted, never charged: no pool or credit is asked for (issue 17).
        return answer(None, 0, None, price_from_micros(0), MAX_MINUTES)
    # Rating's reads of the policies, for a batch of one: only those the tenant has and this
    # call type is subject to (a toll-free number is neither blocked nor dial-out restricted
    # nor counted against a spend limit).
    outbound = dial_out.setting_for(kind) is not None
    present = dataclasses.replace(
        user.present,
        own_dial=user.present.own_dial and outbound,
        group_dial=user.present.group_dial and outbound,
        limited=user.present.limited and spend_limits.counts(kind),
        blocks=user.present.blocks and pstn_blocks.blocks(kind),
    )
    policies = rating_policies.for_users(tenant, [user.id], present)
    if pstn_blocks.blocks(kind) and user.id in policies.blocked:
        return answer(pstn_blocks.USER_BLOCKED, 0, None, None, 0)
    policy = policies.dial_out.get(user.id)  # absent: the default, which restricts nothing
    domestic = is_domestic(location, place.country) if place is not None else None
    restricted = dial_out_restriction(policy, kind, domestic)
    if restricted:
        return answer(restricted, 0, None, None, 0)
    if place is None or len(digits) < MIN_SUBSCRIBER_DIGITS:
        return answer(NO_RATE, 0, None, None, 0)
    rate = table.find(kind, digits)
    terms = pool_terms(rate, place)
    key = pool_key_for_call(ent, location, kind, zone=terms.zone, premium=terms.premium)
    pool_left = 0
    if key is not None:
        pool_left = PoolBook(tenant, catalog, {month_of(now)}).state(month_of(now), key).left
    if not ent.credits:
        return answer(NO_CREDITS_LICENSE, pool_left, None, None, pool_left)
    if rate is None:
        return answer(NO_RATE, pool_left, None, None, pool_left)
    price = price_from_micros(rate.price_micros)
    # The read side: no ledger, no lock, nothing written (SPEC §4), whatever the clock says.
    credit = credits.spendable_credit(tenant, now=now)
    balance, spendable = credit.balance.amount, credit.spendable.amount
    if rate.price_micros == 0:
        return answer(None, pool_left, balance, price, MAX_MINUTES)
    # What a call may spend: the balance, plus the auto-recharges the day still allows (or,
    # for an MCA tenant, its lots plus what is left of the month's credit limit).
    affordable = minutes_affordable(rate.price_micros, spendable, tenant.currency)
    limit = policies.limits.get(user.id)
    limited = _spend_limit_minutes(tenant, user.id, limit, kind, rate.price_micros, now=now)
    if limited is not None and limited <= affordable:
        return answer(
            spend_limits.SPEND_LIMIT_REACHED, pool_left, balance, price, pool_left + limited
        )
    return answer(INSUFFICIENT_BALANCE, pool_left, balance, price, pool_left + affordable)


def _spend_limit_minutes(
    tenant: Tenant,
    user_id: int,
    limit: int | None,
    kind: str,
    price_micros: int,
    *,
    now: dt.datetime,
) -> int | None:
    """Charged minutes the user's spend limit (`limit`, minor units, None: none) still allows
    this month (None: no limit).

    At or over the limit: 0 (only pool minutes are left). Below it: the whole minutes whose
    charge fits in what is left, but at least 1, since rating rates a call that starts below
    the limit whole (services/spend_limits.py)."""
    if limit is None or not spend_limits.counts(kind):
        return None
    spent = spend_limits.spent_minor(tenant, user_id, month_of(now))
    if spend_limits.reached(spent, limit):
        return 0
    left = Money.from_minor(limit - spent, tenant.currency).amount
    return max(1, minutes_affordable(price_micros, left, tenant.currency))
