"""Credits: Money, balance, lots, transactions, auto-recharge, the MCA credit limit, expiry.

Nested fields resolve here, in their type, through the services and the request's context
(`info.context`: its clock, loaders and tenant rows), as every schema type does: schema/ never
imports resolvers/ (root fields only live there)."""

import datetime as dt
import enum
from decimal import Decimal

import strawberry
from strawberry.types import Info

from commcredits.models import AutoRecharge as AutoRechargeRow
from commcredits.models import CreditLot as CreditLotRow
from commcredits.models import LedgerEntry as LedgerEntryRow
from commcredits.models import Tenant as TenantRow
from commcredits.money import Money as MoneyValue
from commcredits.schema.common import Connection, Node, to_global_id
from commcredits.schema.input_limits import limited_field
from commcredits.schema.pages import paginate
from commcredits.services import credits


@strawberry.type(
    name="Money",
    description="An exact amount (a Decimal string) and its ISO 4217 currency: every amount the"
    " API answers has this shape. Amounts carry the currency's minor-unit digits; a price per"
    " minute keeps its rate card's (up to 4 decimals).",
)
class Money:
    amount: Decimal
    currency: str

    @classmethod
    def of(cls, value: MoneyValue) -> "Money":
        return cls(amount=value.quantized().amount, currency=value.currency)

    @classmethod
    def minor(cls, minor: int, currency: str) -> "Money":
        return cls.of(MoneyValue.from_minor(minor, currency))

    @classmethod
    def optional(cls, amount: Decimal | None, currency: str) -> "Money | None":
        """An amount as the service computed it (a price keeps its digits), or null."""
        return None if amount is None else cls(amount=amount, currency=currency)


# One release of grace for fields that answered a bare Decimal (README "Schema conventions").
MONEY_FIELD = "Use `{}`: every amount is a Money {{ amount currency }}."


@strawberry.enum
class LotSource(enum.Enum):
    PURCHASE = "PURCHASE"
    AUTO_RECHARGE = "AUTO_RECHARGE"
    ADJUSTMENT = "ADJUSTMENT"


@strawberry.type(
    description="Credits bought at one time: spent oldest first, expire after 12 months."
)
class CreditLot(Node):
    amount: Money
    remaining: Money
    purchased_at: dt.datetime
    expires_at: dt.datetime
    source: LotSource
    expired: bool = strawberry.field(description="Its 12 months have passed (as of the request).")

    @classmethod
    def from_row(cls, row: CreditLotRow, now: dt.datetime) -> "CreditLot":
        return cls(
            id=to_global_id("CreditLot", row.id),
            amount=Money.minor(row.amount_minor, row.currency),
            remaining=Money.minor(row.remaining_minor, row.currency),
            purchased_at=row.purchased_at,
            expires_at=row.expires_at,
            source=LotSource(row.source),
            expired=row.expires_at <= now,
        )


@strawberry.type
class ExpiringCredits:
    amount: Money
    lots: int


@strawberry.type
class CreditForecast:
    daily_burn: Money = strawberry.field(description="Average spend per day, last 30 days.")
    days_left: int | None = strawberry.field(
        description="Whole days the balance lasts at that rate; null when nothing is spent."
    )


@strawberry.type(description="The balance at the end of one UTC day, from the ledger.")
class BalancePoint:
    date: dt.date = strawberry.field(description="A UTC day.")
    balance: Money = strawberry.field(
        description="The balance after the day's last ledger entry (or the last one before it;"
        " 0 before the first). Today's: as of the request."
    )


@strawberry.type(description="Σ remaining of the lots not expired at `asOf` (kept materialized).")
class CreditBalance:
    remaining: Money = strawberry.field(
        description="The balance: what the lots not expired at `asOf` have left."
    )
    amount: Decimal = strawberry.field(deprecation_reason=MONEY_FIELD.format("remaining"))
    currency: str = strawberry.field(deprecation_reason=MONEY_FIELD.format("remaining"))
    as_of: dt.datetime
    tenant_pk: strawberry.Private[int]

    @strawberry.field(description="Lots, oldest first (the order they are spent in).")
    def lots(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        include_expired: bool = False,
    ) -> Connection[CreditLot]:
        now = info.context.now
        return paginate(
            credits.lots_query(self._tenant(info), now=now, include_expired=include_expired),
            key=CreditLotRow.id,
            first=first,
            after=after,
            to_node=lambda row: CreditLot.from_row(row, now),
        )

    @strawberry.field(description="Credit that expires within the next `days` days.")
    def expiring_within(self, info: Info, days: int) -> ExpiringCredits:
        amount, lots = credits.expiring_within(self._tenant(info), days, now=info.context.now)
        return ExpiringCredits(amount=Money.of(amount), lots=lots)

    @strawberry.field
    def forecast(self, info: Info) -> CreditForecast:
        daily, days_left = credits.forecast(self._tenant(info), now=info.context.now)
        return CreditForecast(daily_burn=Money.of(daily), days_left=days_left)

    @strawberry.field(
        description="The balance at the end of each of the last `days` UTC days, oldest"
        " first, today last. `days` is at least 1 (else an INVALID_DAYS error); more than 366"
        " is clamped to 366."
        " Drawn from the ledger: a lot past its expiry counts until its EXPIRED entry is"
        " written."
    )
    def history(self, info: Info, days: int = 90) -> list[BalancePoint]:
        points = credits.balance_history(self._tenant(info), now=info.context.now, days=days)
        return [BalancePoint(date=p.day, balance=Money.of(p.balance)) for p in points]

    def _tenant(self, info: Info) -> TenantRow:
        return info.context.tenant_row(self.tenant_pk)

    @classmethod
    def of(cls, tenant: TenantRow, amount: MoneyValue, now: dt.datetime) -> "CreditBalance":
        """The balance a mutation answers (the amount its service returned), as of `now`."""
        value = amount.quantized()
        return cls(
            remaining=Money.of(value),
            amount=value.amount,
            currency=value.currency,
            as_of=now,
            tenant_pk=tenant.id,
        )


@strawberry.type(description='"Add this amount" when "the balance falls below" the trigger.')
class AutoRechargeSettings:
    enabled: bool
    top_up: Money | None = strawberry.field(
        description='"Add this amount": what one recharge buys (configureAutoRecharge\'s'
        " rechargeAmount)."
    )
    threshold: Money | None = strawberry.field(
        description='"When the balance falls below": the trigger (configureAutoRecharge\'s'
        " triggerBalance)."
    )
    max_recharges_per_day: int
    recharge_amount: Decimal | None = strawberry.field(
        deprecation_reason=MONEY_FIELD.format("topUp")
    )
    trigger_balance: Decimal | None = strawberry.field(
        deprecation_reason=MONEY_FIELD.format("threshold")
    )
    currency: str = strawberry.field(
        description="The tenant's currency (also when nothing is configured yet)."
    )

    @classmethod
    def from_row(cls, row: AutoRechargeRow, currency: str) -> "AutoRechargeSettings":
        def dec(minor: int | None) -> Decimal | None:
            return None if minor is None else MoneyValue.from_minor(minor, currency).amount

        return cls(
            enabled=bool(row.enabled),
            top_up=Money.optional(dec(row.recharge_minor), currency),
            threshold=Money.optional(dec(row.trigger_minor), currency),
            recharge_amount=dec(row.recharge_minor),
            trigger_balance=dec(row.trigger_minor),
            max_recharges_per_day=row.max_per_day,
            currency=currency,
        )


@strawberry.enum
class TransactionKind(enum.Enum):
    FUNDED = "FUNDED"
    CONSUMED = "CONSUMED"
    EXPIRED = "EXPIRED"
    ADJUSTED = "ADJUSTED"
    POSTPAID = "POSTPAID"


@strawberry.type(description="The part of a debit one lot paid.")
class CreditSplit:
    lot_id: strawberry.ID
    amount: Money


@strawberry.type(description="One ledger entry: every change of the balance is one.")
class CreditTransaction(Node):
    sequence: int = strawberry.field(description="Per tenant, in commit order.")
    kind: TransactionKind
    amount: Money = strawberry.field(description="Signed change of the prepaid balance.")
    postpaid: Money = strawberry.field(description="MCA: usage billed in arrears.")
    balance_after: Money
    reference: str
    usage_kind: str | None
    reason: str | None
    period: str | None
    created_at: dt.datetime
    tenant_pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: LedgerEntryRow) -> "CreditTransaction":
        return cls(
            id=to_global_id("CreditTransaction", row.id),
            tenant_pk=row.tenant_id,
            sequence=row.seq,
            kind=TransactionKind(row.kind),
            amount=Money.minor(row.amount_minor, row.currency),
            postpaid=Money.minor(row.postpaid_minor, row.currency),
            balance_after=Money.minor(row.balance_after_minor, row.currency),
            reference=row.reference,
            usage_kind=row.usage_kind or None,
            reason=row.reason or None,
            period=row.period,
            created_at=row.created_at,
        )

    @strawberry.field(description="Which lots paid for this debit, oldest first.")
    async def splits(self, info: Info) -> list[CreditSplit]:
        rows = await info.context.loaders.splits.load((self.tenant_pk, self.sequence))
        return [
            CreditSplit(
                lot_id=to_global_id("CreditLot", r.lot_id),
                amount=Money.minor(r.amount_minor, self.amount.currency),
            )
            for r in rows
        ]


@strawberry.input
class CreditTransactionFilter:
    kinds: list[TransactionKind] | None = None
    reference: str | None = limited_field(200, default=None)  # the column's width
    from_: dt.datetime | None = strawberry.field(
        name="from", default=None, description="Entries made at or after this time."
    )
    to: dt.datetime | None = strawberry.field(
        default=None, description="Entries made before this time (not at it)."
    )


@strawberry.type(description="MCA: the monthly postpaid credit limit and this month's usage.")
class CreditLimit:
    period: str
    limit: Money | None
    used: Money
    available: Money

    @classmethod
    def of(cls, tenant: TenantRow, now: dt.datetime) -> "CreditLimit":
        state = credits.credit_state(tenant, now=now)
        return cls(
            period=state["period"],
            limit=Money.of(state["limit"]) if state["limit"] is not None else None,
            used=Money.of(state["used"]),
            available=Money.of(state["available"]),
        )


@strawberry.type
class ExpiredCredits:
    tenant_id: strawberry.ID
    tenant_name: str
    amount: Money
    lots: int
