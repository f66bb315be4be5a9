"""assignLicense, assignLicenses, setUserLicenses."""

import strawberry
from strawberry.types import Info

from commcredits.resolvers.common import ctx, guard, user_ref
from commcredits.schema.common import UserError
from commcredits.schema.directory import (
    AssignedLicenseInput,
    AssignLicenseItemInput,
    AssignLicensePayload,
    AssignLicensesPayload,
    LicenseAssignmentResult,
    User,
)
from commcredits.services import licenses, users
from commcredits.services.access import Permission, require_tenant
from commcredits.services.errors import DomainError
from commcredits.services.licenses import AddLicense, LicenseRequest


def _adds(items: list[AssignedLicenseInput]) -> tuple[AddLicense, ...]:
    return tuple(AddLicense(a.sku_id, tuple(a.disabled_plans)) for a in items)


def _item_ref(value: str) -> int | str:
    """A batch item's user: a bad reference fails that item, not the batch."""
    try:
        return user_ref(value)
    except DomainError:
        return value


@strawberry.type
class LicenseMutation:
    @strawberry.mutation(description="Graph's assignLicense for one user: all or nothing.")
    def assign_license(
        self,
        info: Info,
        user_id: str,
        add_licenses: list[AssignedLicenseInput],
        remove_licenses: list[str],
    ) -> AssignLicensePayload:
        c = ctx(info)

        def run() -> AssignLicensePayload:
            tenant = require_tenant(c.principal, Permission.MANAGE_USERS)
            request = LicenseRequest(user_ref(user_id), _adds(add_licenses), tuple(remove_licenses))
            out = licenses.assign_license(tenant, c.principal, request, now=c.now)
            return AssignLicensePayload(
                user=User.from_row(users.get_user(tenant, out.user.id))
                if out.user and out.ok
                else None,
                result=LicenseAssignmentResult.from_outcome(out, what_if=False),
                user_errors=[UserError.from_detail(d) for d in out.errors],
            )

        return guard(AssignLicensePayload, run)

    @strawberry.mutation(
        description="Up to 1,000 independent assignLicense items; results in input order, "
        "seats counted in input order. whatIf checks everything and writes nothing."
    )
    def assign_licenses(
        self, info: Info, items: list[AssignLicenseItemInput], what_if: bool = False
    ) -> AssignLicensesPayload:
        c = ctx(info)

        def run() -> AssignLicensesPayload:
            tenant = require_tenant(c.principal, Permission.MANAGE_USERS)
            requests = [
                LicenseRequest(
                    _item_ref(i.user_id), _adds(i.add_licenses), tuple(i.remove_licenses)
                )
                for i in items
            ]
            outcomes = licenses.assign_licenses(
                tenant, c.principal, requests, now=c.now, what_if=what_if
            )
            return AssignLicensesPayload(what_if=what_if, outcomes=outcomes)

        return guard(AssignLicensesPayload, run)

    @strawberry.mutation(
        description="The same change for many users named by user principal name (the bulk "
        "layer's shape: a list of strings is far cheaper to send than a list of objects)."
    )
    def set_user_licenses(
        self,
        info: Info,
        user_principal_names: list[str],
        add_licenses: list[AssignedLicenseInput] | None = None,
        remove_licenses: list[str] | None = None,
        what_if: bool = False,
    ) -> AssignLicensesPayload:
        c = ctx(info)

        def run() -> AssignLicensesPayload:
            tenant = require_tenant(c.principal, Permission.MANAGE_USERS)
            adds, removes = _adds(add_licenses or []), tuple(remove_licenses or [])
            requests = LicenseRequest.many(user_principal_names, adds, removes)
            outcomes = licenses.assign_licenses(
                tenant, c.principal, requests, now=c.now, what_if=what_if
            )
            return AssignLicensesPayload(what_if=what_if, outcomes=outcomes)

        return guard(AssignLicensesPayload, run)
