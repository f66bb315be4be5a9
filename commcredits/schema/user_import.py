"""Batches of users: importUsers and setUsageLocation inputs, per-row results, payloads."""

import enum

import strawberry

from commcredits.schema.common import UserError, to_global_id
from commcredits.schema.directory import BatchSummary
from commcredits.schema.input_limits import USER_PRINCIPAL_NAME, limited_field
from commcredits.schema.users import UserPropertiesInput
from commcredits.services.user_import import UserRowOutcome


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


@strawberry.type
class UserBatchPayload:
    what_if: bool = False
    results: list[UserRowResult] = strawberry.field(default_factory=list)
    summary: BatchSummary | None = None
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Errors of the whole batch (e.g. too many items)."
    )
