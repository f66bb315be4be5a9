"""The operator CLI: migrate, seed-demo, create-api-key; and GraphiQL on GET /graphql."""

import re

import pytest

from commcredits import cli
from commcredits import db as database


@pytest.fixture
def sqlite_env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # In var/: seed-demo keeps the demo keys beside the database (var/demo-keys.txt).
    monkeypatch.setenv("COMMCREDITS_DATABASE_URL", f"sqlite:///{tmp_path / 'var' / 'cli.db'}")
    yield tmp_path
    database.close()


def test_migrate_seed_and_keys(sqlite_env, capsys):
    assert cli.main(["migrate"]) == 0
    assert "0001_core" in capsys.readouterr().out
    assert cli.main(["migrate"]) == 0
    assert "up to date" in capsys.readouterr().out
    assert cli.main(["seed-demo"]) == 0
    first = capsys.readouterr().out
    assert "seeded demo tenant Contoso" in first and "GLOBAL_ADMIN_KEY=cck_" in first
    # A one-time sign-in link, its token in the fragment; never a key in a URL.
    link = re.search(r"http://127\.0\.0\.1:8000/auth/link\?to=console#(ccl_[\w-]{43})\s", first)
    assert link and "Admin console as Contoso's admin (one-time link" in first, first
    assert "GraphiQL (same sign-in, or the key in its Headers tab): " in first
    assert "http://127.0.0.1:8000/graphql\n" in first
    assert "headers=" not in first and not re.search(r"https?://\S*cck_", first)
    assert cli.main(["seed-demo"]) == 0
    second = capsys.readouterr().out
    assert "already seeded" in second
    again = re.search(r"/auth/link\?to=console#(ccl_[\w-]{43})\s", second)
    assert again and again.group(1) != link.group(1)  # a fresh link each time
    keys = sqlite_env / "var/demo-keys.txt"
    assert cli.main(["sign-in-link", "--key-file", str(keys), "--entry", "OPERATOR_KEY"]) == 0
    assert re.fullmatch(
        r"http://127\.0\.0\.1:8000/auth/link#ccl_[\w-]{43}\n", capsys.readouterr().out
    )
    assert (
        cli.main(
            ["sign-in-link", "--key-file", str(keys), "--entry", "OPERATOR_KEY"]
            + ["--to", "console"]
        )
        == 0
    )
    assert re.fullmatch(
        r"http://127\.0\.0\.1:8000/auth/link\?to=console#ccl_[\w-]{43}\n",
        capsys.readouterr().out,
    )
    assert cli.main(["sign-in-link", "--key-file", str(keys)]) == 2  # two keys: which one?
    assert "no key found" in capsys.readouterr().err
    assert (sqlite_env / "var/demo-keys.txt").stat().st_mode & 0o077 == 0
    assert cli.main(["create-api-key", "--tenant", "Contoso", "--role", "reader"]) == 0
    key = capsys.readouterr().out.strip()
    assert key.startswith("cck_")
    assert cli.main(["create-api-key", "--operator"]) == 0
    assert capsys.readouterr().out.startswith("cck_")
    assert cli.main(["create-api-key", "--tenant", "Nope", "--role", "READER"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_keys_are_found_from_another_directory(sqlite_env, monkeypatch, capsys):
    assert cli.main(["migrate"]) == 0
    assert cli.main(["seed-demo"]) == 0
    elsewhere = sqlite_env / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    capsys.readouterr()
    assert cli.main(["seed-demo"]) == 0  # the same database, the same keys file
    out = capsys.readouterr().out
    assert "already seeded" in out and f"demo keys ({sqlite_env / 'var/demo-keys.txt'})" in out
    assert list(elsewhere.iterdir()) == []


def test_commands_refuse_a_missing_database_without_creating_it(sqlite_env, capsys):
    # (Bulk commands in-process use a database this process already bound, as tests bind
    # them; tests/test_database_path.py runs them in a process of their own.)
    for argv in (["seed-demo"], ["audit"], ["create-api-key", "--operator"]):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert f"no database at {sqlite_env / 'var' / 'cli.db'}; run `commcredits migrate`" in err
    assert list(sqlite_env.iterdir()) == []


def test_a_bad_setting_is_one_line_and_exit_2(sqlite_env, monkeypatch, capsys):
    monkeypatch.setenv("COMMCREDITS_MAX_BODY_BYTES", "lots")
    assert cli.main(["migrate"]) == 2
    assert (
        capsys.readouterr().err
        == "commcredits: COMMCREDITS_MAX_BODY_BYTES='lots' is not a number.\n"
    )
    monkeypatch.delenv("COMMCREDITS_MAX_BODY_BYTES")
    monkeypatch.setenv("COMMCREDITS_JWT_ISSUER", "https://login.example")
    assert cli.main(["migrate"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("commcredits: JWT sign-in needs") and "Traceback" not in err


def test_graphiql_is_served_on_get(client):
    response = client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()
    assert "query Overview" in response.text  # it opens on a query about the caller's tenant


def test_graphiqls_opening_query_runs(api):
    from commcredits.graphiql import WELCOME_QUERY

    data = api(WELCOME_QUERY)
    assert (
        data["viewer"]["role"] == "GLOBAL_ADMIN"
        and data["tenant"]["balance"]["remaining"]["currency"]
    )


def test_expire_refuses_a_time_after_the_clock(sqlite_env, capsys):
    assert cli.main(["migrate"]) == 0
    assert cli.main(["expire", "--as-of", "2099-06-01T00:00:00+00:00"]) == 2
    assert "nothing is ever dated in the future" in capsys.readouterr().err
    assert cli.main(["expire", "--as-of", "2026-01-01T00:00:00"]) == 0
    assert "expired credits of 0 tenant(s)" in capsys.readouterr().out
