from __future__ import annotations

import peewee

from commcredits.models.base import BaseModel, UTCDateTimeField


class AuthFailure(BaseModel):
    """One refused API key (unknown, revoked or malformed): the rate limiter's memory.

    Rows older than the limiter's window are pruned; the lasting record is the audit entry.
    """

    address = peewee.CharField(max_length=64)  # the client address as the server saw it
    key_prefix = peewee.CharField(max_length=16)  # the first characters of what was sent
    at = UTCDateTimeField()

    class Meta:
        table_name = "auth_failure"
        indexes = (
            (("address", "at"), False),
            (("key_prefix", "at"), False),
            (("at",), False),
        )
