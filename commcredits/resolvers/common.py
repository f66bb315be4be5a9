"""Helpers every resolver uses: the context, global ids, user references, cursor pages
(`paginate`, from schema/pages.py: nested fields page the same way)."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from commcredits.ids import parse_pk
from commcredits.resolvers.context import Context
from commcredits.schema.common import from_global_id
from commcredits.schema.directory import SeatChangeInput
from commcredits.schema.input_limits import USER_ID, USER_REF, limited_arg
from commcredits.schema.pages import DEFAULT_PAGE, MAX_PAGE, paginate
from commcredits.services.errors import DomainError, not_found

__all__ = ["DEFAULT_PAGE", "MAX_PAGE", "ctx", "decode_id", "paginate", "user_ref"]


def ctx(info: Info) -> Context:
    return info.context


def decode_id(gid: str, type_name: str, *, field: str = "id") -> int:
    """The primary key behind a global id of `type_name`; anything else is 'not found'."""
    decoded = from_global_id(gid or "")
    pk = parse_pk(decoded[1]) if decoded is not None and decoded[0] == type_name else None
    if pk is None:
        raise not_found(type_name, gid, field)
    return pk


def user_ref(value: str, *, field: str = "userId") -> int | str:
    """A user's global id → its pk; anything else is taken as a user principal name."""
    decoded = from_global_id(value or "")
    if decoded is not None and decoded[0] == "User":
        pk = parse_pk(decoded[1])
        if pk is None:
            raise not_found("User", value, field)
        return pk
    if "@" not in (value or ""):
        raise not_found("User", value, field)
    return value


# A policy grant's targets, as Grant-Cs*Policy takes them: -Identity users, or -Global.
GrantUserIds = Annotated[list[strawberry.ID] | None, limited_arg(USER_REF, description=USER_ID)]
GrantGlobal = Annotated[
    bool | None, strawberry.argument(name="global", description="The tenant's global grant.")
]


def grant_targets(user_ids: list[str] | None, global_: bool | None) -> list[int | str] | None:
    """A policy grant's targets (Grant-Cs*Policy): the users named (ids or UPNs, each error at
    `userIds.N`), or None for the tenant's global grant; exactly one of the two must be given."""
    if bool(global_) == (user_ids is not None):
        raise DomainError("INVALID_ARGUMENT", "Give either userIds or global: true.", "userIds")
    if user_ids is None:
        return None
    return [user_ref(u, field=f"userIds.{i}") for i, u in enumerate(user_ids)]


# A dry run in batches: the earlier batches' seatChanges summed (services/licenses/prior_seats).
PriorSeats = Annotated[
    list[SeatChangeInput] | None,
    strawberry.argument(
        description="whatIf only: the seats the earlier batches of this dry run would take (+) "
        "or give back (-), their seatChanges summed, so that this batch counts seats as the "
        "real run, whose earlier batches are written, will. Only seats carry over."
    ),
]


def prior_seats(changes: list[SeatChangeInput] | None) -> tuple[tuple[str, int], ...]:
    return tuple((c.sku_id, c.units) for c in changes or ())
