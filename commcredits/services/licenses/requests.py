"""A license request and what became of it: tuples, since a batch builds a thousand of each."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from commcredits.models import Sku
from commcredits.services.errors import ErrorDetail


class AddLicense(NamedTuple):
    """A SKU to add (a tuple, so that a batch's shared change hashes cheaply)."""

    sku: str  # skuId (GUID) or skuPartNumber
    disabled_plans: tuple[str, ...] = ()  # servicePlanId or servicePlanName


class LicenseRequest(NamedTuple):
    """One user's change (a tuple: a batch builds a thousand of these)."""

    user: int | str  # user id, or user principal name
    add: tuple[AddLicense, ...] = ()
    remove: tuple[str, ...] = ()

    @classmethod
    def many(
        cls, users: Iterable[int | str], add: tuple[AddLicense, ...], remove: tuple[str, ...]
    ) -> list[LicenseRequest]:
        """The same change for each user. Built with tuple.__new__, which is what the named
        tuple's own constructor calls, minus a Python-level call per item."""
        new = tuple.__new__
        return [new(cls, (user, add, remove)) for user in users]


@dataclass(frozen=True)
class LicenseChange:
    sku: Sku
    action: str  # ASSIGNED, UPDATED, REMOVED, UNCHANGED
    disabled_plans: tuple[str, ...] = ()


class LicenseOutcome(NamedTuple):
    """What became of one request (a tuple, like the request: one per item of a batch)."""

    index: int
    request: LicenseRequest
    user: UserRef | None = None
    # Shared between the items a batch decided alike (never mutated).
    changes: tuple[LicenseChange, ...] = ()
    errors: Sequence[ErrorDetail] = ()
    changed: bool = False  # some change is more than UNCHANGED
    applied: bool = False  # written (never for whatIf or a failed item)
    # The SKUs whose seat it takes and frees, when not those its changes assign and remove
    # (a user a group gives a SKU: assigning it directly too takes no seat).
    seats: tuple[frozenset, frozenset] | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


class UserRef(NamedTuple):
    """The few columns of a user that license rules read (cheaper than a model object)."""

    id: int
    user_principal_name: str
    upn_key: str
    usage_location: str | None
