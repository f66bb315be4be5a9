"""The Stripe payment gateway (`COMMCREDITS_PAYMENT_GATEWAY=stripe`): see docs/stripe.md.

A billing profile paying by `CARD` holds a Stripe PaymentMethod id (`pm_…`) attached to a
Stripe Customer. A charge retrieves the PaymentMethod (to learn its customer), then creates and
confirms one off-session PaymentIntent with our idempotency key as Stripe's `Idempotency-Key`:
asking again with the same key (after a crash, a timeout or a 5xx) returns Stripe's stored
answer for that key, never a second charge. Stripe keeps keys for at least 24 hours.

Outcomes:
- status `succeeded` or `processing` → `Charge(ok=True, reference=<PaymentIntent id>)`.
  `processing` counts as accepted: Stripe replays the same stored `processing` answer for the
  key, so treating it as "unknown" would keep the invoice PENDING until the key expires and
  then charge again; a later failure of a processing card payment is a dispute-like event.
- a card decline (HTTP 402), `authentication_required` (what Stripe answers off-session when
  the bank wants 3-D Secure), status `requires_action` / `requires_payment_method`, or a
  request Stripe refuses for this card (no such PaymentMethod, amount too small, …)
  → `Charge(ok=False, decline_code=<Stripe's decline_code or code>)`.
- timeout, connection error, 5xx, 409, rate limit (after the SDK's own retries), or a refused
  API key → `GatewayUnavailable`: nothing may be concluded, the sweeper asks again.
- the key reused with other parameters (Stripe's idempotency_error) → `ValueError`, as the
  built-in gateway does: a bug in the caller, never retried blindly.

The secret key lives only inside the SDK client: it is never logged, never in repr().
"""

from __future__ import annotations

import hashlib
import logging
import os
from typing import Any

import stripe

from commcredits.money import Money
from commcredits.services.payments import Charge, GatewayUnavailable

log = logging.getLogger("commcredits.payments.stripe")

DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 2
# Card PaymentMethod ids (and legacy Card ids, which the PaymentMethods API also serves).
_CARD_ID_PREFIXES = ("pm_", "card_")

# The SDK's telemetry only adds headers to requests already made to the configured API base
# (no extra calls), but it also writes ~/.config/stripe/telemetry_id: keep it off.
stripe.enable_telemetry = False


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds; got {raw!r}") from None
    if not value > 0:
        raise ValueError(f"{name} must be more than 0 seconds; got {raw!r}")
    return value


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number; got {raw!r}") from None
    if value < 0:
        raise ValueError(f"{name} must be 0 or more; got {raw!r}")
    return value


def _get(obj: Any, field: str) -> Any:
    """A field of a StripeObject (or a plain dict), None when absent."""
    if obj is None:
        return None
    try:
        return obj.get(field)
    except AttributeError:
        return getattr(obj, field, None)


def _id_of(value: Any) -> str | None:
    """An expandable field's id: a string, or the `id` of the expanded object."""
    if value is None or isinstance(value, str):
        return value or None
    return _get(value, "id")


class StripeGateway:
    """Charges cards through Stripe's PaymentIntents API (see the module docstring)."""

    name = "stripe"

    def __init__(
        self,
        secret_key: str,
        *,
        api_base: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
    ):
        secret_key = (secret_key or "").strip()
        if not secret_key:
            raise ValueError(
                "The Stripe gateway needs a secret key: set COMMCREDITS_STRIPE_SECRET_KEY "
                "(sk_live_…, sk_test_… or a restricted rk_… key)."
            )
        api_base = (api_base or stripe.DEFAULT_API_BASE).strip().rstrip("/")
        if not api_base.startswith(("https://", "http://")):
            raise ValueError(
                f"COMMCREDITS_STRIPE_API_BASE must be an http(s) URL; got {api_base!r}"
            )
        if not timeout > 0:
            raise ValueError(f"the Stripe timeout must be more than 0 seconds; got {timeout!r}")
        if max_retries < 0:
            raise ValueError(f"the Stripe retry count must be 0 or more; got {max_retries!r}")
        self.api_base = api_base
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        # The SDK's own default client (requests, which stripe depends on), with our timeout
        # (the stdlib fallback client would have none).
        http_client = stripe.RequestsClient(timeout=self.timeout)
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_base},
            max_network_retries=self.max_retries,
            http_client=http_client,
        )

    @classmethod
    def from_env(cls) -> StripeGateway:
        """From COMMCREDITS_STRIPE_SECRET_KEY (required), COMMCREDITS_STRIPE_API_BASE,
        COMMCREDITS_STRIPE_TIMEOUT (seconds, default 30) and COMMCREDITS_STRIPE_MAX_RETRIES
        (default 2)."""
        return cls(
            os.environ.get("COMMCREDITS_STRIPE_SECRET_KEY", ""),
            api_base=os.environ.get("COMMCREDITS_STRIPE_API_BASE") or None,
            timeout=_env_float("COMMCREDITS_STRIPE_TIMEOUT", DEFAULT_TIMEOUT),
            max_retries=_env_int("COMMCREDITS_STRIPE_MAX_RETRIES", DEFAULT_MAX_RETRIES),
        )

    def __repr__(self) -> str:
        return (
            f"StripeGateway(api_base={self.api_base!r}, timeout={self.timeout!r}, "
            f"max_retries={self.max_retries!r})"
        )

    __str__ = __repr__

    # -- charging -----------------------------------------------------------------------------
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
        if not idempotency_key:
            raise ValueError("a charge needs an idempotency key")
        if method == "INVOICE":
            # Billed by invoice, payable later: nothing to ask Stripe now.
            digest = hashlib.sha256(f"{tenant_id}:{idempotency_key}".encode()).hexdigest()
            return Charge(ok=True, reference="inv_" + digest[:16])
        if method != "CARD":
            raise ValueError(f"unknown payment method {method!r} (INVOICE or CARD)")
        if not token or not token.startswith(_CARD_ID_PREFIXES):
            # A one-time tok_… (or nothing) cannot be charged off-session.
            return self._declined(tenant_id, "invalid_payment_method")

        payment_method = self._call(
            lambda: self._client.v1.payment_methods.retrieve(token), tenant_id, "retrieve"
        )
        if isinstance(payment_method, Charge):
            return payment_method
        customer = _id_of(_get(payment_method, "customer"))
        if not customer:
            return self._declined(tenant_id, "payment_method_not_attached")

        params: dict[str, Any] = {
            "amount": amount.minor,
            "currency": amount.currency.lower(),
            "customer": customer,
            "payment_method": token,
            # Cards only: with Stripe's default automatic_payment_methods, confirm=true would
            # also demand a return_url for redirect-based methods we never use.
            "payment_method_types": ["card"],
            "confirm": True,
            "off_session": True,
            "metadata": {"tenant_id": str(tenant_id), "idempotency_key": idempotency_key},
        }
        if description:
            params["description"] = description
        intent = self._call(
            lambda: self._client.v1.payment_intents.create(
                params,  # type: ignore[arg-type]
                {"idempotency_key": idempotency_key},
            ),
            tenant_id,
            "create",
        )
        if isinstance(intent, Charge):
            return intent
        return self._outcome(tenant_id, intent)

    def _call(self, request, tenant_id: int, what: str):
        """Run one SDK call; a final decline becomes a Charge, an unknown outcome
        GatewayUnavailable."""
        try:
            return request()
        except stripe.CardError as e:
            err = e.error
            code = _get(err, "decline_code") or e.code or _get(err, "code") or "card_declined"
            return self._declined(tenant_id, code, _id_of(_get(err, "payment_intent")))
        except stripe.IdempotencyError as e:
            log.error(
                "stripe %s refused: idempotency key reused with other parameters (tenant %s, "
                "request %s)",
                what,
                tenant_id,
                e.request_id,
            )
            raise ValueError(
                "Stripe refused the charge: its idempotency key was first used with other "
                "parameters (amount, card, description)"
            ) from e
        except (stripe.AuthenticationError, stripe.PermissionError) as e:
            log.error(
                "stripe %s refused the API key (HTTP %s, request %s): check "
                "COMMCREDITS_STRIPE_SECRET_KEY",
                what,
                e.http_status,
                e.request_id,
            )
            raise GatewayUnavailable(f"Stripe refused the API key (HTTP {e.http_status})") from e
        except stripe.InvalidRequestError as e:
            # Stripe will not charge this card this way (no such PaymentMethod, amount too
            # small, …): a final answer, the same on every retry.
            code = e.code or _get(e.error, "code") or "invalid_request"
            return self._declined(tenant_id, code)
        except stripe.APIConnectionError as e:
            log.warning("stripe %s: no answer (tenant %s): %s", what, tenant_id, e.user_message)
            raise GatewayUnavailable("no answer from Stripe (timeout or connection error)") from e
        except stripe.StripeError as e:  # 5xx, 409, 429 after the SDK's retries, anything else
            log.warning(
                "stripe %s: HTTP %s (tenant %s, request %s)",
                what,
                e.http_status,
                tenant_id,
                e.request_id,
            )
            raise GatewayUnavailable(f"Stripe answered HTTP {e.http_status}") from e

    def _outcome(self, tenant_id: int, intent: Any) -> Charge:
        status = _get(intent, "status")
        intent_id = _get(intent, "id") or ""
        if status in ("succeeded", "processing"):
            log.info("stripe charge %s for tenant %s: %s", intent_id, tenant_id, status)
            return Charge(ok=True, reference=intent_id)
        if status == "requires_action":
            code = "authentication_required"
        else:  # requires_payment_method, canceled, anything a confirmed card intent should not be
            error = _get(intent, "last_payment_error")
            code = _get(error, "decline_code") or _get(error, "code") or str(status)
        return self._declined(tenant_id, code, intent_id)

    def _declined(self, tenant_id: int, code: str, intent_id: str | None = None) -> Charge:
        log.info(
            "stripe charge declined for tenant %s: %s (%s)",
            tenant_id,
            code,
            intent_id or "no PaymentIntent",
        )
        return Charge(ok=False, reference=intent_id or "", decline_code=code)
