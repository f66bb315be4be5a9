"""Settings read from the environment, in one place."""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlparse, urlsplit

DATABASE_FILE = "commcredits.db"
JWT_ALGORITHMS = ("RS256", "ES256")  # asymmetric only: a JWKS holds public keys, never secrets
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


class ConfigError(ValueError):
    """A setting that cannot be used: `commcredits` prints it and exits 2 (no traceback)."""


@functools.cache
def source_checkout() -> Path | None:
    """The project checkout this package runs from (`pip install -e .`, `make`), or None for an
    installed package: the directory above `commcredits/` that holds our pyproject.toml."""
    root = Path(__file__).resolve().parent.parent
    try:
        text = (root / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return None
    return root if 'name = "commcredits"' in text else None


def data_dir() -> Path:
    """Where local state lives when no setting says: the checkout's `var/` when running from a
    source checkout, else the user's data directory ($XDG_DATA_HOME/commcredits, by default
    ~/.local/share/commcredits). Never the working directory: a command run from elsewhere
    must find the same database, not start an empty one there."""
    checkout = source_checkout()
    if checkout is not None:
        return checkout / "var"
    xdg = os.environ.get("XDG_DATA_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return base / "commcredits"


def sqlite_url(path: Path) -> str:
    """`sqlite:///` + an absolute path (so `sqlite:////abs/file.db`), quoted as a URL."""
    return "sqlite:///" + quote(str(path.absolute()))


def database_url_from_env() -> str:
    """The database every command uses, resolved one way (README "Which database"):

    1. COMMCREDITS_DATABASE_URL when set; a relative SQLite path in it is taken from the
       working directory, as written, and made absolute here so every message names the file;
    2. else `<data_dir()>/commcredits.db` (the checkout's var/commcredits.db from a checkout).
    """
    url = os.environ.get("COMMCREDITS_DATABASE_URL", "").strip()
    if not url:
        return sqlite_url(data_dir() / DATABASE_FILE)
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = unquote(parsed.path[1:] if parsed.path.startswith("/") else parsed.path)
        if path and path != ":memory:" and not Path(path).is_absolute():
            return sqlite_url(Path(path))
    return url


def _number(name: str, default: float, kind: type[float] | type[int] = float) -> float:
    """A numeric setting: an unreadable one names the variable instead of a bare ValueError."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return kind(default)
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number.") from None
    if not math.isfinite(value):
        raise ConfigError(f"{name}={raw!r} is not a finite number.")
    return value


def cors_origins(raw: str) -> tuple[str, ...]:
    """COMMCREDITS_CORS_ORIGINS: comma-separated origins (`https://app.example[:port]`).

    `*` is refused: responses allow credentials, and credentials for any origin would let every
    site read a signed-in user's data. An entry with a path or a trailing slash would never
    equal a browser's `Origin` header, so it is refused too rather than silently never matching.
    """
    found: list[str] = []
    for item in raw.split(","):
        origin = item.strip()
        if not origin:
            continue
        if origin == "*":
            raise ConfigError(
                "COMMCREDITS_CORS_ORIGINS: '*' is not accepted (CORS here allows credentials); "
                "list each origin, e.g. https://console.example.com"
            )
        url = urlsplit(origin)
        try:
            url.port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            url = urlsplit("")
        if (
            url.scheme.lower() not in ("http", "https")
            or not url.hostname
            or url.username is not None
            or f"{url.scheme}://{url.netloc}" != origin
        ):
            raise ConfigError(
                f"COMMCREDITS_CORS_ORIGINS: {origin!r} is not an origin "
                "(scheme://host[:port], no path, no trailing slash)."
            )
        found.append(f"{url.scheme.lower()}://{url.netloc.lower()}")  # as browsers send it
    return tuple(dict.fromkeys(found))


@dataclass(frozen=True)
class SessionSettings:
    """Browser session cookies and one-time sign-in links (README "Browser sign-in with a
    session cookie"), in seconds."""

    idle: float = 1800.0  # a session unused this long ends
    lifetime: float = 43200.0  # and any session ends this long after sign-in
    link_ttl: float = 900.0  # a sign-in link not used within this is refused

    def __post_init__(self) -> None:
        # The last-seen stamp is written at most once a minute, so a shorter idle timeout
        # could not be kept.
        if not 60 <= self.idle <= self.lifetime:
            raise ConfigError(
                "COMMCREDITS_SESSION_IDLE_SECONDS must be at least 60 and at most "
                "COMMCREDITS_SESSION_LIFETIME_SECONDS."
            )
        if not 0 < self.link_ttl <= 86400:
            raise ConfigError("COMMCREDITS_SIGN_IN_LINK_SECONDS must be between 1 and 86400.")

    @classmethod
    def from_env(cls) -> SessionSettings:
        return cls(
            idle=_number("COMMCREDITS_SESSION_IDLE_SECONDS", 1800),
            lifetime=_number("COMMCREDITS_SESSION_LIFETIME_SECONDS", 43200),
            link_ttl=_number("COMMCREDITS_SIGN_IN_LINK_SECONDS", 900),
        )


@dataclass(frozen=True)
class JwtSettings:
    """Bearer JWTs from the organisation's identity provider (README "Browser sign-in with JWT").

    Present only when issuer, audience and JWKS URL are all set; without them a JWT is just an
    unknown API key.
    """

    issuer: str
    audience: str
    jwks_url: str
    algorithms: tuple[str, ...] = JWT_ALGORITHMS
    tenant_claim: str = "commcredits_tenant"
    role_claim: str = "commcredits_role"
    leeway: float = 60.0  # seconds of clock skew allowed on exp, nbf and iat
    jwks_ttl: float = 300.0  # seconds a fetched key set is fresh
    jwks_refetch: float = 30.0  # at most one extra fetch (unknown kid, outage) this often
    jwks_timeout: float = 5.0
    allow_operator: bool = False  # OPERATOR is the service owner's role, not an IdP's to hand out

    def __post_init__(self) -> None:
        url = urlparse(self.jwks_url)
        if url.scheme != "https" and not (url.scheme == "http" and url.hostname in _LOOPBACK):
            # Keys fetched over plain HTTP could be swapped on the way: anyone could sign.
            raise ConfigError("COMMCREDITS_JWT_JWKS_URL must be https (http only on loopback).")
        if not self.algorithms or not set(self.algorithms) <= set(JWT_ALGORITHMS):
            raise ConfigError(
                f"COMMCREDITS_JWT_ALGORITHMS: a subset of {', '.join(JWT_ALGORITHMS)}."
            )
        if not self.tenant_claim or not self.role_claim:
            raise ConfigError("COMMCREDITS_JWT_TENANT_CLAIM / _ROLE_CLAIM may not be empty.")
        times = (self.leeway, self.jwks_refetch, self.jwks_ttl, self.jwks_timeout)
        if not all(math.isfinite(t) and t >= 0 for t in times) or 0 in times[2:]:
            raise ConfigError("JWT leeway, cache, refetch and timeout seconds must be positive.")

    @classmethod
    def from_env(cls) -> JwtSettings | None:
        env = os.environ
        names = ("COMMCREDITS_JWT_ISSUER", "COMMCREDITS_JWT_AUDIENCE", "COMMCREDITS_JWT_JWKS_URL")
        given = {name: env.get(name, "").strip() for name in names}
        if not any(given.values()):
            return None
        missing = [name for name, value in given.items() if not value]
        if missing:  # half a configuration must not silently turn JWT sign-in off
            raise ConfigError(f"JWT sign-in needs {', '.join(missing)} as well.")
        return cls(
            issuer=given["COMMCREDITS_JWT_ISSUER"],
            audience=given["COMMCREDITS_JWT_AUDIENCE"],
            jwks_url=given["COMMCREDITS_JWT_JWKS_URL"],
            algorithms=tuple(
                a.strip().upper()
                for a in env.get("COMMCREDITS_JWT_ALGORITHMS", ",".join(JWT_ALGORITHMS)).split(",")
                if a.strip()
            ),
            tenant_claim=env.get("COMMCREDITS_JWT_TENANT_CLAIM", "commcredits_tenant").strip(),
            role_claim=env.get("COMMCREDITS_JWT_ROLE_CLAIM", "commcredits_role").strip(),
            leeway=_number("COMMCREDITS_JWT_LEEWAY_SECONDS", 60),
            jwks_ttl=_number("COMMCREDITS_JWT_JWKS_CACHE_SECONDS", 300),
            jwks_refetch=_number("COMMCREDITS_JWT_JWKS_REFETCH_SECONDS", 30),
            jwks_timeout=_number("COMMCREDITS_JWT_JWKS_TIMEOUT_SECONDS", 5),
            allow_operator=env.get("COMMCREDITS_JWT_ALLOW_OPERATOR", "") == "1",
        )


@dataclass(frozen=True)
class Settings:
    database_url: str
    max_body_bytes: int
    log_level: str
    webhook_interval: float = 5.0  # seconds between outbox delivery runs in `serve`; 0: off
    # The payment sweeper in `serve`: every interval (0: off) it finishes invoices PENDING for
    # at least `payment_sweep_age` seconds (a request normally settles its own within seconds).
    payment_sweep_interval: float = 60.0
    payment_sweep_age: float = 60.0
    jwt: JwtSettings | None = None  # bearer JWTs from an identity provider; None: API keys only
    cors_origins: tuple[str, ...] = ()  # other origins browsers may call from; (): same only
    sessions: SessionSettings = SessionSettings()

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            database_url=database_url_from_env(),
            max_body_bytes=int(_number("COMMCREDITS_MAX_BODY_BYTES", 5 * 1024 * 1024, int)),
            log_level=os.environ.get("COMMCREDITS_LOG_LEVEL", "INFO"),
            webhook_interval=_number("COMMCREDITS_WEBHOOK_INTERVAL", 5),
            payment_sweep_interval=_number("COMMCREDITS_PAYMENT_SWEEP_INTERVAL", 60),
            payment_sweep_age=_number("COMMCREDITS_PAYMENT_SWEEP_AGE", 60),
            jwt=JwtSettings.from_env(),
            cors_origins=cors_origins(os.environ.get("COMMCREDITS_CORS_ORIGINS", "")),
            sessions=SessionSettings.from_env(),
        )
