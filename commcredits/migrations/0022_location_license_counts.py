"""PostgreSQL: how many users of each usage location hold each SKU, kept by triggers (issue 16).

`users(filter: { usageLocation, hasLicense })` with `totalCount` was the one combined filter
whose count grew with the tenant on PostgreSQL: up to the 10,000 cap, every matching user's
license is probed, and on tables no VACUUM has visited (autovacuum off during a load) each
probe reads the heap (9.3 ms against 32 ms, 3.5–4×, at 1,000 and 200,000 users). That count is
now read from `user_location_sku_count`, exact, in one row: statement triggers with transition
tables keep it in the transaction that writes, as `tenant_user_count` is kept (migration 0012),
so a 1,000-row license batch costs one grouped upsert, not a thousand.

- license_assignment INSERT / DELETE: + / − per (tenant, the holder's usage location, SKU);
- directory_user UPDATE: a user whose usage location changed moves each SKU it holds from the
  old location to the new one (`''` stands for no location).

A user's deletion deletes its licenses first (services/users.py `delete_user`): the delete
trigger still sees the user's location. SQLite keeps no such table: its capped count of this
filter stays within 3× (bench/README.md).
"""

import peewee

_TABLE = """CREATE TABLE user_location_sku_count (
  tenant_id integer NOT NULL REFERENCES tenant(id) ON DELETE CASCADE,
  usage_location varchar(2) NOT NULL,
  sku_id integer NOT NULL,
  users bigint NOT NULL,
  PRIMARY KEY (tenant_id, usage_location, sku_id)
)"""

_FUNCTIONS = (
    """CREATE FUNCTION user_location_sku_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO user_location_sku_count (tenant_id, usage_location, sku_id, users)
      SELECT a.tenant_id, COALESCE(u.usage_location, ''), a.sku_id, count(*)
      FROM added a JOIN directory_user u ON u.id = a.user_id
      GROUP BY 1, 2, 3
      ON CONFLICT (tenant_id, usage_location, sku_id)
      DO UPDATE SET users = user_location_sku_count.users + EXCLUDED.users;
      RETURN NULL;
    END $$""",
    """CREATE FUNCTION user_location_sku_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      UPDATE user_location_sku_count c SET users = c.users - r.n
      FROM (SELECT a.tenant_id, COALESCE(u.usage_location, '') AS loc, a.sku_id, count(*) AS n
            FROM removed a JOIN directory_user u ON u.id = a.user_id GROUP BY 1, 2, 3) r
      WHERE c.tenant_id = r.tenant_id AND c.usage_location = r.loc AND c.sku_id = r.sku_id;
      RETURN NULL;
    END $$""",
    # Each user whose location changed: -1 under the old location and +1 under the new one
    # for every SKU it holds, summed per key first, so one upsert touches each row once.
    """CREATE FUNCTION user_location_sku_count_move() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO user_location_sku_count (tenant_id, usage_location, sku_id, users)
      SELECT m.tenant_id, m.loc, m.sku_id, sum(m.d)
      FROM (
        SELECT n.tenant_id, side.loc, a.sku_id, side.d
        FROM after_rows n JOIN before_rows o ON o.id = n.id
        JOIN license_assignment a ON a.user_id = n.id
        CROSS JOIN LATERAL (VALUES (COALESCE(o.usage_location, ''), -1),
                                   (COALESCE(n.usage_location, ''), 1)) AS side(loc, d)
        WHERE COALESCE(o.usage_location, '') <> COALESCE(n.usage_location, '')
      ) m
      GROUP BY 1, 2, 3
      ON CONFLICT (tenant_id, usage_location, sku_id)
      DO UPDATE SET users = user_location_sku_count.users + EXCLUDED.users;
      RETURN NULL;
    END $$""",
)

_TRIGGERS = (
    "CREATE TRIGGER user_location_sku_count_insert AFTER INSERT ON license_assignment "
    "REFERENCING NEW TABLE AS added FOR EACH STATEMENT "
    "EXECUTE FUNCTION user_location_sku_count_insert()",
    "CREATE TRIGGER user_location_sku_count_delete AFTER DELETE ON license_assignment "
    "REFERENCING OLD TABLE AS removed FOR EACH STATEMENT "
    "EXECUTE FUNCTION user_location_sku_count_delete()",
    # Transition tables allow no column list (UPDATE OF usage_location): every UPDATE of
    # directory_user runs it, and it does nothing past one join when no location changed.
    "CREATE TRIGGER user_location_sku_count_move AFTER UPDATE ON directory_user "
    "REFERENCING OLD TABLE AS before_rows NEW TABLE AS after_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION user_location_sku_count_move()",
)

_FILL = """INSERT INTO user_location_sku_count (tenant_id, usage_location, sku_id, users)
SELECT a.tenant_id, COALESCE(u.usage_location, ''), a.sku_id, count(*)
FROM license_assignment a JOIN directory_user u ON u.id = a.user_id
GROUP BY 1, 2, 3"""


def up(migrator, db):
    if not isinstance(db, peewee.PostgresqlDatabase):
        return
    db.execute_sql(_TABLE)
    for statement in _FUNCTIONS + _TRIGGERS:
        db.execute_sql(statement)
    db.execute_sql(_FILL)


def down(migrator, db):
    if not isinstance(db, peewee.PostgresqlDatabase):
        return
    db.execute_sql('DROP TRIGGER IF EXISTS user_location_sku_count_insert ON "license_assignment"')
    db.execute_sql('DROP TRIGGER IF EXISTS user_location_sku_count_delete ON "license_assignment"')
    db.execute_sql('DROP TRIGGER IF EXISTS user_location_sku_count_move ON "directory_user"')
    for name in ("insert", "delete", "move"):
        db.execute_sql(f"DROP FUNCTION IF EXISTS user_location_sku_count_{name}()")
    db.execute_sql("DROP TABLE IF EXISTS user_location_sku_count")
