"""Call records (SPEC §5): what a call system sends (`CallInput`), its checks, and what
rating makes of it (`RatedCall`, one `CallOutcome` per item). Rating itself is `rating.py`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

from commcredits.clock import utc_instant
from commcredits.db import db, execute_in, insert_values, sent_as
from commcredits.models import CallRecord
from commcredits.services import usage_lines
from commcredits.services.call_fields import parse_call_type, parse_destination
from commcredits.services.catalog import CREDITS_CAPABILITY
from commcredits.services.errors import DomainError, ErrorDetail, not_found
from commcredits.services.pools import month_of
from commcredits.services.prices import from_minor_units, price_from_micros

MAX_DURATION_SECONDS = 24 * 3600
START_SKEW = dt.timedelta(minutes=5)  # clocks of call systems drift; more is a bad record
CHUNK = 1000  # a batch's keys in one statement (well under both databases' limits)

# Reasons a call is BLOCKED (also authorizeCall's reasons).
NO_CALLING_LICENSE = "NO_CALLING_LICENSE"
NO_CREDITS_LICENSE = "NO_CREDITS_LICENSE"
INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
NO_RATE = "NO_RATE"
CREDIT_LIMIT_REACHED = "CREDIT_LIMIT_REACHED"


@dataclass(frozen=True, slots=True)
class CallInput:
    call_id: str
    user: int | str | None  # user id or user principal name
    started_at: dt.datetime
    duration_seconds: int
    destination: str
    call_type: str


@dataclass(slots=True)  # a batch makes 1,000: no __dict__ each for the collector to walk
class RatedCall:
    """A call record as stored (or about to be)."""

    call_id: str
    user_id: int | None
    user_principal_name: str
    display_name: str
    usage_location: str
    started_at: dt.datetime
    month: str
    duration_seconds: int
    destination: str
    destination_country: str
    call_type: str
    domestic: bool
    status: str
    reason: str | None
    minutes: int
    pool_minutes: int
    charged_minutes: int
    pool_plan: str
    rate_id: int | None
    price_micros: int | None
    charge_minor: int
    currency: str
    rated_at: dt.datetime
    id: int | None = None

    @property
    def charge(self) -> Decimal:
        return from_minor_units(self.charge_minor, self.currency)

    @property
    def price_per_minute(self) -> Decimal | None:
        return None if self.price_micros is None else price_from_micros(self.price_micros)

    @property
    def capability(self) -> str:
        """The usage report's Capability: the plan for pool minutes, MCOPSTNPP for credits."""
        parts = []
        if self.pool_minutes:
            parts.append(self.pool_plan)
        if self.charged_minutes and self.status == "RATED":
            parts.append(CREDITS_CAPABILITY)
        return ", ".join(parts)

    @classmethod
    def from_row(cls, row: CallRecord) -> RatedCall:
        return cls(
            id=row.id,
            call_id=row.call_id,
            user_id=row.user_id,
            user_principal_name=row.user_principal_name,
            display_name=row.display_name,
            usage_location=row.usage_location,
            started_at=row.started_at,
            month=row.month,
            duration_seconds=row.duration_seconds,
            destination=row.destination,
            destination_country=row.destination_country,
            call_type=row.call_type,
            domestic=row.domestic,
            status=row.status,
            reason=row.reason,
            minutes=row.minutes,
            pool_minutes=row.pool_minutes,
            charged_minutes=row.charged_minutes,
            pool_plan=row.pool_plan,
            rate_id=row.rate_id,
            price_micros=row.price_micros,
            charge_minor=row.charge_minor,
            currency=row.currency,
            rated_at=row.rated_at,
        )


# call_record's columns in the order `RatedCall.row` gives them.
ROW_COLUMNS = (
    "tenant_id",
    "call_id",
    "user_id",
    "user_principal_name",
    "display_name",
    "usage_location",
    "started_at",
    "month",
    "duration_seconds",
    "destination",
    "destination_country",
    "call_type",
    "domestic",
    "status",
    "reason",
    "minutes",
    "pool_minutes",
    "charged_minutes",
    "pool_plan",
    "rate_id",
    "price_micros",
    "charge_minor",
    "currency",
    "rated_at",
)


def insert_calls(tenant_id: int, calls: list[RatedCall]) -> dict[str, int]:
    """Insert rated calls (one multi-row INSERT per chunk), and add them to their months'
    usage lines (usage_lines.add, one upsert); their new ids by call id.

    Rows of database-ready values built here (`insert_values`) rather than model dicts
    (`insert_rows` converts each column value through its field): a batch's rows share their
    tenant and rating time, and only the start times need converting."""
    started = CallRecord.started_at.db_value
    stamps: dict[dt.datetime, object] = {}
    rows = []
    for c in calls:
        rated = stamps.get(c.rated_at)
        if rated is None:
            rated = stamps[c.rated_at] = sent_as(started(c.rated_at))
        rows.append(
            (
                tenant_id,
                c.call_id,
                c.user_id,
                c.user_principal_name,
                c.display_name,
                c.usage_location,
                sent_as(started(c.started_at)),
                c.month,
                c.duration_seconds,
                c.destination,
                c.destination_country,
                c.call_type,
                c.domestic,
                c.status,
                c.reason,
                c.minutes,
                c.pool_minutes,
                c.charged_minutes,
                c.pool_plan,
                c.rate_id,
                c.price_micros,
                c.charge_minor,
                c.currency,
                rated,
            )
        )
    table = CallRecord._meta.table_name
    ids = dict(insert_values(table, ROW_COLUMNS, rows, returning=("call_id", "id")))
    usage_lines.add(tenant_id, calls)
    return ids


@dataclass(slots=True)
class CallOutcome:
    index: int
    call_id: str
    call: RatedCall | None = None
    duplicate: bool = False  # the call id was rated before: this is the first result
    errors: list[ErrorDetail] = field(default_factory=list)
    # The balance could not pay for it while a recharge could: it was rated after that
    # recharge was charged (no lock held), RATED if it then could be paid, else BLOCKED.
    held_for_recharge: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors


class Caller(NamedTuple):
    """The few columns of a user that rating needs."""

    id: int
    user_principal_name: str
    display_name: str
    usage_location: str | None


@dataclass(frozen=True, slots=True)
class CheckedCall:
    """An input that passed the checks that need no database."""

    call_id: str
    user: int | str
    started_at: dt.datetime  # UTC
    duration_seconds: int
    digits: str
    call_type: str
    month: str  # of started_at (pools.month_of), worked out once


def check_input(item: CallInput, *, now: dt.datetime) -> CheckedCall:
    """Everything about a record that needs no database; raises DomainError for bad input."""
    call_id = (item.call_id or "").strip()
    if not call_id or len(call_id) > 128:
        raise DomainError("INVALID_CALL_ID", "callId must have 1 to 128 characters.", "callId")
    if item.user is None or item.user == "":
        raise DomainError("USER_REQUIRED", "Give userId or userPrincipalName.", "userId")
    duration = item.duration_seconds
    if isinstance(duration, bool) or not isinstance(duration, int) or duration < 0:
        raise DomainError(
            "INVALID_DURATION",
            f"durationSeconds must be a whole number of seconds ≥ 0; got {duration}.",
            "durationSeconds",
        )
    if duration > MAX_DURATION_SECONDS:
        raise DomainError(
            "INVALID_DURATION",
            f"durationSeconds {duration:,} is more than 24 hours ({MAX_DURATION_SECONDS:,}).",
            "durationSeconds",
        )
    digits = parse_destination(item.destination)
    call_type = parse_call_type(item.call_type)
    started = utc_instant(item.started_at, "startedAt")
    if started > now + START_SKEW:
        raise DomainError(
            "START_IN_FUTURE",
            f"startedAt {started.isoformat()} is in the future (now {now.isoformat()}, "
            f"{int(START_SKEW.total_seconds() // 60)} minutes of clock skew allowed).",
            "startedAt",
        )
    user = item.user.strip() if isinstance(item.user, str) else item.user
    return CheckedCall(call_id, user, started, duration, digits, call_type, month_of(started))


def recorded_calls(tenant_id: int, call_ids: list[str]) -> dict[str, RatedCall]:
    """The calls among `call_ids` rated before, by call id: one statement per 1,000 ids that
    finds them (hand-built: peewee rendered every id), one more only if any is found."""
    found = execute_in(
        f"SELECT id FROM call_record WHERE tenant_id = {_param()} AND call_id IN {{in}}",
        call_ids,
        params=[tenant_id],
        chunk=CHUNK,
    )
    ids = [row[0] for row in found]
    recorded: dict[str, RatedCall] = {}
    for start in range(0, len(ids), CHUNK):
        for row in CallRecord.select().where(CallRecord.id.in_(ids[start : start + CHUNK])):
            recorded[row.call_id] = RatedCall.from_row(row)
    return recorded


def load_callers(
    tenant_id: int, ids: list[int], upn_keys: list[str]
) -> tuple[dict[int, Caller], dict[str, Caller]]:
    """The tenant's users among these ids and user principal name keys (users.upn_key), by id
    and by key: one statement per 1,000 references of each kind."""
    by_id: dict[int, Caller] = {}
    by_upn: dict[str, Caller] = {}
    head = (
        "SELECT id, user_principal_name, display_name, usage_location, upn_key "
        "FROM directory_user "
        f"WHERE tenant_id = {_param()} AND "
    )
    for column, refs in (("id", ids), ("upn_key", upn_keys)):
        for row in execute_in(head + column + " IN {in}", refs, params=[tenant_id], chunk=CHUNK):
            user = Caller._make(row[:4])
            by_id[user.id] = user
            by_upn[row[4]] = user
    return by_id, by_upn


def _param() -> str:
    return db.obj.param


def unknown_user(ref: object) -> ErrorDetail:
    return not_found("User", ref, "userId").details[0]
