"""The per-request context: who is asking, the clock reading, and the dataloaders."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property

from strawberry.dataloader import DataLoader

from commcredits.models import CreditLot, DebitSplit, LicenseAssignment, PstnBlock, Tenant, User
from commcredits.services import credits, dial_out, invoices, pstn_blocks, spend_limits
from commcredits.services.access import Principal
from commcredits.services.catalog import Catalog
from commcredits.services.user_list import licenses_for_users


async def _load_users(user_ids: list[int]) -> list[User | None]:
    found = {u.id: u for u in User.select().where(User.id.in_(list(user_ids)))}
    return [found.get(uid) for uid in user_ids]


async def _load_licenses(user_ids: list[int]) -> list[list[LicenseAssignment]]:
    found = licenses_for_users(list(user_ids))
    return [found[uid] for uid in user_ids]


async def _load_splits(keys: list[tuple[int, int]]) -> list[list[DebitSplit]]:
    """(tenant id, ledger sequence) → that debit's per-lot split rows."""
    by_tenant: dict[int, list[int]] = defaultdict(list)
    for tenant_id, seq in keys:
        by_tenant[tenant_id].append(seq)
    found: dict[tuple[int, int], list[DebitSplit]] = {}
    for tenant_id, seqs in by_tenant.items():
        for seq, rows in credits.splits_for(tenant_id, seqs).items():
            found[(tenant_id, seq)] = rows
    return [found.get(k, []) for k in keys]


async def _load_invoice_lots(invoice_ids: list[int]) -> list[CreditLot | None]:
    found = invoices.lots_for_invoices(list(invoice_ids))
    return [found.get(i) for i in invoice_ids]


async def _load_dial_out(user_ids: list[int]) -> list[dial_out.EffectivePolicy]:
    found = dial_out.effective_by_user_ids(user_ids)
    return [found[uid] for uid in user_ids]


async def _load_pstn_blocks(user_ids: list[int]) -> list[PstnBlock | None]:
    found = pstn_blocks.blocks_by_user_ids(user_ids)
    return [found.get(uid) for uid in user_ids]


async def _load_spend(keys: list[tuple[int, str]]) -> list[spend_limits.UserSpend]:
    """(user id, month) → the user's calling policy and spend: one statement per month."""
    found: dict[tuple[int, str], spend_limits.UserSpend] = {}
    for month in {m for _, m in keys}:
        ids = [u for u, m in keys if m == month]
        for uid, spend in spend_limits.spend_by_user_ids(ids, month=month).items():
            found[(uid, month)] = spend
    return [found[k] for k in keys]


class Loaders:
    """One small loader per list field that reaches into another table; one IN query each.

    Each is made when a request first uses it: most requests use none (a bulk batch, say).
    """

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    @cached_property
    def balance(self) -> DataLoader[int, int]:
        async def load_balances(tenant_ids: list[int]) -> list[int]:
            found = credits.balances(list(tenant_ids), now=self.now)  # as of the request
            return [found[t] for t in tenant_ids]

        return DataLoader(load_fn=load_balances)

    @cached_property
    def splits(self) -> DataLoader[tuple[int, int], list[DebitSplit]]:
        return DataLoader(load_fn=_load_splits)

    @cached_property
    def invoice_lot(self) -> DataLoader[int, CreditLot | None]:
        return DataLoader(load_fn=_load_invoice_lots)

    @cached_property
    def licenses_by_user(self) -> DataLoader[int, list[LicenseAssignment]]:
        return DataLoader(load_fn=_load_licenses)

    @cached_property
    def dial_out_policy(self) -> DataLoader[int, dial_out.EffectivePolicy]:
        return DataLoader(load_fn=_load_dial_out)

    @cached_property
    def user_spend(self) -> DataLoader[tuple[int, str], spend_limits.UserSpend]:
        return DataLoader(load_fn=_load_spend)

    @cached_property
    def pstn_block(self) -> DataLoader[int, PstnBlock | None]:
        return DataLoader(load_fn=_load_pstn_blocks)

    @cached_property
    def user_by_id(self) -> DataLoader[int, User | None]:
        # Ids come from services that already scoped them to the caller's tenant.
        return DataLoader(load_fn=_load_users)


@dataclass
class Context:
    principal: Principal | None
    now: dt.datetime
    request_id: str
    loaders: Loaders = field(init=False)
    _catalog: Catalog | None = None
    _tenants: dict[int, Tenant] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.now)

    @property
    def tenant(self) -> Tenant:
        """The caller's tenant, for a field declared `@permission(..., tenant=True)` (which runs
        only when there is one)."""
        tenant = self.principal.tenant if self.principal is not None else None
        if tenant is None:
            raise RuntimeError("the field reads ctx.tenant but is not declared tenant=True")
        return tenant

    def tenant_row(self, pk: int) -> Tenant:
        """A tenant row, read at most once per request (the caller's came with its key)."""
        principal = self.principal
        if principal is not None and principal.tenant is not None and principal.tenant.id == pk:
            return principal.tenant
        if pk not in self._tenants:
            self._tenants[pk] = Tenant.get_by_id(pk)
        return self._tenants[pk]

    def catalog(self) -> Catalog:
        """The SKU catalog, read once per request."""
        if self._catalog is None:
            self._catalog = Catalog.load()
        return self._catalog
