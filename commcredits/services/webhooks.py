"""Webhook delivery of notifications: a signed POST from the outbox, after commit, retried.

The money transaction only writes the `notification` row (services/notifications.py). This
module, run by `commcredits deliver-webhooks` (or any worker calling `deliver_due`), claims due
rows in a short transaction of its own, POSTs them, and records the outcome; a failure is
retried with exponential backoff until `MAX_ATTEMPTS`.

Signature (Stripe's scheme): header `X-Commcredits-Signature: t=<unix seconds>,v1=<hex>`, where
hex = HMAC-SHA256(secret, "<t>." + body). Receivers check it and the age of `t`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
from dataclasses import dataclass

import httpx

from commcredits import metrics
from commcredits.db import db, is_sqlite, tenant_lock
from commcredits.models import Notification, Tenant, Webhook
from commcredits.services import audit
from commcredits.services.principal import Principal
from commcredits.services.webhook_addresses import (
    ResolveError,
    WebhookTargetNotAllowedError,
    checked_addresses,
    parse_webhook_url,
    post_pinned,
    private_targets_allowed,
)

log = logging.getLogger("commcredits.webhooks")

SIGNATURE_HEADER = "X-Commcredits-Signature"
EVENT_HEADER = "X-Commcredits-Event"
DELIVERY_HEADER = "X-Commcredits-Delivery"
MAX_ATTEMPTS = 10
FIRST_RETRY = dt.timedelta(seconds=30)
MAX_RETRY = dt.timedelta(hours=6)
LEASE = dt.timedelta(minutes=5)  # a claimed row is left alone this long by other workers


def check_url(url: str) -> str:
    """The URL to store, or a DomainError: INVALID_WEBHOOK_URL when it names no http(s)
    target, WEBHOOK_URL_NOT_ALLOWED when the target is internal (see webhook_addresses)."""
    clean = (url or "").strip()
    target = parse_webhook_url(clean)
    if not private_targets_allowed():
        # A name that does not resolve yet (DNS still being set up) is accepted: delivery
        # resolves and checks it every time anyway.
        with contextlib.suppress(ResolveError):
            checked_addresses(target, allow_private=False)
    return clean


def set_webhook(
    tenant: Tenant, principal: Principal, url: str | None, *, now: dt.datetime
) -> tuple[Webhook | None, str | None]:
    """Set (or with no URL, remove) the tenant's webhook; returns it and its new signing
    secret, which is shown this once."""
    clean = check_url(url) if url else None
    with tenant_lock(tenant.id):
        hook = Webhook.get_or_none(Webhook.tenant == tenant.id)
        before = {"url": hook.url} if hook else None
        if clean is None:
            if hook is not None:
                hook.delete_instance()
            audit.record(
                principal,
                "setWebhook",
                ("Webhook", hook.id if hook else "-"),
                tenant_id=tenant.id,
                before=before,
                after=None,
                now=now,
            )
            return None, None
        secret = "whsec_" + secrets.token_urlsafe(32)
        if hook is None:
            hook = Webhook(tenant=tenant.id, created_at=now)
        hook.url, hook.secret, hook.updated_at = clean, secret, now
        hook.save()
        audit.record(
            principal,
            "setWebhook",
            hook,
            tenant_id=tenant.id,
            before=before,
            after={"url": clean, "secretRotated": True},
            now=now,
        )
    return hook, secret


def webhook_for(tenant: Tenant) -> Webhook | None:
    return Webhook.get_or_none(Webhook.tenant == tenant.id)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    secret: str, header: str, body: bytes, *, now: dt.datetime, tolerance: int = 300
) -> bool:
    """What a receiver does: the signature matches and is not older than `tolerance` s."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now.timestamp() - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def backoff(attempts: int) -> dt.timedelta:
    """Delay after the `attempts`-th failed try: 30 s, 1 min, 2 min, … at most 6 h."""
    return min(FIRST_RETRY * (2 ** max(attempts - 1, 0)), MAX_RETRY)


def body_of(note: Notification) -> bytes:
    return json.dumps(
        {
            "id": note.id,
            "kind": note.kind,
            "tenantId": note.tenant_id,
            "createdAt": note.created_at.isoformat(),
            "payload": note.payload,
        },
        sort_keys=True,
    ).encode()


@dataclass
class DeliveryReport:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    skipped: int = 0  # the tenant has no webhook


def _claim(now: dt.datetime, limit: int) -> list[Notification]:
    with db.atomic():
        query = (
            Notification.select()
            .where(
                (Notification.delivery_status == "PENDING") & (Notification.next_attempt_at <= now)
            )
            .order_by(Notification.id)
            .limit(limit)
        )
        if not is_sqlite():
            query = query.for_update(skip_locked=True)
        rows = list(query)
        if rows:
            Notification.update(next_attempt_at=now + LEASE).where(
                Notification.id.in_([r.id for r in rows])
            ).execute()
    return rows


def deliver_due(
    *,
    now: dt.datetime,
    limit: int = 100,
    timeout: float = 5.0,
    client: httpx.Client | None = None,
) -> DeliveryReport:
    """POST every due notification to its tenant's webhook; record each outcome."""
    report = DeliveryReport()
    rows = _claim(now, limit)
    if not rows:
        return report
    hooks = {
        h.tenant_id: h
        for h in Webhook.select().where(Webhook.tenant.in_({r.tenant_id for r in rows}))
    }
    own_client = client is None
    # No keep-alive: each delivery connects to the address checked for it (post_pinned).
    # No proxy from the environment (HTTPS_PROXY, …) either: a proxy connects where it
    # resolves the name, and cannot carry the checked name into TLS to a pinned address.
    http = client or httpx.Client(
        timeout=timeout,
        follow_redirects=False,
        limits=httpx.Limits(max_keepalive_connections=0),
        trust_env=False,
    )
    try:
        for note in rows:
            hook = hooks.get(note.tenant_id)
            if hook is None:
                _finish(note, status="NONE", error="no webhook configured", now=now)
                report.skipped += 1
                continue
            error = _attempt(http, hook, note, now=now)
            if not error:
                _finish(note, status="DELIVERED", error="", now=now)
                report.delivered += 1
            elif note.attempts + 1 >= MAX_ATTEMPTS:
                _finish(note, status="FAILED", error=error, now=now)
                report.failed += 1
            else:
                _finish(note, status="PENDING", error=error, now=now)
                report.retrying += 1
    finally:
        if own_client:
            http.close()
        metrics.webhooks_delivered(report)
    return report


def _attempt(http: httpx.Client, hook: Webhook, note: Notification, *, now: dt.datetime) -> str:
    """POST one notification; the error, or "" when the receiver took it. Whatever goes wrong
    with one tenant's URL (a name that cannot be encoded, an invalid URL, anything) is that
    delivery's failure, retried on its schedule: it never stops the other tenants' deliveries
    in the same run."""
    body = body_of(note)
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(hook.secret, int(now.timestamp()), body),
        EVENT_HEADER: note.kind,
        DELIVERY_HEADER: str(note.id),
    }
    try:
        # The same parse as at set time (a URL stored before a rule existed is held to it),
        # one lookup, every answer checked, and the POST goes to a checked address.
        target = parse_webhook_url(hook.url)
        addresses = checked_addresses(target, allow_private=private_targets_allowed())
        response = post_pinned(http, target, addresses, content=body, headers=headers)
    except WebhookTargetNotAllowedError:
        log.warning("webhook delivery %s refused: internal address", note.id)
        return "refused: the URL points at an internal address"
    except Exception as exc:  # noqa: BLE001 - see the docstring
        log.warning("webhook delivery %s failed: %s", note.id, type(exc).__name__)
        return f"{type(exc).__name__}: {exc}"[:500]
    return "" if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"


def _finish(note: Notification, *, status: str, error: str, now: dt.datetime) -> None:
    attempts = note.attempts + (0 if status == "NONE" else 1)
    with db.atomic():
        Notification.update(
            delivery_status=status,
            attempts=attempts,
            last_error=error[:500],
            delivered_at=now if status == "DELIVERED" else None,
            next_attempt_at=now + backoff(attempts) if status == "PENDING" else None,
        ).where(Notification.id == note.id).execute()
