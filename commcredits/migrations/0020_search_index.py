"""The SQLite search index, rebuilt cheaper to write (issue 16 item 4; bench/README.md,
"Import-Users against Set-UserLicense").

0012_large_tenants kept every trigram's positions (FTS5 detail=full) and each row's column
sizes: its trigger held a bare multi-row INSERT of 100,000 users to ~40,000 rows/s (130,000
without it), before an import checks a cell. Now (measured on 100,000 template users, CPU
time of the INSERTs with the trigger: 1.07 s before, 0.60 s after; 0.11 s with no index):

- detail=none: the index keeps which users hold a trigram, not where. A search asks for the
  tenant's key AND every trigram of the term and rechecks the candidates with LIKE on
  directory_user.search_text (services/user_list.py, _fts_matching), so it finds exactly the
  users it found; the index is a fifth of the size (9 MB instead of 51 for 201,000 users).
- columnsize=0: no per-row size record (it only serves bm25 ranking, which a list in id
  order never asks for): one B-tree write less per user.
- automerge stays 4: 16 made a 100,000-user insert ~20% cheaper in the index (~1% of an
  import) but a rare term's search ~12% slower on a 200,000-user tenant (more segments to
  read per trigram).

directory_user.search_text is unchanged; the index is built again from it (one INSERT …
SELECT: 0.6 s for 200,000 users, where 0012's settings took 1.3 s).

The triggers are 0012's: the transaction that writes a user writes its index entries.
PostgreSQL: nothing changes (its pg_trgm GIN index keeps no positions already).
"""

import peewee

from commcredits.services.user_search import tenant_key_sql

_TRIGGERS = (
    "directory_user_search_insert",
    "directory_user_search_delete",
    "directory_user_search_update",
)
_COLUMNS = "tenant_key, search_text, content='', tokenize='trigram'"
# 0020's index: no positions, no column sizes (see the module's docstring).
_NEW = (
    f"CREATE VIRTUAL TABLE directory_user_search USING fts5({_COLUMNS}, detail=none, columnsize=0)"
)
_OLD = f"CREATE VIRTUAL TABLE directory_user_search USING fts5({_COLUMNS})"  # 0012's

_SQLITE_TRIGGERS = (
    f"""CREATE TRIGGER directory_user_search_insert AFTER INSERT ON directory_user BEGIN
      INSERT INTO directory_user_search(rowid, tenant_key, search_text)
      VALUES (new.id, {tenant_key_sql("new.tenant_id")}, new.search_text);
    END""",
    # A contentless FTS5 table forgets a row by being told its old values.
    f"""CREATE TRIGGER directory_user_search_delete AFTER DELETE ON directory_user BEGIN
      INSERT INTO directory_user_search(directory_user_search, rowid, tenant_key, search_text)
      VALUES ('delete', old.id, {tenant_key_sql("old.tenant_id")}, old.search_text);
    END""",
    f"""CREATE TRIGGER directory_user_search_update AFTER UPDATE OF search_text ON directory_user
    BEGIN
      INSERT INTO directory_user_search(directory_user_search, rowid, tenant_key, search_text)
      VALUES ('delete', old.id, {tenant_key_sql("old.tenant_id")}, old.search_text);
      INSERT INTO directory_user_search(rowid, tenant_key, search_text)
      VALUES (new.id, {tenant_key_sql("new.tenant_id")}, new.search_text);
    END""",
)
_FILL = (
    "INSERT INTO directory_user_search(rowid, tenant_key, search_text) "
    f"SELECT id, {tenant_key_sql('tenant_id')}, search_text FROM directory_user"
)


def _is_sqlite(db) -> bool:
    return isinstance(db, peewee.SqliteDatabase)


def _drop_index(db) -> None:
    for name in _TRIGGERS:
        db.execute_sql(f'DROP TRIGGER IF EXISTS "{name}"')
    db.execute_sql("DROP TABLE IF EXISTS directory_user_search")


def _build_index(db, create: tuple[str, ...]) -> None:
    """The table, its triggers, and an entry per existing user (one INSERT … SELECT)."""
    for statement in create + _SQLITE_TRIGGERS:
        db.execute_sql(statement)
    db.execute_sql(_FILL)


def up(migrator, db):
    if not _is_sqlite(db):
        return
    _drop_index(db)
    _build_index(db, (_NEW,))


def down(migrator, db):
    if not _is_sqlite(db):
        return
    _drop_index(db)
    _build_index(db, (_OLD,))
