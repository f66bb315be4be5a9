"""PostgreSQL: the location x SKU count triggers (0022) read the rows a statement touched by
their index, so a license batch costs the same on a tenant of any size (issue 16).

0022's triggers joined the statement's transition table (`added`, `removed`, the updated
users) to directory_user or license_assignment, and the planner hashed the whole other table
to do it: a 1,000-license batch read all 100,000 users (19 ms of its 36 ms) and grew with the
tenant, as did every UPDATE of users. Each trigger now looks up the touched rows' users (or
licenses) one by one through a LATERAL subquery that OFFSET 0 keeps from being merged into a
join: a nested loop over the batch with a primary-key (or (user_id, sku_id)) probe per row,
whatever the statistics say. Same results; the functions are replaced, the triggers stay.
"""

import peewee

_FUNCTIONS = (
    """CREATE OR REPLACE FUNCTION user_location_sku_count_insert() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO user_location_sku_count (tenant_id, usage_location, sku_id, users)
      SELECT a.tenant_id, u.loc, a.sku_id, count(*)
      FROM added a
      CROSS JOIN LATERAL (SELECT COALESCE(h.usage_location, '') AS loc FROM directory_user h
                          WHERE h.id = a.user_id OFFSET 0) u
      GROUP BY 1, 2, 3
      ON CONFLICT (tenant_id, usage_location, sku_id)
      DO UPDATE SET users = user_location_sku_count.users + EXCLUDED.users;
      RETURN NULL;
    END $$""",
    # A license whose holder is gone (deleted outright: 0023 subtracted it) has no row here.
    """CREATE OR REPLACE FUNCTION user_location_sku_count_delete() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      UPDATE user_location_sku_count c SET users = c.users - r.n
      FROM (SELECT a.tenant_id, u.loc, a.sku_id, count(*) AS n
            FROM removed a
            CROSS JOIN LATERAL (SELECT COALESCE(h.usage_location, '') AS loc
                                FROM directory_user h WHERE h.id = a.user_id OFFSET 0) u
            GROUP BY 1, 2, 3) r
      WHERE c.tenant_id = r.tenant_id AND c.usage_location = r.loc AND c.sku_id = r.sku_id;
      RETURN NULL;
    END $$""",
    # The users whose location changed first (the two transition tables, hashed: both are the
    # statement's rows), then their licenses by (user_id, sku_id).
    """CREATE OR REPLACE FUNCTION user_location_sku_count_move() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO user_location_sku_count (tenant_id, usage_location, sku_id, users)
      SELECT m.tenant_id, m.loc, m.sku_id, sum(m.d)
      FROM (
        SELECT c.tenant_id, side.loc, a.sku_id, side.d
        FROM (SELECT n.id, n.tenant_id, COALESCE(o.usage_location, '') AS old_loc,
                     COALESCE(n.usage_location, '') AS new_loc
              FROM after_rows n JOIN before_rows o ON o.id = n.id
              WHERE COALESCE(o.usage_location, '') <> COALESCE(n.usage_location, '')) c
        CROSS JOIN LATERAL (SELECT l.sku_id FROM license_assignment l
                            WHERE l.user_id = c.id OFFSET 0) a
        CROSS JOIN LATERAL (VALUES (c.old_loc, -1), (c.new_loc, 1)) AS side(loc, d)
      ) m
      GROUP BY 1, 2, 3
      ON CONFLICT (tenant_id, usage_location, sku_id)
      DO UPDATE SET users = user_location_sku_count.users + EXCLUDED.users;
      RETURN NULL;
    END $$""",
)


def up(migrator, db):
    if isinstance(db, peewee.PostgresqlDatabase):
        for statement in _FUNCTIONS:
            db.execute_sql(statement)


def down(migrator, db):
    """Back to 0022's bodies (the same results, planned by the statistics)."""
    if not isinstance(db, peewee.PostgresqlDatabase):
        return
    import importlib

    old = importlib.import_module("commcredits.migrations.0022_location_license_counts")
    for statement in old._FUNCTIONS:
        db.execute_sql(statement.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
