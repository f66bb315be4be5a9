"""Per-user spending limits (issue 17): Teams's `EnableSpendLimits` / `CallingSpendUserLimit`.

What counts as a user's spending: the part of their calls charged to credits (pool minutes are
free) for DOMESTIC, INTERNATIONAL and CONFERENCE_DIAL_OUT calls — their own PSTN calls and
their meetings' dial-outs — in the call's calendar month (UTC, `pools.month_of`).
TOLL_FREE_INBOUND is charged to the tenant for its toll-free number, not spent by the user
called: it is neither counted nor limited. Emergency calls cost nothing and are never limited.

The rule (as Teams: a call in progress is never cut; new calls are refused once the limit is
reached): a call with a part charged to credits is BLOCKED `SPEND_LIMIT_REACHED` when the
user's spend in its month is already at or over the limit in force; a call starting below the
limit is rated whole, so the spend can pass the limit by at most that one call.

The spend is kept, not summed: `user_month_spend` is upserted by rating in the transaction
that writes the calls (under the tenant lock), and a batch tracks it in its in-memory picture
so the calls of one batch see each other's spend, in input order. The 80 % and 100 % limit
notifications go out once per user per month, in that same transaction (as the pools').
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import peewee

from commcredits.db import db, execute_in, insert_values, sent_as
from commcredits.models import Tenant, UserMonthSpend
from commcredits.money import Money
from commcredits.services import notifications
from commcredits.services.calling_policy_values import EffectiveCallingPolicy, Policy, resolve
from commcredits.services.group_policy_lookup import CALLING, best_for_users

SPEND_LIMIT_REACHED = "SPEND_LIMIT_REACHED"  # the BLOCKED reason (and authorizeCall's)
COUNTED = frozenset({"DOMESTIC", "INTERNATIONAL", "CONFERENCE_DIAL_OUT"})
WARN_SHARE = (4, 5)  # 80 %, as a fraction: integers only, never a float near money
LIMIT_80 = "USER_SPEND_LIMIT_80_PERCENT"
LIMIT_REACHED = "USER_SPEND_LIMIT_REACHED"
CHUNK = 1000  # a batch's users in one statement


def counts(call_type: str) -> bool:
    """Whether a call of this type is the user's spending (and so limited)."""
    return call_type in COUNTED


def reached(spent_minor: int, limit_minor: int | None) -> bool:
    return limit_minor is not None and spent_minor >= limit_minor


def left_minor(spent_minor: int, limit_minor: int | None) -> int | None:
    return None if limit_minor is None else max(0, limit_minor - spent_minor)


def _user_global_id(pk: int) -> str:
    # The API's id for the user (schema/common.py to_global_id): a webhook names the user as
    # `user { id }` does.
    return base64.urlsafe_b64encode(f"User:{pk}".encode()).decode()


# -- rating's side ---------------------------------------------------------------------------
@dataclass
class SpendState:
    user_id: int
    month: str
    spent: int  # minor units; for a state not read (see SpendBook), the batch's own spend
    notified_80: bool = False
    notified_100: bool = False
    exists: bool = False
    touched: bool = False
    limit: int | None = None  # the limit in force when the batch last looked (notifications)
    upn: str = ""
    base: int = 0  # the spend as read (0: not read, or no row): `spent - base` is the batch's


class SpendBook:
    """A batch's users' spend for the batch's months, changed in memory and written in one
    upsert with the calls.

    Only the users with a limit in force (`limited`) have their spend read (one statement per
    1,000 of them; none when nobody in the batch is limited): the others' calls are never
    refused and notify nobody, so their spend is only added to, by the upsert itself."""

    def __init__(self, tenant: Tenant, limited: Iterable[int], months: Iterable[str]):
        self.tenant = tenant
        self.states: dict[tuple[int, str], SpendState] = {}
        ids, months = sorted(set(limited)), sorted(set(months))
        if not ids or not months:
            return
        p = db.obj.param
        sql = (
            "SELECT user_id, month, spent_minor, notified_80, notified_100 FROM user_month_spend "
            f"WHERE tenant_id = {p} AND month IN ({', '.join([p] * len(months))}) "
            "AND user_id IN {in}"
        )
        for uid, month, spent, n80, n100 in execute_in(
            sql, ids, params=[tenant.id, *months], chunk=CHUNK
        ):
            self.states[(uid, month)] = SpendState(
                uid, month, spent, bool(n80), bool(n100), exists=True, base=spent
            )

    def state(self, user_id: int, month: str) -> SpendState:
        found = self.states.get((user_id, month))
        if found is None:
            found = self.states[(user_id, month)] = SpendState(user_id, month, 0)
        return found

    def refuses(self, user_id: int, upn: str, month: str, limit: int | None) -> bool:
        """True when the user's spend of `month` has reached `limit` (a call with a charged
        part is then BLOCKED). A refusal also looks at the notifications (a limit lowered
        under the spend, or set to 0, is reported on the first call it stops)."""
        if limit is None:
            return False
        state = self.state(user_id, month)
        if not reached(state.spent, limit):
            return False
        self._look(state, upn, limit)
        return True

    def add(self, user_id: int, upn: str, month: str, minor: int, limit: int | None) -> None:
        state = self.state(user_id, month)
        state.spent += minor
        self._look(state, upn, limit)

    @staticmethod
    def _look(state: SpendState, upn: str, limit: int | None) -> None:
        state.touched, state.limit, state.upn = True, limit, upn

    def write(self, *, now: dt.datetime) -> int:
        """Upsert the spend the batch changed; emit each limit notification once per user per
        month. Returns the number of notifications emitted."""
        touched = [s for s in self.states.values() if s.touched]
        if not touched:
            return 0
        events = []
        for s in touched:
            if s.limit is None:
                continue
            payload = {
                "userId": _user_global_id(s.user_id),
                "userPrincipalName": s.upn,
                "month": s.month,
                "spent": str(Money.from_minor(s.spent, self.tenant.currency).amount),
                "limit": str(Money.from_minor(s.limit, self.tenant.currency).amount),
                "currency": self.tenant.currency,
            }
            share, whole = WARN_SHARE
            if not s.notified_80 and s.spent * whole >= s.limit * share:
                s.notified_80 = True
                events.append(notifications.row(self.tenant.id, LIMIT_80, payload, now=now))
            if not s.notified_100 and reached(s.spent, s.limit):
                s.notified_100 = True
                events.append(notifications.row(self.tenant.id, LIMIT_REACHED, payload, now=now))
        stamp = sent_as(UserMonthSpend.updated_at.db_value(now))
        rows = [
            (self.tenant.id, s.user_id, s.month, s.spent - s.base, s.notified_80, s.notified_100)
            + (stamp,)
            for s in touched
            if s.exists or s.spent or s.notified_80 or s.notified_100
        ]
        # The batch's spend is added to the row, and a notification flag, once set, stays:
        # exact under the tenant lock this transaction holds, whether the row was read (a
        # limited user) or not. Built by hand (insert_values): peewee's insert_many rendered
        # the batch's rows value by value, a tenth of a rating batch.
        insert_values(UserMonthSpend._meta.table_name, _SPEND_COLUMNS, rows, on_conflict=_UPSERT)
        if events:
            notifications.emit_many(events)
        return len(events)


_SPEND_COLUMNS = (
    "tenant_id",
    "user_id",
    "month",
    "spent_minor",
    "notified_80",
    "notified_100",
    "updated_at",
)
_UPSERT = (
    'ON CONFLICT ("user_id", "month") DO UPDATE SET '
    '"spent_minor" = "user_month_spend"."spent_minor" + excluded."spent_minor", '
    '"notified_80" = ("user_month_spend"."notified_80" OR excluded."notified_80"), '
    '"notified_100" = ("user_month_spend"."notified_100" OR excluded."notified_100"), '
    '"updated_at" = excluded."updated_at"'
)


# -- the read side ---------------------------------------------------------------------------
def spent_minor(tenant: Tenant, user_id: int, month: str) -> int:
    """One user's spend of a month (0 when nothing was spent)."""
    found = (
        UserMonthSpend.select(UserMonthSpend.spent_minor)
        .where(
            (UserMonthSpend.tenant == tenant.id)
            & (UserMonthSpend.user == user_id)
            & (UserMonthSpend.month == month)
        )
        .scalar()
    )
    return found or 0


@dataclass(frozen=True)
class UserSpend:
    """What a User's callingPolicy, spendThisMonth and spendLimitLeft show."""

    effective: EffectiveCallingPolicy
    spent_minor: int
    currency: str
    user_principal_name: str = ""
    display_name: str = ""
    usage_location: str | None = None

    @property
    def spent(self) -> Money:
        return Money.from_minor(self.spent_minor, self.currency)

    @property
    def left(self) -> Money | None:
        left = left_minor(self.spent_minor, self.effective.policy.applied_limit_minor)
        return None if left is None else Money.from_minor(left, self.currency)


def spend_by_user_ids(user_ids: Iterable[int], *, month: str) -> dict[int, UserSpend]:
    """For a page of users (of any tenants): each one's effective calling policy and spend in
    `month`, two statements per 500 users (the user joined to their tenant's currency, their
    month's spend, their own grant and their tenant's global one; then their group grants)."""
    ids = sorted(set(user_ids))
    found: dict[int, UserSpend] = {}
    for start in range(0, len(ids), CHUNK):
        part = ids[start : start + CHUNK]
        marks = ", ".join(db.param for _ in part)
        # The user's own grant and the global one as two joins, each an index lookup (one
        # join on `user_id = u.id OR user_id IS NULL` read every grant of the tenant per user).
        policy = "{g}.id, {g}.name, {g}.description, {g}.enable_spend_limits, {g}.spend_limit_minor"
        rows = db.execute_sql(
            "SELECT u.id, t.currency, s.spent_minor, u.user_principal_name, u.display_name, "
            f"u.usage_location, {policy.format(g='mp')}, {policy.format(g='ep')} "
            "FROM directory_user u JOIN tenant t ON t.id = u.tenant_id "
            "LEFT JOIN user_month_spend s ON s.user_id = u.id AND s.month = "
            f"{db.param} "
            "LEFT JOIN calling_policy_grant mine ON mine.tenant_id = u.tenant_id "
            "AND mine.user_id = u.id "
            "LEFT JOIN calling_policy mp ON mp.id = mine.policy_id "
            "LEFT JOIN calling_policy_grant everyone ON everyone.tenant_id = u.tenant_id "
            "AND everyone.user_id IS NULL "
            "LEFT JOIN calling_policy ep ON ep.id = everyone.policy_id "
            f"WHERE u.id IN ({marks})",
            [month, *part],
        ).fetchall()
        spent: dict[int, int] = {}
        currency: dict[int, str] = {}
        names: dict[int, tuple[str, str, str | None]] = {}
        own: dict[int, Policy] = {}
        glob: dict[int, Policy] = {}
        for uid, cur, minor, upn, display, location, *policies in rows:
            currency[uid], spent[uid], names[uid] = cur, minor or 0, (upn, display, location)
            for granted, (pid, name, text, enabled, limit) in (
                (own, policies[:5]),
                (glob, policies[5:]),
            ):
                if pid is not None:
                    granted[uid] = Policy(pid, name, text, bool(enabled), limit, cur)
        groups = best_for_users(CALLING, part)
        for uid in part:
            if uid in currency:
                inherited = groups.get(uid)
                effective = resolve(own.get(uid), glob.get(uid), currency[uid], inherited)
                found[uid] = UserSpend(effective, spent[uid], currency[uid], *names[uid])
    return found


def spend_differences(tenant_id: int | None = None) -> list[tuple[int, int, str, int, int]]:
    """(tenant, user, month, kept, summed) wherever the kept spend is not the sum of the
    month's counted charges (an invariant the tests check). Two grouped statements over one
    tenant or all; the operator's tool, not a request's."""
    from commcredits.models import CallRecord

    calls = CallRecord.user.is_null(False)
    spends = UserMonthSpend.id.is_null(False)
    if tenant_id is not None:
        calls &= CallRecord.tenant == tenant_id
        spends &= UserMonthSpend.tenant == tenant_id
    summed = {
        (t, u, m): s
        for t, u, m, s in CallRecord.select(
            CallRecord.tenant,
            CallRecord.user,
            CallRecord.month,
            peewee.fn.SUM(CallRecord.charge_minor),
        )
        .where(
            calls
            & (CallRecord.status == "RATED")
            & CallRecord.call_type.in_(sorted(COUNTED))
            & (CallRecord.charge_minor > 0)
        )
        .group_by(CallRecord.tenant, CallRecord.user, CallRecord.month)
        .tuples()
    }
    kept = {
        (t, u, m): s
        for t, u, m, s in UserMonthSpend.select(
            UserMonthSpend.tenant,
            UserMonthSpend.user,
            UserMonthSpend.month,
            UserMonthSpend.spent_minor,
        )
        .where(spends)
        .tuples()
    }
    return [
        (*key, kept.get(key, 0), int(summed.get(key, 0)))
        for key in sorted(set(summed) | set(kept))
        if kept.get(key, 0) != int(summed.get(key, 0))
    ]
