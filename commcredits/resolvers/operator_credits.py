"""The operator's credits mutations: adjustCredits, expireCredits, setCreditLimit,
closeBillingPeriod."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

import strawberry
from strawberry.types import Info

from commcredits.models import Tenant as TenantRow
from commcredits.resolvers.common import ctx, decode_id
from commcredits.resolvers.credits import money_arg
from commcredits.resolvers.permissions import permission
from commcredits.schema.common import to_global_id
from commcredits.schema.credit_payloads import (
    AdjustCreditsPayload,
    CloseBillingPeriodPayload,
    ExpireCreditsPayload,
    SetCreditLimitPayload,
)
from commcredits.schema.credits import (
    CreditBalance,
    CreditLimit,
    CreditLot,
    CreditTransaction,
    ExpiredCredits,
    Money,
)
from commcredits.schema.input_limits import ADJUSTMENT_REASON, IDEMPOTENCY_KEY, limited_arg
from commcredits.schema.invoices import Invoice
from commcredits.services import credits
from commcredits.services.access import Permission
from commcredits.services.errors import not_found


def _tenant_arg(tenant_id: str) -> TenantRow:
    tenant = TenantRow.get_or_none(TenantRow.id == decode_id(tenant_id, "Tenant", field="tenantId"))
    if tenant is None:
        raise not_found("Tenant", tenant_id, "tenantId")
    return tenant


@strawberry.type
class OperatorCreditsMutation:
    @strawberry.mutation(description="Operator: add (+) or take (−, FIFO) credits, with a reason.")
    @permission(Permission.OPERATE)
    def adjust_credits(
        self,
        info: Info,
        tenant_id: strawberry.ID,
        amount: Decimal,
        reason: Annotated[str, limited_arg(ADJUSTMENT_REASON)],
        idempotency_key: Annotated[str, limited_arg(IDEMPOTENCY_KEY)],
        currency: str | None = None,
    ) -> AdjustCreditsPayload:
        c = ctx(info)
        tenant = _tenant_arg(tenant_id)
        result = credits.adjust_credits(
            tenant,
            c.principal,
            money_arg(tenant, amount, currency),
            reason=reason,
            idempotency_key=idempotency_key,
            now=c.now,
        )
        return AdjustCreditsPayload(
            transaction=CreditTransaction.from_row(result.entry),
            lot=CreditLot.from_row(result.lot, c.now) if result.lot else None,
            balance=CreditBalance.of(tenant, result.balance, c.now),
        )

    @strawberry.mutation(
        description="Operator: expire every lot whose 12 months have passed at asOf (default "
        "now), for one tenant or all."
    )
    @permission(Permission.OPERATE)
    def expire_credits(
        self,
        info: Info,
        as_of: dt.datetime | None = None,
        tenant_id: strawberry.ID | None = None,
    ) -> ExpireCreditsPayload:
        c = ctx(info)
        principal = c.principal
        tenant = _tenant_arg(tenant_id) if tenant_id else None
        results = credits.expire_credits(
            now=c.now,
            as_of=credits.check_as_of(as_of, now=c.now),
            principal=principal,
            tenant=tenant,
        )
        return ExpireCreditsPayload(
            expired=[
                ExpiredCredits(
                    tenant_id=to_global_id("Tenant", r.tenant_id),
                    tenant_name=r.tenant_name,
                    amount=Money.of(r.expired),
                    lots=r.lots,
                )
                for r in results
            ]
        )

    @strawberry.mutation(
        description="Operator, MCA tenants: the monthly limit of usage billed in arrears "
        "(null: none allowed)."
    )
    @permission(Permission.OPERATE)
    def set_credit_limit(
        self, info: Info, tenant_id: strawberry.ID, limit: Decimal | None = None
    ) -> SetCreditLimitPayload:
        c = ctx(info)
        tenant = _tenant_arg(tenant_id)
        credits.set_credit_limit(tenant, c.principal, limit, now=c.now)
        return SetCreditLimitPayload(credit_limit=CreditLimit.of(tenant, c.now))

    @strawberry.mutation(
        description="Operator, MCA tenants: invoice an ended month's postpaid usage, once."
    )
    @permission(Permission.OPERATE)
    def close_billing_period(
        self, info: Info, tenant_id: strawberry.ID, month: str
    ) -> CloseBillingPeriodPayload:
        c = ctx(info)
        tenant = _tenant_arg(tenant_id)
        result = credits.close_billing_period(tenant, c.principal, month, now=c.now)
        return CloseBillingPeriodPayload(
            period=result.period.period,
            invoice=Invoice.from_row(result.invoice) if result.invoice else None,
            already_closed=result.already_closed,
        )
