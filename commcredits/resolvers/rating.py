"""recordCalls, callRecords, minutePools, usageSummary, authorizeCall, rates, importRates."""

import functools
from collections.abc import Mapping
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from commcredits.models import CallRecord as CallRecordRow
from commcredits.models import Rate as RateRow
from commcredits.models import RateCard as RateCardRow
from commcredits.resolvers.common import ctx, decode_id, paginate, user_ref
from commcredits.resolvers.permissions import permission
from commcredits.schema.common import CappedConnection, Connection
from commcredits.schema.input_limits import USER_ID, USER_REF, limited_arg
from commcredits.schema.rating import (
    CallAuthorization,
    CallRecord,
    CallRecordFilter,
    CallRecordInput,
    CallResult,
    CallStatus,
    CallType,
    ImportRatesInput,
    ImportRatesPayload,
    MinutePool,
    Rate,
    RateCard,
    RateFilter,
    RecordCallsPayload,
    RecordCallsSummary,
    UsageSummaryType,
)
from commcredits.services import (
    authorization,
    pools,
    rate_queries,
    rates,
    rating,
    usage_report,
)
from commcredits.services.access import Permission
from commcredits.services.errors import DomainError

# "This month" needs no date arithmetic in the client (README examples run as written).
MonthArg = Annotated[
    str | None, strawberry.argument(description="YYYY-MM; default: this month (UTC).")
]


def _item_user(value: str | None) -> int | str | None:
    """A batch item's user: a bad reference fails that item (as unknown), not the batch."""
    if not value:
        return None
    try:
        return user_ref(value)
    except DomainError:
        return value


def _call_input(_cls: type, value: Mapping[str, Any], _context: object) -> rating.CallInput:
    """CallRecordInput's `from_input`: an item becomes the service's CallInput at once, from
    its input value, which graphql-core has already coerced field by field (all scalars).
    Strawberry's generic conversion resolved every field's type again for each of a batch's
    1,000 items (a tenth of a recordCalls), and built a CallRecordInput to be copied."""
    return rating.CallInput(
        call_id=value["callId"],
        user=_item_user(value.get("userId") or value.get("userPrincipalName")),
        started_at=value["startedAt"],
        duration_seconds=value["durationSeconds"],
        destination=value["destination"],
        call_type=value["callType"],
    )


CallRecordInput.__strawberry_definition__.from_input = _call_input


def _summary(outcomes: list[rating.CallOutcome]) -> RecordCallsSummary:
    fresh = [o for o in outcomes if o.call is not None and not o.duplicate]
    blocked = sum(1 for o in fresh if o.call.status == "BLOCKED")
    return RecordCallsSummary(
        total=len(outcomes),
        rated=len(fresh) - blocked,
        blocked=blocked,
        duplicates=sum(1 for o in outcomes if o.duplicate),
        failed=sum(1 for o in outcomes if o.errors),
    )


@strawberry.type
class RatingQuery:
    @strawberry.field(
        description="Rated calls, the latest started first (ties by id), by cursor pages of ≤ 100."
    )
    @permission(Permission.READ, tenant=True)
    def call_records(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: CallRecordFilter | None = None,
    ) -> CappedConnection[CallRecord]:
        tenant = ctx(info).tenant
        flt = None
        if filter is not None:
            flt = usage_report.CallFilter(
                user=user_ref(filter.user, field="user") if filter.user else None,
                started_from=filter.from_,
                started_to=filter.to,
                status=filter.status.value if filter.status else None,
                call_type=filter.call_type.value if filter.call_type else None,
            )
        query = usage_report.call_records_query(tenant, flt)
        return paginate(
            query,
            # By start time, not by when the call was rated: a late-arriving record sits
            # among its peers, and a from/to window is one range of the (…, started_at, id)
            # indexes, however far back it lies (migration 0018).
            key=(CallRecordRow.started_at, CallRecordRow.id),
            first=first,
            after=after,
            descending=True,
            to_node=lambda row: CallRecord.from_call(rating.RatedCall.from_row(row)),
            capped=True,
        )

    @strawberry.field(description="The month's minute pools: granted, used, left.")
    @permission(Permission.READ, tenant=True)
    def minute_pools(self, info: Info, month: MonthArg = None) -> list[MinutePool]:
        c = ctx(info)
        tenant = c.tenant
        month = usage_report.month_or_current(month, now=c.now)
        return [MinutePool.from_view(v) for v in pools.minute_pools(tenant, month, now=c.now)]

    @strawberry.field(description="Minutes from pools, minutes charged, credits spent.")
    @permission(Permission.READ, tenant=True)
    def usage_summary(self, info: Info, month: MonthArg = None) -> UsageSummaryType:
        c = ctx(info)
        month = usage_report.month_or_current(month, now=c.now)
        return UsageSummaryType.from_summary(usage_report.usage_summary(c.tenant, month))

    @strawberry.field(description="May this user call this destination now, and for how long?")
    @permission(Permission.READ, tenant=True)
    def authorize_call(
        self,
        info: Info,
        user_id: Annotated[strawberry.ID, limited_arg(USER_REF, description=USER_ID)],
        destination: str,
        call_type: CallType,
    ) -> CallAuthorization:
        c = ctx(info)
        tenant = c.tenant
        result = authorization.authorize_call(
            tenant, c.principal, user_ref(user_id), destination, call_type.value, now=c.now
        )
        return CallAuthorization.from_result(result)

    @strawberry.field(description="Rows of a rate card (default: the card in force now).")
    @permission(Permission.READ)
    def rates(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: RateFilter | None = None,
    ) -> CappedConnection[Rate]:
        c = ctx(info)
        flt = None
        if filter is not None:
            flt = rate_queries.RateFilter(
                call_type=filter.call_type.value if filter.call_type else None,
                country=filter.country,
                currency=filter.currency,
                prefix=filter.prefix,
                card_id=decode_id(filter.card_id, "RateCard", field="cardId")
                if filter.card_id
                else None,
            )
        flt = rate_queries.with_card(flt, now=c.now)
        card = functools.cache(lambda: rate_queries.card_of(flt))  # a page's rows share one
        return paginate(
            rate_queries.rates_query(flt, now=c.now),
            key=RateRow.id,
            first=first,
            after=after,
            to_node=lambda row: Rate.from_row(row, card()),
            count=lambda: rate_queries.count_rates(flt, now=c.now),
        )

    @strawberry.field(
        description="Every imported rate card, the latest effective first.",
        deprecation_reason="Use `rateCardsConnection`: a list that grows is a connection.",
    )
    @permission(Permission.READ)
    def rate_cards(self, info: Info) -> list[RateCard]:
        return [RateCard.from_row(r) for r in rate_queries.rate_cards()]

    @strawberry.field(description="Every imported rate card, the latest import first.")
    @permission(Permission.READ)
    def rate_cards_connection(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[RateCard]:
        return paginate(
            rate_queries.rate_cards_query(),
            key=RateCardRow.id,
            first=first,
            after=after,
            to_node=RateCard.from_row,
            descending=True,
        )


@strawberry.type
class RatingMutation:
    @strawberry.mutation(
        description="Rate and record up to 1,000 calls; one result per item, in input order. "
        "A callId rated before returns its first result."
    )
    @permission(Permission.MANAGE_BILLING, tenant=True)
    def record_calls(self, info: Info, items: list[CallRecordInput]) -> RecordCallsPayload:
        c = ctx(info)
        # Each item arrives as the service's CallInput (`_call_input`, its from_input).
        calls: list[rating.CallInput] = items  # type: ignore[assignment]
        outcomes = rating.record_calls(c.tenant, c.principal, calls, now=c.now)
        return RecordCallsPayload(
            results=[CallResult.from_outcome(o) for o in outcomes],
            summary=_summary(outcomes),
        )

    @strawberry.mutation(
        description="Operator: import a whole rate card, all or nothing (bad rows are named)."
    )
    @permission(Permission.OPERATE)
    def import_rates(self, info: Info, input: ImportRatesInput) -> ImportRatesPayload:
        c = ctx(info)
        card = rates.import_rates(
            c.principal,
            [
                {
                    "call_type": r.call_type,
                    "prefix": r.prefix,
                    "country": r.country,
                    "price_per_minute": str(r.price_per_minute),
                    "currency": r.currency,
                    "zone": r.zone,
                    "premium": "true" if r.premium else "false",
                    "emergency": "true" if r.emergency else "false",
                    "description": r.description,
                }
                for r in input.rows
            ],
            name=input.name,
            effective_from=input.effective_from,
            source="importRates",
            now=c.now,
        )
        return ImportRatesPayload(card=RateCard.from_row(card))


__all__ = ["CallStatus", "RatingMutation", "RatingQuery"]
