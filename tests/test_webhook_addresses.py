"""Webhook targets: every spelling of an internal address is refused when set, and delivery
connects to the address it checked (no second DNS lookup to rebind). Real HTTP(S) receivers
listen on 127.0.0.1; a fake DNS and a fake "internet" (public addresses routed to loopback
ports) stand in for the network, which tests do not have."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from commcredits.models import Notification, Webhook
from commcredits.services import notifications, webhook_addresses, webhooks
from commcredits.services.errors import DomainError
from tests.helpers import other_tenant

SET_WEBHOOK = """
mutation($url: String) { setWebhook(url: $url) { webhook { url } secret userErrors { code } } }
"""
STORED = "{ tenant { webhook { url } } }"
PUBLIC_IP = "93.184.215.14"  # stands for a receiver on the internet (routed to loopback)


class Receiver:
    """A local HTTP(S) endpoint recording what it got; answers `status` (with `location`)."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[dict] = []
        self.status, self.location = 200, ""
        self.sni: list[str | None] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(dict(self.headers))
                self.send_response(receiver.status)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        if tls is not None:
            tls.sni_callback = lambda sock, name, ctx: self.sni.append(name)
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers():
    made: list[Receiver] = []

    def make(tls: ssl.SSLContext | None = None) -> Receiver:
        made.append(Receiver(tls))
        return made[-1]

    yield make
    for r in made:
        r.close()


class FakeNet:
    """DNS answers per name (one list per lookup, the last repeated) and public addresses
    routed to loopback ports. Everything else is unreachable: there is no network here."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.answers: dict[str, list[list[str]]] = {}
        self.lookups: list[str] = []
        self.routes: dict[tuple[str, int], tuple[str, int]] = {}
        self.connects: list[tuple[str, int]] = []
        real_getaddrinfo, real_connect = socket.getaddrinfo, socket.create_connection

        def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):  # noqa: A002
            name = host.decode() if isinstance(host, bytes) else str(host)
            if name in self.answers:
                self.lookups.append(name)
                queue = self.answers[name]
                ips = queue.pop(0) if len(queue) > 1 else queue[0]
                return [
                    (
                        socket.AF_INET6 if ":" in ip else socket.AF_INET,
                        socket.SOCK_STREAM,
                        socket.IPPROTO_TCP,
                        "",
                        (ip, port or 0),
                    )
                    for ip in ips
                ]
            try:
                ipaddress.ip_address(name)
            except ValueError:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
            return real_getaddrinfo(host, port, family, type, proto, flags)

        def create_connection(address, *args, **kwargs):
            # As socket.create_connection does: a name is looked up (in the fake DNS), then
            # each address is tried; a public one only reaches what it is routed to.
            host, port = str(address[0]), int(address[1])
            try:
                ips = [str(ipaddress.ip_address(host))]
            except ValueError:
                ips = [info[4][0] for info in socket.getaddrinfo(host, port)]
            for ip in ips:
                self.connects.append((ip, port))
                if (ip, port) in self.routes:
                    return real_connect(self.routes[(ip, port)], *args, **kwargs)
                if ip == "127.0.0.1":
                    return real_connect((ip, port), *args, **kwargs)
            raise ConnectionRefusedError(f"no route to {ips} in tests")

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        monkeypatch.setattr(socket, "create_connection", create_connection)


@pytest.fixture
def net(monkeypatch) -> FakeNet:
    return FakeNet(monkeypatch)


@pytest.fixture
def production(monkeypatch):
    """What production does: internal targets refused (tests allow them, see conftest)."""
    monkeypatch.delenv("COMMCREDITS_WEBHOOK_ALLOW_PRIVATE", raising=False)


def stored_hook(tenant, url: str, clock) -> None:
    """A webhook as an older release may have stored it, before today's checks."""
    Webhook.create(
        tenant=tenant.id, url=url, secret="whsec_x", created_at=clock(), updated_at=clock()
    )
    notifications.emit(tenant.id, "BALANCE_ZERO", {"balance": "0"}, now=clock())


# --- set time -------------------------------------------------------------------------------

INTERNAL_SPELLINGS = [
    "http://127.1/hook",
    "http://0x7f000001/hook",
    "http://2130706433/hook",
    "http://0177.0.0.1/hook",
    "http://0/hook",
    "http://0.0.0.0:8080/hook",
    "http://localhost./hook",
    "http://LOCALHOST/hook",
    "http://api.localhost/hook",
    "http://ＬＯＣＡＬＨＯＳＴ/hook",
    "http://１２７.０.０.１/hook",  # fullwidth digits and dots
    "http://127。0。0。1/hook",  # ideographic full stops
    "http://169.254.169.254./latest/meta-data",
    "http://0xa9fea9fe/latest/meta-data",  # 169.254.169.254
    "http://10.1/hook",
    "http://100.64.0.1/hook",  # carrier-grade NAT
    "http://224.0.0.1/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[::ffff:7f00:1]/hook",
    "http://[::ffff:a9fe:a9fe]/hook",
    "http://[::]/hook",
    "http://[fe80::1]/hook",
    "http://[fc00::1]/hook",
    "http://[fec0::1]/hook",  # site-local
    "http://[2002:7f00:1::]/hook",  # 6to4 around 127.0.0.1
    "http://[64:ff9b::a00:1]/hook",  # NAT64 around 10.0.0.1
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hook",  # Teredo
]


@pytest.mark.parametrize("url", INTERNAL_SPELLINGS)
def test_every_spelling_of_an_internal_address_is_refused_when_set(api, production, net, url):
    out = api(SET_WEBHOOK, {"url": url})["setWebhook"]
    assert out["userErrors"] == [{"code": "WEBHOOK_URL_NOT_ALLOWED"}]
    assert out["secret"] is None and out["webhook"] is None
    assert api(STORED)["tenant"]["webhook"] is None
    assert net.lookups == []  # decided from the spelling alone


@pytest.mark.parametrize(
    "answers",
    [["10.0.0.5"], ["127.0.0.1"], ["::1"], [PUBLIC_IP, "169.254.169.254"]],
    ids=["private", "loopback", "ipv6-loopback", "one-of-several"],
)
def test_a_name_that_resolves_internal_is_refused_when_set(api, production, net, answers):
    net.answers["ip6-localhost.example"] = [answers]
    out = api(SET_WEBHOOK, {"url": "https://ip6-localhost.example/hook"})["setWebhook"]
    assert out["userErrors"] == [{"code": "WEBHOOK_URL_NOT_ALLOWED"}]
    assert api(STORED)["tenant"]["webhook"] is None


@pytest.mark.parametrize(
    "url",
    [
        "http://a..b/",
        "http://.example.com/",
        "http://localhost../",
        "http://1.2.3.256/",
        "http://999999999999/",
        "http://0x/",
        "http://%31%32%37.0.0.1/",
        "http://exa mple.com/",
        "http://example.com\t/",
        "http://xn--zz.example/",
        "http://[fe80::1%25eth0]/",
        "http://example.com:0/",
        "http://example.com:99999/",
        "http://evil.example\\@127.0.0.1/",
        "gopher://example.com/",
    ],
)
def test_a_url_that_names_no_host_is_invalid(api, production, net, url):
    out = api(SET_WEBHOOK, {"url": url})["setWebhook"]
    assert out["userErrors"] == [{"code": "INVALID_WEBHOOK_URL"}]
    assert api(STORED)["tenant"]["webhook"] is None


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/credits?x=1",
        "https://HOOKS.Example.com.:8443/credits",
        "http://bücher.example/hook",
        "http://8.8.8.8/hook",
        "http://0x08080808/hook",
        "http://[2606:4700::1111]/hook",
        "http://[::ffff:8.8.8.8]/hook",
        "http://[64:ff9b::808:808]/hook",  # NAT64 around a public address
        "https://not-yet-in-dns.example/hook",  # resolved, and checked, at each delivery
    ],
)
def test_public_targets_are_accepted(api, production, net, url):
    net.answers["hooks.example.com"] = [[PUBLIC_IP]]
    net.answers["xn--bcher-kva.example"] = [["2606:4700::1111"]]
    out = api(SET_WEBHOOK, {"url": url})["setWebhook"]
    assert out["userErrors"] == [] and out["secret"].startswith("whsec_")
    assert api(STORED)["tenant"]["webhook"] == {"url": url}


def test_the_parser_normalises_like_the_connection_will():
    target = webhook_addresses.parse_webhook_url("HTTPS://Hooks.Example.COM.:8443/a/b?c=d#frag")
    assert (target.scheme, target.host, target.port, target.path) == (
        "https",
        "hooks.example.com",
        8443,
        "/a/b?c=d",
    )
    assert target.host_header == "hooks.example.com:8443" and target.literal is None
    six = webhook_addresses.parse_webhook_url("http://[::FFFF:127.0.0.1]:80")
    assert (six.host_header, six.path) == ("[::ffff:7f00:1]", "/")
    assert webhook_addresses.parse_webhook_url("http://0177.1/").host == "127.0.0.1"
    with pytest.raises(DomainError, match="empty label"):
        webhook_addresses.parse_webhook_url("http://a..b/")


# --- delivery -------------------------------------------------------------------------------


def test_delivery_connects_to_the_checked_address_not_a_rebound_one(
    api, tenant, clock, production, net, receivers
):
    """The check sees a public address, a second lookup would see 127.0.0.1 (rebinding): the
    POST goes to the public address, and the name is looked up once."""
    internal, public = receivers(), receivers()
    net.routes[(PUBLIC_IP, internal.port)] = ("127.0.0.1", public.port)
    url = f"http://rebind.example:{internal.port}/hook"
    net.answers["rebind.example"] = [[PUBLIC_IP]]
    assert api(SET_WEBHOOK, {"url": url})["setWebhook"]["userErrors"] == []
    notifications.emit(tenant.id, "BALANCE_ZERO", {"balance": "0"}, now=clock())

    net.lookups.clear()
    net.answers["rebind.example"] = [[PUBLIC_IP], ["127.0.0.1"]]
    report = webhooks.deliver_due(now=clock(), timeout=2)
    assert report.delivered == 1
    assert internal.requests == [] and len(public.requests) == 1
    assert net.lookups == ["rebind.example"]
    assert net.connects == [(PUBLIC_IP, internal.port)]
    assert public.requests[0]["Host"] == f"rebind.example:{internal.port}"


@pytest.mark.parametrize("answers", [["127.0.0.1"], [PUBLIC_IP, "127.0.0.1"], ["::ffff:127.0.0.1"]])
def test_a_name_that_turns_internal_is_refused_at_delivery(
    tenant, clock, production, net, receivers, answers
):
    internal = receivers()
    net.routes[(PUBLIC_IP, internal.port)] = ("127.0.0.1", internal.port)
    stored_hook(tenant, f"http://turns.example:{internal.port}/hook", clock)
    net.answers["turns.example"] = [answers]
    report = webhooks.deliver_due(now=clock(), timeout=2)
    assert (report.delivered, report.retrying) == (0, 1)
    assert internal.requests == [] and net.connects == []
    note = Notification.get()
    assert note.delivery_status == "PENDING" and "internal address" in note.last_error


def test_without_the_check_the_connection_is_still_pinned(tenant, clock, net, receivers):
    """Private targets allowed (as in tests): the first answer (127.0.0.1, where the receiver
    is) is used; any second lookup would answer an unreachable address."""
    receiver = receivers()
    stored_hook(tenant, f"http://pinned.example:{receiver.port}/hook", clock)
    net.answers["pinned.example"] = [["127.0.0.1"], ["10.255.255.1"]]
    assert webhooks.deliver_due(now=clock(), timeout=2).delivered == 1
    assert len(receiver.requests) == 1 and net.lookups == ["pinned.example"]
    assert receiver.requests[0]["Host"] == f"pinned.example:{receiver.port}"


def test_a_proxy_in_the_environment_is_not_used(tenant, clock, net, receivers, monkeypatch):
    """A proxy would connect to whatever the name resolves to when it asks (and cannot carry
    the checked name into TLS): deliveries always connect directly to the checked address."""
    receiver = receivers()
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, "http://10.255.255.1:3128")  # unreachable: a use would fail
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    stored_hook(tenant, f"http://direct.example:{receiver.port}/hook", clock)
    net.answers["direct.example"] = [["127.0.0.1"]]
    assert webhooks.deliver_due(now=clock(), timeout=2).delivered == 1
    assert len(receiver.requests) == 1


def test_a_stored_url_refused_today_fails_alone(tenant, clock, production, net, receivers):
    """URLs stored before these checks: an unparseable host and an internal spelling fail,
    each on its own, and the other tenant's delivery goes out in the same run."""
    internal, public = receivers(), receivers()
    net.routes[(PUBLIC_IP, internal.port)] = ("127.0.0.1", public.port)
    net.answers["public.example"] = [[PUBLIC_IP]]
    second, third = other_tenant(clock()), other_tenant(clock(), name="Contoso")
    stored_hook(tenant, "http://a..b/", clock)
    stored_hook(second, f"http://0177.0.0.1:{internal.port}/hook", clock)
    stored_hook(third, f"http://public.example:{internal.port}/hook", clock)
    report = webhooks.deliver_due(now=clock(), timeout=2)
    assert (report.delivered, report.retrying) == (1, 2)
    assert internal.requests == [] and len(public.requests) == 1
    errors = {n.tenant_id: n.last_error for n in Notification.select()}
    assert "empty label" in errors[tenant.id]
    assert "internal address" in errors[second.id]
    assert errors[third.id] == ""


def test_a_redirect_is_not_followed(tenant, clock, net, receivers):
    target, elsewhere = receivers(), receivers()
    target.status, target.location = 307, f"http://127.0.0.1:{elsewhere.port}/x"
    stored_hook(tenant, f"http://127.0.0.1:{target.port}/hook", clock)
    report = webhooks.deliver_due(now=clock(), timeout=2)
    assert report.retrying == 1 and elsewhere.requests == []
    assert Notification.get().last_error == "HTTP 307"


def test_the_next_checked_address_is_tried_when_one_does_not_connect(tenant, clock, net, receivers):
    receiver = receivers()
    stored_hook(tenant, f"http://two.example:{receiver.port}/hook", clock)
    net.answers["two.example"] = [["192.0.2.7", "127.0.0.1"]]  # the first refuses (no route)
    assert webhooks.deliver_due(now=clock(), timeout=2).delivered == 1
    assert net.connects == [("192.0.2.7", receiver.port), ("127.0.0.1", receiver.port)]


# --- https: the connection goes to the address, TLS still checks the name ---------------------


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    """A CA, and a server certificate it signed for hooks.test only (no IP in it)."""
    from cryptography import x509  # PyJWT[crypto] depends on it: never missing
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def cert(subject, issuer, key, signer, *, ca, san=None):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if san:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False
            )
        return builder.sign(signer, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = cert("Test CA", "Test CA", ca_key, ca_key, ca=True)
    leaf = cert("hooks.test", "Test CA", key, ca_key, ca=False, san="hooks.test")
    folder = tmp_path_factory.mktemp("tls")
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "server.pem").write_bytes(
        leaf.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return folder


@pytest.mark.parametrize("name, ok", [("hooks.test", True), ("other.test", False)])
def test_https_to_a_pinned_address_verifies_the_original_name(
    tenant, clock, net, receivers, tls, name, ok
):
    import httpx

    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(tls / "server.pem")
    receiver = receivers(server)
    stored_hook(tenant, f"https://{name}:{receiver.port}/hook", clock)
    net.answers[name] = [["127.0.0.1"]]
    trusted = ssl.create_default_context(cafile=str(tls / "ca.pem"))
    with httpx.Client(verify=trusted, timeout=5) as client:
        report = webhooks.deliver_due(now=clock(), client=client)
    assert receiver.sni == [name]  # the name, though the connection went to 127.0.0.1
    if ok:
        assert report.delivered == 1
        assert receiver.requests[0]["Host"] == f"hooks.test:{receiver.port}"
    else:  # the certificate is for hooks.test: checked against the name asked for
        assert report.retrying == 1 and receiver.requests == []
        assert "CERTIFICATE_VERIFY_FAILED" in Notification.get().last_error
