"""Fixtures: a migrated empty database (SQLite, and PostgreSQL when
COMMCREDITS_TEST_DATABASE_URL is set), a tenant, keys per role, and clients on the real ASGI app.
"""

from __future__ import annotations

import datetime as dt
import graphlib
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import peewee
import pytest
from starlette.testclient import TestClient

from commcredits import db as database
from commcredits.app import create_app
from commcredits.config import Settings
from commcredits.migrate import migrate
from commcredits.models import Tenant
from commcredits.services import catalog
from commcredits.services.access import SYSTEM, Role, create_api_key
from commcredits.services.tenants import create_tenant
from tests.pg_databases import throwaway_database

# Test apps and servers deliver webhooks only where a test asks for it.
os.environ.setdefault("COMMCREDITS_WEBHOOK_INTERVAL", "0")
# Likewise the payment sweeper: tests that need it run it themselves.
os.environ.setdefault("COMMCREDITS_PAYMENT_SWEEP_INTERVAL", "0")
# Test receivers listen on 127.0.0.1, which production refuses (see services/webhooks.py).
os.environ.setdefault("COMMCREDITS_WEBHOOK_ALLOW_PRIVATE", "1")
PG_URL = os.environ.get("COMMCREDITS_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
# Tables the migrations fill with large seed data (the SAMPLE rate card): kept between
# PostgreSQL tests, less what a test added, instead of truncated and imported again.
KEPT_SEED_TABLES = {"rate", "rate_card"}
KEPT_SEED_CLEANUP = (
    "DELETE FROM rate WHERE card_id IN (SELECT id FROM rate_card WHERE NOT sample)",
    "DELETE FROM rate_card WHERE NOT sample",
)
T0 = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "backends(*kinds): run only on these database backends ('sqlite', 'postgresql'); the "
        "other backend's case is deselected, not skipped (nothing is hidden in a skip count)",
    )


def pytest_collection_modifyitems(config, items):
    keep, drop = [], []
    for item in items:
        marker = item.get_closest_marker("backends")
        callspec = getattr(item, "callspec", None)
        kind = callspec.params.get("backend") if callspec else None
        (drop if marker and kind and kind not in marker.args else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


class FrozenClock:
    """A clock tests move by hand: time is a parameter, never a sleep."""

    def __init__(self, start: dt.datetime = T0):
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request, tmp_path_factory) -> Iterator[dict[str, Any]]:
    """One migrated database per backend per session; tests get a clean copy of it."""
    if request.param == "sqlite":
        template = tmp_path_factory.mktemp("template") / "template.db"
        database.bind(f"sqlite:///{template}")
        migrate()
        database.db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        database.close()
        yield {"kind": "sqlite", "template": template, "dir": tmp_path_factory.mktemp("dbs")}
        return
    # PostgreSQL: a database of our own, so parallel runs never empty each other's tables.
    with throwaway_database(PG_URL, "commcredits_test") as url:
        database.bind(url)
        migrate()
        yield {"kind": "postgresql", "url": url, "empty": _emptying_sql(database.db)}


@pytest.fixture(params=BACKENDS)
def blank_url(request, tmp_path) -> Iterator[str]:
    """An empty database, not migrated (for migration tests)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        database.close()
        return
    with throwaway_database(PG_URL, "commcredits_migration") as url:
        yield url


def _emptying_sql(db: peewee.Database) -> str:
    """One round trip that empties a migrated PostgreSQL database as `TRUNCATE … RESTART
    IDENTITY CASCADE` of every table but KEPT_SEED_TABLES would, less what a test added to
    those: DELETEs, children before the tables they reference, then each emptied table's
    sequences back to 1. TRUNCATE makes new files for every table and index: 0.5 to 1 s per
    test on a busy two-core machine even with the tables empty; these DELETEs take ~0.05 s."""
    tables = [
        r[0]
        for r in db.execute_sql(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'schema_migration'"
        ).fetchall()
        if r[0] not in KEPT_SEED_TABLES
    ]
    references: dict[str, set[str]] = {t: set() for t in tables}
    for child, parent in db.execute_sql(
        "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint "
        "WHERE contype = 'f' AND connamespace = 'public'::regnamespace"
    ).fetchall():
        child, parent = child.strip('"'), parent.strip('"')
        if child in references and parent in references and child != parent:
            references[child].add(parent)
        # A kept table referencing an emptied one would need TRUNCATE's CASCADE.
        assert child in references or parent not in references, (child, parent)
    parents_first = list(graphlib.TopologicalSorter(references).static_order())
    sequences = [
        r[0]
        for r in db.execute_sql(
            "SELECT s.oid::regclass::text FROM pg_class s JOIN pg_depend d "
            "ON d.classid = 'pg_class'::regclass AND d.objid = s.oid "
            "AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') "
            "WHERE s.relkind = 'S' AND d.refobjid::regclass::text = ANY(%s)",
            ([f'"{t}"' for t in tables] + tables,),
        ).fetchall()
    ]
    statements = [f'DELETE FROM "{t}"' for t in reversed(parents_first)]
    statements += KEPT_SEED_CLEANUP
    if sequences:
        statements.append(
            "SELECT setval(s::regclass, 1, false) FROM unnest(%s) AS s"
            % ("ARRAY[" + ", ".join(f"'{q}'" for q in sequences) + "]::text[]")
        )
    return ";\n".join(statements)


@pytest.fixture
def db_url(backend, request) -> Iterator[str]:
    """A migrated, empty database (catalog seeded), bound to commcredits.db."""
    if backend["kind"] == "sqlite":
        path = backend["dir"] / f"{uuid.uuid4().hex}.db"
        shutil.copyfile(backend["template"], path)
        url = f"sqlite:///{path}"
        database.bind(url)
    else:
        url = backend["url"]
        database.bind(url)
        with database.db.connection_context():
            # A connection a test left open in another thread would hold locks: fail loudly
            # instead of waiting for ever.
            database.db.execute_sql("SET lock_timeout = '10s'")
            database.db.execute_sql(backend["empty"])
            catalog.ensure_builtin_catalog()
    yield url
    database.close()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def tenant(db_url, clock) -> Tenant:
    return create_tenant(
        SYSTEM, name="Fabrikam", country="DE", currency="EUR", agreement_type="MOSA", now=clock()
    )


@pytest.fixture
def keys(tenant, clock) -> dict[str, str]:
    """A secret per role for `tenant`, plus 'OPERATOR'."""
    found = {}
    for role in (Role.GLOBAL_ADMIN, Role.BILLING_ADMIN, Role.LICENSE_ADMIN, Role.READER):
        found[role.value] = create_api_key(SYSTEM, role=role, tenant=tenant, now=clock())[1]
    found["OPERATOR"] = create_api_key(SYSTEM, role=Role.OPERATOR, tenant=None, now=clock())[1]
    return found


@pytest.fixture
def app(db_url, clock):
    return create_app(settings=Settings.from_env(), clock=clock, bind_database=False)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@dataclass
class Api:
    """GraphQL over the real ASGI app with one key."""

    client: TestClient
    key: str | None

    def raw(self, query: str, variables: dict | None = None):
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        return self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )

    def __call__(self, query: str, variables: dict | None = None) -> dict[str, Any]:
        """The `data` of a response that must have no top-level errors."""
        response = self.raw(query, variables)
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]

    def errors(self, query: str, variables: dict | None = None) -> list[dict]:
        response = self.raw(query, variables)
        body = response.json()
        assert body.get("errors"), body
        return body["errors"]


@pytest.fixture
def api(client, keys) -> Api:
    """GLOBAL_ADMIN of `tenant`."""
    return Api(client, keys["GLOBAL_ADMIN"])


@pytest.fixture
def api_as(client, keys):
    def make(role: str) -> Api:
        return Api(client, keys[role])

    return make
