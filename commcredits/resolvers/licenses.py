"""assignLicense, assignLicenses, setUserLicenses."""

from typing import Annotated

import strawberry
from strawberry.types import Info

from commcredits.resolvers.common import PriorSeats, ctx, prior_seats, user_ref
from commcredits.resolvers.permissions import permission
from commcredits.schema.common import UserError
from commcredits.schema.directory import (
    AssignedLicenseInput,
    AssignLicenseItemInput,
    AssignLicensePayload,
    AssignLicensesPayload,
    LicenseAssignmentResult,
    LicenseChangeInput,
    User,
)
from commcredits.schema.input_limits import (
    SKU_ID,
    SKU_REF,
    USER_ID,
    USER_PRINCIPAL_NAME,
    USER_REF,
    limited_arg,
)
from commcredits.services import licenses, users
from commcredits.services.access import Permission
from commcredits.services.errors import DomainError, check_batch_size
from commcredits.services.licenses import AddLicense, LicenseRequest


def _adds(items: list[AssignedLicenseInput]) -> tuple[AddLicense, ...]:
    return tuple(AddLicense(a.sku_id, tuple(a.disabled_plans)) for a in items)


def _per_user_changes(
    users_: list[str],
    shared: tuple[tuple[AddLicense, ...], tuple[str, ...]],
    changes: list[LicenseChangeInput] | None,
    indexes: list[int | None] | None,
) -> list[LicenseRequest]:
    """One request per user, in input order: its own change where `indexes` names one, else
    the shared one (a list of small integers costs far less to send than an object per user)."""
    if indexes is None:
        if changes:
            raise DomainError(
                "INVALID_CHANGE_INDEXES", "changes needs changeIndexes.", "changeIndexes"
            )
        return LicenseRequest.many(users_, *shared)
    if len(indexes) != len(users_):
        raise DomainError(
            "INVALID_CHANGE_INDEXES",
            f"changeIndexes has {len(indexes):,} entries for {len(users_):,} users: give one "
            "per user principal name (null for the shared change).",
            "changeIndexes",
        )
    own = [(_adds(c.add_licenses), tuple(c.remove_licenses)) for c in changes or ()]
    requests = []
    for n, (upn, index) in enumerate(zip(users_, indexes, strict=True)):
        if index is not None and not 0 <= index < len(own):
            raise DomainError(
                "INVALID_CHANGE_INDEXES",
                f"changeIndexes.{n} is {index}: changes has {len(own)} entries.",
                f"changeIndexes.{n}",
            )
        add, remove = shared if index is None else own[index]
        requests.append(LicenseRequest(upn, add, remove))
    return requests


def _item_ref(value: str) -> int | str:
    """A batch item's user: a bad reference fails that item, not the batch."""
    try:
        return user_ref(value)
    except DomainError:
        return value


def _batch(
    info: Info, requests: list[LicenseRequest], what_if: bool, prior: PriorSeats
) -> AssignLicensesPayload:
    """Both batch shapes end here: the same service call, the same payload."""
    c = ctx(info)
    outcomes = licenses.assign_licenses(
        c.tenant, c.principal, requests, now=c.now, what_if=what_if, prior_seats=prior_seats(prior)
    )
    return AssignLicensesPayload(what_if=what_if, outcomes=outcomes)


@strawberry.type
class LicenseMutation:
    @strawberry.mutation(description="Graph's assignLicense for one user: all or nothing.")
    @permission(Permission.MANAGE_USERS, tenant=True)
    def assign_license(
        self,
        info: Info,
        user_id: Annotated[strawberry.ID, limited_arg(USER_REF, description=USER_ID)],
        add_licenses: list[AssignedLicenseInput],
        remove_licenses: Annotated[list[strawberry.ID], limited_arg(SKU_REF, description=SKU_ID)],
    ) -> AssignLicensePayload:
        c = ctx(info)
        tenant = c.tenant
        request = LicenseRequest(user_ref(user_id), _adds(add_licenses), tuple(remove_licenses))
        out = licenses.assign_license(tenant, c.principal, request, now=c.now)
        return AssignLicensePayload(
            user=User.from_row(users.get_user(tenant, out.user.id))
            if out.user and out.ok
            else None,
            result=LicenseAssignmentResult.from_outcome(out, what_if=False),
            user_errors=[UserError.from_detail(d) for d in out.errors],
        )

    @strawberry.mutation(
        description="Up to 1,000 independent assignLicense items; results in input order, "
        "seats counted in input order. whatIf checks everything and writes nothing."
    )
    @permission(Permission.MANAGE_USERS, tenant=True)
    def assign_licenses(
        self,
        info: Info,
        items: list[AssignLicenseItemInput],
        what_if: bool = False,
        prior_seat_changes: PriorSeats = None,
    ) -> AssignLicensesPayload:
        requests = [
            LicenseRequest(_item_ref(i.user_id), _adds(i.add_licenses), tuple(i.remove_licenses))
            for i in items
        ]
        return _batch(info, requests, what_if, prior_seat_changes)

    @strawberry.mutation(
        description="Many users named by user principal name, each an independent "
        "assignLicense item, in input order (seats counted in input order): the shared "
        "addLicenses/removeLicenses, or per user the entry of `changes` its `changeIndexes` "
        "entry names (the bulk layer's shape: lists of strings and integers are far cheaper "
        "to send than an object per user). whatIf checks everything and writes nothing."
    )
    @permission(Permission.MANAGE_USERS, tenant=True)
    def set_user_licenses(
        self,
        info: Info,
        user_principal_names: Annotated[list[str], limited_arg(USER_PRINCIPAL_NAME)],
        add_licenses: list[AssignedLicenseInput] | None = None,
        remove_licenses: Annotated[
            list[strawberry.ID] | None, limited_arg(SKU_REF, description=SKU_ID)
        ] = None,
        what_if: bool = False,
        changes: Annotated[
            list[LicenseChangeInput] | None,
            strawberry.argument(description="Distinct changes some users get instead."),
        ] = None,
        change_indexes: Annotated[
            list[int | None] | None,
            strawberry.argument(
                description="One per user principal name: the index of its change in "
                "`changes`, or null for the shared addLicenses/removeLicenses."
            ),
        ] = None,
        prior_seat_changes: PriorSeats = None,
    ) -> AssignLicensesPayload:
        check_batch_size(len(user_principal_names))
        shared = (_adds(add_licenses or []), tuple(remove_licenses or []))
        requests = _per_user_changes(user_principal_names, shared, changes, change_indexes)
        return _batch(info, requests, what_if, prior_seat_changes)
