"""Large tenants (issue 16): search, filters and counts that stay flat as a tenant grows.

- directory_user.search_text: the normalized text a search matches (services/user_search.py),
  filled here for the users that exist, written by the service with every user row after.
- Search index. SQLite: an FTS5 table `directory_user_search` (trigram tokenizer, contentless)
  over (tenant_key, search_text), kept in step by triggers on directory_user, so it changes in
  the transaction that changes the user. PostgreSQL: pg_trgm and btree_gin, and one GIN index
  over (tenant_id::bigint, search_text): a small tenant's search reads its own entries only.
- (tenant_id, id) for the unfiltered list, and filter indexes ending in id, so that each
  filter pages in id order within its value without reading the tenant: (tenant_id,
  usage_location, id), (tenant_id, department, id), (tenant_id, account_enabled, id). The
  first two replace (tenant_id, usage_location) and (tenant_id, department).
- PostgreSQL: two functions that run a list query with fixed planner settings (sorting off;
  bitmap scans off for counts), so its plan does not depend on statistics; and
  analyze_if_grown, which ANALYZEs a table bulk inserts grew (services/table_stats.py).
- tenant_user_count: users per tenant, for `users { totalCount }` without counting them; kept by
  triggers on directory_user (every insert and delete, bulk and cascades included), filled here.

Index builds read the existing users once; on a database with many users this migration takes
a while (about 20 s per 200,000 users on SQLite, where the trigram index is the slow part).
"""

import json

import peewee

from commcredits.services.user_search import (
    SEARCHED,
    search_text,
    tenant_key_sql,
    write_search_texts,
)

_FILTER_INDEXES = (
    # The unfiltered list: the tenant's users in id order (no index had tenant_id first
    # followed by id; (tenant_id, upn_key) is ordered by UPN).
    ("directory_user_tenant_id_id", "tenant_id, id"),
    ("directory_user_tenant_location_id", "tenant_id, usage_location, id"),
    ("directory_user_tenant_department_id", "tenant_id, department, id"),
    ("directory_user_tenant_enabled_id", "tenant_id, account_enabled, id"),
)
_REPLACED_INDEXES = (
    "directory_user_tenant_id_usage_location",
    "directory_user_tenant_id_department",
)
_CHUNK = 500

_SQLITE_SEARCH = (
    "CREATE VIRTUAL TABLE directory_user_search USING fts5("
    "tenant_key, search_text, content='', tokenize='trigram')",
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
_SQLITE_FILL_SEARCH = (
    "INSERT INTO directory_user_search(rowid, tenant_key, search_text) "
    f"SELECT id, {tenant_key_sql('tenant_id')}, search_text FROM directory_user"
)
_SQLITE_COUNT_TRIGGERS = (
    """CREATE TRIGGER tenant_user_count_insert AFTER INSERT ON directory_user BEGIN
      INSERT OR IGNORE INTO tenant_user_count(tenant_id, users) VALUES (new.tenant_id, 0);
      UPDATE tenant_user_count SET users = users + 1 WHERE tenant_id = new.tenant_id;
    END""",
    """CREATE TRIGGER tenant_user_count_delete AFTER DELETE ON directory_user BEGIN
      UPDATE tenant_user_count SET users = users - 1 WHERE tenant_id = old.tenant_id;
    END""",
)
# PostgreSQL: statement triggers with transition tables, so a 1,000-row INSERT costs one
# update of the count, not a thousand.
_PG_COUNT_TRIGGERS = (
    """CREATE FUNCTION tenant_user_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO tenant_user_count(tenant_id, users)
      SELECT tenant_id, count(*) FROM new_users GROUP BY tenant_id
      ON CONFLICT (tenant_id) DO UPDATE SET users = tenant_user_count.users + EXCLUDED.users;
      RETURN NULL;
    END $$""",
    """CREATE FUNCTION tenant_user_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      UPDATE tenant_user_count c SET users = c.users - d.n
      FROM (SELECT tenant_id, count(*) AS n FROM old_users GROUP BY tenant_id) d
      WHERE c.tenant_id = d.tenant_id;
      RETURN NULL;
    END $$""",
    "CREATE TRIGGER tenant_user_count_insert AFTER INSERT ON directory_user "
    "REFERENCING NEW TABLE AS new_users FOR EACH STATEMENT "
    "EXECUTE FUNCTION tenant_user_count_insert()",
    "CREATE TRIGGER tenant_user_count_delete AFTER DELETE ON directory_user "
    "REFERENCING OLD TABLE AS old_users FOR EACH STATEMENT "
    "EXECUTE FUNCTION tenant_user_count_delete()",
)


# PostgreSQL: a list query run through one of these is planned under the function's settings
# (a SET clause holds for the function's run only): sorting off, so a page is read in id order
# from an index ending in id whatever the statistics say; bitmap scans off too for counts, so
# each license probe is an index lookup; no JIT for these millisecond queries
# (services/users.py, _in_id_order and _count_by_index, says why).
_PG_PLANNED_READS = (
    """CREATE FUNCTION directory_user_in_id_order(query text) RETURNS SETOF directory_user
    LANGUAGE plpgsql STABLE SET enable_sort = off SET jit = off AS $$
    BEGIN
      RETURN QUERY EXECUTE query;
    END $$""",
    # services/table_stats.py: the check and the ANALYZE in one statement, after a bulk write.
    """CREATE FUNCTION analyze_if_grown(tbl regclass, inserted bigint, growth real)
    RETURNS TABLE (analysed boolean, planned real) LANGUAGE plpgsql AS $$
    BEGIN
      SELECT c.reltuples INTO planned FROM pg_class c WHERE c.oid = tbl;
      analysed := planned < 0 OR inserted > (growth - 1) * planned;
      IF analysed THEN
        EXECUTE 'ANALYZE ' || tbl::text;
        SELECT c.reltuples INTO planned FROM pg_class c WHERE c.oid = tbl;
      END IF;
      RETURN NEXT;
    END $$""",
    """CREATE FUNCTION directory_user_count_by_index(query text) RETURNS bigint
    LANGUAGE plpgsql STABLE SET enable_sort = off SET enable_bitmapscan = off SET jit = off AS $$
    DECLARE n bigint;
    BEGIN
      EXECUTE query INTO n;
      RETURN n;
    END $$""",
)


def _is_sqlite(db) -> bool:
    return isinstance(db, peewee.SqliteDatabase)


def _fill_search_text(db) -> None:
    """Each existing user's search text, by pages of ids (one UPDATE per page)."""
    columns = ", ".join(f'"{c}"' for c in SEARCHED)
    last = 0
    while True:
        rows = db.execute_sql(
            f'SELECT id, {columns} FROM "directory_user" WHERE id > {db.param} '
            f"ORDER BY id LIMIT {_CHUNK}",
            (last,),
        ).fetchall()
        if not rows:
            return
        pairs = []
        for row in rows:
            values = dict(zip(SEARCHED, row[1:], strict=True))
            if isinstance(values["other_mails"], str):  # the column's JSON text
                values["other_mails"] = json.loads(values["other_mails"] or "[]")
            pairs.append((row[0], search_text(values)))
        write_search_texts(pairs, database=db)
        last = rows[-1][0]


def up(migrator, db):
    sqlite = _is_sqlite(db)
    db.execute_sql(
        'ALTER TABLE "directory_user" ADD COLUMN "search_text" TEXT NOT NULL DEFAULT \'\''
    )
    _fill_search_text(db)
    for name, columns in _FILTER_INDEXES:
        db.execute_sql(f'CREATE INDEX IF NOT EXISTS "{name}" ON "directory_user" ({columns})')
    for name in _REPLACED_INDEXES:
        db.execute_sql(f'DROP INDEX IF EXISTS "{name}"')
    db.execute_sql(
        'CREATE TABLE "tenant_user_count" ('
        '"tenant_id" INTEGER NOT NULL PRIMARY KEY REFERENCES "tenant" ("id") ON DELETE CASCADE, '
        '"users" INTEGER NOT NULL DEFAULT 0)'
    )
    db.execute_sql(
        'INSERT INTO "tenant_user_count" (tenant_id, users) '
        'SELECT tenant_id, count(*) FROM "directory_user" GROUP BY tenant_id'
    )
    if sqlite:
        for statement in _SQLITE_SEARCH + _SQLITE_COUNT_TRIGGERS:
            db.execute_sql(statement)
        db.execute_sql(_SQLITE_FILL_SEARCH)
    else:
        db.execute_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        db.execute_sql("CREATE EXTENSION IF NOT EXISTS btree_gin")
        # (tenant_id::bigint), not tenant_id: the query names the tenant by this expression,
        # which no B-tree matches, so the planner cannot prefer (tenant_id, id) and filter
        # every row of a large tenant (services/users.py, _search_tenant).
        db.execute_sql(
            'CREATE INDEX "directory_user_search" ON "directory_user" '
            "USING gin ((tenant_id::bigint), search_text gin_trgm_ops)"
        )
        for statement in _PG_COUNT_TRIGGERS + _PG_PLANNED_READS:
            db.execute_sql(statement)
        # The planner's figures for what the migration wrote (autovacuum may be off).
        db.execute_sql('ANALYZE "directory_user"')


def down(migrator, db):
    sqlite = _is_sqlite(db)
    if sqlite:
        for name in (
            "directory_user_search_insert",
            "directory_user_search_delete",
            "directory_user_search_update",
            "tenant_user_count_insert",
            "tenant_user_count_delete",
        ):
            db.execute_sql(f'DROP TRIGGER IF EXISTS "{name}"')
        db.execute_sql("DROP TABLE IF EXISTS directory_user_search")
    else:
        db.execute_sql('DROP TRIGGER IF EXISTS tenant_user_count_insert ON "directory_user"')
        db.execute_sql('DROP TRIGGER IF EXISTS tenant_user_count_delete ON "directory_user"')
        db.execute_sql("DROP FUNCTION IF EXISTS tenant_user_count_insert()")
        db.execute_sql("DROP FUNCTION IF EXISTS tenant_user_count_delete()")
        db.execute_sql("DROP FUNCTION IF EXISTS directory_user_in_id_order(text)")
        db.execute_sql("DROP FUNCTION IF EXISTS directory_user_count_by_index(text)")
        db.execute_sql("DROP FUNCTION IF EXISTS analyze_if_grown(regclass, bigint, real)")
        db.execute_sql('DROP INDEX IF EXISTS "directory_user_search"')
    db.execute_sql('DROP TABLE IF EXISTS "tenant_user_count"')
    db.execute_sql(
        'CREATE INDEX IF NOT EXISTS "directory_user_tenant_id_usage_location" '
        'ON "directory_user" ("tenant_id", "usage_location")'
    )
    db.execute_sql(
        'CREATE INDEX IF NOT EXISTS "directory_user_tenant_id_department" '
        'ON "directory_user" ("tenant_id", "department")'
    )
    for name, _ in _FILTER_INDEXES:
        db.execute_sql(f'DROP INDEX IF EXISTS "{name}"')
    db.execute_sql('ALTER TABLE "directory_user" DROP COLUMN "search_text"')
