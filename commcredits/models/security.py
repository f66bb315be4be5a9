from __future__ import annotations

import peewee

from commcredits.models.access import ApiKey
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


class BrowserSession(BaseModel):
    """A browser's sign-in (README "Browser sign-in with a session cookie"), made from an API
    key whose role and tenant it acts with; the cookie holds the token, this row its hash.

    No tenant column of its own: the key's, read in the same query, so a revoked or deleted key
    ends its sessions at their next use.
    """

    key = peewee.ForeignKeyField(ApiKey, on_delete="CASCADE")
    token_hash = peewee.CharField(max_length=64, unique=True)  # sha256 hex of the cookie value
    created_at = UTCDateTimeField()
    last_seen_at = UTCDateTimeField()  # stamped at most once a minute (the idle timeout)
    expires_at = UTCDateTimeField()  # the absolute timeout, whatever the activity
    revoked_at = UTCDateTimeField(null=True)  # signed out

    class Meta:
        table_name = "browser_session"


class SignInLink(BaseModel):
    """A one-time sign-in link's token (hashed): it starts one session for its key, once."""

    key = peewee.ForeignKeyField(ApiKey, on_delete="CASCADE")
    token_hash = peewee.CharField(max_length=64, unique=True)
    created_at = UTCDateTimeField()
    expires_at = UTCDateTimeField()
    used_at = UTCDateTimeField(null=True)

    class Meta:
        table_name = "sign_in_link"
