"""Calls: rate cards, minute pools, call records, usage, pre-call authorization."""

import datetime as dt
import enum
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import strawberry

from commcredits.models import Rate as RateRow
from commcredits.models import RateCard as RateCardRow
from commcredits.schema.common import Node, UserError, to_global_id
from commcredits.schema.credits import MONEY_FIELD, Money
from commcredits.schema.input_limits import (
    NAME,
    USER_ID,
    USER_PRINCIPAL_NAME,
    USER_REF,
    limited_field,
)
from commcredits.services.authorization import Authorization
from commcredits.services.pools import PoolView
from commcredits.services.prices import price_from_micros
from commcredits.services.rating import CallOutcome, RatedCall
from commcredits.services.usage_report import UsageLine, UsageSummary


@strawberry.enum(description="DOMESTIC and INTERNATIONAL are decided by destination country.")
class CallType(enum.Enum):
    DOMESTIC = "DOMESTIC"
    INTERNATIONAL = "INTERNATIONAL"
    CONFERENCE_DIAL_OUT = "CONFERENCE_DIAL_OUT"
    TOLL_FREE_INBOUND = "TOLL_FREE_INBOUND"


@strawberry.enum
class CallStatus(enum.Enum):
    RATED = "RATED"
    BLOCKED = "BLOCKED"


@strawberry.type
class RateCard(Node):
    name: str
    effective_from: dt.datetime
    imported_at: dt.datetime
    source: str
    sample: bool = strawberry.field(description="The shipped SAMPLE card: not real prices.")
    row_count: int

    @classmethod
    def from_row(cls, row: RateCardRow) -> "RateCard":
        return cls(
            id=to_global_id("RateCard", row.id),
            name=row.name,
            effective_from=row.effective_from,
            imported_at=row.imported_at,
            source=row.source,
            sample=row.sample,
            row_count=row.row_count,
        )


@strawberry.type
class Rate(Node):
    call_type: CallType
    prefix: str = strawberry.field(description="E.164 digits the destination starts with.")
    country: str
    per_minute: Money = strawberry.field(description="The price of one started minute.")
    price_per_minute: Decimal = strawberry.field(deprecation_reason=MONEY_FIELD.format("perMinute"))
    currency: str = strawberry.field(deprecation_reason=MONEY_FIELD.format("perMinute"))
    zone: str = strawberry.field(description='"A": Audio Conferencing Zone A.')
    premium: bool
    emergency: bool = strawberry.field(
        description="An emergency number, matched whole: never restricted by a dial-out policy,"
        " never charged."
    )
    description: str
    card: RateCard

    @classmethod
    def from_row(cls, row: RateRow, card: RateCardRow | None = None) -> "Rate":
        """A rate row as a node; `card` is its card when the caller has read it already (a
        page's rows share one)."""
        price = price_from_micros(row.price_micros)
        return cls(
            id=to_global_id("Rate", row.id),
            call_type=CallType(row.call_type),
            prefix=row.prefix,
            country=row.country,
            per_minute=Money(amount=price, currency=row.currency),
            price_per_minute=price,
            currency=row.currency,
            zone=row.zone,
            premium=row.premium,
            emergency=bool(row.emergency),
            description=row.description,
            card=RateCard.from_row(card if card is not None else row.card),
        )


@strawberry.input
class RateFilter:
    call_type: CallType | None = None
    country: str | None = None
    currency: str | None = None
    prefix: str | None = strawberry.field(
        default=None, description="Rows whose prefix starts with these digits."
    )
    card_id: strawberry.ID | None = strawberry.field(
        default=None, description="Default: the card in force now."
    )


@strawberry.input
class RateRowInput:
    call_type: str
    prefix: str
    country: str
    price_per_minute: Decimal
    currency: str
    zone: str = ""
    premium: bool = False
    emergency: bool = strawberry.field(
        default=False, description="An emergency number (its price must be 0)."
    )
    description: str = limited_field(200, default="")  # the column's width


@strawberry.input
class ImportRatesInput:
    name: str = limited_field(NAME)
    rows: list[RateRowInput]
    effective_from: dt.datetime | None = strawberry.field(
        default=None, description="Calls started from then on use this card (default: now)."
    )


@strawberry.type
class ImportRatesPayload:
    card: RateCard | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class CallRecord(Node):
    call_id: strawberry.ID = strawberry.field(description="The telephony system's call id.")
    user_id: strawberry.ID | None
    user_principal_name: str
    display_name: str
    usage_location: str
    started_at: dt.datetime
    duration_seconds: int
    destination: str
    destination_country: str
    call_type: CallType
    domestic: bool
    status: CallStatus
    reason: str | None
    minutes: int = strawberry.field(description="Started minutes.")
    pool_minutes: int
    charged_minutes: int
    capability: str = strawberry.field(
        description="What paid: the plan's part number for pool minutes, MCOPSTNPP for credits."
    )
    per_minute: Money | None = strawberry.field(
        description="The card's price per started minute; null when blocked before pricing."
    )
    cost: Money = strawberry.field(description="What credits paid (0 for pool minutes).")
    rated_at: dt.datetime
    price_per_minute: Decimal | None = strawberry.field(
        deprecation_reason=MONEY_FIELD.format("perMinute")
    )
    charge: Decimal = strawberry.field(deprecation_reason=MONEY_FIELD.format("cost"))
    currency: str = strawberry.field(deprecation_reason=MONEY_FIELD.format("cost"))

    @classmethod
    def from_call(cls, c: RatedCall) -> "CallRecord":
        return cls(**{name: value(c) for name, value in CALL_FIELDS.items()})

    @classmethod
    def view(cls, c: RatedCall) -> "CallRecord":
        """A CallRecord whose fields are worked out when read: a recordCalls result asks for a
        few of a call's 24 fields, and building all of them (ids, Money) for each of a batch's
        1,000 calls cost as much as rating them."""
        return _CallRecordView(c)


# The members by value: a dict lookup, where calling the enum searches for the member.
_CALL_TYPES = {t.value: t for t in CallType}
_STATUSES = {s.value: s for s in CallStatus}
# Each CallRecord field from the rated call (from_call builds them all, view when read).
CALL_FIELDS: dict[str, Callable[[RatedCall], Any]] = {
    "id": lambda c: to_global_id("CallRecord", c.id or 0),
    "call_id": lambda c: c.call_id,
    "user_id": lambda c: to_global_id("User", c.user_id) if c.user_id else None,
    "user_principal_name": lambda c: c.user_principal_name,
    "display_name": lambda c: c.display_name,
    "usage_location": lambda c: c.usage_location,
    "started_at": lambda c: c.started_at,
    "duration_seconds": lambda c: c.duration_seconds,
    "destination": lambda c: c.destination,
    "destination_country": lambda c: c.destination_country,
    "call_type": lambda c: _CALL_TYPES[c.call_type],
    "domestic": lambda c: c.domestic,
    "status": lambda c: _STATUSES[c.status],
    "reason": lambda c: c.reason,
    "minutes": lambda c: c.minutes,
    "pool_minutes": lambda c: c.pool_minutes,
    "charged_minutes": lambda c: c.charged_minutes,
    "capability": lambda c: c.capability,
    "per_minute": lambda c: Money.optional(c.price_per_minute, c.currency),
    "cost": lambda c: Money(amount=c.charge, currency=c.currency),
    "price_per_minute": lambda c: c.price_per_minute,
    "charge": lambda c: c.charge,
    "currency": lambda c: c.currency,
    "rated_at": lambda c: c.rated_at,
}


class _CallRecordView(CallRecord):
    """CallRecord.view: a CallRecord (the schema's type checks pass) holding the rated call,
    each field a property answering from it (below)."""

    def __init__(self, call: RatedCall):  # not the dataclass's: nothing is built here
        self._call = call


def _field_of(value: Callable[[RatedCall], Any]) -> property:
    return property(lambda self: value(self._call))


for _name, _value in CALL_FIELDS.items():
    setattr(_CallRecordView, _name, _field_of(_value))


@strawberry.input
class CallRecordInput:
    call_id: strawberry.ID = limited_field(128)  # what services/calls.py accepts
    user_id: strawberry.ID | None = limited_field(USER_REF, default=None, description=USER_ID)
    user_principal_name: str | None = limited_field(USER_PRINCIPAL_NAME, default=None)
    started_at: dt.datetime
    duration_seconds: int
    destination: str = strawberry.field(description="E.164: +<country code><number>.")
    call_type: str = strawberry.field(
        description="DOMESTIC, INTERNATIONAL, CONFERENCE_DIAL_OUT or TOLL_FREE_INBOUND."
    )


@strawberry.type(description="The outcome of one call record, in input order.")
class CallResult:
    index: int
    call_id: strawberry.ID
    status: CallStatus | None = strawberry.field(description="null when the item was refused.")
    reason: str | None
    duplicate: bool = strawberry.field(description="Rated before: this is the first result.")
    held_for_recharge: bool = strawberry.field(
        description="The balance could not pay for this call while an automatic recharge could: "
        "it was rated again once that recharge was charged (the lock is never held while the "
        "payment provider is asked). RATED if it then could be paid, else BLOCKED with "
        "INSUFFICIENT_BALANCE."
    )
    call: CallRecord | None
    user_errors: list[UserError]

    @classmethod
    def from_outcome(cls, out: CallOutcome) -> "CallResult":
        call = out.call
        return cls(
            index=out.index,
            call_id=out.call_id,
            status=_STATUSES[call.status] if call else None,
            reason=call.reason if call else None,
            duplicate=out.duplicate,
            held_for_recharge=out.held_for_recharge,
            call=CallRecord.view(call) if call else None,
            user_errors=[UserError.from_detail(d) for d in out.errors],
        )


@strawberry.type
class RecordCallsSummary:
    total: int
    rated: int
    blocked: int
    duplicates: int
    failed: int


@strawberry.type
class RecordCallsPayload:
    results: list[CallResult] = strawberry.field(default_factory=list)
    summary: RecordCallsSummary | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class CallRecordFilter:
    user: strawberry.ID | None = limited_field(USER_REF, default=None, description=USER_ID)
    from_: dt.datetime | None = strawberry.field(
        default=None, name="from", description="Started at or after."
    )
    to: dt.datetime | None = strawberry.field(default=None, description="Started before.")
    status: CallStatus | None = None
    call_type: CallType | None = None


@strawberry.type
class MinutePool:
    month: str
    plan: str = strawberry.field(description="MCOPSTN1/2/5, or MCOMEETADV for dial-out.")
    country: str = strawberry.field(description='Usage location; "" for the tenant-wide pool.')
    type: CallType
    granted: int
    used: int
    left: int

    @classmethod
    def from_view(cls, v: PoolView) -> "MinutePool":
        return cls(
            month=v.month,
            plan=v.plan,
            country=v.country,
            type=CallType(v.call_type),
            granted=v.granted,
            used=v.used,
            left=v.left,
        )


@strawberry.type
class UsageLineType:
    call_type: CallType
    country: str
    calls: int
    blocked_calls: int
    minutes: int
    pool_minutes: int
    charged_minutes: int
    spent: Money = strawberry.field(description="Credits spent.")
    credits_spent: Decimal = strawberry.field(deprecation_reason=MONEY_FIELD.format("spent"))

    @classmethod
    def from_line(cls, x: UsageLine, currency: str) -> "UsageLineType":
        return cls(
            call_type=CallType(x.call_type),
            country=x.country,
            calls=x.calls,
            blocked_calls=x.blocked_calls,
            minutes=x.minutes,
            pool_minutes=x.pool_minutes,
            charged_minutes=x.charged_minutes,
            spent=Money(amount=x.credits_spent, currency=currency),
            credits_spent=x.credits_spent,
        )


@strawberry.type(name="UsageSummary")
class UsageSummaryType:
    month: str
    calls: int
    blocked_calls: int
    minutes: int
    pool_minutes: int
    charged_minutes: int
    spent: Money = strawberry.field(description="Credits spent in the month.")
    currency: str = strawberry.field(deprecation_reason=MONEY_FIELD.format("spent"))
    credits_spent: Decimal = strawberry.field(deprecation_reason=MONEY_FIELD.format("spent"))
    lines: list[UsageLineType] = strawberry.field(description="By call type and country.")

    @classmethod
    def from_summary(cls, s: UsageSummary) -> "UsageSummaryType":
        return cls(
            month=s.month,
            currency=s.currency,
            calls=s.calls,
            blocked_calls=s.blocked_calls,
            minutes=s.minutes,
            pool_minutes=s.pool_minutes,
            charged_minutes=s.charged_minutes,
            spent=Money(amount=s.credits_spent, currency=s.currency),
            credits_spent=s.credits_spent,
            lines=[UsageLineType.from_line(x, s.currency) for x in s.lines],
        )


@strawberry.type
class CallAuthorization:
    allowed: bool
    reason: str | None = strawberry.field(
        description="NO_CALLING_LICENSE, USER_BLOCKED (blocked from PSTN calls), "
        "DIAL_OUT_RESTRICTED (the setting follows from callType), SPEND_LIMIT_REACHED (the "
        "user's monthly spend limit, with no pool minutes left), NO_CREDITS_LICENSE, "
        "INSUFFICIENT_BALANCE or NO_RATE."
    )
    call_type: CallType
    destination_country: str | None
    pool_minutes_left: int
    credits_remaining: Money | None = strawberry.field(
        description="The balance as of now (MCA: what the month's credit limit has left)."
    )
    per_minute: Money | None = strawberry.field(
        description="The card's price per started minute; null without a rate."
    )
    max_minutes_affordable: int
    credits_left: Decimal | None = strawberry.field(
        deprecation_reason=MONEY_FIELD.format("creditsRemaining")
    )
    price_per_minute: Decimal | None = strawberry.field(
        deprecation_reason=MONEY_FIELD.format("perMinute")
    )
    currency: str = strawberry.field(
        description="The tenant's currency (also when there is no rate or no credit)."
    )

    @classmethod
    def from_result(cls, a: Authorization) -> "CallAuthorization":
        return cls(
            allowed=a.allowed,
            reason=a.reason,
            call_type=CallType(a.call_type),
            destination_country=a.destination_country,
            pool_minutes_left=a.pool_minutes_left,
            credits_remaining=Money.optional(a.credits_left, a.currency),
            per_minute=Money.optional(a.price_per_minute, a.currency),
            credits_left=a.credits_left,
            price_per_minute=a.price_per_minute,
            max_minutes_affordable=a.max_minutes_affordable,
            currency=a.currency,
        )
