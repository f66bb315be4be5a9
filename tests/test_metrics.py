"""Prometheus metrics (README "Metrics"): who may read /metrics, what the counters count, that
labels stay bounded, and that a real server with two workers reports the sum of both."""

from __future__ import annotations

import subprocess
import sys
import time
from decimal import Decimal as D

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from commcredits import metrics
from commcredits.models import Notification
from commcredits.money import Money
from commcredits.services import billing, credits, payments, webhooks
from commcredits.services.access import SYSTEM
from commcredits.services.errors import DomainError
from tests.conftest import Api
from tests.live_server import children, free_port, live_server

PING = "query Ping { viewer { role } }"
PURCHASE = """mutation Buy($amount: Decimal!, $key: String!) {
  purchaseCredits(amount: $amount, idempotencyKey: $key) { userErrors { code } } }"""

Samples = dict[tuple[str, frozenset], float]


def parse(text: str) -> Samples:
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(samples: Samples, name: str, **labels: str) -> float:
    """One series' value (0 when it does not exist yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum over every series of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def scrape(client, keys) -> Samples:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {keys['OPERATOR']}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


@pytest.fixture
def gateway():
    previous = payments.set_gateway(payments.BuiltinGateway())
    yield
    payments.set_gateway(previous)


# --- protection ---------------------------------------------------------------------------------


def test_metrics_need_an_operator_key(client, keys):
    before = scrape(client, keys)
    anonymous = client.get("/metrics")
    assert anonymous.status_code == 401
    assert anonymous.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "operator key" in anonymous.json()["errors"][0]["message"]
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    for role in ("GLOBAL_ADMIN", "READER"):
        tenant_key = client.get("/metrics", headers={"Authorization": f"Bearer {keys[role]}"})
        assert tenant_key.status_code == 403
        assert tenant_key.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert "commcredits_" not in tenant_key.text
    unknown = client.get("/metrics", headers={"Authorization": "Bearer cck_" + "x" * 43})
    assert unknown.status_code == 401
    bare = client.get("/metrics", headers={"Authorization": keys["OPERATOR"]})
    assert bare.status_code == 401 and "Bearer" in bare.json()["errors"][0]["message"]
    after = scrape(client, keys)
    # Refused keys are counted like any other refused credential.
    assert value(after, "commcredits_auth_failures_total", reason="unknown") == (
        value(before, "commcredits_auth_failures_total", reason="unknown") + 1
    )
    assert value(after, "commcredits_auth_failures_total", reason="malformed") == (
        value(before, "commcredits_auth_failures_total", reason="malformed") + 1
    )
    routes = ("commcredits_http_requests_total", "commcredits_http_requests_total")
    assert value(after, routes[0], route="/metrics", method="GET", code="403") == (
        value(before, routes[1], route="/metrics", method="GET", code="403") + 2
    )


# --- what is counted ----------------------------------------------------------------------------


def test_requests_are_counted_by_operation_and_outcome(client, keys):
    reader = Api(client, keys["READER"])
    before = scrape(client, keys)
    for _ in range(3):
        reader(PING)
    reader.errors("query Broken { viewer { nope } }")
    Api(client, "cck_" + "y" * 43).raw(PING)  # HTTP 401
    after = scrape(client, keys)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("commcredits_graphql_requests_total", operation="Ping", outcome="ok") == 3
    assert grew("commcredits_graphql_requests_total", operation="Ping", outcome="refused") == 1
    assert grew("commcredits_graphql_requests_total", operation="Broken", outcome="error") == 1
    assert grew("commcredits_graphql_request_duration_seconds_count", operation="Ping") == 4
    assert grew("commcredits_sql_statements_per_request_count", operation="Ping") == 4
    assert grew("commcredits_sql_statements_per_request_sum", operation="Ping") >= 3
    assert grew("commcredits_http_requests_total", route="/graphql", method="POST", code="200") == 4
    assert grew("commcredits_http_requests_total", route="/graphql", method="POST", code="401") == 1


def test_errors_are_counted_by_code(client, keys):
    before = scrape(client, keys)
    # Refused by the schema (a GraphQL error), by a resolver, and by the HTTP layer.
    Api(client, keys["READER"]).errors("{ viewer { nope } }")
    Api(client, keys["OPERATOR"]).errors("{ users { totalCount } }")
    Api(client, None).errors("{ users { totalCount } }")
    client.post("/graphql", content=b"{", headers={"content-type": "application/json"})
    after = scrape(client, keys)

    def grew(code: str) -> float:
        name = "commcredits_graphql_errors_total"
        return value(after, name, code=code) - value(before, name, code=code)

    assert grew("GRAPHQL_VALIDATION_FAILED") == 1
    assert grew("TENANT_REQUIRED") == 1
    assert grew("UNAUTHENTICATED") == 1
    assert grew("BAD_REQUEST") == 1


def test_money_moved_is_counted_by_kind_and_currency_after_a_purchase(client, keys, gateway):
    before = scrape(client, keys)
    bought = Api(client, keys["GLOBAL_ADMIN"])(PURCHASE, {"amount": "25.50", "key": "m-1"})
    assert bought["purchaseCredits"]["userErrors"] == []
    after = scrape(client, keys)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("commcredits_money_moved_minor_units_total", kind="FUNDED", currency="EUR") == 2550
    assert grew("commcredits_ledger_entries_total", kind="FUNDED", currency="EUR") == 1
    assert grew("commcredits_payments_total", reason="PURCHASE", outcome="paid") == 1
    # Only money that moved: the replay of the same order adds nothing.
    Api(client, keys["GLOBAL_ADMIN"])(PURCHASE, {"amount": "25.50", "key": "m-1"})
    again = scrape(client, keys)
    assert value(
        again, "commcredits_money_moved_minor_units_total", kind="FUNDED", currency="EUR"
    ) == (value(after, "commcredits_money_moved_minor_units_total", kind="FUNDED", currency="EUR"))


def test_a_rolled_back_unit_of_work_moves_no_money_in_the_metrics(client, keys, tenant, clock):
    before = scrape(client, keys)
    with pytest.raises(DomainError):  # the balance cannot cover it: nothing is written
        credits.debit(
            tenant,
            SYSTEM,
            Money(D("5.00"), "EUR"),
            reference="r",
            idempotency_key=None,
            now=clock(),
        )
    after = scrape(client, keys)
    assert total(after, "commcredits_money_moved_minor_units_total") == total(
        before, "commcredits_money_moved_minor_units_total"
    )


def test_recharges_and_payments_by_outcome(client, keys, tenant, clock, gateway):
    before = scrape(client, keys)
    credits.purchase_credits(tenant, SYSTEM, D("10.00"), idempotency_key="start", now=clock())
    credits.configure_auto_recharge(
        tenant, SYSTEM, enabled=True, recharge_amount=D("20"), trigger_balance=D("5"), now=clock()
    )
    # A debit below the trigger: the recharge is started and paid (by invoice).
    credits.debit(
        tenant, SYSTEM, Money(D("6.00"), "EUR"), reference="a", idempotency_key=None, now=clock()
    )
    middle = scrape(client, keys)
    # Now by a card that is declined: the next recharge fails.
    card = billing.BillingFields(payment_method="CARD", card_token="tok_chargeDeclined")
    billing.update_billing_profile(tenant, SYSTEM, card, now=clock())
    with pytest.raises(DomainError):
        credits.debit(
            tenant,
            SYSTEM,
            Money(D("40.00"), "EUR"),
            reference="b",
            idempotency_key=None,
            now=clock(),
        )
    after = scrape(client, keys)

    def grew(frm: Samples, to: Samples, name: str, **labels: str) -> float:
        return value(to, name, **labels) - value(frm, name, **labels)

    name = "commcredits_recharges_total"
    assert grew(before, middle, name, outcome="started") == 1
    assert grew(before, middle, name, outcome="succeeded") == 1
    assert grew(middle, after, name, outcome="started") == 1
    assert grew(middle, after, name, outcome="declined") == 1
    pay = "commcredits_payments_total"
    assert grew(before, after, pay, reason="AUTO_RECHARGE", outcome="paid") == 1
    assert grew(before, after, pay, reason="AUTO_RECHARGE", outcome="declined") == 1
    assert (
        grew(
            before,
            middle,
            "commcredits_money_moved_minor_units_total",
            kind="CONSUMED",
            currency="EUR",
        )
        == 600
    )


def test_the_webhook_queue_and_deliveries(client, keys, tenant, clock, gateway):
    credits.purchase_credits(tenant, SYSTEM, D("10.00"), idempotency_key="q", now=clock())
    credits.configure_auto_recharge(
        tenant, SYSTEM, enabled=True, recharge_amount=D("20"), trigger_balance=D("5"), now=clock()
    )
    credits.debit(  # a recharge: a RECHARGE_SUCCEEDED notification waits for delivery
        tenant, SYSTEM, Money(D("6.00"), "EUR"), reference="a", idempotency_key=None, now=clock()
    )
    waiting = Notification.select().where(Notification.delivery_status == "PENDING").count()
    assert waiting >= 1
    clock.advance(minutes=2)
    before = scrape(client, keys)
    assert value(before, "commcredits_webhook_queue_depth") == waiting
    assert value(before, "commcredits_webhook_queue_oldest_seconds") == 120
    webhooks.deliver_due(now=clock())  # the tenant has no webhook: each one is skipped
    after = scrape(client, keys)
    assert value(after, "commcredits_webhook_queue_depth") == 0
    assert value(after, "commcredits_webhook_queue_oldest_seconds") == 0
    skipped = ("commcredits_webhook_deliveries_total", {"outcome": "skipped"})
    assert value(after, skipped[0], **skipped[1]) - value(before, skipped[0], **skipped[1]) == (
        waiting
    )


# --- bounded labels -----------------------------------------------------------------------------


def test_a_label_takes_plain_names_and_at_most_its_limit():
    label = metrics.BoundedLabel(r"[_A-Za-z][_0-9A-Za-z]{0,63}", 3)
    assert [label(n) for n in ("A", "B", "A", "C", "D", "B")] == ["A", "B", "A", "C", "other", "B"]
    assert label(None) == "anonymous" and label("") == "anonymous"
    fresh = metrics.BoundedLabel(r"[_A-Za-z][_0-9A-Za-z]{0,63}", 3)
    assert fresh("x" * 64) == "x" * 64
    assert fresh("x" * 65) == "other"
    assert fresh("Drop-Table") == "other" and fresh('a"b') == "other" and fresh("é") == "other"
    assert fresh.seen == {"x" * 64}  # refused names take no place


def test_client_chosen_operation_names_cannot_grow_the_series(client, keys):
    reader = Api(client, keys["READER"])
    for i in range(metrics.MAX_OPERATIONS + 20):
        reader(f"query Flood{i} {{ viewer {{ role }} }}")
    response = client.post(
        "/graphql",
        json={"query": "{ viewer { role } }", "operationName": "x" * 100},
        headers={"Authorization": f"Bearer {keys['READER']}"},
    )
    assert response.status_code == 400  # no such operation in the document: refused
    samples = scrape(client, keys)
    names = {
        dict(labels)["operation"]
        for (name, labels) in samples
        if name == "commcredits_graphql_requests_total"
    }
    assert len(names) <= metrics.MAX_OPERATIONS + 2  # + "other" and "anonymous"
    assert "other" in names
    assert not [n for n in names if len(n) > 64]
    assert len(metrics.operation_label.seen) <= metrics.MAX_OPERATIONS


# --- a real server ------------------------------------------------------------------------------


def _served_by(server, operation: str) -> set[int]:
    return {
        line["pid"]
        for line in server.log_lines()
        if line.get("logger") == "commcredits.request" and line.get("operation") == operation
    }


def test_counters_add_up_across_two_workers(db_url, keys, tmp_path, backend):
    """A real `serve --workers 2`: every worker counts in its own files, any worker answering a
    scrape sums them all. A stale file of an earlier run in the directory is cleared at start."""
    directory = tmp_path / "prometheus"
    directory.mkdir()
    (directory / "counter_999999.db").write_bytes(b"left over from the last run")
    env = {"PROMETHEUS_MULTIPROC_DIR": str(directory)}
    with live_server(db_url, tmp_path, workers=2, extra_env=env) as server:
        deadline = time.monotonic() + 20
        while len(children(server.process.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(children(server.process.pid)) >= 2
        operator = {"Authorization": f"Bearer {keys['OPERATOR']}"}
        reader = {"Authorization": f"Bearer {keys['READER']}"}
        with httpx.Client(base_url=server.url, timeout=10) as http:
            first = parse(http.get("/metrics", headers=operator).text)
            assert value(first, "commcredits_graphql_requests_total", operation="Ping") == 0
            sent = 0
            # New connections spread over the workers; go on until both have served some.
            while sent < 12 or (len(_served_by(server, "Ping")) < 2 and sent < 300):
                r = http.post(
                    "/graphql", json={"query": PING}, headers=reader | {"connection": "close"}
                )
                assert r.status_code == 200 and r.json()["data"]["viewer"]["role"] == "READER"
                sent += 1
            served = _served_by(server, "Ping")
            assert len(served) == 2, f"one worker served all {sent} requests"
            scrapes = [parse(http.get("/metrics", headers=operator).text) for _ in range(4)]
        files = {p.name for p in directory.iterdir()}
    assert "counter_999999.db" not in files  # cleared at start
    assert {int(name.rsplit("_", 1)[1].removesuffix(".db")) for name in files} >= served
    for samples in scrapes:  # whichever worker answered: the sum of both
        ok = ("commcredits_graphql_requests_total", {"operation": "Ping", "outcome": "ok"})
        assert value(samples, ok[0], **ok[1]) == sent
        assert (
            value(samples, "commcredits_graphql_request_duration_seconds_count", operation="Ping")
            == sent
        )
        assert value(samples, "commcredits_sql_statements_per_request_count", operation="Ping") == (
            sent
        )
        assert (
            value(
                samples,
                "commcredits_http_requests_total",
                route="/graphql",
                method="POST",
                code="200",
            )
            == sent
        )
        assert value(samples, "commcredits_webhook_queue_depth") == 0


@pytest.mark.backends("sqlite")
def test_a_separate_metrics_address_needs_no_key(db_url, keys, tmp_path, backend):
    port = free_port()
    env = {"COMMCREDITS_METRICS_ADDRESS": f"127.0.0.1:{port}"}
    with live_server(db_url, tmp_path, extra_env=env) as server:
        for _ in range(3):
            httpx.post(
                server.url + "/graphql",
                json={"query": PING},
                headers={"Authorization": f"Bearer {keys['READER']}"},
            )
        samples = parse(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text)
        assert (
            value(samples, "commcredits_graphql_requests_total", operation="Ping", outcome="ok")
            == 3
        )
        # The API's own port still wants the operator key.
        assert httpx.get(server.url + "/metrics").status_code == 401


def test_the_command_line_does_not_import_prometheus_client_before_serve_prepares_it():
    """prometheus-client picks multiprocess mode when first imported: `serve` must set the
    directory before anything imports it (commcredits.metrics_serve)."""
    code = (
        "import sys, commcredits.cli, commcredits.cli_admin, commcredits.metrics_serve; "
        "print('prometheus_client' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
