"""Batches of users: importUsers and setUsageLocation inputs, per-row results, payloads."""

import enum

import strawberry

from commcredits.schema.common import UserError, to_global_id
from commcredits.schema.directory import BatchSummary
from commcredits.schema.input_limits import USER_PRINCIPAL_NAME, limited_field
from commcredits.schema.users import LOCATION_IN, UserPropertiesInput
from commcredits.services.user_import import UserRowOutcome
from commcredits.services.users import LIST_LIMITS, TEXT_LIMITS


@strawberry.input(description="One row of a user sheet; null leaves a property as it is.")
class ImportUserInput(UserPropertiesInput):
    user_principal_name: str = limited_field(USER_PRINCIPAL_NAME)


@strawberry.enum
class UserRowAction(enum.Enum):
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    UNCHANGED = "UNCHANGED"


@strawberry.enum
class UserRowStatus(enum.Enum):
    APPLIED = "APPLIED"
    WOULD_APPLY = "WOULD_APPLY"
    UNCHANGED = "UNCHANGED"
    FAILED = "FAILED"


@strawberry.type(description="The outcome of one row: all of its changes, or none of them.")
class UserRowResult:
    index: int
    user_principal_name: str = strawberry.field(description="As given in the row.")
    user_id: strawberry.ID | None = strawberry.field(
        description="The user's global id (null for a failed row or a user whatIf would create)."
    )
    action: UserRowAction | None = strawberry.field(
        description="What the row does (or would do); null when it failed."
    )
    status: UserRowStatus
    usage_location: str | None = strawberry.field(
        description="The user's usage location after the row (with whatIf: as it would be), "
        "as stored: the ISO code a name in the row resolved to; null when the user has none "
        "(and so cannot be licensed) or the row failed."
    )
    user_errors: list[UserError]

    @classmethod
    def from_outcome(cls, out: UserRowOutcome, *, what_if: bool) -> "UserRowResult":
        if out.errors:
            status = UserRowStatus.FAILED
        elif not out.changed:
            status = UserRowStatus.UNCHANGED
        else:
            status = UserRowStatus.WOULD_APPLY if what_if else UserRowStatus.APPLIED
        user_id = out.user.id if out.user is not None and out.ok else None
        return cls(
            index=out.index,
            user_principal_name=out.user_principal_name,
            user_id=to_global_id("User", user_id) if user_id is not None else None,
            action=UserRowAction(out.action) if out.ok and out.action else None,
            status=status,
            usage_location=out.usage_location if out.ok else None,
            user_errors=[UserError.from_detail(d) for d in out.errors],
        )


def summarize(results: list[UserRowResult]) -> BatchSummary:
    """A batch's counts: applied (or would be), unchanged, failed."""
    counts = {s: 0 for s in UserRowStatus}
    for r in results:
        counts[r.status] += 1
    return BatchSummary(
        total=len(results),
        applied=counts[UserRowStatus.APPLIED] + counts[UserRowStatus.WOULD_APPLY],
        unchanged=counts[UserRowStatus.UNCHANGED],
        failed=counts[UserRowStatus.FAILED],
    )


@strawberry.type
class UserBatchPayload:
    what_if: bool = False
    results: list[UserRowResult] = strawberry.field(default_factory=list)
    summary: BatchSummary | None = None
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Errors of the whole batch (e.g. too many items)."
    )


def _column(name: str) -> list[str | None] | None:
    """One property for every row (the i-th entry is row i's; null leaves it as it is)."""
    return limited_field(TEXT_LIMITS[name], default=None)


def _list_column(name: str) -> list[list[str] | None] | None:
    item_limit, _ = LIST_LIMITS[name]
    return limited_field(item_limit, default=None, description="Each row's list; [] clears.")


@strawberry.input(
    description="A batch of user rows as columns, one list per property, each as long as "
    "userPrincipalName (a whole column left out, or a null entry, leaves the property as it "
    "is): the bulk layer's shape, far cheaper to send and check than an object per row."
)
class ImportUserColumnsInput:
    user_principal_name: list[str] = limited_field(USER_PRINCIPAL_NAME)
    display_name: list[str | None] | None = _column("display_name")
    given_name: list[str | None] | None = _column("given_name")
    surname: list[str | None] | None = _column("surname")
    job_title: list[str | None] | None = _column("job_title")
    department: list[str | None] | None = _column("department")
    office_location: list[str | None] | None = _column("office_location")
    mobile_phone: list[str | None] | None = _column("mobile_phone")
    business_phones: list[list[str] | None] | None = _list_column("business_phones")
    fax_number: list[str | None] | None = _column("fax_number")
    other_mails: list[list[str] | None] | None = _list_column("other_mails")
    street_address: list[str | None] | None = _column("street_address")
    city: list[str | None] | None = _column("city")
    state: list[str | None] | None = _column("state")
    postal_code: list[str | None] | None = _column("postal_code")
    country: list[str | None] | None = _column("country")
    usage_location: list[str | None] | None = limited_field(
        TEXT_LIMITS["country"], default=None, description=LOCATION_IN
    )
    account_enabled: list[bool | None] | None = None


@strawberry.type(
    description="importUserColumns' answer, compact: one status per row in input order, and "
    "the full result of failed rows only."
)
class UserColumnsPayload:
    what_if: bool = False
    statuses: list[UserRowStatus] = strawberry.field(default_factory=list)
    actions: list[UserRowAction | None] = strawberry.field(
        default_factory=list, description="Per row: what it does (or would do); null if failed."
    )
    usage_locations: list[str | None] = strawberry.field(
        default_factory=list,
        description="Per row: the usage location stored after it (null: none, or failed).",
    )
    failures: list[UserRowResult] = strawberry.field(
        default_factory=list, description="The failed rows' results, in input order."
    )
    summary: BatchSummary | None = None
    user_errors: list[UserError] = strawberry.field(
        default_factory=list,
        description="Errors of the whole batch (e.g. columns of unequal length).",
    )

    @classmethod
    def of(cls, outcomes: list[UserRowOutcome], *, what_if: bool) -> "UserColumnsPayload":
        results = [UserRowResult.from_outcome(o, what_if=what_if) for o in outcomes]
        return cls(
            what_if=what_if,
            statuses=[r.status for r in results],
            actions=[r.action for r in results],
            usage_locations=[r.usage_location for r in results],
            failures=[r for r in results if r.status is UserRowStatus.FAILED],
            summary=summarize(results),
        )
