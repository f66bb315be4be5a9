"""Operability (issue 6 item 5): probes, request logs, workers, graceful shutdown, backup."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import sys
import threading
import time

import httpx
import pytest
from starlette.testclient import TestClient

from commcredits import db as database
from commcredits.app import create_app
from commcredits.cli import main as cli
from commcredits.config import Settings
from commcredits.logs import JsonFormatter
from commcredits.migrate import migrate
from commcredits.models import User
from tests.conftest import Api
from tests.helpers import add_users
from tests.live_server import children, free_port, live_server

VIEWER = "query Who { viewer { role tenant { name } } }"
CREATE_USER = """mutation Add($upn: String!) { createUser(input: {userPrincipalName: $upn})
  { user { id } userErrors { code } } }"""


# --- probes --------------------------------------------------------------------------------


def test_healthz_and_readyz_on_a_current_database(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}
    assert ready.headers["x-request-id"]


def _probe(url: str) -> TestClient:
    settings = Settings(database_url=url, max_body_bytes=1 << 20, log_level="INFO")
    return TestClient(create_app(settings=settings))  # binds the database itself


def test_readyz_reports_pending_migrations(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    try:
        database.bind(url)
        migrate("0001_core")
        with _probe(url) as c:
            assert c.get("/healthz").status_code == 200  # alive, but not ready
            ready = c.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["status"] == "migrations pending"
            assert "0006_hardening" in ready.json()["pending"]
            migrate()
            assert c.get("/readyz").status_code == 200
    finally:
        database.close()


def test_readyz_reports_an_unreachable_database():
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"  # nobody listens there
    try:
        with _probe(url) as c:
            assert c.get("/healthz").status_code == 200
            down = c.get("/readyz")
            assert down.status_code == 503 and down.json()["status"] == "unavailable"
            assert "postgres" not in down.text  # the probe names no connection details
    finally:
        database.close()


# --- structured logs -----------------------------------------------------------------------


def test_one_json_line_per_request_with_id_tenant_operation_duration_status(
    client, keys, tenant, caplog
):
    with caplog.at_level(logging.INFO, logger="commcredits.request"):
        response = client.post(
            "/graphql",
            json={"query": VIEWER},
            headers={"Authorization": f"Bearer {keys['READER']}", "x-request-id": "req-42"},
        )
        client.post("/graphql", content=b"{", headers={"content-type": "application/json"})
    lines = [r for r in caplog.records if r.name == "commcredits.request"]
    assert len(lines) == 2
    first = json.loads(JsonFormatter().format(lines[0]))
    assert response.headers["x-request-id"] == "req-42"
    assert first["request_id"] == "req-42"
    assert first["tenant"] == tenant.id
    assert first["operation"] == "Who"
    assert first["status"] == 200
    assert first["key"] == keys["READER"][:10]
    assert isinstance(first["duration_ms"], float) and first["duration_ms"] >= 0
    assert keys["READER"] not in json.dumps(first)  # never the secret
    second = json.loads(JsonFormatter().format(lines[1]))
    assert second["status"] == 400 and second["tenant"] is None


@pytest.mark.backends("sqlite")
def test_serve_writes_json_lines(db_url, keys, tmp_path, backend):
    with live_server(db_url, tmp_path) as server:
        headers = {"Authorization": f"Bearer {keys['READER']}"}
        r = httpx.post(server.url + "/graphql", json={"query": VIEWER}, headers=headers)
        assert r.status_code == 200
        request_id = r.headers["x-request-id"]
    lines = server.log_lines()
    assert lines, server.log_path.read_text()
    mine = [x for x in lines if x.get("request_id") == request_id]
    assert len(mine) == 1 and mine[0]["operation"] == "Who" and mine[0]["status"] == 200
    assert all({"ts", "level", "logger", "msg"} <= set(x) for x in lines)
    assert not [x for x in lines if x["logger"] == "uvicorn.access"]  # ours replaces it


# --- workers and graceful shutdown ---------------------------------------------------------


@pytest.mark.backends("postgresql")
def test_serve_with_two_workers_on_postgresql(db_url, keys, tmp_path, backend):
    with live_server(db_url, tmp_path, workers=2) as server:
        deadline = time.monotonic() + 20
        while len(children(server.process.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(children(server.process.pid)) >= 2
        headers = {"Authorization": f"Bearer {keys['GLOBAL_ADMIN']}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=10) as http:
            for i in range(20):
                r = http.post(
                    "/graphql",
                    json={"query": CREATE_USER, "variables": {"upn": f"w{i}@fabrikam.example"}},
                    headers={"connection": "close"},  # new connections spread over workers
                )
                assert r.status_code == 200 and not r.json()["data"]["createUser"]["userErrors"]
            assert http.get("/readyz").status_code == 200
        assert User.select().count() == 20
    assert server.process.returncode in (0, -15)
    pids = {x["pid"] for x in server.log_lines() if x.get("logger") == "commcredits.request"}
    assert pids  # each worker logs with its own pid (which one served is the kernel's choice)


@pytest.mark.backends("sqlite")
def test_sigterm_lets_an_in_flight_request_finish(db_url, keys, tmp_path, backend):
    path = db_url.removeprefix("sqlite:///")
    with live_server(db_url, tmp_path) as server:
        headers = {"Authorization": f"Bearer {keys['GLOBAL_ADMIN']}"}
        api = f"{server.url}/graphql"
        httpx.post(api, json={"query": VIEWER}, headers=headers)  # warm up, last-used written
        blocker = sqlite3.connect(path, timeout=5, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # the server's write now waits (busy_timeout 30 s)
        outcome: dict = {}

        def slow_request():
            try:
                outcome["response"] = httpx.post(
                    api,
                    json={"query": CREATE_USER, "variables": {"upn": "late@fabrikam.example"}},
                    headers=headers,
                    timeout=30,
                )
            except Exception as error:  # noqa: BLE001 - reported by the assertion below
                outcome["error"] = error

        thread = threading.Thread(target=slow_request)
        thread.start()
        try:
            time.sleep(1.0)  # the request is in the server, waiting for the lock
            assert thread.is_alive()
            server.terminate()  # SIGTERM while the request is in flight
            time.sleep(1.0)
            assert server.process.poll() is None, "the server waits for the request"
            with pytest.raises(httpx.TransportError):  # and takes no new connections
                httpx.get(server.url + "/healthz", timeout=2)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
            thread.join(timeout=30)
        assert server.process.wait(timeout=30) in (0, -15)  # uvicorn re-raises SIGTERM
    assert "error" not in outcome, outcome
    response = outcome["response"]
    assert response.status_code == 200
    assert not response.json()["data"]["createUser"]["userErrors"]
    assert User.select().where(User.user_principal_name == "late@fabrikam.example").exists()


# --- backup and restore --------------------------------------------------------------------


@pytest.mark.backends("sqlite")
def test_backup_change_restore_sees_the_old_state(
    db_url, tenant, clock, tmp_path, monkeypatch, client, keys, backend
):
    monkeypatch.setenv("COMMCREDITS_DATABASE_URL", db_url)
    add_users(tenant, clock(), [("ada", "DE")])
    target = tmp_path / "backups" / "before.db"
    assert cli(["backup", str(target)]) == 0
    assert cli(["backup", str(target)]) == 2  # never overwrites a backup

    api = Api(client, keys["GLOBAL_ADMIN"])
    api(CREATE_USER, {"upn": "bob@fabrikam.example"})
    User.delete().where(User.user_principal_name == "ada@fabrikam.example").execute()
    assert [u.user_principal_name for u in User.select()] == ["bob@fabrikam.example"]

    assert cli(["restore", str(target)]) == 0  # online: the app's pool stays open
    assert [u.user_principal_name for u in User.select()] == ["ada@fabrikam.example"]
    assert api(VIEWER)["viewer"]["tenant"]["name"] == "Fabrikam"
    assert api(CREATE_USER, {"upn": "cy@fabrikam.example"})["createUser"]["user"]
    con = sqlite3.connect(db_url.removeprefix("sqlite:///"))
    try:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        con.close()


def test_restore_refuses_what_is_not_a_commcredits_backup(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COMMCREDITS_DATABASE_URL", f"sqlite:///{tmp_path / 'live.db'}")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    assert cli(["restore", str(junk)]) == 2
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    assert cli(["restore", str(other)]) == 2
    assert cli(["restore", str(tmp_path / "missing.db")]) == 2
    assert "not a commcredits database" in capsys.readouterr().err


def test_postgresql_backup_prints_the_pg_dump_command(monkeypatch, capsys):
    monkeypatch.setenv("COMMCREDITS_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/cc")
    assert cli(["backup", "/backups/cc.dump"]) == 2
    out = capsys.readouterr().out
    assert (
        "pg_dump --format=custom --no-owner --file=/backups/cc.dump "
        "postgresql://postgres@127.0.0.1:5432/cc" in out
    )
    assert "pg_restore --clean --if-exists" in out


def test_json_formatter_keeps_extras_and_tracebacks():
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "failed %s", ("here",), sys.exc_info()
        )
    record.request_id = "r1"
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "failed here" and line["request_id"] == "r1"
    assert "ValueError: boom" in line["exc"] and line["pid"] == os.getpid()


def test_in_process_execution_keeps_one_loop_per_thread_and_leaves_nothing_running(
    tenant, clock, monkeypatch
):
    import asyncio

    from commcredits import execution
    from commcredits.services.access import Principal, Role

    principal = Principal(key_id=None, role=Role.GLOBAL_ADMIN, tenant=tenant, key_prefix="")

    def run() -> asyncio.AbstractEventLoop:
        out = execution.execute(VIEWER, principal=principal, now=clock())
        assert out["data"]["viewer"]["tenant"]["name"] == tenant.name
        return execution._thread_loop()

    first, second = run(), run()
    assert first is second and not first.is_closed()

    async def leaves_a_task(*args, **kwargs) -> dict:
        asyncio.get_running_loop().create_task(asyncio.sleep(3600))
        return {"data": None}

    with monkeypatch.context() as patch:
        patch.setattr(execution, "execute_async", leaves_a_task)
        execution.execute(VIEWER, principal=principal, now=clock())
    assert asyncio.all_tasks(first) == set()  # cancelled, as asyncio.run would
    other: list[asyncio.AbstractEventLoop] = []

    def elsewhere() -> None:
        with database.db.connection_context():
            other.append(run())

    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join()
    assert other and other[0] is not first
