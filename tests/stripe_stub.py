"""A small fake Stripe API on a real 127.0.0.1 port, for tests of the Stripe gateway.

It answers the two endpoints the gateway uses, in Stripe's documented shapes:

- `GET /v1/payment_methods/{id}`: a card PaymentMethod (`customer` is `cus_test`, or null for
  `pm_card_unattached`); 404 `resource_missing` for an unknown id.
- `POST /v1/payment_intents` (form-encoded, confirm=true): one PaymentIntent, whose outcome
  depends on the payment method, named like Stripe's test PaymentMethods:
  `pm_card_visa` succeeds; `pm_card_chargeDeclined` → 402 card_declined/generic_decline;
  `pm_card_chargeDeclinedInsufficientFunds` → 402 card_declined/insufficient_funds;
  `pm_card_authenticationRequired` → off_session: 402 `authentication_required` with the
  PaymentIntent in `requires_payment_method` (what Stripe answers when the bank wants 3-D
  Secure and the customer is away), on-session: 200 with status `requires_action`.
  `add_payment_method()` adds others (outcome `requires_action` or `processing` as a 200).

Like Stripe: bearer (or basic) auth with the stub's secret key, else 401; an `Idempotency-Key`
replay with the same parameters returns the stored status and body with
`Idempotent-Replayed: true` and creates nothing; the same key with other parameters → 400
`idempotency_error`. Only answers of a request that began executing are stored (200, 402), not
validation errors, nor the injected faults below.

Faults: `timeout_next(n)`: the next n matching requests are processed, then answered only after
`delay` seconds (past the client's timeout: the answer is lost, the PaymentIntent exists);
`error_next(n, status=500)`: the next n matching requests answer 500 before doing anything.

Everything seen is in `requests` (method, path, idempotency key, authorization, form params);
`created[key]` counts PaymentIntents created per idempotency key.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

SECRET_KEY = "sk_test_stub_" + "4eC39HqLyjWDarjtT1zdp7dc"
CUSTOMER = "cus_test"

# payment method id -> (customer, outcome)
DEFAULT_PAYMENT_METHODS: dict[str, tuple[str | None, str]] = {
    "pm_card_visa": (CUSTOMER, "succeeded"),
    "pm_card_mastercard": (CUSTOMER, "succeeded"),
    "pm_card_chargeDeclined": (CUSTOMER, "generic_decline"),
    "pm_card_chargeDeclinedInsufficientFunds": (CUSTOMER, "insufficient_funds"),
    "pm_card_authenticationRequired": (CUSTOMER, "authentication_required"),
    "pm_card_unattached": (None, "succeeded"),
}

_DECLINES = {
    "generic_decline": ("card_declined", "generic_decline", "Your card was declined."),
    "insufficient_funds": (
        "card_declined",
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
    "authentication_required": (
        "authentication_required",
        "authentication_required",
        "Your card was declined. This transaction requires authentication.",
    ),
}


@dataclass
class Seen:
    method: str
    path: str
    idempotency_key: str | None
    authorization: str | None
    params: dict[str, str]
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 0  # the answer's HTTP status
    replayed: bool = False  # answered from the idempotency store


@dataclass
class _Fault:
    kind: str  # "timeout" | "error"
    remaining: int
    path: str | None
    status: int = 500
    delay: float = 0.0


def _error(kind: str, message: str, **extra: Any) -> dict:
    return {"error": {"type": kind, "message": message, **extra}}


class StripeStub:
    """The fake server; use `with StripeStub() as stub:` (or start()/stop())."""

    def __init__(self, secret_key: str = SECRET_KEY):
        self.secret_key = secret_key
        self.payment_methods = dict(DEFAULT_PAYMENT_METHODS)
        self.requests: list[Seen] = []
        self.created: dict[str, int] = {}
        self.payment_intents: dict[str, dict] = {}
        self._answers: dict[str, tuple[list[tuple[str, str]], int, dict]] = {}
        self._faults: list[_Fault] = []
        # Called with each request to /v1/payment_intents: `before_intent` before it is
        # processed (returning True drops it unprocessed), `after_intent` after, before the
        # answer is sent (a fault test kills the client there: a crash before the charge, or
        # after it with the answer lost).
        self.before_intent: Callable[[Seen], bool | None] | None = None
        self.after_intent: Callable[[Seen], None] | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "the stub is not running"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> StripeStub:
        stub = self

        class Handler(_Handler):
            pass

        Handler.stub = stub
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},  # stop() waits at most this long
            name="stripe-stub",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping in a timeout fault
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> StripeStub:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- switches -----------------------------------------------------------------------------
    def timeout_next(self, n: int = 1, *, delay: float = 2.0, path: str | None = None) -> None:
        """The next `n` requests (to paths starting with `path`) are handled, then answered
        only after `delay` seconds."""
        with self._lock:
            self._faults.append(_Fault("timeout", n, path, delay=delay))

    def error_next(self, n: int = 1, *, status: int = 500, path: str | None = None) -> None:
        """The next `n` requests (to paths starting with `path`) answer `status` at once and
        do nothing."""
        with self._lock:
            self._faults.append(_Fault("error", n, path, status=status))

    def add_payment_method(self, pm_id: str, outcome: str, customer: str | None = CUSTOMER):
        """outcome: succeeded, processing, requires_action, generic_decline,
        insufficient_funds, authentication_required."""
        self.payment_methods[pm_id] = (customer, outcome)

    # -- reading ------------------------------------------------------------------------------
    def seen(self, method: str | None = None, path: str | None = None) -> list[Seen]:
        with self._lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method)
                and (path is None or r.path.startswith(path))
            ]

    # -- handling -----------------------------------------------------------------------------
    def _take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and (fault.path is None or path.startswith(fault.path)):
                    fault.remaining -= 1
                    return fault
        return None

    def _authorized(self, header: str | None) -> bool:
        if not header:
            return False
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            return secrets.compare_digest(value.strip(), self.secret_key)
        if scheme.lower() == "basic":
            try:
                user = base64.b64decode(value.strip()).decode().partition(":")[0]
            except ValueError:
                return False
            return secrets.compare_digest(user, self.secret_key)
        return False

    def handle(
        self, method: str, path: str, headers: dict[str, str], params: list[tuple[str, str]]
    ) -> tuple[int, dict, dict[str, str], float]:
        """(status, body, extra headers, seconds to wait before answering)."""
        key = headers.get("idempotency-key")
        seen = Seen(method, path, key, headers.get("authorization"), dict(params), headers)
        with self._lock:
            self.requests.append(seen)
        intent = method == "POST" and path == "/v1/payment_intents"
        if intent and self.before_intent is not None and self.before_intent(seen):
            # The hook asked for the request to go unprocessed (its client is gone).
            return 500, _error("api_error", "Dropped by the stub."), {}, 0.0
        fault = self._take_fault(path)
        if fault is not None and fault.kind == "error":
            body = _error("api_error", "An unknown error occurred (injected by the stub).")
            seen.status = fault.status
            return fault.status, body, {}, 0.0
        status, body, extra = self._answer(method, path, headers, key, params)
        seen.status, seen.replayed = status, "Idempotent-Replayed" in extra
        if intent and self.after_intent is not None:
            self.after_intent(seen)
        return status, body, extra, fault.delay if fault is not None else 0.0

    def _answer(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        key: str | None,
        params: list[tuple[str, str]],
    ) -> tuple[int, dict, dict[str, str]]:
        if not self._authorized(headers.get("authorization")):
            shown = (headers.get("authorization") or "").rpartition(" ")[2]
            masked = f"{shown[:8]}{'*' * max(len(shown) - 12, 0)}{shown[-4:]}" if shown else ""
            message = f"Invalid API Key provided: {masked or '(none)'}"
            return 401, _error("invalid_request_error", message), {}
        if method == "GET" and path.startswith("/v1/payment_methods/"):
            status, body = self._payment_method(path.rsplit("/", 1)[1])
            return status, body, {}
        if method == "POST" and path == "/v1/payment_intents":
            return self._create_intent(key, params)
        message = f"Unrecognized request URL ({method}: {path})"
        return 404, _error("invalid_request_error", message), {}

    def _payment_method(self, pm_id: str) -> tuple[int, dict]:
        known = self.payment_methods.get(pm_id)
        if known is None:
            return 404, _error(
                "invalid_request_error",
                f"No such PaymentMethod: '{pm_id}'",
                code="resource_missing",
                param="payment_method",
            )
        return 200, self._pm_object(pm_id, known[0])

    @staticmethod
    def _pm_object(pm_id: str, customer: str | None) -> dict:
        return {
            "id": pm_id,
            "object": "payment_method",
            "type": "card",
            "customer": customer,
            "card": {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2034},
            "billing_details": {"address": {}, "email": None, "name": None, "phone": None},
            "created": int(time.time()),
            "livemode": False,
            "metadata": {},
        }

    def _create_intent(
        self, key: str | None, params: list[tuple[str, str]]
    ) -> tuple[int, dict, dict[str, str]]:
        fingerprint = sorted(params)
        with self._lock:
            if key is not None and key in self._answers:
                first, status, body = self._answers[key]
                if first != fingerprint:
                    return (
                        400,
                        _error(
                            "idempotency_error",
                            "Keys for idempotent requests can only be used with the same "
                            "parameters they were first used with. Try using a key other than "
                            f"'{key}' if you meant to execute a different request.",
                        ),
                        {},
                    )
                return status, body, {"Idempotent-Replayed": "true", "Idempotency-Key": key}
            status, body = self._execute(dict(params), key)
            if key is not None and status in (200, 402):
                self._answers[key] = (fingerprint, status, body)
            extra = {"Idempotency-Key": key} if key else {}
            return status, body, extra

    def _execute(self, p: dict[str, str], key: str | None) -> tuple[int, dict]:
        invalid = self._validate(p)
        if invalid is not None:
            return 400, invalid
        pm_id = p["payment_method"]
        customer, outcome = self.payment_methods[pm_id]
        off_session = p.get("off_session") == "true"
        intent_id = "pi_" + secrets.token_hex(12)
        charge_id = "ch_" + secrets.token_hex(12)
        intent: dict[str, Any] = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": int(p["amount"]),
            "amount_received": 0,
            "currency": p["currency"],
            "customer": p.get("customer"),
            "payment_method": pm_id,
            "payment_method_types": [
                v for k, v in sorted(p.items()) if k.startswith("payment_method_types")
            ]
            or ["card"],
            "description": p.get("description"),
            "metadata": {k[9:-1]: v for k, v in p.items() if k.startswith("metadata[")},
            "status": "succeeded",
            "capture_method": "automatic",
            "confirmation_method": "automatic",
            "client_secret": f"{intent_id}_secret_{secrets.token_hex(8)}",
            "created": int(time.time()),
            "latest_charge": None,
            "last_payment_error": None,
            "next_action": None,
            "livemode": False,
        }
        if outcome == "authentication_required" and not off_session:
            outcome = "requires_action"
        if outcome in ("succeeded", "processing"):
            intent["status"] = outcome
            intent["latest_charge"] = charge_id
            if outcome == "succeeded":
                intent["amount_received"] = intent["amount"]
            self._store_intent(intent, key)
            return 200, intent
        if outcome == "requires_action":
            intent["status"] = "requires_action"
            intent["next_action"] = {"type": "use_stripe_sdk", "use_stripe_sdk": {}}
            self._store_intent(intent, key)
            return 200, intent
        code, decline_code, message = _DECLINES[outcome]
        error = {
            "type": "card_error",
            "code": code,
            "decline_code": decline_code,
            "message": message,
            "charge": charge_id,
            "doc_url": f"https://docs.stripe.com/error-codes/{code.replace('_', '-')}",
            "payment_method": self._pm_object(pm_id, customer),
        }
        intent["status"] = "requires_payment_method"
        intent["latest_charge"] = charge_id
        intent["last_payment_error"] = dict(error)
        self._store_intent(intent, key)
        return 402, {"error": {**error, "payment_intent": intent}}

    def _store_intent(self, intent: dict, key: str | None) -> None:
        self.payment_intents[intent["id"]] = intent
        self.created[key or ""] = self.created.get(key or "", 0) + 1

    def _validate(self, p: dict[str, str]) -> dict | None:
        def bad(message: str, param: str, code: str = "parameter_invalid") -> dict:
            return _error("invalid_request_error", message, param=param, code=code)

        for required in ("amount", "currency"):
            if not p.get(required):
                return bad(f"Missing required param: {required}.", required, "parameter_missing")
        if not p["amount"].isdigit() or int(p["amount"]) < 1:
            return bad("This value must be greater than or equal to 1.", "amount")
        if p["currency"] != p["currency"].lower() or len(p["currency"]) != 3:
            return bad(f"Invalid currency: {p['currency']}.", "currency")
        pm_id = p.get("payment_method")
        if not pm_id or pm_id not in self.payment_methods:
            return bad(f"No such PaymentMethod: '{pm_id}'", "payment_method", "resource_missing")
        if p.get("off_session") == "true" and p.get("confirm") != "true":
            return bad("off_session can only be used with confirm=true.", "off_session")
        if p.get("confirm") != "true":
            return bad("This stub only creates confirmed PaymentIntents.", "confirm")
        customer = self.payment_methods[pm_id][0]
        if customer is not None and p.get("customer") != customer:
            return bad(
                "The provided PaymentMethod is attached to another customer or needs the "
                "customer parameter.",
                "customer",
            )
        card_only = any(k.startswith("payment_method_types") for k in p)
        no_redirects = p.get("automatic_payment_methods[allow_redirects]") == "never"
        if not (card_only or no_redirects or p.get("return_url")):
            return bad(
                "A `return_url` must be specified because this Payment Intent is configured "
                "to automatically accept the payment methods enabled in the Dashboard, some "
                "of which may require a full page redirect to succeed.",
                "return_url",
            )
        return None


class _Handler(BaseHTTPRequestHandler):
    stub: StripeStub
    server_version = "stripe-stub/1"

    def log_message(self, format, *args):  # quiet
        pass

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        params = parse_qsl(body if method == "POST" else parts.query, keep_blank_values=True)
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, payload, extra, delay = self.stub.handle(method, parts.path, headers, params)
        if delay and self.stub._stopping.wait(delay):
            return
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", "req_" + secrets.token_hex(7))
            self.send_header("Stripe-Version", headers.get("stripe-version", "2026-10-28"))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout fault)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")


@contextmanager
def running_stub(secret_key: str = SECRET_KEY) -> Iterator[StripeStub]:
    with StripeStub(secret_key) as stub:
        yield stub
