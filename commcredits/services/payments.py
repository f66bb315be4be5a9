"""Charging a payment method: the gateway interface (SPEC §6, seed step 2.10–2.11).

Money services never see a card number: a billing profile holds `INVOICE` or a card *token*
issued by the payment provider. A gateway is a network call, so it is only ever called with no
lock held and with the invoice's own idempotency key: asking again with the same key (after a
crash, a timeout or a 500) returns the first answer and never charges twice.

Gateways:
- `BuiltinGateway` (the default, `COMMCREDITS_PAYMENT_GATEWAY=builtin`): accepts every charge
  except to the test tokens that decline, so that declines can be exercised for real; it keeps
  the answer per key, as a real provider does.
- `StripeGateway` (`COMMCREDITS_PAYMENT_GATEWAY=stripe`, `services/stripe_gateway.py`).
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from typing import Protocol

from commcredits.money import Money

# Tokens the built-in gateway declines, named like the test tokens payment providers issue.
DECLINING_TOKENS = frozenset(
    {"tok_chargeDeclined", "tok_chargeDeclinedInsufficientFunds", "tok_chargeDeclinedExpiredCard"}
)


@dataclass(frozen=True)
class Charge:
    """The gateway's final answer for one idempotency key."""

    ok: bool
    reference: str = ""  # the gateway's transaction id (a PaymentIntent id for Stripe)
    decline_code: str = ""  # why it was declined, in the provider's words (card_declined, …)

    @property
    def decline_reason(self) -> str:
        return self.decline_code


class GatewayUnavailable(Exception):
    """The outcome is unknown (a timeout, a 5xx, no connection). The invoice stays PENDING and
    the sweeper asks again with the same key; nothing may be concluded from this."""


class PaymentGateway(Protocol):
    name: str

    def charge(
        self,
        *,
        tenant_id: int,
        method: str,
        token: str | None,
        amount: Money,
        idempotency_key: str,
        description: str = "",
    ) -> Charge:
        """Charge `amount` once per `idempotency_key` (method `INVOICE`: bill it, payable
        later). Returns the final answer or raises `GatewayUnavailable`."""
        ...


class BuiltinGateway:
    """Accepts every charge, except card tokens listed in `declining` (test tokens).

    Like a real provider it remembers the answer per idempotency key: a repeat returns it and
    is not a second charge. `charges` counts the charges really made, per key (tests read it).
    """

    name = "builtin"

    def __init__(self, declining: frozenset[str] = DECLINING_TOKENS):
        self.declining = declining
        self._lock = threading.Lock()
        self._answers: dict[str, tuple[str, Charge]] = {}  # key -> (request fingerprint, answer)
        self.charges: dict[str, int] = {}

    def charge(
        self,
        *,
        tenant_id: int,
        method: str,
        token: str | None,
        amount: Money,
        idempotency_key: str,
        description: str = "",
    ) -> Charge:
        fingerprint = f"{tenant_id}:{method}:{token}:{amount.minor}:{amount.currency}"
        with self._lock:
            known = self._answers.get(idempotency_key)
            if known is not None:
                if known[0] != fingerprint:
                    # What Stripe answers to a key reused with other parameters.
                    raise ValueError(f"idempotency key {idempotency_key!r} reused")
                return known[1]
            if method == "CARD" and (
                token in self.declining or (token or "").startswith("tok_decl")
            ):
                answer = Charge(ok=False, decline_code="card_declined")
            else:
                digest = hashlib.sha256(f"{tenant_id}:{idempotency_key}".encode()).hexdigest()
                prefix = "inv_" if method == "INVOICE" else "ch_"
                answer = Charge(ok=True, reference=prefix + digest[:16])
            self._answers[idempotency_key] = (fingerprint, answer)
            self.charges[idempotency_key] = self.charges.get(idempotency_key, 0) + 1
            return answer


_lock = threading.Lock()
_gateway: PaymentGateway | None = None


def gateway_from_env() -> PaymentGateway:
    """The gateway `COMMCREDITS_PAYMENT_GATEWAY` names (`builtin`, the default, or `stripe`)."""
    name = os.environ.get("COMMCREDITS_PAYMENT_GATEWAY", "builtin").strip().lower()
    if name == "builtin":
        return BuiltinGateway()
    if name == "stripe":
        from commcredits.services.stripe_gateway import StripeGateway

        return StripeGateway.from_env()
    raise ValueError(f"COMMCREDITS_PAYMENT_GATEWAY is 'builtin' or 'stripe'; got {name!r}")


def gateway() -> PaymentGateway:
    global _gateway
    with _lock:
        if _gateway is None:
            _gateway = gateway_from_env()
        return _gateway


def set_gateway(new: PaymentGateway | None) -> PaymentGateway | None:
    """Install a gateway (None: the one the environment names, built on next use); returns
    the previous one."""
    global _gateway
    with _lock:
        previous, _gateway = _gateway, new
        return previous
