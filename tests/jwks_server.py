"""A stand-in identity provider for tests: keys generated here, a JWKS on a loopback HTTP
server, and tokens signed with those keys.

The server is real (threaded `http.server` on 127.0.0.1, a free port), so the app fetches keys
over HTTP as it would from Keycloak or Entra ID. It can be switched down (503) and its keys
rotated; it counts the requests it answered, so a test can see a fetch happen or not happen.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from commcredits.config import JwtSettings

ISSUER = "https://idp.fabrikam.example/"
AUDIENCE = "commcredits-spa"


@dataclass
class SigningKey:
    kid: str
    alg: str  # RS256 or ES256
    private: Any

    def jwk(self) -> dict[str, Any]:
        public = self.private.public_key()
        codec = RSAAlgorithm if self.alg == "RS256" else ECAlgorithm
        found = codec.to_jwk(public, as_dict=True)
        return {**found, "kid": self.kid, "use": "sig", "alg": self.alg}


def new_key(kid: str, alg: str = "RS256") -> SigningKey:
    if alg == "RS256":
        return SigningKey(kid, alg, rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return SigningKey(kid, alg, ec.generate_private_key(ec.SECP256R1()))


class IdentityProvider:
    """Serves `/jwks` with the public half of `published`; signs with any key it made."""

    def __init__(self) -> None:
        self.rsa = new_key("rsa-1", "RS256")
        self.ec = new_key("ec-1", "ES256")
        self.published: list[SigningKey] = [self.rsa, self.ec]
        self.down = False  # answer 503, as an IdP in trouble does
        self.requests = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/jwks"

    def start(self) -> IdentityProvider:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def rotate(self, alg: str = "RS256") -> SigningKey:
        """A new key appears in the JWKS (the old ones stay, as IdPs overlap them)."""
        key = new_key(f"rotated-{len(self.published)}", alg)
        with self._lock:
            self.published = [*self.published, key]
        return key

    def token(
        self,
        *,
        now: dt.datetime,
        role: str | None = "GLOBAL_ADMIN",
        tenant: Any = "Fabrikam",
        key: SigningKey | None = None,
        lifetime: dt.timedelta = dt.timedelta(minutes=10),
        headers: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """A token as the IdP issues it; `claims` override or (with None) drop any claim."""
        key = key or self.rsa
        payload: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "ada@fabrikam.example",
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int((now + lifetime).timestamp()),
            "commcredits_role": role,
            "commcredits_tenant": tenant,
            **claims,
        }
        payload = {k: v for k, v in payload.items() if v is not None}
        # Signed as raw JWS, not with jwt.encode: that checks claims (a non-string `iss`), and
        # tests need to send exactly what a broken or hostile IdP might.
        return jwt.api_jws.encode(
            json.dumps(payload).encode(),
            key.private,
            algorithm=key.alg,
            headers={"kid": key.kid, "typ": "JWT", **(headers or {})},
        )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                with provider._lock:
                    provider.requests += 1
                    down, keys = provider.down, list(provider.published)
                if down or self.path != "/jwks":
                    self.send_error(503 if down else 404)
                    return
                body = json.dumps({"keys": [k.jwk() for k in keys]}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: pytest shows what matters

        return Handler


@contextmanager
def identity_provider() -> Iterator[IdentityProvider]:
    provider = IdentityProvider().start()
    try:
        yield provider
    finally:
        provider.stop()


def jwt_env(provider_url: str, **extra: str) -> dict[str, str]:
    """The server environment that trusts the stand-in IdP."""
    return {
        "COMMCREDITS_JWT_ISSUER": ISSUER,
        "COMMCREDITS_JWT_AUDIENCE": AUDIENCE,
        "COMMCREDITS_JWT_JWKS_URL": provider_url,
        **extra,
    }


def jwt_settings(provider_url: str, **overrides: Any) -> JwtSettings:
    """The same, for an app built in-process (`create_app(settings=…)`)."""
    return JwtSettings(issuer=ISSUER, audience=AUDIENCE, jwks_url=provider_url, **overrides)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged(header: dict[str, Any], claims: dict[str, Any], secret: bytes | None = None) -> str:
    """A token PyJWT would refuse to make: `alg: none` (no secret) or HS256 keyed with
    `secret` (the attack: the IdP's public key PEM used as an HMAC secret)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    if secret is None:
        return signing_input + "."
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"
