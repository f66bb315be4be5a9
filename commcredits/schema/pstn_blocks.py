"""Users blocked from PSTN calls (issue 17): a user's block, the report and its log.

`User` comes lazily: schema/users.py imports `PstnBlock` from here for its fields.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import TYPE_CHECKING, Annotated

import strawberry

from commcredits.models import PstnBlock as PstnBlockRow
from commcredits.models import PstnBlockLog as PstnBlockLogRow
from commcredits.schema.common import UserError, to_global_id
from commcredits.services import pstn_blocks

if TYPE_CHECKING:
    from commcredits.schema.users import User

LazyUser = Annotated["User", strawberry.lazy("commcredits.schema.users")]


@strawberry.type(description="A user's block from PSTN calls (null on a user who is not).")
class PstnBlock:
    reason: str
    blocked_at: dt.datetime
    blocked_by: str | None = strawberry.field(description="Who blocked the user.")
    remediation_id: strawberry.ID = strawberry.field(
        description="The block action's GUID (Graph's remediationId), as in the log."
    )

    @classmethod
    def from_row(cls, row: PstnBlockRow) -> PstnBlock:
        return cls(
            reason=row.reason,
            blocked_at=row.blocked_at,
            blocked_by=row.blocked_by or None,
            remediation_id=strawberry.ID(row.remediation_id),
        )


@strawberry.type(
    description="A row of the Teams admin center's PSTN blocked users report: a user blocked "
    "now, with the block's reason, time, author and remediation GUID."
)
class PstnBlockedUser:
    # Spelled out, not `LazyUser`: strawberry 0.318 (our lowest) cannot resolve a bare alias.
    user: Annotated[User, strawberry.lazy("commcredits.schema.users")]
    reason: str
    blocked_at: dt.datetime
    blocked_by: str | None
    remediation_id: strawberry.ID

    @classmethod
    def from_row(cls, row: PstnBlockRow) -> PstnBlockedUser:
        from commcredits.schema.users import User

        return cls(
            user=User.from_row(row.user),
            reason=row.reason,
            blocked_at=row.blocked_at,
            blocked_by=row.blocked_by or None,
            remediation_id=strawberry.ID(row.remediation_id),
        )


@strawberry.enum(description="What a PSTN block log row records (Graph's userBlockMode).")
class PstnUserBlockMode(enum.Enum):
    BLOCKED = pstn_blocks.BLOCKED
    UNBLOCKED = pstn_blocks.UNBLOCKED


@strawberry.type(
    description="One block or unblock action (Graph's pstnBlockedUsersLogRow): the user's "
    "name and number as they were then."
)
class PstnBlockedUsersLogRow:
    block_date_time: dt.datetime
    block_reason: str = strawberry.field(description='The reason given; "" if none.')
    remediation_id: strawberry.ID = strawberry.field(description="The action's GUID.")
    user_block_mode: PstnUserBlockMode
    user_display_name: str
    user_id: strawberry.ID | None = strawberry.field(
        description="The user's global id; null once the user is deleted."
    )
    user_principal_name: str
    user_telephone_number: str = strawberry.field(
        description='The user\'s first business phone, else mobile phone; "" if none.'
    )
    actor: str = strawberry.field(description="Who blocked or unblocked the user.")

    @classmethod
    def from_row(cls, row: PstnBlockLogRow) -> PstnBlockedUsersLogRow:
        return cls(
            block_date_time=row.at,
            block_reason=row.reason,
            remediation_id=strawberry.ID(row.remediation_id),
            user_block_mode=PstnUserBlockMode(row.user_block_mode),
            user_display_name=row.user_display_name,
            user_id=to_global_id("User", row.user_id) if row.user_id is not None else None,
            user_principal_name=row.user_principal_name,
            user_telephone_number=row.user_telephone_number,
            actor=row.actor,
        )


@strawberry.type
class PstnBlockPayload:
    user: LazyUser | None = None
    pstn_block: PstnBlock | None = strawberry.field(
        default=None, description="The user's block now; null: not blocked."
    )
    changed: bool | None = strawberry.field(
        default=None,
        description="False when nothing changed: blocking with the same reason a user who is "
        "blocked, or unblocking a user who is not.",
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)
