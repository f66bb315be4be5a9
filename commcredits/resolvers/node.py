"""node(id): any object by global id, within the caller's tenant."""

import strawberry
from strawberry.types import Info

from commcredits.ids import parse_pk
from commcredits.models import ApiKey as ApiKeyRow
from commcredits.models import AuditEntry as AuditEntryRow
from commcredits.models import Sku as SkuRow
from commcredits.models import Subscription
from commcredits.models import Tenant as TenantRow
from commcredits.resolvers.common import ctx
from commcredits.resolvers.permissions import permission
from commcredits.schema.access import ApiKey, AuditEntry
from commcredits.schema.catalog import Sku, SubscribedSku
from commcredits.schema.common import Node, from_global_id
from commcredits.schema.directory import User
from commcredits.schema.tenants import Tenant
from commcredits.services import users
from commcredits.services.access import Permission, Principal
from commcredits.services.errors import DomainError


# Tenant-owned objects that resolve the same way: the row, scoped to the caller's tenant.
def _tenant_rows(now):  # noqa: ANN001, ANN202 - a small table of (model, mapper)
    from commcredits.models import CallRecord as CallRecordRow
    from commcredits.models import CreditLot as CreditLotRow
    from commcredits.models import Group as GroupRow
    from commcredits.models import Invoice as InvoiceRow
    from commcredits.models import LedgerEntry as LedgerEntryRow
    from commcredits.models import Notification as NotificationRow
    from commcredits.schema.credits import CreditLot, CreditTransaction
    from commcredits.schema.groups import Group
    from commcredits.schema.invoices import Invoice
    from commcredits.schema.notifications import Notification
    from commcredits.schema.rating import CallRecord
    from commcredits.services.rating import RatedCall

    return {
        "CreditLot": (CreditLotRow, lambda row: CreditLot.from_row(row, now)),
        "Invoice": (InvoiceRow, Invoice.from_row),
        "CreditTransaction": (LedgerEntryRow, CreditTransaction.from_row),
        "Notification": (NotificationRow, Notification.from_row),
        "CallRecord": (CallRecordRow, lambda row: CallRecord.from_call(RatedCall.from_row(row))),
        "Group": (GroupRow, Group.from_row),
    }


def _shared_rows():  # noqa: ANN202 - the rate cards are the same for every tenant
    from commcredits.models import Rate as RateRow
    from commcredits.models import RateCard as RateCardRow
    from commcredits.schema.rating import Rate, RateCard

    return {"RateCard": (RateCardRow, RateCard.from_row), "Rate": (RateRow, Rate.from_row)}


def _resolve(principal: Principal, type_name: str, pk: int, now) -> Node | None:  # noqa: ANN001
    tenant_id = principal.tenant.id if principal.tenant else None
    scoped = not principal.is_operator  # operators see across tenants
    if type_name == "User":
        if principal.tenant is None:
            return None
        try:
            return User.from_row(users.get_user(principal.tenant, pk))
        except DomainError:
            return None
    if type_name == "Sku":
        row = SkuRow.get_or_none(SkuRow.id == pk)
        return Sku.from_row(row) if row else None
    if type_name == "SubscribedSku":
        query = Subscription.select().where(Subscription.id == pk)
        row = query.where(Subscription.tenant == tenant_id).first() if scoped else query.first()
        return SubscribedSku.from_row(row, row.sku) if row else None
    if type_name == "Tenant":
        if scoped and pk != tenant_id:
            return None
        row = TenantRow.get_or_none(TenantRow.id == pk)
        return Tenant.from_row(row) if row else None
    if type_name == "ApiKey":
        if not principal.can(Permission.MANAGE_KEYS):
            return None
        query = ApiKeyRow.select().where(ApiKeyRow.id == pk)
        row = query.where(ApiKeyRow.tenant == tenant_id).first() if scoped else query.first()
        return ApiKey.from_row(row) if row else None
    if type_name == "AuditEntry":
        query = AuditEntryRow.select().where(AuditEntryRow.id == pk)
        row = query.where(AuditEntryRow.tenant == tenant_id).first() if scoped else query.first()
        return AuditEntry.from_row(row) if row else None
    owned = _tenant_rows(now).get(type_name)
    if owned is not None:
        model, to_node = owned
        query = model.select().where(model.id == pk)
        row = query.where(model.tenant == tenant_id).first() if scoped else query.first()
        return to_node(row) if row else None
    shared = _shared_rows().get(type_name)
    if shared is not None:
        model, to_node = shared
        row = model.get_or_none(model.id == pk)
        return to_node(row) if row else None
    return None


@strawberry.type
class NodeQuery:
    @strawberry.field(description="Any object by its global id; null if unknown or not yours.")
    @permission(Permission.READ)
    def node(self, info: Info, id: strawberry.ID) -> Node | None:
        principal = ctx(info).principal
        decoded = from_global_id(id)
        pk = parse_pk(decoded[1]) if decoded is not None else None
        if pk is None:
            return None
        return _resolve(principal, decoded[0], pk, ctx(info).now)
