"""Invoices (SPEC §6): every purchase, recharge and closed MCA month issues one; per-tenant
numbers without gaps (issued under the tenant lock by `credits.Ledger.new_invoice`)."""

from __future__ import annotations

import peewee

from commcredits.models import CreditLot, Invoice, Tenant
from commcredits.services.errors import not_found


def invoices_query(tenant: Tenant) -> peewee.ModelSelect:
    return Invoice.select().where(Invoice.tenant == tenant.id)


def count_invoices(tenant: Tenant) -> int:
    """The tenant's invoices: numbered 1, 2, 3, … without gaps, so the highest number."""
    top = Invoice.select(peewee.fn.MAX(Invoice.number)).where(Invoice.tenant == tenant.id)
    return top.scalar() or 0


def get_invoice(tenant: Tenant, number: int) -> Invoice:
    found = invoices_query(tenant).where(Invoice.number == number).first()
    if found is None:
        raise not_found("Invoice", number, "number")
    return found


def lots_for_invoices(invoice_ids: list[int]) -> dict[int, CreditLot]:
    """The lot each invoice created (one IN query)."""
    if not invoice_ids:
        return {}
    return {
        lot.invoice_id: lot for lot in CreditLot.select().where(CreditLot.invoice.in_(invoice_ids))
    }
