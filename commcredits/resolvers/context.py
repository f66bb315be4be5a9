"""The per-request context: who is asking, the clock reading, and the dataloaders."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from strawberry.dataloader import DataLoader

from commcredits.models import LicenseAssignment, User
from commcredits.services.access import Principal
from commcredits.services.catalog import Catalog
from commcredits.services.users import licenses_for_users


async def _load_users(user_ids: list[int]) -> list[User | None]:
    found = {u.id: u for u in User.select().where(User.id.in_(list(user_ids)))}
    return [found.get(uid) for uid in user_ids]


async def _load_licenses(user_ids: list[int]) -> list[list[LicenseAssignment]]:
    found = licenses_for_users(list(user_ids))
    return [found[uid] for uid in user_ids]


class Loaders:
    """One small loader per list field that reaches into another table; one IN query each."""

    def __init__(self) -> None:
        self.licenses_by_user: DataLoader[int, list[LicenseAssignment]] = DataLoader(
            load_fn=_load_licenses
        )
        # Ids come from services that already scoped them to the caller's tenant.
        self.user_by_id: DataLoader[int, User | None] = DataLoader(load_fn=_load_users)


@dataclass
class Context:
    principal: Principal | None
    now: dt.datetime
    request_id: str
    loaders: Loaders = field(default_factory=Loaders)
    _catalog: Catalog | None = None

    def catalog(self) -> Catalog:
        """The SKU catalog, read once per request."""
        if self._catalog is None:
            self._catalog = Catalog.load()
        return self._catalog
