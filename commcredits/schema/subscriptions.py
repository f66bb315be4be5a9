"""Subscription payloads (README "Live updates"): complete values, so that sending an event
never reads the database on the event loop."""

from __future__ import annotations

import datetime as dt

import strawberry

from commcredits.schema.credits import Money, TransactionKind


@strawberry.type(description="The tenant's balance just after a money change committed.")
class BalanceChanged:
    balance: Money = strawberry.field(description="The prepaid balance after the change.")
    at: dt.datetime = strawberry.field(description="When the change was made.")
    reason: TransactionKind = strawberry.field(
        description="What changed it (the change's last transaction: FUNDED, CONSUMED, …)."
    )
    sequence: int = strawberry.field(
        description="That transaction's sequence number: events of a tenant arrive in order."
    )
