"""blockUserFromPstn, unblockUserFromPstn, pstnBlockedUsers and pstnBlockedUsersLog (issue 17)."""

import datetime as dt
from typing import Annotated

import strawberry
from strawberry.types import Info

from commcredits.clock import utc_instant
from commcredits.models import PstnBlock as PstnBlockRow
from commcredits.models import PstnBlockLog as PstnBlockLogRow
from commcredits.models.pstn_blocks import REASON_MAX
from commcredits.resolvers.common import ctx, paginate, user_ref
from commcredits.resolvers.permissions import permission
from commcredits.schema.common import CappedConnection
from commcredits.schema.input_limits import USER_ID, USER_REF, limited_arg
from commcredits.schema.pstn_blocks import (
    PstnBlock,
    PstnBlockedUser,
    PstnBlockedUsersLogRow,
    PstnBlockPayload,
)
from commcredits.schema.users import User
from commcredits.services import pstn_blocks
from commcredits.services.access import Permission


def _payload(result: pstn_blocks.BlockResult) -> PstnBlockPayload:
    return PstnBlockPayload(
        user=User.from_row(result.user),
        pstn_block=PstnBlock.from_row(result.block) if result.block else None,
        changed=result.changed,
    )


@strawberry.type
class PstnBlockQuery:
    @strawberry.field(
        description="The PSTN blocked users report: users blocked from PSTN calls now, in the "
        "order they were blocked."
    )
    @permission(Permission.READ, tenant=True)
    def pstn_blocked_users(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> CappedConnection[PstnBlockedUser]:
        query = pstn_blocks.blocked_users_query(ctx(info).tenant)
        return paginate(
            query,
            key=PstnBlockRow.id,
            first=first,
            after=after,
            to_node=PstnBlockedUser.from_row,
            capped=True,
        )

    @strawberry.field(
        description="Every block and unblock action, newest first (Graph's "
        "getPstnBlockedUsersLog); from/to bound blockDateTime."
    )
    @permission(Permission.READ, tenant=True)
    def pstn_blocked_users_log(
        self,
        info: Info,
        from_: Annotated[
            dt.datetime | None,
            strawberry.argument(name="from", description="At or after."),
        ] = None,
        to: Annotated[dt.datetime | None, strawberry.argument(description="Before.")] = None,
        first: int | None = None,
        after: str | None = None,
    ) -> CappedConnection[PstnBlockedUsersLogRow]:
        query = pstn_blocks.log_query(
            ctx(info).tenant,
            start=utc_instant(from_, "from") if from_ is not None else None,
            end=utc_instant(to, "to") if to is not None else None,
        )
        return paginate(
            query,
            key=PstnBlockLogRow.id,
            first=first,
            after=after,
            descending=True,
            to_node=PstnBlockedUsersLogRow.from_row,
            capped=True,
        )


@strawberry.type
class PstnBlockMutation:
    @strawberry.mutation(
        description="Block a user from PSTN calls: their DOMESTIC, INTERNATIONAL and "
        "CONFERENCE_DIAL_OUT calls are BLOCKED USER_BLOCKED (emergency numbers never are). "
        "Blocking a blocked user keeps the block and updates its reason."
    )
    @permission(Permission.BLOCK_PSTN_USERS, tenant=True)
    def block_user_from_pstn(
        self,
        info: Info,
        user_id: Annotated[strawberry.ID, limited_arg(USER_REF, description=USER_ID)],
        reason: Annotated[str, limited_arg(REASON_MAX, description="Why; required, trimmed.")],
    ) -> PstnBlockPayload:
        c = ctx(info)
        ref = user_ref(user_id)
        return _payload(pstn_blocks.block_user(c.tenant, c.principal, ref, reason, now=c.now))

    @strawberry.mutation(
        description="Lift a user's block from PSTN calls; a user who is not blocked is left "
        "as is (changed: false)."
    )
    @permission(Permission.BLOCK_PSTN_USERS, tenant=True)
    def unblock_user_from_pstn(
        self,
        info: Info,
        user_id: Annotated[strawberry.ID, limited_arg(USER_REF, description=USER_ID)],
        reason: Annotated[
            str | None, limited_arg(REASON_MAX, description="Why; optional, kept in the log.")
        ] = None,
    ) -> PstnBlockPayload:
        c = ctx(info)
        ref = user_ref(user_id)
        return _payload(pstn_blocks.unblock_user(c.tenant, c.principal, ref, reason, now=c.now))
