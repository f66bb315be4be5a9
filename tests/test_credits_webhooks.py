"""Notifications reach a tenant's webhook as signed POSTs from the outbox, after commit, and
are retried with backoff — against a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
from decimal import Decimal as D
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from commcredits.models import Notification
from commcredits.services import credits, notifications, webhooks
from commcredits.services.access import SYSTEM

SET_WEBHOOK = """
mutation($url: String) { setWebhook(url: $url) { webhook { url } secret userErrors { code } } }
"""


class Receiver:
    """A local HTTP endpoint that answers with the queued status codes (then 200)."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict, bytes]] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:  # keep test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/credits"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


def test_signed_delivery_with_retry(api, tenant, clock, receiver):
    payload = api(SET_WEBHOOK, {"url": receiver.url})["setWebhook"]
    secret = payload["secret"]
    assert secret.startswith("whsec_") and payload["webhook"] == {"url": receiver.url}
    shown = api("{ tenant { webhook { url } } }")["tenant"]["webhook"]
    assert shown == {"url": receiver.url}  # the secret is never shown again

    credits.configure_auto_recharge(
        tenant,
        SYSTEM,
        enabled=True,
        recharge_amount=D("20"),
        trigger_balance=D("5"),
        now=clock(),
    )
    assert receiver.requests == []  # written with the money, delivered only by the outbox

    receiver.statuses = [500]
    report = webhooks.deliver_due(now=clock())
    assert (report.delivered, report.retrying) == (0, 1)
    note = Notification.get()
    assert (note.delivery_status, note.attempts, note.last_error) == ("PENDING", 1, "HTTP 500")
    assert note.next_attempt_at == clock() + dt.timedelta(seconds=30)

    headers, body = receiver.requests[0]
    assert webhooks.verify(secret, headers[webhooks.SIGNATURE_HEADER], body, now=clock())
    assert not webhooks.verify("whsec_other", headers[webhooks.SIGNATURE_HEADER], body, now=clock())
    assert not webhooks.verify(secret, headers[webhooks.SIGNATURE_HEADER], body + b" ", now=clock())
    event = json.loads(body)
    assert event["kind"] == "RECHARGE_SUCCEEDED" and event["payload"]["amount"] == "20.00"
    assert headers[webhooks.EVENT_HEADER] == "RECHARGE_SUCCEEDED"

    clock.advance(seconds=29)
    assert webhooks.deliver_due(now=clock()).delivered == 0  # backing off
    clock.advance(seconds=1)
    assert webhooks.deliver_due(now=clock()).delivered == 1
    note = Notification.get()
    assert (note.delivery_status, note.attempts) == ("DELIVERED", 2)
    assert len(receiver.requests) == 2
    assert webhooks.deliver_due(now=clock()).delivered == 0  # never twice


def test_unreachable_receiver_is_retried_then_given_up(tenant, clock):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there
    webhooks.set_webhook(tenant, SYSTEM, f"http://127.0.0.1:{port}/x", now=clock())
    with credits_lock(tenant):
        notifications.emit(tenant.id, "BALANCE_ZERO", {"balance": "0"}, now=clock())
    for _ in range(webhooks.MAX_ATTEMPTS - 1):
        assert webhooks.deliver_due(now=clock(), timeout=1).retrying == 1
        clock.advance(hours=7)
    assert webhooks.deliver_due(now=clock(), timeout=1).failed == 1
    note = Notification.get()
    assert note.delivery_status == "FAILED" and "ConnectError" in note.last_error


def test_without_webhook_nothing_is_sent(tenant, clock):
    notifications.emit(tenant.id, "BALANCE_ZERO", {}, now=clock())
    assert webhooks.deliver_due(now=clock()).skipped == 1
    assert Notification.get().delivery_status == "NONE"


def test_webhook_url_must_be_http(api):
    for url in ("ftp://example.com/x", "not a url", "http://user:pw@127.0.0.1/x"):
        assert api(SET_WEBHOOK, {"url": url})["setWebhook"]["userErrors"] == [
            {"code": "INVALID_WEBHOOK_URL"}
        ]


def credits_lock(tenant):
    from commcredits.db import tenant_lock

    return tenant_lock(tenant.id)


def test_the_served_app_delivers_the_outbox_by_itself(db_url, tenant, keys, clock, receiver):
    import dataclasses
    import time

    from starlette.testclient import TestClient

    from commcredits.app import create_app
    from commcredits.config import Settings
    from tests.conftest import Api

    settings = dataclasses.replace(Settings.from_env(), webhook_interval=0.05)
    app = create_app(settings=settings, clock=clock, bind_database=False)
    with TestClient(app) as client:
        api = Api(client, keys["BILLING_ADMIN"])
        api(SET_WEBHOOK, {"url": receiver.url})
        # Saving settings while the balance (0) is below the trigger recharges: a notification.
        out = api(
            'mutation { configureAutoRecharge(enabled: true, rechargeAmount: "50.00", '
            'triggerBalance: "10.00") { userErrors { code } } }'
        )
        assert out["configureAutoRecharge"]["userErrors"] == []
        deadline = time.monotonic() + 10
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.02)
    assert receiver.requests, "the app's delivery loop posted nothing"
    headers, body = receiver.requests[0]
    assert headers["X-Commcredits-Event"] == "RECHARGE_SUCCEEDED"
    assert json.loads(body)["kind"] == "RECHARGE_SUCCEEDED"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "https://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
    ],
)
def test_internal_webhook_targets_are_refused_by_default(api, monkeypatch, url):
    monkeypatch.delenv("COMMCREDITS_WEBHOOK_ALLOW_PRIVATE")
    out = api(SET_WEBHOOK, {"url": url})["setWebhook"]
    assert out["userErrors"] == [{"code": "WEBHOOK_URL_NOT_ALLOWED"}]
    assert out["secret"] is None


def test_a_webhook_that_turns_internal_is_not_posted_to(api, tenant, clock, receiver, monkeypatch):
    api(SET_WEBHOOK, {"url": receiver.url})  # allowed while the operator allowed it
    credits.purchase_credits(tenant, SYSTEM, D("10"), idempotency_key="i-1", now=clock())
    notifications.emit(tenant.id, "BALANCE_ZERO", {"test": True}, now=clock())
    monkeypatch.delenv("COMMCREDITS_WEBHOOK_ALLOW_PRIVATE")
    report = webhooks.deliver_due(now=clock())
    assert receiver.requests == []
    assert report.retrying == 1
    note = Notification.get(Notification.kind == "BALANCE_ZERO")
    assert "internal address" in note.last_error


def test_one_tenants_broken_url_never_stops_another_tenants_deliveries(tenant, clock, receiver):
    """`http://a..b/` cannot even be looked up (UnicodeError in the name encoding): it once
    aborted the whole run, leaving every other tenant's notifications PENDING."""
    from commcredits.models import Webhook
    from commcredits.services import notifications
    from tests.helpers import other_tenant

    other = other_tenant(clock())
    for owner, url in ((tenant, "http://a..b/"), (other, receiver.url)):
        Webhook.create(
            tenant=owner.id, url=url, secret="whsec_x", created_at=clock(), updated_at=clock()
        )
        notifications.emit(owner.id, "BALANCE_ZERO", {"balance": "0"}, now=clock())
    report = webhooks.deliver_due(now=clock())
    assert (report.delivered, report.retrying) == (1, 1)
    assert len(receiver.requests) == 1
    broken = Notification.get(Notification.tenant == tenant.id)
    assert broken.delivery_status == "PENDING" and "Error" in broken.last_error


class Trickle:
    """A receiver that answers 200 with a long body and then sends it a byte every 0.2 s:
    each read is within any per-read timeout, the answer never ends."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}/hook"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        conn, _ = self.server.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
            while not self.stop.wait(0.2):
                try:
                    conn.sendall(b"x")
                except OSError:
                    return

    def close(self) -> None:
        self.stop.set()
        self.server.close()


def test_a_receiver_that_trickles_its_answer_holds_no_one_up(tenant, clock, receiver, monkeypatch):
    """A delivery has a whole deadline, not only one per read: a receiver trickling its
    answer fails its own delivery when that is up, and the next tenant's goes out."""
    from commcredits.models import Webhook
    from commcredits.services import webhook_addresses
    from tests.helpers import other_tenant

    monkeypatch.setattr(webhook_addresses, "DELIVERY_SECONDS", 1.0)
    slow = Trickle()
    other = other_tenant(clock())
    try:
        for owner, url in ((tenant, slow.url), (other, receiver.url)):
            Webhook.create(
                tenant=owner.id, url=url, secret="whsec_x", created_at=clock(), updated_at=clock()
            )
            notifications.emit(owner.id, "BALANCE_ZERO", {"balance": "0"}, now=clock())
        done = threading.Event()
        threading.Thread(
            target=lambda: (webhooks.deliver_due(now=clock()), done.set()), daemon=True
        ).start()
        assert done.wait(10), "the delivery run is still held by the trickling receiver"
    finally:
        slow.close()
    assert len(receiver.requests) == 1
    held = Notification.get(Notification.tenant == tenant.id)
    assert held.delivery_status == "PENDING" and "longer than 1 s" in held.last_error
