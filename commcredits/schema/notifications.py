"""Notifications, and the webhook they are sent to."""

import datetime as dt

import strawberry
from strawberry.scalars import JSON

from commcredits.models import Notification as NotificationRow
from commcredits.models import Webhook as WebhookRow
from commcredits.schema.common import Node, to_global_id


@strawberry.type
class Notification(Node):
    kind: str
    payload: JSON
    created_at: dt.datetime
    delivery_status: str

    @classmethod
    def from_row(cls, row: NotificationRow) -> "Notification":
        return cls(
            id=to_global_id("Notification", row.id),
            kind=row.kind,
            payload=row.payload,
            created_at=row.created_at,
            delivery_status=row.delivery_status,
        )


@strawberry.type
class Webhook:
    url: str
    updated_at: dt.datetime

    @classmethod
    def from_row(cls, row: WebhookRow) -> "Webhook":
        return cls(url=row.url, updated_at=row.updated_at)
