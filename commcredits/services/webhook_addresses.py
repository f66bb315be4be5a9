"""Where a webhook may point, decided once per URL spelling and once per connection.

A tenant admin chooses the webhook URL, so the server must not be made to POST into the
operator's network. Two rules make the check mean something:

* One parser. `parse_webhook_url` turns every spelling into the host the connection will use:
  UTS #46 mapping (fullwidth digits and dots, upper case), IDNA for the rest, one trailing dot
  dropped, and every IPv4 form libc's `inet_aton` accepts (`127.1`, `0x7f000001`,
  `2130706433`, `0177.0.0.1`, `0`) read as the address it is. Both the check at set time and
  delivery use it, so a URL cannot mean one thing to the check and another to the connection.
* One lookup. At delivery the name is resolved once (`resolve`), every answer is checked, and
  the connection goes to a checked address (`post_pinned`): the HTTP client never looks the
  name up again, so DNS rebinding between the check and the connect has nothing to hit.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import socket
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import idna

from commcredits.services.errors import DomainError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2000
# Connection attempts per delivery when a name has several (all checked) addresses, as
# socket.create_connection would try them; bounded so one tenant cannot stall a run.
MAX_CONNECT_TRIES = 4
# A delivery's whole time (connecting, sending, the answer's head and the little of its body
# that is read): the client's timeout bounds each read, not the request, so a receiver that
# trickles a byte at a time would otherwise hold the delivery run, every tenant's, for hours.
DELIVERY_SECONDS = 10.0
ANSWER_BYTES = 4096  # of an answer's body read (only its status counts), so none is buffered
_LABEL = re.compile(r"[a-z0-9_-]{1,63}")
# A last label that is a number makes the host an IPv4 address to inet_aton and to
# getaddrinfo (and to WHATWG URL parsers); if inet_aton refuses it, so do we.
_NUMERIC_LABEL = re.compile(r"(0x[0-9a-f]*|[0-9]+)")
# Special-purpose blocks (IANA registry) that older Pythons' ipaddress reports as global.
_NOT_GLOBAL = tuple(
    ipaddress.ip_network(n) for n in ("192.0.0.0/24", "100.64.0.0/10", "3fff::/20", "5f00::/16")
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def private_targets_allowed() -> bool:
    """Webhooks to loopback, private or link-local addresses are refused unless the operator
    allows them (COMMCREDITS_WEBHOOK_ALLOW_PRIVATE=1): a tenant admin must not be able to make
    the server POST into the operator's internal network."""
    return os.environ.get("COMMCREDITS_WEBHOOK_ALLOW_PRIVATE", "") == "1"


class ResolveError(Exception):
    """The name has no address now (NXDOMAIN, resolver down): a retryable delivery failure."""


class InvalidWebhookURLError(DomainError):
    def __init__(self, message: str):
        super().__init__("INVALID_WEBHOOK_URL", message, "url")


class WebhookTargetNotAllowedError(DomainError):
    def __init__(self) -> None:
        super().__init__(
            "WEBHOOK_URL_NOT_ALLOWED",
            "A webhook may not point at a loopback, private or link-local address.",
            "url",
        )


@dataclass(frozen=True)
class WebhookTarget:
    scheme: str  # "http" or "https"
    host: str  # ASCII, lower case, no trailing dot; an IP literal in canonical form
    port: int
    path: str  # path and query, as given; never empty
    literal: IPAddress | None  # the address when the host is one

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if isinstance(self.literal, ipaddress.IPv6Address) else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"

    def url_for(self, ip: IPAddress) -> str:
        """The URL with the host replaced by `ip`: what the client connects to."""
        host = f"[{ip}]" if isinstance(ip, ipaddress.IPv6Address) else str(ip)
        return f"{self.scheme}://{host}:{self.port}{self.path}"


def parse_webhook_url(url: str) -> WebhookTarget:
    """The target `url` names, normalised; InvalidWebhookURLError when it names none."""
    if not url or len(url) > MAX_URL_LENGTH:
        raise InvalidWebhookURLError("A webhook URL is an absolute http(s) URL.")
    # urlsplit silently drops tabs and newlines (WHATWG): refuse them rather than store a URL
    # that reads differently from what is used.
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise InvalidWebhookURLError("A webhook URL has no spaces or control characters.")
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        raw_host = parts.hostname or ""
        port = parts.port
        has_userinfo = parts.username is not None or parts.password is not None
    except ValueError as exc:  # bad port, bad brackets, NFKC-hidden separators
        raise InvalidWebhookURLError(f"The webhook URL cannot be parsed: {exc}.") from exc
    if scheme not in ("http", "https") or not raw_host:
        raise InvalidWebhookURLError("A webhook URL is an absolute http(s) URL.")
    if has_userinfo:
        raise InvalidWebhookURLError("Put no credentials in a webhook URL: it is signed.")
    if port == 0:
        raise InvalidWebhookURLError("A webhook URL's port is 1 to 65535.")
    if "[" in parts.netloc:
        host, literal = _ipv6_literal(raw_host)
    else:
        host, literal = _host(raw_host)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    target = WebhookTarget(
        scheme=scheme,
        host=host,
        port=port or (443 if scheme == "https" else 80),
        path=path,
        literal=literal,
    )
    try:  # what delivery will hand to the client must be a URL it takes
        httpx.URL(target.url_for(literal or ipaddress.IPv4Address("192.0.2.1")))
    except httpx.InvalidURL as exc:
        raise InvalidWebhookURLError(f"The webhook URL cannot be used: {exc}.") from exc
    return target


def _ipv6_literal(raw: str) -> tuple[str, IPAddress]:
    try:
        ip = ipaddress.IPv6Address(raw)
    except ValueError as exc:
        raise InvalidWebhookURLError(f"'{raw}' is not an IPv6 address.") from exc
    if ip.scope_id:  # a zone only means something on this host's own interfaces
        raise InvalidWebhookURLError("A webhook's IPv6 address has no zone (%...).")
    return str(ip), ip


def _host(raw: str) -> tuple[str, IPAddress | None]:
    """A name as the resolver will see it, or the IPv4 address it spells."""
    try:
        # UTS #46 is what browsers and the `idna` codec of httpx apply: it maps fullwidth
        # characters and ideographic dots (１２７。０．０．１ → 127.0.0.1) and lower-cases.
        mapped = idna.uts46_remap(raw, std3_rules=False, transitional=False)
    except idna.IDNAError as exc:
        raise InvalidWebhookURLError(f"The webhook host is not a valid name: {exc}.") from exc
    if mapped.endswith("."):  # the root label: `localhost.` is `localhost`
        mapped = mapped[:-1]
    labels = mapped.split(".")
    ascii_labels = []
    for label in labels:
        if not label:
            raise InvalidWebhookURLError(
                f"The webhook host '{raw}' is not a valid name: it has an empty label."
            )
        try:
            if not label.isascii():
                label = idna.alabel(label).decode("ascii")
            elif label.startswith("xn--"):
                idna.ulabel(label)  # a punycode label must decode
        except (idna.IDNAError, UnicodeError) as exc:
            raise InvalidWebhookURLError(
                f"The webhook host '{raw}' is not a valid name: {exc}."
            ) from exc
        if not _LABEL.fullmatch(label):
            raise InvalidWebhookURLError(
                f"The webhook host '{raw}' is not a valid name: letters, digits, '-' and '_' "
                "only, at most 63 in a label."
            )
        ascii_labels.append(label)
    host = ".".join(ascii_labels)
    if len(host) > 253:
        raise InvalidWebhookURLError("The webhook host is longer than 253 characters.")
    if _NUMERIC_LABEL.fullmatch(ascii_labels[-1]):
        # libc reads octal, hex and short forms (127.1, 0x7f000001, 2130706433, 0177.0.0.1,
        # 0): ask it, rather than parse them by hand.
        try:
            ip = ipaddress.IPv4Address(socket.inet_aton(host))
        except (OSError, ValueError) as exc:
            raise InvalidWebhookURLError(f"'{raw}' is not a valid IPv4 address.") from exc
        return str(ip), ip
    return host, None


def is_public(ip: IPAddress) -> bool:
    """May the server connect to `ip`? Only globally routable unicast, by every ipaddress
    test, and the IPv4 address inside a mapped, NAT64, 6to4 or Teredo IPv6 address too."""
    if isinstance(ip, ipaddress.IPv6Address):
        # These are the IPv4 host itself, reached through the dual stack or a translator.
        if ip.ipv4_mapped is not None:
            return is_public(ip.ipv4_mapped)
        if ip in _NAT64:
            return is_public(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        embedded = [ip.sixtofour] if ip.sixtofour is not None else []
        embedded += list(ip.teredo or ())
        if not all(is_public(inner) for inner in embedded):
            return False
        if ip.is_site_local:
            return False
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
        or any(ip in net for net in _NOT_GLOBAL if net.version == ip.version)
    )


def is_local_name(host: str) -> bool:
    """Names that are this host whatever DNS says (RFC 6761)."""
    return host == "localhost" or host.endswith(".localhost")


def resolve(host: str, port: int) -> list[IPAddress]:
    """The one DNS lookup of a delivery (tests replace it). `host` is already ASCII."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise ResolveError(f"cannot resolve {host}: {exc}") from exc
    found: list[IPAddress] = []
    for info in infos:
        ip = ipaddress.ip_address(info[4][0])
        if ip not in found:
            found.append(ip)
    if not found:
        raise ResolveError(f"cannot resolve {host}: no address")
    return found


def checked_addresses(target: WebhookTarget, *, allow_private: bool) -> list[IPAddress]:
    """The addresses to connect to, every one checked (one internal answer refuses the lot:
    a name that mixes them is not trusted). WebhookTargetNotAllowedError or ResolveError."""
    if not allow_private and target.literal is None and is_local_name(target.host):
        raise WebhookTargetNotAllowedError()
    addresses = (
        [target.literal] if target.literal is not None else resolve(target.host, target.port)
    )
    if not allow_private and not all(is_public(ip) for ip in addresses):
        raise WebhookTargetNotAllowedError()
    return addresses


class _Deadline:
    """Cuts a delivery's connections when its time is up: a blocked read then fails at once
    (the sockets come from httpcore's `trace` extension as each connection is made)."""

    def __init__(self, seconds: float):
        self.seconds, self.expired = seconds, False
        self.sockets: list[socket.socket] = []
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True

    def trace(self, event: str, info: dict) -> None:
        if event == "connection.connect_tcp.complete":
            stream = info.get("return_value")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if sock is not None:
                self.sockets.append(sock)
                if self.expired:  # connected just as the time ran out
                    self._cut()

    def _cut(self) -> None:
        self.expired = True
        for sock in self.sockets:
            with contextlib.suppress(OSError):  # closed already
                sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


def post_pinned(
    http: httpx.Client,
    target: WebhookTarget,
    addresses: list[IPAddress],
    *,
    content: bytes,
    headers: dict[str, str],
    seconds: float | None = None,
) -> httpx.Response:
    """POST to `target` at one of `addresses`, never at whatever the name resolves to now.

    The URL carries the address; the Host header, and for https the SNI name and the
    certificate check (httpcore's `sni_hostname` extension), carry the original host.
    `Connection: close` keeps a pooled connection, made for one name, from carrying a request
    for another name at the same address. Redirects are not followed: a 3xx is a failure, so
    no unchecked address is ever reached. The whole delivery takes at most `seconds` (then
    httpx.ReadTimeout), and at most ANSWER_BYTES of the answer's body are read; the response
    comes back closed (its status is what counts).
    """
    sent = {**headers, "Host": target.host_header, "Connection": "close"}
    extensions = {"sni_hostname": target.host} if target.literal is None else {}
    error: Exception | None = None
    seconds = DELIVERY_SECONDS if seconds is None else seconds
    with _Deadline(seconds) as deadline:
        for ip in addresses[:MAX_CONNECT_TRIES]:
            request = http.build_request(
                "POST",
                target.url_for(ip),
                content=content,
                headers=sent,
                extensions={**extensions, "trace": deadline.trace},
            )
            try:
                response = http.send(request, follow_redirects=False, stream=True)
                try:
                    read = 0
                    for chunk in response.iter_raw():
                        read += len(chunk)
                        if read >= ANSWER_BYTES:
                            break
                finally:
                    response.close()
                return response
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if deadline.expired:
                    break
                error = exc  # try the next checked address, as create_connection would
            except httpx.TransportError:
                if deadline.expired:
                    break
                raise
    if deadline.expired:
        raise httpx.ReadTimeout(f"the receiver took longer than {seconds:g} s")
    raise error or httpx.ConnectError("no address to connect to")
