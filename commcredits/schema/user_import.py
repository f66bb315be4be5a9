"""Batches of users: importUsers and setUsageLocation inputs, per-row results, payloads."""

import enum
import itertools
from typing import Any, NewType

import strawberry
from graphql import GraphQLError, ValueNode, value_from_ast_untyped
from strawberry.types.scalar import ScalarDefinition

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
        user_id = out.user_id if out.ok else None
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


# Columns are scalars, not [String] lists: graphql-core coerces a list item by item (type
# tests, a recursion and a depth walk per cell), which for 16 columns of 1,000 rows cost more
# than the rest of the request (issue 16: a third of Import-Users' time, profiled). A column
# scalar checks its list in one pass: the JSON shape, and each text's length against the
# largest property limit, so no request carries an unbounded string (schema/input_limits);
# each property's own limit is the service's, which fails the row alone (VALUE_TOO_LONG).
COLUMN_TEXT_LIMIT = max(TEXT_LIMITS.values())
_COLUMN_LIST_LIMIT = max(limit for limit, _ in LIST_LIMITS.values())
_LIST_ITEMS = max(items for _, items in LIST_LIMITS.values())


_TEXT_TYPES = {str, type(None)}
_FLAG_TYPES = {bool, type(None)}
_LIST_TYPES = {list, type(None)}


def _column_error(name: str, message: str, node: ValueNode | None = None) -> GraphQLError:
    return GraphQLError(f"{name}: {message}", node)


def _text_column(value: Any) -> list[str | None]:
    if not isinstance(value, list):
        raise _column_error("TextColumn", "expected a list of strings or nulls")
    # map/filter/set: the whole column in C, no Python frame per item.
    if not set(map(type, value)) <= _TEXT_TYPES:
        raise _column_error("TextColumn", "every item is a string or null")
    if max(map(len, filter(None, value)), default=0) > COLUMN_TEXT_LIMIT:
        raise _column_error("TextColumn", f"a text has at most {COLUMN_TEXT_LIMIT:,} characters")
    return value


def _text_list_column(value: Any) -> list[list[str] | None]:
    if not isinstance(value, list):
        raise _column_error("TextListColumn", "expected a list of lists of strings, or nulls")
    # The whole column in C when it can be (lists of strings, none too long or too many),
    # else row by row for the message.
    rows = list(filter(None, value))
    if set(map(type, value)) <= _LIST_TYPES and set(map(type, rows)) <= {list}:
        texts = list(itertools.chain.from_iterable(rows))
        if (
            set(map(type, texts)) <= {str}
            and max(map(len, rows), default=0) <= _LIST_ITEMS
            and max(map(len, texts), default=0) <= _COLUMN_LIST_LIMIT
        ):
            return value
    for row in value:
        if row is None:
            continue
        if not isinstance(row, list) or not all(type(v) is str for v in row):
            raise _column_error("TextListColumn", "every item is a list of strings, or null")
        if len(row) > _LIST_ITEMS or any(len(v) > _COLUMN_LIST_LIMIT for v in row):
            raise _column_error(
                "TextListColumn",
                f"a row's list has at most {_LIST_ITEMS} texts of at most "
                f"{_COLUMN_LIST_LIMIT:,} characters",
            )
    return value


def _flag_column(value: Any) -> list[bool | None]:
    if not isinstance(value, list) or not set(map(type, value)) <= _FLAG_TYPES:
        raise _column_error("FlagColumn", "expected a list of booleans or nulls")
    return value


def _literal(parse: Any) -> Any:
    def parse_literal(node: ValueNode, variables: dict[str, Any] | None = None) -> Any:
        return parse(value_from_ast_untyped(node, variables))

    return parse_literal


def _scalar(name: str, description: str, parse: Any) -> ScalarDefinition:
    return ScalarDefinition(
        name=name,
        description=description,
        specified_by_url=None,
        serialize=lambda value: value,
        parse_value=parse,
        parse_literal=_literal(parse),
    )


TextColumn = NewType("TextColumn", list)
TextListColumn = NewType("TextListColumn", list)
FlagColumn = NewType("FlagColumn", list)

# For Schema(scalar_overrides=...), as scalars.SCALAR_OVERRIDES.
COLUMN_SCALARS: dict[object, ScalarDefinition] = {
    TextColumn: _scalar(
        "TextColumn",
        "One text per row of a batch, in row order, or null where the row leaves the property "
        f"as it is: a JSON list of strings and nulls, each text at most {COLUMN_TEXT_LIMIT:,} "
        "characters (the property's own limit fails the row).",
        _text_column,
    ),
    TextListColumn: _scalar(
        "TextListColumn",
        "One list of texts per row of a batch ([] clears the property), or null where the row "
        f"leaves it as it is: at most {_LIST_ITEMS} texts of at most {_COLUMN_LIST_LIMIT:,} "
        "characters per row (the property's own limits fail the row).",
        _text_list_column,
    ),
    FlagColumn: _scalar(
        "FlagColumn",
        "One boolean per row of a batch, or null where the row leaves the property as it is.",
        _flag_column,
    ),
}


def _column(name: str) -> Any:
    """One property for every row (the i-th entry is row i's; null leaves it as it is)."""
    return strawberry.field(
        default=None, description=f"At most {TEXT_LIMITS[name]:,} characters per row."
    )


def _list_column(name: str) -> Any:
    item_limit, items = LIST_LIMITS[name]
    return strawberry.field(
        default=None,
        description=f"Each row's list; [] clears. At most {items} of at most {item_limit:,} "
        "characters per row.",
    )


@strawberry.input(
    description="A batch of user rows as columns, one list per property, each as long as "
    "userPrincipalName (a whole column left out, or a null entry, leaves the property as it "
    "is): the bulk layer's shape, far cheaper to send and check than an object per row."
)
class ImportUserColumnsInput:
    user_principal_name: list[str] = limited_field(USER_PRINCIPAL_NAME)
    display_name: TextColumn | None = _column("display_name")
    given_name: TextColumn | None = _column("given_name")
    surname: TextColumn | None = _column("surname")
    job_title: TextColumn | None = _column("job_title")
    department: TextColumn | None = _column("department")
    office_location: TextColumn | None = _column("office_location")
    mobile_phone: TextColumn | None = _column("mobile_phone")
    business_phones: TextListColumn | None = _list_column("business_phones")
    fax_number: TextColumn | None = _column("fax_number")
    other_mails: TextListColumn | None = _list_column("other_mails")
    street_address: TextColumn | None = _column("street_address")
    city: TextColumn | None = _column("city")
    state: TextColumn | None = _column("state")
    postal_code: TextColumn | None = _column("postal_code")
    country: TextColumn | None = _column("country")
    usage_location: TextColumn | None = strawberry.field(
        default=None, description=f"{LOCATION_IN} At most {TEXT_LIMITS['country']} characters."
    )
    account_enabled: FlagColumn | None = None


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
        # Per row only what the compact answer holds; a full result for failed rows alone.
        applied = UserRowStatus.WOULD_APPLY if what_if else UserRowStatus.APPLIED
        statuses, actions, locations, failures = [], [], [], []
        for out in outcomes:
            if out.errors:
                statuses.append(UserRowStatus.FAILED)
                actions.append(None)
                locations.append(None)
                failures.append(UserRowResult.from_outcome(out, what_if=what_if))
                continue
            statuses.append(applied if out.changed else UserRowStatus.UNCHANGED)
            actions.append(UserRowAction(out.action) if out.action else None)
            locations.append(out.usage_location)
        counts = {s: 0 for s in UserRowStatus}
        for status in statuses:
            counts[status] += 1
        return cls(
            what_if=what_if,
            statuses=statuses,
            actions=actions,
            usage_locations=locations,
            failures=failures,
            summary=BatchSummary(
                total=len(statuses),
                applied=counts[UserRowStatus.APPLIED] + counts[UserRowStatus.WOULD_APPLY],
                unchanged=counts[UserRowStatus.UNCHANGED],
                failed=counts[UserRowStatus.FAILED],
            ),
        )
