"""Charging a payment method: a small gateway interface (SPEC §6, seed step 2.10–2.11).

Money services call `gateway().charge(...)` and never see a card number: a billing profile
holds `INVOICE` or a card *token* issued by the payment provider. The built-in gateway
accepts every charge except those to the test tokens that are meant to decline, so that a
declined auto-recharge can be exercised for real.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

from commcredits.money import Money

# Tokens the built-in gateway declines, named like the test tokens payment providers issue.
DECLINING_TOKENS = frozenset(
    {"tok_chargeDeclined", "tok_chargeDeclinedInsufficientFunds", "tok_chargeDeclinedExpiredCard"}
)


@dataclass(frozen=True)
class Charge:
    ok: bool
    reference: str = ""  # the gateway's transaction id
    decline_reason: str = ""


class PaymentGateway(Protocol):
    def charge(
        self, *, tenant_id: int, method: str, token: str | None, amount: Money, reference: str
    ) -> Charge:
        """Charge `amount` (method `INVOICE` means: bill it, payable later)."""
        ...


class BuiltinGateway:
    """Accepts every charge, except card tokens listed in `declining` (test tokens)."""

    def __init__(self, declining: frozenset[str] = DECLINING_TOKENS):
        self.declining = declining

    def charge(
        self, *, tenant_id: int, method: str, token: str | None, amount: Money, reference: str
    ) -> Charge:
        if method == "CARD" and (token in self.declining or (token or "").startswith("tok_decl")):
            return Charge(ok=False, decline_reason="card_declined")
        digest = hashlib.sha256(f"{tenant_id}:{reference}:{amount}".encode()).hexdigest()[:16]
        return Charge(ok=True, reference=("inv_" if method == "INVOICE" else "ch_") + digest)


_gateway: PaymentGateway = BuiltinGateway()


def gateway() -> PaymentGateway:
    return _gateway


def set_gateway(new: PaymentGateway) -> PaymentGateway:
    """Install a gateway (a deployment's provider adapter); returns the previous one."""
    global _gateway
    previous, _gateway = _gateway, new
    return previous
