"""PostgreSQL: a deleted user's licenses leave `user_location_sku_count` whatever the order of
the deletes (issue 16, after 0022).

0022's delete trigger on license_assignment reads each removed license's holder's usage
location from directory_user. `delete_user` deletes the licenses before the user, so the
holder is still there; but a user deleted outright (`DELETE FROM directory_user`, a tenant's
deletion) loses its licenses to ON DELETE CASCADE after its own row is gone: the trigger found
no holder, subtracted nothing, and the count stayed too high for good.

- directory_user BEFORE DELETE, per row: subtract the licenses the user still holds, under its
  location, while its row is there. The cascade's delete trigger then finds no holder for them
  and subtracts nothing more; licenses deleted before the user were subtracted by 0022's
  trigger and this one finds none left. Exact in either order, never twice.
  A row trigger because a statement trigger BEFORE the delete has no transition table, and one
  AFTER it runs when the cascade has already taken the licenses: one read of
  license_assignment (user_id, sku_id) per deleted user, an update only where it holds some.
- The kept counts are recounted once (one grouped read, as 0022's fill): a user deleted
  outright before this migration left its licenses counted.
"""

import peewee

_FUNCTION = """CREATE FUNCTION user_location_sku_count_user_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE user_location_sku_count c SET users = c.users - r.n
  FROM (SELECT a.tenant_id, a.sku_id, count(*) AS n FROM license_assignment a
        WHERE a.user_id = OLD.id GROUP BY 1, 2) r
  WHERE c.tenant_id = r.tenant_id AND c.usage_location = COALESCE(OLD.usage_location, '')
    AND c.sku_id = r.sku_id;
  RETURN OLD;
END $$"""

_TRIGGER = (
    "CREATE TRIGGER user_location_sku_count_user_delete BEFORE DELETE ON directory_user "
    "FOR EACH ROW EXECUTE FUNCTION user_location_sku_count_user_delete()"
)

_RECOUNT = (
    "DELETE FROM user_location_sku_count",
    """INSERT INTO user_location_sku_count (tenant_id, usage_location, sku_id, users)
    SELECT a.tenant_id, COALESCE(u.usage_location, ''), a.sku_id, count(*)
    FROM license_assignment a JOIN directory_user u ON u.id = a.user_id
    GROUP BY 1, 2, 3""",
)


def up(migrator, db):
    if not isinstance(db, peewee.PostgresqlDatabase):
        return
    db.execute_sql(_FUNCTION)
    db.execute_sql(_TRIGGER)
    for statement in _RECOUNT:
        db.execute_sql(statement)


def down(migrator, db):
    if not isinstance(db, peewee.PostgresqlDatabase):
        return
    db.execute_sql('DROP TRIGGER IF EXISTS user_location_sku_count_user_delete ON "directory_user"')
    db.execute_sql("DROP FUNCTION IF EXISTS user_location_sku_count_user_delete()")
