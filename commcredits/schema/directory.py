"""Licenses: license inputs, per-item results and batch payloads. The user type and its inputs
are in schema/users.py (imported here for the license payloads that carry a user)."""

import dataclasses
import enum
from collections.abc import Sequence

import strawberry
from strawberry.types import Info

from commcredits.schema.common import UserError, to_global_id
from commcredits.schema.input_limits import (
    PLAN_ID,
    SKU_ID,
    SKU_REF,
    USER_ID,
    USER_REF,
    limited_field,
)
from commcredits.schema.users import (  # noqa: F401 - re-exported: resolvers import them here
    AssignedLicense,
    CreateUserInput,
    DeleteUserPayload,
    LicenseDetails,
    ServicePlanAssignment,
    UpdateUserInput,
    User,
    UserFilter,
    UserPayload,
    UserPropertiesInput,
)
from commcredits.services import licenses
from commcredits.services.licenses import LicenseOutcome


@strawberry.input(description="One license to add.")
class AssignedLicenseInput:
    sku_id: strawberry.ID = limited_field(SKU_REF, description=SKU_ID)
    disabled_plans: list[strawberry.ID] = limited_field(
        SKU_REF, default_factory=list, description=f"{PLAN_ID} Each one is switched off."
    )


@strawberry.input
class AssignLicenseItemInput:
    user_id: strawberry.ID = limited_field(USER_REF, description=USER_ID)
    add_licenses: list[AssignedLicenseInput] = strawberry.field(default_factory=list)
    remove_licenses: list[strawberry.ID] = limited_field(
        SKU_REF, default_factory=list, description=SKU_ID
    )


@strawberry.input(
    description="A change in setUserLicenses' `changes`: it replaces the shared addLicenses and "
    "removeLicenses for the users whose `changeIndexes` entry is its index."
)
class LicenseChangeInput:
    add_licenses: list[AssignedLicenseInput] = strawberry.field(default_factory=list)
    remove_licenses: list[strawberry.ID] = limited_field(
        SKU_REF, default_factory=list, description=SKU_ID
    )


@strawberry.input(
    description="Seats of one SKU that the earlier batches of a dry run would take (positive) "
    "or give back (negative): their seatChanges, summed."
)
class SeatChangeInput:
    sku_id: strawberry.ID = limited_field(SKU_REF, description=SKU_ID)
    units: int


@strawberry.type(
    description="Seats of one SKU a batch took (positive) or gave back (negative); with "
    "whatIf, would."
)
class SeatChange:
    sku_id: strawberry.ID
    sku_part_number: str
    units: int


@strawberry.enum
class LicenseAction(enum.Enum):
    ASSIGNED = "ASSIGNED"
    UPDATED = "UPDATED"
    REMOVED = "REMOVED"
    UNCHANGED = "UNCHANGED"


@strawberry.enum
class LicenseResultStatus(enum.Enum):
    APPLIED = "APPLIED"
    WOULD_APPLY = "WOULD_APPLY"
    UNCHANGED = "UNCHANGED"
    FAILED = "FAILED"


@strawberry.type
class LicenseChange:
    sku_id: strawberry.ID
    sku_part_number: str
    action: LicenseAction
    disabled_plans: list[strawberry.ID]

    @classmethod
    def many(cls, changes: Sequence[licenses.LicenseChange]) -> list["LicenseChange"]:
        return [
            cls(
                sku_id=strawberry.ID(c.sku.sku_id),
                sku_part_number=c.sku.part_number,
                action=LicenseAction(c.action),
                disabled_plans=[strawberry.ID(p) for p in c.disabled_plans],
            )
            for c in changes
        ]


def outcome_status(out: LicenseOutcome, *, what_if: bool) -> "LicenseResultStatus":
    if out.errors:
        return LicenseResultStatus.FAILED
    if not out.changed:
        return LicenseResultStatus.UNCHANGED
    return LicenseResultStatus.WOULD_APPLY if what_if else LicenseResultStatus.APPLIED


@strawberry.type(description="The outcome of one item: all of its changes, or none of them.")
class LicenseAssignmentResult:
    index: int
    user_id: strawberry.ID = strawberry.field(description="The user reference as given.")
    status: LicenseResultStatus
    changes: list[LicenseChange]
    user_errors: list[UserError]
    user_pk: strawberry.Private[int | None]

    @strawberry.field(description="The user, when found (loaded in one query per batch).")
    async def user(self, info: Info) -> User | None:
        if self.user_pk is None:
            return None
        row = await info.context.loaders.user_by_id.load(self.user_pk)
        return User.from_row(row) if row is not None else None

    @classmethod
    def from_outcome(cls, out: LicenseOutcome, *, what_if: bool) -> "LicenseAssignmentResult":
        status = outcome_status(out, what_if=what_if)
        return cls(
            index=out.index,
            user_id=str(out.request.user)
            if isinstance(out.request.user, str)
            else str(to_global_id("User", out.request.user)),
            user_pk=out.user.id if out.user is not None else None,
            status=status,
            changes=LicenseChange.many(out.changes),
            user_errors=[UserError.from_detail(d) for d in out.errors],
        )


@strawberry.type
class AssignLicensePayload:
    user: User | None = None
    result: LicenseAssignmentResult | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class BatchSummary:
    total: int
    applied: int
    unchanged: int
    failed: int


@strawberry.type(
    description="Consecutive items with the same outcome (status, changes and errors), in "
    "input order. The compact shape of a large batch's results: a batch whose items all went "
    "the same way is one run, however many items it has."
)
class LicenseResultRun:
    start: int = strawberry.field(description="The index of the run's first item.")
    count: int = strawberry.field(description="How many items the run holds.")
    status: LicenseResultStatus
    changes: list[LicenseChange]
    user_errors: list[UserError]


def result_runs(outcomes: list[LicenseOutcome], *, what_if: bool) -> list[LicenseResultRun]:
    runs: list[LicenseResultRun] = []
    start, total = 0, len(outcomes)
    while start < total:
        first = outcomes[start]
        changed, changes, errors = first.changed, first.changes, first.errors
        end = start + 1
        # Alike items share their changes (and no errors): identity settles most comparisons,
        # and the status follows from what is compared.
        while end < total:
            out = outcomes[end]
            if out.changes is not changes and out.changes != changes:
                break
            if out.changed is not changed or (out.errors is not errors and out.errors != errors):
                break
            end += 1
        runs.append(
            LicenseResultRun(
                start=first.index,
                count=end - start,
                status=outcome_status(first, what_if=what_if),
                changes=LicenseChange.many(changes),
                user_errors=[UserError.from_detail(d) for d in errors],
            )
        )
        start = end
    return runs


@strawberry.type
class AssignLicensesPayload:
    what_if: bool = False
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Errors of the whole batch (e.g. too many items)."
    )
    # Result objects are built only if asked for: a client of large batches asks for the runs
    # (consecutive alike items as one) instead.
    outcomes: strawberry.Private[list[LicenseOutcome]] = dataclasses.field(default_factory=list)

    @strawberry.field(description="How the batch went, counted.")
    def summary(self) -> BatchSummary | None:
        if not self.outcomes and self.user_errors:
            return None  # the batch was refused as a whole
        counts = dict.fromkeys(LicenseResultStatus, 0)
        for out in self.outcomes:
            counts[outcome_status(out, what_if=self.what_if)] += 1
        return BatchSummary(
            total=len(self.outcomes),
            applied=counts[LicenseResultStatus.APPLIED] + counts[LicenseResultStatus.WOULD_APPLY],
            unchanged=counts[LicenseResultStatus.UNCHANGED],
            failed=counts[LicenseResultStatus.FAILED],
        )

    @strawberry.field(description="One result per item, in input order.")
    def results(self) -> list[LicenseAssignmentResult]:
        return [
            LicenseAssignmentResult.from_outcome(o, what_if=self.what_if) for o in self.outcomes
        ]

    @strawberry.field(
        description="Each item's status, in input order: the cheap shape for large batches "
        "(a list of scalars instead of an object per item)."
    )
    def statuses(self) -> list[LicenseResultStatus]:
        return [outcome_status(o, what_if=self.what_if) for o in self.outcomes]

    @strawberry.field(
        description="Each item's changes, in input order, as 'skuPartNumber:ACTION' joined by "
        "';' (empty for a failed item)."
    )
    def change_lists(self) -> list[str]:
        return [
            ";".join(f"{c.sku.part_number}:{c.action}" for c in o.changes) if o.ok else ""
            for o in self.outcomes
        ]

    @strawberry.field(
        description="The results as runs of consecutive items that went the same way, in input "
        "order: what a client of large batches asks for."
    )
    def runs(self) -> list[LicenseResultRun]:
        return result_runs(self.outcomes, what_if=self.what_if)

    @strawberry.field(
        description="Seats per SKU the batch took (positive) or gave back (negative); with "
        "whatIf, would. A dry run of many batches passes the sum of the earlier batches' "
        "seatChanges as priorSeatChanges, so that it counts seats as the real run will."
    )
    def seat_changes(self) -> list[SeatChange]:
        return [
            SeatChange(
                sku_id=strawberry.ID(sku.sku_id), sku_part_number=sku.part_number, units=units
            )
            for sku, units in licenses.seat_changes(self.outcomes).items()
        ]

    @strawberry.field(description="The results of the failed items only, with their index.")
    def failures(self) -> list[LicenseAssignmentResult]:
        return [
            LicenseAssignmentResult.from_outcome(o, what_if=self.what_if)
            for o in self.outcomes
            if o.errors
        ]
