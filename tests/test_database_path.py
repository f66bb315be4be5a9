"""Issue 12, item 7: the database is the one you meant, whichever directory a command runs from.

Commands run as a user runs them (a subprocess, a bare environment, another working directory):
nothing creates an empty `var/commcredits.db` where it happens to run, a missing or unmigrated
database is one exit-2 line naming the file and `commcredits migrate`, and `commcredits info`
says which database is in use, its migration level and its tenants, without writing to it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from commcredits import cli, config, db_state
from commcredits import db as database
from commcredits.migrate import migrate

FIX = "run `commcredits migrate`"
RELATIVE = "sqlite:///var/commcredits.db"  # the old default: relative to the working directory


def run(cwd: Path, *argv: str, url: str | None = RELATIVE) -> subprocess.CompletedProcess:
    """`commcredits …` in `cwd` with no settings but (optionally) the database URL."""
    env = {"PATH": os.environ["PATH"], "HOME": str(cwd)}
    if url is not None:
        env["COMMCREDITS_DATABASE_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "commcredits.cli", *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["audit"],
        ["seed-demo"],
        ["create-api-key", "--operator"],
        ["expire"],
        ["serve", "--port", "1"],
        ["Get-Users", "-Tenant", "Contoso"],  # a bulk command, in-process
        ["Set-UserLicense", "-UserId", "adele@contoso.example", "-AddLicenses", "MCOPSTNC"],
    ],
    ids=lambda argv: argv[0],
)
def test_a_missing_database_is_named_and_nothing_is_created(tmp_path, argv):
    if argv[0] == "Set-UserLicense":
        argv = [*argv, "-Tenant", "Contoso"]
    done = run(tmp_path, *argv)
    assert done.returncode == 2, done
    expected = f"no database at {tmp_path / 'var' / 'commcredits.db'}; {FIX}"
    assert expected in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert list(tmp_path.iterdir()) == []  # no var/, no empty database, no keys file


def test_with_no_setting_the_default_does_not_depend_on_the_working_directory(tmp_path):
    done = run(tmp_path, "info", "--json", url=None)
    expected = config.data_dir() / "commcredits.db"
    # The checkout's database may be missing or not migrated (2, named) or ready (0).
    assert done.returncode in (0, 2) and "Traceback" not in done.stderr, done
    assert str(expected) in done.stdout + done.stderr
    assert not expected.is_relative_to(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_migrate_then_info(tmp_path):
    done = run(tmp_path, "migrate")
    assert done.returncode == 0, done
    path = tmp_path / "var" / "commcredits.db"
    assert f"database: {path}" in done.stdout and path.is_file()
    info = run(tmp_path, "info")
    assert info.returncode == 0, info
    latest = db_state.known_migrations()[-1]
    assert f"database    sqlite:///{path}" in info.stdout
    assert f"migrations  {latest} applied, latest {latest} (up to date)" in info.stdout
    assert "tenants     0" in info.stdout
    assert run(tmp_path, "seed-demo").returncode == 0
    found = json.loads(run(tmp_path, "info", "--json").stdout)
    assert found["database"]["path"] == str(path) and found["database"]["pending"] == []
    [contoso] = found["tenants"]
    assert contoso["name"] == "Contoso" and contoso["users"] > 0
    assert {"id", "country", "currency", "agreement_type"} <= set(contoso)
    # From any other directory, the same database (given by an absolute URL, as make gives it).
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    again = run(elsewhere, "Get-Users", "-Tenant", "Contoso", url=f"sqlite:///{path}")
    assert again.returncode == 0 and "adele.vance@contoso.example" in again.stdout, again
    assert list(elsewhere.iterdir()) == []


def test_an_unmigrated_or_old_database_is_refused(tmp_path):
    empty = tmp_path / "var" / "commcredits.db"
    empty.parent.mkdir()
    empty.touch()
    for argv in (["audit"], ["info"], ["serve", "--port", "1"], ["Get-Users", "-Tenant", "X"]):
        done = run(tmp_path, *argv)
        assert done.returncode == 2, done
        assert f"the database at {empty} is not migrated (no schema); {FIX}" in done.stderr
    assert empty.stat().st_size == 0  # nothing written, not even the schema history

    old = tmp_path / "old.db"
    database.bind(f"sqlite:///{old}")
    try:
        migrate("0001_core")
    finally:
        database.close()
    done = run(tmp_path, "audit", url=f"sqlite:///{old}")
    assert done.returncode == 2 and f"the database at {old} is at migration 0001_core" in (
        done.stderr
    )
    info = run(tmp_path, "info", url=f"sqlite:///{old}")  # info reports, it does not refuse
    assert info.returncode == 0 and "pending: run `commcredits migrate`" in info.stdout, info


def test_info_on_each_backend(db_url, tenant, monkeypatch, capsys):
    monkeypatch.setenv("COMMCREDITS_DATABASE_URL", db_url)
    with database.db.connection_context():
        before = database.db.execute_sql("SELECT COUNT(*) FROM audit_entry").fetchone()[0]
    assert cli.main(["info", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["database"]["kind"] == ("sqlite" if db_url.startswith("sqlite") else "postgresql")
    assert found["database"]["level"] == db_state.known_migrations()[-1]
    assert found["tenants"] == [
        {
            "id": tenant.id,
            "name": "Fabrikam",
            "country": "DE",
            "currency": "EUR",
            "agreement_type": "MOSA",
            "users": 0,
        }
    ]
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert "Fabrikam" in out and "MOSA" in out
    with database.db.connection_context():  # read-only: no audit entry, no key stamp
        assert database.db.execute_sql("SELECT COUNT(*) FROM audit_entry").fetchone()[0] == before


def test_passwords_are_masked():
    url = "postgresql://app:s%40cret@db.example:5433/commcredits"
    assert db_state.masked(url) == "postgresql://app:***@db.example:5433/commcredits"
    assert db_state.masked("sqlite:////srv/cc.db") == "sqlite:////srv/cc.db"


def test_the_default_path_outside_a_checkout(tmp_path, monkeypatch):
    monkeypatch.delenv("COMMCREDITS_DATABASE_URL", raising=False)
    assert config.source_checkout() == Path(__file__).resolve().parent.parent  # tests run here
    assert (
        config.database_url_from_env() == f"sqlite:///{config.source_checkout()}/var/commcredits.db"
    )
    monkeypatch.setattr(config, "source_checkout", lambda: None)  # an installed package
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert config.database_url_from_env() == f"sqlite:///{tmp_path}/data/commcredits/commcredits.db"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    expected = tmp_path / ".local" / "share" / "commcredits" / "commcredits.db"
    assert config.database_url_from_env() == f"sqlite:///{expected}"
    monkeypatch.setenv("COMMCREDITS_DATABASE_URL", "sqlite:///rel/x.db")  # as written, but absolute
    monkeypatch.chdir(tmp_path)
    assert config.database_url_from_env() == f"sqlite:///{tmp_path}/rel/x.db"
