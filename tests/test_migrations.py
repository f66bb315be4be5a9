"""`commcredits migrate`: each script once, in order; an older database is brought forward."""

import sqlite3

from commcredits import db as database
from commcredits.migrate import migrate, pending, runner
from commcredits.models import Sku


def test_empty_database_is_migrated_in_order_and_rerun_is_a_no_op(tmp_path):
    database.bind(f"sqlite:///{tmp_path / 'fresh.db'}")
    try:
        applied = migrate()
        assert applied[:2] == ["0001_core", "0002_builtin_catalog"]
        assert applied == sorted(applied)
        assert pending() == []
        assert migrate() == []
        with database.db.connection_context():
            assert Sku.select().count() == 8
            names = [m.name for m in runner().status()]
        assert names == applied
    finally:
        database.close()


def test_older_database_gets_only_the_missing_migrations(tmp_path):
    path = tmp_path / "old.db"
    database.bind(f"sqlite:///{path}")
    try:
        assert migrate("0001_core") == ["0001_core"]
        with database.db.connection_context():
            assert Sku.select().count() == 0  # the catalog data step has not run yet
        assert "0002_builtin_catalog" in pending()
        later = migrate()
        assert later[0] == "0002_builtin_catalog" and "0001_core" not in later
        with database.db.connection_context():
            assert Sku.select().count() == 8
    finally:
        database.close()
    # The SQLite file is in WAL mode, as the embedded default promises.
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_builtin_catalog_step_never_duplicates(db_url):
    from commcredits.services.catalog import ensure_builtin_catalog

    assert ensure_builtin_catalog() == 0
    assert Sku.select().count() == 8
