"""The process side of metrics in `commcredits serve` (README "Metrics").

Kept apart from `commcredits.metrics` because of an ordering rule of prometheus-client: it
chooses multiprocess mode when it is first imported, from PROMETHEUS_MULTIPROC_DIR. `serve`
calls `prepare_directory` before anything imports it (the app, in this process with one
worker, and every spawned worker inherit the variable), so this module imports it only inside
its functions.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from collections.abc import Callable

from commcredits.config import ConfigError

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
ADDRESS_ENV = "COMMCREDITS_METRICS_ADDRESS"


def prepare_directory() -> Callable[[], None]:
    """A fresh PROMETHEUS_MULTIPROC_DIR for this start of `serve`: one the operator set is
    emptied of the last run's files (counters start from zero with the server, as Prometheus
    expects of a restart); otherwise a new temporary one is made. Returns what to call when
    the server has stopped (it removes a directory made here)."""
    given = os.environ.get(MULTIPROC_ENV, "").strip()
    if given:
        os.makedirs(given, exist_ok=True)
        for stale in glob.glob(os.path.join(given, "*.db")):
            os.remove(stale)
        return lambda: None
    made = tempfile.mkdtemp(prefix="commcredits-metrics-")
    os.environ[MULTIPROC_ENV] = made

    def remove() -> None:
        shutil.rmtree(made, ignore_errors=True)

    return remove


def parse_address(raw: str) -> tuple[str, int]:
    """COMMCREDITS_METRICS_ADDRESS: `host:port` (`[::1]:9464` for IPv6) → (host, port)."""
    host, sep, port = raw.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{ADDRESS_ENV}={raw!r}: use host:port, e.g. 127.0.0.1:9464.")
    return host, int(port)


def start_listener(raw: str, database_url: str) -> Callable[[], None]:
    """The separate listener of COMMCREDITS_METRICS_ADDRESS: GET /metrics (any path) with no
    key, so bind it where only Prometheus reaches. It runs in `serve`'s own process and reads
    the workers' files; returns what stops it. Call after `prepare_directory`."""
    from prometheus_client import start_http_server

    from commcredits import db as database
    from commcredits import metrics_http

    host, port = parse_address(raw)
    if database.db.obj is None:
        database.bind(database_url)  # the queue gauges read the database from here too
    try:
        server, thread = start_http_server(port, addr=host, registry=metrics_http.scrape_registry())
    except OSError as error:
        raise ConfigError(
            f"{ADDRESS_ENV}={raw!r}: cannot listen there ({error.strerror})."
        ) from None

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop
