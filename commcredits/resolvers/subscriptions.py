"""Subscriptions: balanceChanged, notificationAdded, callRated (README "Live updates").

They run only over the graphql-transport-ws websocket at /graphql (`commcredits.websocket`),
whose context carries the connection's `events` hub. Each field declares its permission
(`resolvers/permissions.py`, checked at subscribe time); its resolver joins
the broker when it is called, before the first event (so nothing committed after the
`subscribe` message is missed), then turns events of the caller's tenant into values: the
balance comes with its event; notifications and call records are read by id on a worker thread.
Nothing here writes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any, Protocol, TypeVar

import anyio
import strawberry
from strawberry.types import Info

from commcredits import db as database
from commcredits import events
from commcredits.models import CallRecord as CallRecordRow
from commcredits.models import Notification as NotificationRow
from commcredits.resolvers.common import ctx, decode_id
from commcredits.resolvers.permissions import permission
from commcredits.schema.credits import Money, TransactionKind
from commcredits.schema.notifications import Notification
from commcredits.schema.rating import CallRecord
from commcredits.schema.subscriptions import BalanceChanged
from commcredits.services.access import Permission
from commcredits.services.errors import DomainError
from commcredits.services.rating import RatedCall

T = TypeVar("T")


class EventHub(Protocol):
    """What a websocket connection gives its subscriptions (commcredits.websocket)."""

    def stream(self, tenant_id: int, kinds: frozenset[str]) -> AsyncIterator[dict[str, Any]]: ...


def _events(info: Info, kind: str) -> tuple[int, AsyncIterator[dict[str, Any]]]:
    context = ctx(info)
    tenant = context.tenant
    hub: EventHub | None = getattr(context, "events", None)
    if hub is None:  # the HTTP endpoint refuses subscriptions before this; the bulk layer too
        raise DomainError(
            "BAD_REQUEST", "Subscriptions run over the graphql-transport-ws websocket /graphql."
        )
    return tenant.id, hub.stream(tenant.id, frozenset({kind}))


async def _read(fn: Callable[[], T]) -> T:
    def run() -> T:
        with database.db.connection_context():
            return fn()

    return await anyio.to_thread.run_sync(run)


async def _balances(source: AsyncIterator[dict[str, Any]]) -> AsyncGenerator[BalanceChanged, None]:
    async for event in source:
        yield BalanceChanged(
            balance=Money.minor(event["minor"], event["cur"]),
            at=dt.datetime.fromisoformat(event["at"]),
            reason=TransactionKind(event["why"]),
            sequence=event["seq"],
        )


async def _notifications(
    tenant_id: int, source: AsyncIterator[dict[str, Any]]
) -> AsyncGenerator[Notification, None]:
    async for event in source:
        ids = event["ids"]
        rows = await _read(
            lambda ids=ids: list(
                NotificationRow.select()
                .where((NotificationRow.tenant == tenant_id) & NotificationRow.id.in_(ids))
                .order_by(NotificationRow.id)
            )
        )
        for row in rows:
            yield Notification.from_row(row)


async def _calls(
    tenant_id: int, user_pk: int | None, source: AsyncIterator[dict[str, Any]]
) -> AsyncGenerator[CallRecord, None]:
    async for event in source:
        query = CallRecordRow.select().where(
            (CallRecordRow.tenant == tenant_id) & CallRecordRow.id.in_(event["ids"])
        )
        if user_pk is not None:
            query = query.where(CallRecordRow.user == user_pk)
        rows = await _read(lambda query=query: list(query.order_by(CallRecordRow.id)))
        for row in rows:
            yield CallRecord.from_call(RatedCall.from_row(row))


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="The tenant's balance after each money change (purchase, debit, expiry, "
        "adjustment), once it is committed."
    )
    @permission(Permission.READ, tenant=True)
    def balance_changed(self, info: Info) -> AsyncGenerator[BalanceChanged, None]:
        _, source = _events(info, events.BALANCE)
        return _balances(source)

    @strawberry.subscription(
        description="Each new notification of the tenant — the events its webhook receives."
    )
    @permission(Permission.READ, tenant=True)
    def notification_added(self, info: Info) -> AsyncGenerator[Notification, None]:
        tenant_id, source = _events(info, events.NOTIFICATION)
        return _notifications(tenant_id, source)

    @strawberry.subscription(
        description="Each call record rated for the tenant (recordCalls), optionally only "
        "those of one user."
    )
    @permission(Permission.READ, tenant=True)
    def call_rated(
        self, info: Info, user_id: strawberry.ID | None = None
    ) -> AsyncGenerator[CallRecord, None]:
        user_pk = decode_id(user_id, "User", field="userId") if user_id is not None else None
        tenant_id, source = _events(info, events.CALLS)
        return _calls(tenant_id, user_pk, source)
