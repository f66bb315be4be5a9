"""Browser sessions: sign-in with an API key or a one-time link, the session's principal, and
sign-out (README "Browser sign-in with a session cookie").

A session acts exactly as the API key it was made from (same role, same tenant, same audit
actor) for as long as that key is valid: the key is read with the session in one query on
every use, so revoking the key ends its sessions at once. Tokens (the cookie's, a link's) are
256-bit random strings; only their SHA-256 hashes are stored, like API keys.

Times: a session ends `idle` seconds after its last use or `lifetime` seconds after sign-in,
whichever comes first. The last use is stamped at most once per LAST_SEEN_RESOLUTION (as
`authenticate` stamps a key's last use), so a read costs no write most of the time.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import peewee

from commcredits import events
from commcredits.config import SessionSettings
from commcredits.db import write
from commcredits.models import ApiKey, Tenant
from commcredits.models.security import BrowserSession, SignInLink
from commcredits.services import audit
from commcredits.services.access import AuthenticationError, authenticate, hash_key
from commcredits.services.principal import Principal, Role

LAST_SEEN_RESOLUTION = dt.timedelta(minutes=1)  # one write a minute per session at most
LINK_PREFIX = "ccl_"  # tells a sign-in link's token from an API key (`cck_`) at a glance

# Why a session cookie is refused (`extensions.reason` of the 401).
REASONS: dict[str, str] = {
    "SESSION_UNKNOWN": "The session is unknown; sign in again.",
    "SESSION_EXPIRED": "The session has expired; sign in again.",
    "SESSION_REVOKED": "The session was signed out, or its API key revoked; sign in again.",
}


class SessionRefused(Exception):
    """A session cookie that does not sign anyone in (HTTP 401); `reason` is one of REASONS."""

    def __init__(self, reason: str):
        super().__init__(REASONS[reason])
        self.reason = reason


class LinkRefused(AuthenticationError):
    """A sign-in link token that is unknown, used, expired, or whose key was revoked."""


@dataclass(frozen=True)
class SignedIn:
    """A new session: the cookie's token (shown once) and whom it signs in."""

    token: str
    principal: Principal
    expires_at: dt.datetime


def csrf_token(session_token: str) -> str:
    """The CSRF token of a session: derived from its token, so it needs no storage and no
    other session's (or an attacker-set cookie's) token can stand in for it. One-way: reading
    it (it is in a script-readable cookie) tells nothing of the session token."""
    digest = hashlib.sha256(b"commcredits csrf\0" + session_token.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def csrf_matches(session_token: str, sent: str | None) -> bool:
    return sent is not None and hmac.compare_digest(csrf_token(session_token), sent.strip())


def _principal(key: ApiKey, tenant: Tenant | None) -> Principal:
    return Principal(key_id=key.id, role=Role(key.role), tenant=tenant, key_prefix=key.prefix)


def _record_created(
    principal: Principal,
    action: str,
    target: peewee.Model,
    after: dict[str, str],
    expires_at: dt.datetime,
    *,
    now: dt.datetime,
) -> None:
    """Audits a session or sign-in link just made, with its expiry, in the principal's tenant."""
    audit.record(
        principal,
        action,
        target,
        tenant_id=principal.tenant.id if principal.tenant else None,
        before=None,
        after={**after, "expiresAt": expires_at.isoformat()},
        now=now,
    )


def _start(
    principal: Principal, settings: SessionSettings, *, now: dt.datetime, via: str
) -> SignedIn:
    """Write the session row and its audit entry (inside the caller's transaction)."""
    prune_sessions(settings, now=now)
    token = secrets.token_urlsafe(32)
    expires_at = now + dt.timedelta(seconds=settings.lifetime)
    session = BrowserSession.create(
        key=principal.key_id,
        token_hash=hash_key(token),
        created_at=now,
        last_seen_at=now,
        expires_at=expires_at,
    )
    _record_created(principal, "signIn", session, {"via": via}, expires_at, now=now)
    return SignedIn(token, principal, expires_at)


def sign_in_with_key(secret: str, settings: SessionSettings, *, now: dt.datetime) -> SignedIn:
    """A session for a valid API key; AuthenticationError (the caller counts it) otherwise."""
    principal = authenticate(secret, now=now)
    with write():
        return _start(principal, settings, now=now, via="key")


def sign_in_with_link(token: str, settings: SessionSettings, *, now: dt.datetime) -> SignedIn:
    """A session for a one-time link token, which is spent by it: of two browsers racing with
    the same link, one wins (the conditional UPDATE), the other gets LinkRefused."""
    token_hash = hash_key(token.strip())
    with write():
        spent = (
            SignInLink.update(used_at=now)
            .where(
                (SignInLink.token_hash == token_hash)
                & SignInLink.used_at.is_null()
                & (SignInLink.expires_at > now)
            )
            .execute()
        )
        if spent != 1:
            raise LinkRefused("unknown, used or expired sign-in link")
        row = (
            ApiKey.select(ApiKey, Tenant)
            .join(SignInLink, on=(SignInLink.key == ApiKey.id))
            .switch(ApiKey)
            .join(Tenant, join_type=peewee.JOIN.LEFT_OUTER, on=(ApiKey.tenant == Tenant.id))
            .where(SignInLink.token_hash == token_hash)
            .first()
        )
        if row is None or row.revoked_at is not None:
            # The link stays spent: a revoked key's link must not be tried again.
            raise LinkRefused("the sign-in link's key is revoked")
        tenant = row.tenant if row.tenant_id is not None else None
        return _start(_principal(row, tenant), settings, now=now, via="link")


def create_sign_in_link(secret: str, settings: SessionSettings, *, now: dt.datetime) -> str:
    """A one-time link token for the valid API key `secret` (AuthenticationError otherwise).

    Minted from the key itself, not a key id: whoever can make a link could use the key."""
    principal = authenticate(secret, now=now)
    token = LINK_PREFIX + secrets.token_urlsafe(32)
    expires_at = now + dt.timedelta(seconds=settings.link_ttl)
    with write():
        link = SignInLink.create(
            key=principal.key_id,
            token_hash=hash_key(token),
            created_at=now,
            expires_at=expires_at,
        )
        # Spent and expired links are of no use to anyone: swept as new ones are made.
        SignInLink.delete().where(
            SignInLink.used_at.is_null(False) | (SignInLink.expires_at <= now)
        ).execute()
        _record_created(principal, "createSignInLink", link, {}, expires_at, now=now)
    return token


@dataclass(frozen=True)
class ActiveSession:
    principal: Principal
    session_id: int  # what events.credential_revoked names ("session:<id>") at sign-out
    expires_at: dt.datetime  # absolute
    idle_until: dt.datetime  # unless used again before


def session_principal(
    token: str, settings: SessionSettings, *, now: dt.datetime, use: bool = True
) -> ActiveSession:
    """Whom a session cookie signs in: one query (session, key, tenant), plus the last-seen
    stamp at most once per LAST_SEEN_RESOLUTION. SessionRefused when it signs in no one.

    `use=False` checks without counting as use (no stamp): a live page's socket is re-checked
    every few seconds, and if that kept the session alive, an unattended console tab would
    never reach the idle timeout."""
    row = (
        BrowserSession.select(BrowserSession, ApiKey, Tenant)
        .join(ApiKey, on=(BrowserSession.key == ApiKey.id))
        .join(Tenant, join_type=peewee.JOIN.LEFT_OUTER, on=(ApiKey.tenant == Tenant.id))
        .where(BrowserSession.token_hash == hash_key(token))
        .first()
    )
    if row is None:
        raise SessionRefused("SESSION_UNKNOWN")
    key = row.key
    if row.revoked_at is not None or key.revoked_at is not None:
        raise SessionRefused("SESSION_REVOKED")
    idle = dt.timedelta(seconds=settings.idle)
    if now >= row.expires_at or now >= row.last_seen_at + idle:
        raise SessionRefused("SESSION_EXPIRED")
    last_seen = row.last_seen_at
    if use and now - last_seen >= LAST_SEEN_RESOLUTION:
        BrowserSession.update(last_seen_at=now).where(BrowserSession.id == row.id).execute()
        last_seen = now
    tenant = key.tenant if key.tenant_id is not None else None
    return ActiveSession(_principal(key, tenant), row.id, row.expires_at, last_seen + idle)


def sign_out(token: str, *, now: dt.datetime) -> bool:
    """End the session server-side (the cookie's value is useless from now on, replayed or
    not); False when there was no live session to end."""
    row = (
        BrowserSession.select(BrowserSession, ApiKey, Tenant)
        .join(ApiKey, on=(BrowserSession.key == ApiKey.id))
        .join(Tenant, join_type=peewee.JOIN.LEFT_OUTER, on=(ApiKey.tenant == Tenant.id))
        .where((BrowserSession.token_hash == hash_key(token)) & BrowserSession.revoked_at.is_null())
        .first()
    )
    if row is None:
        return False
    key = row.key
    with write():
        ended = (
            BrowserSession.update(revoked_at=now)
            .where((BrowserSession.id == row.id) & BrowserSession.revoked_at.is_null())
            .execute()
        )
        if ended:
            events.credential_revoked(f"session:{row.id}")  # its websockets close after commit
            tenant = key.tenant if key.tenant_id is not None else None
            audit.record(
                _principal(key, tenant),
                "signOut",
                ("BrowserSession", row.id),
                tenant_id=key.tenant_id,
                before=None,
                after=None,
                now=now,
            )
    return bool(ended)


def prune_sessions(settings: SessionSettings, *, now: dt.datetime) -> int:
    """Delete sessions that can never sign anyone in again (ended, expired, idle past the
    timeout); called when a session is started, so the table stays the size of the live ones."""
    idle = dt.timedelta(seconds=settings.idle)
    return (
        BrowserSession.delete()
        .where(
            BrowserSession.revoked_at.is_null(False)
            | (BrowserSession.expires_at <= now)
            | (BrowserSession.last_seen_at <= now - idle)
        )
        .execute()
    )
