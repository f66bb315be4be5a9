"""Users: the User type (Graph's user resource, with its licenses) and the user inputs."""

import datetime as dt

import strawberry
from strawberry.types import Info

from commcredits.models import User as UserRow
from commcredits.schema.calling_policies import UserCallingPolicy
from commcredits.schema.catalog import ServicePlanInfo
from commcredits.schema.common import Node, UserError, to_global_id
from commcredits.schema.credits import Money
from commcredits.schema.groups import LicenseAssignmentState, license_assignment_states
from commcredits.schema.input_limits import (
    SKU_ID,
    SKU_REF,
    USER_ID,
    USER_PRINCIPAL_NAME,
    USER_REF,
    limited_field,
)
from commcredits.schema.policies import UserDialOutPolicy
from commcredits.schema.pstn_blocks import PstnBlock
from commcredits.services.pools import month_of
from commcredits.services.user_list import MAX_SEARCH
from commcredits.services.users import LIST_LIMITS, TEXT_LIMITS

# A usage location may be given as a code or a name; it is always answered as the code.
LOCATION_IN = (
    "ISO 3166-1 alpha-2 or alpha-3 code, or the country's English or German name "
    "(DE, DEU, Germany, Deutschland); stored and answered as the alpha-2 code."
)


@strawberry.type
class AssignedLicense:
    sku_id: strawberry.ID
    sku_part_number: str
    disabled_plans: list[strawberry.ID]


@strawberry.type
class ServicePlanAssignment(ServicePlanInfo):
    provisioning_status: str  # Success, or Disabled for a disabled plan
    applies_to: str


@strawberry.type(description="Graph's licenseDetails: a held SKU with each plan's state.")
class LicenseDetails:
    sku_id: strawberry.ID
    sku_part_number: str
    service_plans: list[ServicePlanAssignment]


@strawberry.type
class User(Node):
    user_principal_name: str
    display_name: str
    given_name: str
    surname: str
    job_title: str
    department: str
    office_location: str
    mobile_phone: str
    business_phones: list[str]
    fax_number: str
    other_mails: list[str]
    street_address: str
    city: str
    state: str
    postal_code: str
    country: str
    usage_location: str | None
    account_enabled: bool
    created_at: dt.datetime
    pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: UserRow) -> "User":
        return cls(
            id=to_global_id("User", row.id),
            pk=row.id,
            user_principal_name=row.user_principal_name,
            display_name=row.display_name,
            given_name=row.given_name,
            surname=row.surname,
            job_title=row.job_title,
            department=row.department,
            office_location=row.office_location,
            mobile_phone=row.mobile_phone,
            business_phones=list(row.business_phones or ()),
            fax_number=row.fax_number,
            other_mails=list(row.other_mails or ()),
            street_address=row.street_address,
            city=row.city,
            state=row.state,
            postal_code=row.postal_code,
            country=row.country,
            usage_location=row.usage_location,
            account_enabled=row.account_enabled,
            created_at=row.created_at,
        )

    @strawberry.field
    async def assigned_licenses(self, info: Info) -> list[AssignedLicense]:
        rows = await info.context.loaders.licenses_by_user.load(self.pk)
        catalog = info.context.catalog()
        return [
            AssignedLicense(
                sku_id=strawberry.ID(catalog.by_pk[r.sku_id].sku_id),
                sku_part_number=catalog.by_pk[r.sku_id].part_number,
                disabled_plans=[strawberry.ID(p) for p in r.disabled_plans],
            )
            for r in rows
        ]

    @strawberry.field(
        description="Outbound calling restrictions: the dial-out policy granted and in effect."
    )
    async def dial_out_policy(self, info: Info) -> UserDialOutPolicy:
        found = await info.context.loaders.dial_out_policy.load(self.pk)
        return UserDialOutPolicy.from_effective(found)

    @strawberry.field(
        description="The calling policy (spend limit) granted and in effect, and from where."
    )
    async def calling_policy(self, info: Info) -> UserCallingPolicy:
        found = await info.context.loaders.user_spend.load((self.pk, month_of(info.context.now)))
        return UserCallingPolicy.of(found.effective)

    @strawberry.field(
        description="What the user's PSTN calls and meeting dial-outs took from credits this "
        "calendar month (UTC); pool minutes are free."
    )
    async def spend_this_month(self, info: Info) -> Money:
        found = await info.context.loaders.user_spend.load((self.pk, month_of(info.context.now)))
        return Money.of(found.spent)

    @strawberry.field(
        description="What the user's spend limit leaves this month (0 once reached); null when "
        "no limit applies."
    )
    async def spend_limit_left(self, info: Info) -> Money | None:
        found = await info.context.loaders.user_spend.load((self.pk, month_of(info.context.now)))
        left = found.left
        return Money.of(left) if left is not None else None

    @strawberry.field(description="Blocked from PSTN calls (blockUserFromPstn).")
    async def pstn_blocked(self, info: Info) -> bool:
        return await info.context.loaders.pstn_block.load(self.pk) is not None

    @strawberry.field(description="The user's block from PSTN calls; null when not blocked.")
    async def pstn_block(self, info: Info) -> PstnBlock | None:
        row = await info.context.loaders.pstn_block.load(self.pk)
        return PstnBlock.from_row(row) if row is not None else None

    @strawberry.field(
        description="Graph's licenseAssignmentStates: each direct assignment "
        "(assignedByGroup null) and each inherited from a group, with its state and error."
    )
    async def license_assignment_states(self, info: Info) -> list[LicenseAssignmentState]:
        return await license_assignment_states(info, self.pk)

    @strawberry.field
    async def license_details(self, info: Info) -> list[LicenseDetails]:
        rows = await info.context.loaders.licenses_by_user.load(self.pk)
        catalog = info.context.catalog()
        details = []
        for r in rows:
            sku = catalog.by_pk[r.sku_id]
            off = set(r.disabled_plans)
            details.append(
                LicenseDetails(
                    sku_id=strawberry.ID(sku.sku_id),
                    sku_part_number=sku.part_number,
                    service_plans=[
                        ServicePlanAssignment(
                            service_plan_id=strawberry.ID(p["servicePlanId"]),
                            service_plan_name=p["servicePlanName"],
                            provisioning_status="Disabled"
                            if p["servicePlanId"] in off
                            else "Success",
                            applies_to="User",
                        )
                        for p in sku.service_plans
                    ],
                )
            )
        return details


@strawberry.input
class UserFilter:
    search: str | None = limited_field(MAX_SEARCH, default=strawberry.UNSET)
    usage_location: str | None = limited_field(
        TEXT_LIMITS["country"],
        default=strawberry.UNSET,
        description='ISO code or country name; "" finds users without one.',
    )
    department: str | None = limited_field(TEXT_LIMITS["department"], default=strawberry.UNSET)
    has_license: strawberry.ID | None = limited_field(
        SKU_REF, default=strawberry.UNSET, description=f"Holds this license. {SKU_ID}"
    )
    account_enabled: bool | None = strawberry.UNSET


def _text(name: str) -> str | None:
    """An optional user property with its column's limit (users.TEXT_LIMITS)."""
    return limited_field(TEXT_LIMITS[name], default=None)


def _list(name: str, description: str) -> list[str] | None:
    """An optional string collection: each item's limit declared (users.LIST_LIMITS); the
    number of items is the service's rule (TOO_MANY_VALUES fails the one row, not the
    request)."""
    item_limit, items = LIST_LIMITS[name]
    return limited_field(
        item_limit,
        default=None,
        description=f"{description} At most {items} item{'s' if items > 1 else ''}; [] clears. "
        "Each item:",
    )


@strawberry.input(description="A user's writable properties; null leaves one as it is.")
class UserPropertiesInput:
    display_name: str | None = _text("display_name")
    given_name: str | None = _text("given_name")
    surname: str | None = _text("surname")
    job_title: str | None = _text("job_title")
    department: str | None = _text("department")
    office_location: str | None = _text("office_location")
    mobile_phone: str | None = _text("mobile_phone")
    business_phones: list[str] | None = _list("business_phones", "Graph keeps one number.")
    fax_number: str | None = _text("fax_number")
    other_mails: list[str] | None = _list("other_mails", "Alternate e-mail addresses.")
    street_address: str | None = _text("street_address")
    city: str | None = _text("city")
    state: str | None = _text("state")
    postal_code: str | None = _text("postal_code")
    country: str | None = _text("country")
    usage_location: str | None = limited_field(
        TEXT_LIMITS["country"],
        default=None,
        description=f'{LOCATION_IN} "" removes it (refused while licenses are held).',
    )
    account_enabled: bool | None = None


@strawberry.input
class CreateUserInput(UserPropertiesInput):
    user_principal_name: str = limited_field(USER_PRINCIPAL_NAME)


@strawberry.input
class UpdateUserInput(UserPropertiesInput):
    id: strawberry.ID = limited_field(USER_REF, description=USER_ID)
    user_principal_name: str | None = limited_field(USER_PRINCIPAL_NAME, default=None)


@strawberry.type
class UserPayload:
    user: User | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class DeleteUserPayload:
    deleted_user_id: strawberry.ID | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
