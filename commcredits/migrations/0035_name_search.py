"""Groups and tenants are searched as users are: case and accents aside (review finding).

`groups(filter: { search })` and the operator's `tenants(search:)` compared `LOWER(name)` with
the term lowercased in Python: SQLite's LOWER and LIKE fold ASCII letters only, so a group
named "Änderung Team" was not found by its own name, and PostgreSQL lowercases 'İ' otherwise
than Python does. Now each row keeps `search_name`, its name as a search term is normalized
(services/user_search.normalize: "Müller" → "muller"), written by the service with the name,
and a search is a substring of it. Existing rows are filled here, a statement per 500.
"""

from commcredits.services.user_search import normalize

_TABLES = {"directory_group": "display_name", "tenant": "name"}
_CHUNK = 500


def up(migrator, db):
    for table, column in _TABLES.items():
        db.execute_sql(f"ALTER TABLE {table} ADD COLUMN search_name TEXT NOT NULL DEFAULT ''")
        rows = db.execute_sql(f"SELECT id, {column} FROM {table}").fetchall()
        sql = f"UPDATE {table} SET search_name = {db.param} WHERE id = {db.param}"
        for start in range(0, len(rows), _CHUNK):
            cursor = db.cursor()
            cursor.executemany(
                sql, [(normalize(name), pk) for pk, name in rows[start : start + _CHUNK]]
            )


def down(migrator, db):
    for table in _TABLES:
        db.execute_sql(f"ALTER TABLE {table} DROP COLUMN search_name")
