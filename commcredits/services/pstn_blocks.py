"""Blocking a user from PSTN calls (issue 17), and the *PSTN blocked users* report.

A tenant admin (or the operator in a tenant, for fraud) blocks a user with a reason; while
blocked, the user's outgoing PSTN calls and meeting dial-outs (DOMESTIC, INTERNATIONAL,
CONFERENCE_DIAL_OUT) are BLOCKED `USER_BLOCKED` by rating and refused by authorizeCall.
Emergency numbers are never blocked (as with dial-out policies: a person must always reach
them), and TOLL_FREE_INBOUND is a call *to* the tenant's number, not the user's outgoing call.

Who may: the permission BLOCK_PSTN_USERS (GLOBAL_ADMIN, and the operator acting in a tenant,
which changes nothing else of a tenant's); READER, LICENSE_ADMIN and BILLING_ADMIN may not.

- `pstn_block` holds the current block, one row per blocked user; unblocking deletes it.
- `pstn_block_log` holds every block and unblock action (Graph's pstnBlockedUsersLogRow), each
  with its own remediation GUID; a block's GUID is also on its current row.
- Blocking a user who is already blocked keeps that block (its time, author and GUID: no new
  block, no notification, no log row) and, if the reason differs, updates the reason (audited
  as `updatePstnBlockReason`); with the same reason nothing is written. Unblocking a user who is
  not blocked writes nothing. Both are safe to retry.
- A block emits USER_PSTN_BLOCKED in the blocking transaction (once per block).
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import peewee

from commcredits.db import db, directory_lock, execute_in
from commcredits.models import PstnBlock, PstnBlockLog, Tenant, User
from commcredits.models.pstn_blocks import BLOCKED, REASON_MAX, UNBLOCKED
from commcredits.services import audit, notifications
from commcredits.services.errors import DomainError, not_found
from commcredits.services.principal import Principal
from commcredits.services.users import get_user

USER_BLOCKED = "USER_BLOCKED"  # the BLOCKED reason (and authorizeCall's)
NOTIFICATION = "USER_PSTN_BLOCKED"
# What a block stops: the user's outgoing PSTN calls and the dial-outs from their meetings.
BLOCKED_CALL_TYPES = frozenset({"DOMESTIC", "INTERNATIONAL", "CONFERENCE_DIAL_OUT"})
CHUNK = 500
LOOKUP_CHUNK = 1000  # a rating batch's users in one statement


def check_reason(reason: str | None, *, required: bool = True) -> str:
    """The reason trimmed: 1 to 500 characters (0 to 500 when not required). Blank is
    REASON_REQUIRED; too long is VALUE_TOO_LONG, as the GraphQL layer refuses it."""
    clean = (reason or "").strip()
    if required and not clean:
        raise DomainError(
            "REASON_REQUIRED", f"A block needs a reason (1–{REASON_MAX} characters).", "reason"
        )
    if len(clean) > REASON_MAX:
        raise DomainError(
            "VALUE_TOO_LONG",
            f"reason has at most {REASON_MAX} characters; this value has {len(clean):,}.",
            "reason",
        )
    return clean


def blocks(call_type: str) -> bool:
    """Whether a block stops calls of this type."""
    return call_type in BLOCKED_CALL_TYPES


# -- the read side ------------------------------------------------------------------------------
def blocked_user_ids(tenant_id: int, user_ids: Iterable[int]) -> set[int]:
    """Which of these users are blocked: one statement per 1,000 users (a rating batch's in
    one), none written."""
    sql = (
        f"SELECT user_id FROM {PstnBlock._meta.table_name} "
        f"WHERE tenant_id = {db.obj.param} AND user_id IN {{in}}"
    )
    ids = sorted(set(user_ids))
    return {uid for (uid,) in execute_in(sql, ids, params=[tenant_id], chunk=LOOKUP_CHUNK)}


def blocks_by_user_ids(user_ids: Iterable[int]) -> dict[int, PstnBlock]:
    """The current blocks of users of any tenants (a page of `User`s): one statement per 500."""
    ids = sorted(set(user_ids))
    found: dict[int, PstnBlock] = {}
    for start in range(0, len(ids), CHUNK):
        for row in PstnBlock.select().where(PstnBlock.user.in_(ids[start : start + CHUNK])):
            found[row.user_id] = row
    return found


def blocked_users_query(tenant: Tenant) -> peewee.ModelSelect:
    """The report: the tenant's current blocks with their users (one statement per page)."""
    return (
        PstnBlock.select(PstnBlock, User)
        .join(User, on=(PstnBlock.user == User.id))
        .where(PstnBlock.tenant == tenant.id)
    )


def log_query(
    tenant: Tenant, *, start: dt.datetime | None = None, end: dt.datetime | None = None
) -> peewee.ModelSelect:
    """The log of block actions, `start` ≤ at < `end` (either may be None)."""
    query = PstnBlockLog.select().where(PstnBlockLog.tenant == tenant.id)
    if start is not None:
        query = query.where(PstnBlockLog.at >= start)
    if end is not None:
        query = query.where(PstnBlockLog.at < end)
    return query


# -- blocking -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class BlockResult:
    user: User
    block: PstnBlock | None  # the block now (None: not blocked)
    changed: bool  # False: it already was so (nothing written)


def _user(tenant: Tenant, ref: int | str) -> User:
    try:
        return get_user(tenant, ref)
    except DomainError:
        raise not_found("User", ref, "userId") from None


def _user_global_id(pk: int) -> str:
    # The API's id for the user (schema/common.py to_global_id), so a webhook names it as
    # `user { id }` does.
    return base64.urlsafe_b64encode(f"User:{pk}".encode()).decode()


def _telephone_number(user: User) -> str:
    phones = list(user.business_phones or ())
    return phones[0] if phones else (user.mobile_phone or "")


def _log_row(
    tenant: Tenant, user: User, mode: str, reason: str, actor: str, guid: str, now: dt.datetime
) -> dict:
    return {
        "tenant": tenant.id,
        "user": user.id,
        "user_principal_name": user.user_principal_name,
        "user_display_name": user.display_name,
        "user_telephone_number": _telephone_number(user),
        "user_block_mode": mode,
        "reason": reason,
        "at": now,
        "actor": actor,
        "remediation_id": guid,
    }


def block_user(
    tenant: Tenant,
    principal: Principal,
    user_ref: int | str,
    reason: str | None,
    *,
    now: dt.datetime,
) -> BlockResult:
    """Block a user of this tenant from PSTN calls (another tenant's user is NOT_FOUND)."""
    clean = check_reason(reason)
    with directory_lock(tenant.id):
        user = _user(tenant, user_ref)
        current = PstnBlock.get_or_none(PstnBlock.user == user.id)
        if current is not None:
            if current.reason == clean:
                return BlockResult(user, current, False)
            before = current.reason
            current.reason = clean
            current.save(only=[PstnBlock.reason])
            audit.record(
                principal,
                "updatePstnBlockReason",
                ("User", user.user_principal_name),
                tenant_id=tenant.id,
                before={"reason": before, "remediationId": current.remediation_id},
                after={"reason": clean, "remediationId": current.remediation_id},
                now=now,
            )
            return BlockResult(user, current, True)
        guid = str(uuid.uuid4())
        block = PstnBlock.create(
            tenant=tenant.id,
            user=user.id,
            reason=clean,
            blocked_at=now,
            blocked_by=principal.label,
            remediation_id=guid,
        )
        PstnBlockLog.insert(
            _log_row(tenant, user, BLOCKED, clean, principal.label, guid, now)
        ).execute()
        audit.record(
            principal,
            "blockUserFromPstn",
            ("User", user.user_principal_name),
            tenant_id=tenant.id,
            before=None,
            after={"reason": clean, "remediationId": guid},
            now=now,
        )
        notifications.emit(
            tenant.id,
            NOTIFICATION,
            {
                "userId": _user_global_id(user.id),
                "userPrincipalName": user.user_principal_name,
                "reason": clean,
                "blockedAt": now.isoformat(),
                "blockedBy": principal.label,
                "remediationId": guid,
            },
            now=now,
        )
    return BlockResult(user, block, True)


def unblock_user(
    tenant: Tenant,
    principal: Principal,
    user_ref: int | str,
    reason: str | None,
    *,
    now: dt.datetime,
) -> BlockResult:
    """Lift a user's block (the reason optional, kept in the log); not blocked: nothing."""
    clean = check_reason(reason, required=False)
    with directory_lock(tenant.id):
        user = _user(tenant, user_ref)
        current = PstnBlock.get_or_none(PstnBlock.user == user.id)
        if current is None:
            return BlockResult(user, None, False)
        PstnBlock.delete().where(PstnBlock.id == current.id).execute()
        guid = str(uuid.uuid4())
        PstnBlockLog.insert(
            _log_row(tenant, user, UNBLOCKED, clean, principal.label, guid, now)
        ).execute()
        audit.record(
            principal,
            "unblockUserFromPstn",
            ("User", user.user_principal_name),
            tenant_id=tenant.id,
            before={"reason": current.reason, "remediationId": current.remediation_id},
            after={"reason": clean, "remediationId": guid} if clean else {"remediationId": guid},
            now=now,
        )
    return BlockResult(user, None, True)
