"""Credits: the root fields invoice and notifications. The tenant's credit fields (balance,
autoRecharge, creditTransactions, …) and those of a balance, an invoice and a transaction
resolve in their schema types (schema/tenants.py, schema/credits.py, schema/invoices.py). The
mutations are in `billing` (the tenant's) and `operator_credits`."""

from __future__ import annotations

from decimal import Decimal

import strawberry
from strawberry.types import Info

from commcredits.models import Notification as NotificationRow
from commcredits.models import Tenant as TenantRow
from commcredits.resolvers.common import ctx, paginate
from commcredits.resolvers.permissions import permission
from commcredits.schema.common import CappedConnection
from commcredits.schema.invoices import Invoice
from commcredits.schema.notifications import Notification
from commcredits.services import invoices, notifications
from commcredits.services.access import Permission
from commcredits.services.credits.rules import check_currency
from commcredits.services.errors import DomainError


def money_arg(tenant: TenantRow, amount: Decimal, currency: str | None) -> Decimal:
    """The amount, after checking an explicitly given currency is the tenant's."""
    check_currency(tenant, currency)
    return amount


@strawberry.type
class CreditsQuery:
    @strawberry.field(description="One of the tenant's invoices by its number; null if none.")
    @permission(Permission.READ, tenant=True)
    def invoice(self, info: Info, number: int) -> Invoice | None:
        tenant = ctx(info).tenant
        try:
            return Invoice.from_row(invoices.get_invoice(tenant, number))
        except DomainError as error:
            if error.code == "NOT_FOUND":
                return None
            raise

    @strawberry.field(description="The tenant's notifications, newest first.")
    @permission(Permission.READ, tenant=True)
    def notifications(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> CappedConnection[Notification]:
        query = notifications.notifications_query(ctx(info).tenant.id)
        return paginate(
            query,
            key=NotificationRow.id,
            first=first,
            after=after,
            to_node=Notification.from_row,
            descending=True,
            capped=True,
        )
