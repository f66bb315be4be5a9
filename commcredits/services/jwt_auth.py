"""Bearer JWTs from the organisation's identity provider, turned into a `Principal`.

A single-page app signs its users in at the organisation's identity provider (IdP) and sends
the IdP's access token as `Authorization: Bearer <jwt>`; it never holds an API key. What is
checked, and why (README "Browser sign-in with JWT"):

- only RS256 / ES256 (the configured subset), decided from the allow-list before any key is
  looked up: `alg: none` and HS* are refused, so a public key can never be used as an HMAC
  secret (the classic "algorithm confusion" forgery);
- the key comes from the configured JWKS URL only — `jku`, `x5u`, `jwk` and `x5c` headers are
  never read, or anyone could point us at their own keys;
- `exp` (required), `nbf` and `iat` against the request's clock with a small leeway (PyJWT
  compares with the wall clock, so it checks signature, `iss` and `aud`, and we check time);
- `sub` (required: audit entries name it), the role claim (one of ours; OPERATOR only when
  allowed) and the tenant claim (our numeric id or exact name) for tenant roles.

Keys are cached for `jwks_ttl`; an unknown `kid` triggers one refetch at most every
`jwks_refetch` seconds, so a rotated key is picked up without letting tokens with random kids
hammer the IdP. A failed fetch keeps the keys we have (an IdP outage does not sign anyone out);
with none at all, JWT requests get 503 while API keys keep working. Verifying writes nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import jwt
from jwt import PyJWK, PyJWKClient, PyJWKSet

from commcredits.config import JwtSettings
from commcredits.models import Tenant
from commcredits.services.errors import DomainError
from commcredits.services.principal import Principal, Role
from commcredits.services.tenants import find_tenant

log = logging.getLogger("commcredits.jwt")

# Reason codes (in the 401 body's extensions.reason) with the text the client sees.
REASONS: dict[str, str] = {
    "MALFORMED": "The token is not a well-formed JWT.",
    "ALGORITHM_NOT_ALLOWED": "The token's algorithm is not accepted (RS256 or ES256 only).",
    "UNKNOWN_KEY": "The token's key id is not in the identity provider's key set.",
    "BAD_SIGNATURE": "The token's signature does not verify.",
    "TOKEN_EXPIRED": "The token has expired.",
    "TOKEN_NOT_YET_VALID": "The token is not valid yet.",
    "WRONG_ISSUER": "The token was issued by another issuer.",
    "WRONG_AUDIENCE": "The token is meant for another audience.",
    "MISSING_CLAIM": "The token lacks a required claim.",
    "UNKNOWN_ROLE": "The token's role claim names no role of this service.",
    "ROLE_NOT_ALLOWED": "The OPERATOR role cannot be given by a token.",
    "UNKNOWN_TENANT": "The token's tenant claim names no tenant.",
}
MAX_TOKEN_LENGTH = 8192  # far above any IdP's access token; nothing bigger is parsed
MAX_SUBJECT_LENGTH = 100  # of `sub` kept in the audit label (the actor column has 200)
_JWT_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")  # unsigned: empty 3rd


class JwtError(Exception):
    """A bearer JWT was refused (HTTP 401); `reason` is one of REASONS."""

    def __init__(self, reason: str, detail: str = ""):
        self.reason = reason
        self.description = REASONS[reason] + (f" ({detail})" if detail else "")
        super().__init__(self.description)


class JwksUnavailable(Exception):
    """No usable key is cached and the JWKS URL cannot be fetched (HTTP 503)."""

    def __init__(self, retry_after: int):
        super().__init__("the identity provider's key set cannot be fetched")
        self.retry_after = retry_after


def looks_like_jwt(token: str) -> bool:
    """Three base64url segments: API keys (`cck_…`) never contain a dot."""
    return _JWT_SHAPE.fullmatch(token) is not None


def failure_label(token: str) -> str:
    """What the failed-auth limiter counts a refused JWT under (as a key prefix for keys).

    Every JWT starts with the same base64 of `{"alg":…`, so the token's first characters would
    put every IdP user into one bucket; a digest of the whole token counts each token apart.
    """
    return "jwt_" + hashlib.sha256(token.encode()).hexdigest()[:6]


class KeySet:
    """The IdP's signing keys, from the configured JWKS URL only; thread-safe."""

    def __init__(
        self, settings: JwtSettings, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self._monotonic = monotonic
        # PyJWKClient for the fetch alone (http(s) only, no redirects, a timeout); its own cache
        # forgets the keys once they expire, even when the refetch fails, so we keep ours.
        self._client = PyJWKClient(
            settings.jwks_url, cache_jwk_set=False, timeout=settings.jwks_timeout
        )
        self._lock = threading.Lock()
        self._keys: list[PyJWK] | None = None
        self._fetched_at = -math.inf
        self._attempted_at = -math.inf

    def key_for(self, kid: str | None) -> PyJWK:
        with self._lock:
            now = self._monotonic()
            if self._keys is None or now - self._fetched_at >= self.settings.jwks_ttl:
                self._refresh(now)
            if self._keys is None:
                wait = self.settings.jwks_refetch - (now - self._attempted_at)
                raise JwksUnavailable(max(1, math.ceil(wait)))
            key = self._match(kid)
            if key is None and self._refresh(now):  # perhaps rotated since we fetched
                key = self._match(kid)
            if key is None:
                raise JwtError("UNKNOWN_KEY")
            return key

    def _match(self, kid: str | None) -> PyJWK | None:
        keys = self._keys or []
        if kid is None:  # an IdP with a single key may leave `kid` out
            return keys[0] if len(keys) == 1 else None
        return next((k for k in keys if k.key_id == kid), None)

    def _refresh(self, now: float) -> bool:
        """Fetch the key set unless a fetch was tried in the last `jwks_refetch` seconds;
        whether a new set was stored. On failure the keys we had stay in use."""
        if now - self._attempted_at < self.settings.jwks_refetch:
            return False
        self._attempted_at = now
        try:
            data = self._client.fetch_data()
            allowed = self.settings.algorithms
            keys = [
                k
                for k in PyJWKSet.from_dict(data).keys
                if k.public_key_use in ("sig", None) and k.algorithm_name in allowed
            ]
        except (jwt.PyJWTError, ValueError, OSError) as error:  # ValueError: not JSON
            log.warning("JWKS fetch failed: %s", type(error).__name__)
            return False
        if not keys:
            log.warning("JWKS has no usable signing key; keeping the cached keys")
            return False
        self._keys, self._fetched_at = keys, now
        return True


def _timestamp(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise JwtError("MALFORMED", f"'{name}' is not a NumericDate")
    return float(value)


class JwtVerifier:
    """`verify(token, now)` → Principal, or JwtError / JwksUnavailable."""

    def __init__(self, settings: JwtSettings, keys: KeySet | None = None) -> None:
        self.settings = settings
        self.keys = keys or KeySet(settings)

    def verify(self, token: str, *, now: dt.datetime) -> Principal:
        claims = self._verified_claims(token)
        self._check_times(claims, now)
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject.strip():
            raise JwtError("MISSING_CLAIM", "sub")
        role = self._role(claims)
        tenant = None if role is Role.OPERATOR else self._tenant(claims)
        # Printable characters only: the label goes into audit entries and log lines.
        label = "".join(c for c in subject.strip() if c.isprintable())[:MAX_SUBJECT_LENGTH]
        return Principal(key_id=None, role=role, tenant=tenant, key_prefix=f"jwt:{label}")

    def _verified_claims(self, token: str) -> dict[str, Any]:
        s = self.settings
        if len(token) > MAX_TOKEN_LENGTH or not looks_like_jwt(token):
            raise JwtError("MALFORMED")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise JwtError("MALFORMED") from error
        alg = header.get("alg")
        # Decided before any key is fetched: `none` and HS* never reach a key, nor the JWKS.
        if not isinstance(alg, str) or alg not in s.algorithms:
            raise JwtError("ALGORITHM_NOT_ALLOWED", f"{str(alg)[:20]!r}")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise JwtError("MALFORMED", "'kid' is not a string")
        key = self.keys.key_for(kid)  # `jku`/`x5u`/`jwk`/`x5c` are deliberately not read
        if alg != key.algorithm_name:  # an EC token naming an RSA key's kid, or the reverse
            raise JwtError("ALGORITHM_NOT_ALLOWED", "not the key's algorithm")
        try:
            return jwt.decode(
                token,
                key=key,
                algorithms=list(s.algorithms),
                audience=s.audience,
                issuer=s.issuer,
                # Time is checked against the request's clock in _check_times.
                options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
            )
        except jwt.InvalidSignatureError as error:
            raise JwtError("BAD_SIGNATURE") from error
        except jwt.InvalidAlgorithmError as error:  # the token's alg is not the key's
            raise JwtError("ALGORITHM_NOT_ALLOWED", "not the key's algorithm") from error
        except jwt.InvalidAudienceError as error:
            raise JwtError("WRONG_AUDIENCE") from error
        except jwt.InvalidIssuerError as error:
            raise JwtError("WRONG_ISSUER") from error
        except jwt.MissingRequiredClaimError as error:
            raise JwtError("MISSING_CLAIM", error.claim) from error
        except jwt.PyJWTError as error:  # undecodable payload, a non-string sub, …
            raise JwtError("MALFORMED") from error

    def _check_times(self, claims: dict[str, Any], now: dt.datetime) -> None:
        at, leeway = now.timestamp(), self.settings.leeway
        expires = _timestamp(claims, "exp")
        if expires is None:  # a token that never expires cannot be taken back: refused
            raise JwtError("MISSING_CLAIM", "exp")
        if expires <= at - leeway:
            raise JwtError("TOKEN_EXPIRED")
        not_before = _timestamp(claims, "nbf")
        if not_before is not None and not_before > at + leeway:
            raise JwtError("TOKEN_NOT_YET_VALID")
        issued = _timestamp(claims, "iat")
        if issued is not None and issued > at + leeway:
            raise JwtError("TOKEN_NOT_YET_VALID", "issued in the future")

    def _role(self, claims: dict[str, Any]) -> Role:
        name = self.settings.role_claim
        value = claims.get(name)
        if value is None:
            raise JwtError("MISSING_CLAIM", name)
        try:
            role = Role(value) if isinstance(value, str) else None
        except ValueError:
            role = None
        if role is None:
            raise JwtError("UNKNOWN_ROLE", name)
        if role is Role.OPERATOR and not self.settings.allow_operator:
            raise JwtError("ROLE_NOT_ALLOWED")
        return role

    def _tenant(self, claims: dict[str, Any]) -> Tenant:
        name = self.settings.tenant_claim
        value = claims.get(name)
        if value is None:
            raise JwtError("MISSING_CLAIM", name)
        # Our numeric id (a JSON number or digits) or the exact name; find_tenant reads digits
        # as an id and bounds them, so "²" or a 30-digit number is no tenant, never a 500.
        if isinstance(value, int) and not isinstance(value, bool):
            ref = str(value)
        elif isinstance(value, str) and 0 < len(value.strip()) <= 200:
            ref = value.strip()
        else:
            raise JwtError("UNKNOWN_TENANT", name)
        try:
            return find_tenant(ref)
        except DomainError as error:
            raise JwtError("UNKNOWN_TENANT", name) from error
