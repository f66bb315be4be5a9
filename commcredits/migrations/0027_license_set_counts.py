"""How many users of each usage location hold each set of licenses, kept by triggers, so that
rating reads a tenant's pooled minutes without reading its licenses (issue 16). Both databases.

`granted_minutes` (services/pools.py) ran on every rating batch and `authorizeCall`: it grouped
all of the tenant's license rows of pooled SKUs, and for the dial-out pool grouped the Audio
Conferencing holders by user (a user holding it through two SKUs counts once): 13 ms a batch at
10,000 licensed users, growing with the tenant. It now reads `user_license_set_count`:

    (tenant_id, usage_location, licenses, users)

`licenses` is the user's set of licenses of pooled SKUs (below) as text, one `sku_id
disabled_plans` line per license in sku_id order (`disabled_plans` as stored: JSON, which
never holds a raw newline). Whole sets, not one row per license: a user gets the dial-out
minutes once however many of its SKUs carry Audio Conferencing, unless every one has it
disabled, and which plans a license leaves enabled is read from the catalog in Python; a set
answers both, and a tenant has few distinct sets. A set no user holds any more is deleted.

Kept in the transaction that writes, by triggers that catch every path:
- license_assignment INSERT / DELETE / UPDATE (of sku, user or disabled plans): each touched
  user leaves the set it held before (worked out from its rows now, less the statement's new
  rows, plus its old ones) and joins the one it holds now;
- directory_user UPDATE of usage_location: the user's set moves between locations;
- directory_user BEFORE DELETE: the user's set is subtracted while its row is there; its
  licenses then go by ON DELETE CASCADE, whose triggers find no holder and do nothing
  (`delete_user` deletes the licenses first: then the user holds no set any more);
- a tenant's deletion: nothing is added once the tenant row is gone, and its rows cascade;
- sku INSERT / UPDATE: `pooled_sku` follows the catalog (below).

SQLite: row triggers (a license batch of 1,000 pooled rows runs them 1,000 times, each
reading one user's few licenses by (user_id, sku_id); other SKUs' rows skip them).
PostgreSQL: statement triggers with transition tables, one grouped upsert per statement, each
touched user's licenses read by index (a LATERAL that OFFSET 0 keeps from being hashed, as
migration 0025 says why).
"""

import peewee

_TABLE = """CREATE TABLE user_license_set_count (
  tenant_id integer NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
  usage_location varchar(2) NOT NULL,
  licenses text NOT NULL,
  users bigint NOT NULL,
  PRIMARY KEY (tenant_id, usage_location, licenses)
)"""
# The sets just emptied, found without reading the tenant's other rows.
_EMPTIED_INDEX = (
    "CREATE INDEX user_license_set_count_emptied ON user_license_set_count (tenant_id) "
    "WHERE users = 0"
)
_TRIGGER_NAMES = {
    "license_assignment": ("license_set_count_insert", "license_set_count_delete",
                           "license_set_count_update"),
    "directory_user": ("license_set_count_move", "license_set_count_user_delete"),
    "sku": ("pooled_sku_insert", "pooled_sku_update", "pooled_sku_changed"),
}  # fmt: skip

# --- Which SKUs are pooled ---------------------------------------------------------------
# A license counts toward the pools only if its SKU is a calling plan with a pool or carries
# Audio Conferencing (services/pools.py decides the same from the catalog): only such licenses
# are in the sets, so a batch of any other SKU (Communication Credits, Teams Phone) leaves the
# counts alone and pays one lookup a row. `pooled_sku` lists them, kept by triggers on sku: a
# SKU whose plans change from pooled to not (or back) has every set recounted.
_POOLED = "sku_id IN (SELECT sku_id FROM pooled_sku)"
_POOLED_TABLE = """CREATE TABLE pooled_sku (
  sku_id integer NOT NULL PRIMARY KEY REFERENCES sku (id) ON DELETE CASCADE
)"""
_CALLING_PLANS = "('MCOPSTN1', 'MCOPSTN2', 'MCOPSTN5')"


def _is_pooled(row: str, *, sqlite: bool) -> str:
    """Whether the sku row `row` (`new.`, `old.`, or `` for the table's own) is pooled."""
    if sqlite:
        carries = (
            f"EXISTS (SELECT 1 FROM json_each({row}service_plans) "
            "WHERE json_extract(value, '$.servicePlanName') = 'MCOMEETADV')"
        )
    else:
        carries = f'{row}service_plans::jsonb @> \'[{{"servicePlanName": "MCOMEETADV"}}]\''
    return f"({row}part_number IN {_CALLING_PLANS} OR {carries})"


def _fill_pooled(sqlite: bool) -> str:
    return (
        f"INSERT INTO pooled_sku (sku_id) SELECT id FROM sku WHERE {_is_pooled('', sqlite=sqlite)}"
    )


# --- SQLite -----------------------------------------------------------------------------


def _sqlite_set(user: str, *, without: str | None = None, plus: str | None = None) -> str:
    """A user's set of licenses as text (NULL for none): its rows now, less the row `without`
    (an id), plus the row `plus` (OLD): the set before the statement changed them."""
    rows = (
        "SELECT sku_id AS s, sku_id || ' ' || COALESCE(disabled_plans, '') AS e "
        f"FROM license_assignment WHERE user_id = {user} AND {_POOLED}"
    )
    if without:
        rows += f" AND id <> {without}"
    if plus:
        rows += (
            f" UNION ALL SELECT {plus}.sku_id, "
            f"{plus}.sku_id || ' ' || COALESCE({plus}.disabled_plans, '') "
            f"WHERE {plus}.{_POOLED}"
        )
    # (SQLite keeps a FROM subquery's ORDER BY for the aggregate over it.)
    return f"(SELECT group_concat(e, char(10)) FROM ({rows} ORDER BY s))"


_LOCATION = "(SELECT COALESCE(usage_location, '') FROM directory_user WHERE id = {user})"


def _sqlite_less(licenses: str, *, user: str, location: str | None = None) -> str:
    """One user fewer for the set under the user's location (or `location`). The set was
    counted when the user took it, written the same way (sku order), so its row is there; a
    holder already deleted has no location here and takes nothing off."""
    loc = location or _LOCATION.format(user=user)
    return f"""UPDATE user_license_set_count SET users = users - 1
      WHERE tenant_id = (SELECT tenant_id FROM directory_user WHERE id = {user})
        AND usage_location = {loc} AND licenses = {licenses};"""


def _sqlite_more(licenses: str, *, user: str, held: str | None = None) -> str:
    """One user more for the set, if the user holds a license of a pooled SKU (or `held`),
    and it and its tenant are still there (a tenant's deletion cascades to licenses with their
    users still in place)."""
    held = held or f"EXISTS (SELECT 1 FROM license_assignment WHERE user_id = {user} AND {_POOLED})"
    return f"""INSERT INTO user_license_set_count (tenant_id, usage_location, licenses, users)
      SELECT u.tenant_id, COALESCE(u.usage_location, ''), {licenses}, 1
      FROM directory_user u JOIN tenant t ON t.id = u.tenant_id
      WHERE u.id = {user} AND {held}
      ON CONFLICT (tenant_id, usage_location, licenses)
      DO UPDATE SET users = users + excluded.users;"""


def _sqlite_forget(tenant: str) -> str:
    return f"DELETE FROM user_license_set_count WHERE tenant_id = {tenant} AND users = 0;"


# A license batch runs the insert trigger once per row: it is written for speed (an UPDATE
# and one plain upsert: 11 µs a row, where an upsert from a joined SELECT each way took 18).
_SQLITE_TRIGGERS = (
    f"""CREATE TRIGGER license_set_count_insert AFTER INSERT ON license_assignment
    WHEN new.{_POOLED} BEGIN
      {_sqlite_less(_sqlite_set("new.user_id", without="new.id"), user="new.user_id")}
      INSERT INTO user_license_set_count (tenant_id, usage_location, licenses, users)
      VALUES (new.tenant_id, {_LOCATION.format(user="new.user_id")},
              {_sqlite_set("new.user_id")}, 1)
      ON CONFLICT (tenant_id, usage_location, licenses)
      DO UPDATE SET users = users + excluded.users;
      {_sqlite_forget("new.tenant_id")}
    END""",
    f"""CREATE TRIGGER license_set_count_delete AFTER DELETE ON license_assignment
    WHEN old.{_POOLED} BEGIN
      {_sqlite_less(_sqlite_set("old.user_id", plus="old"), user="old.user_id")}
      {_sqlite_more(_sqlite_set("old.user_id"), user="old.user_id")}
      {_sqlite_forget("old.tenant_id")}
    END""",
    # As a delete of the old row and an insert of the new one (the same user, always: both
    # halves then meet at the set in between, which the last statements forget).
    f"""CREATE TRIGGER license_set_count_update
    AFTER UPDATE OF sku_id, user_id, disabled_plans ON license_assignment
    WHEN (old.{_POOLED} OR new.{_POOLED})
      AND (old.sku_id IS NOT new.sku_id OR old.user_id IS NOT new.user_id
           OR old.disabled_plans IS NOT new.disabled_plans)
    BEGIN
      {_sqlite_less(_sqlite_set("old.user_id", without="new.id", plus="old"), user="old.user_id")}
      {_sqlite_more(_sqlite_set("old.user_id", without="new.id"), user="old.user_id",
                    held=_sqlite_set("old.user_id", without="new.id") + " IS NOT NULL")}
      {_sqlite_less(_sqlite_set("new.user_id", without="new.id"), user="new.user_id")}
      {_sqlite_more(_sqlite_set("new.user_id"), user="new.user_id")}
      {_sqlite_forget("old.tenant_id")}
      {_sqlite_forget("new.tenant_id")}
    END""",
    f"""CREATE TRIGGER license_set_count_move AFTER UPDATE OF usage_location ON directory_user
    WHEN COALESCE(old.usage_location, '') <> COALESCE(new.usage_location, '')
    BEGIN
      {_sqlite_less(_sqlite_set("new.id"), user="new.id",
                    location="COALESCE(old.usage_location, '')")}
      {_sqlite_more(_sqlite_set("new.id"), user="new.id")}
      {_sqlite_forget("new.tenant_id")}
    END""",
    f"""CREATE TRIGGER license_set_count_user_delete BEFORE DELETE ON directory_user BEGIN
      {_sqlite_less(_sqlite_set("old.id"), user="old.id")}
      {_sqlite_forget("old.tenant_id")}
    END""",
)  # fmt: skip

# Each user's set by the triggers' own expression, so the rows they update are these.
_SQLITE_FILL = f"""INSERT INTO user_license_set_count (tenant_id, usage_location, licenses, users)
SELECT u.tenant_id, COALESCE(u.usage_location, ''), {_sqlite_set("u.id")}, count(*)
FROM directory_user u
WHERE EXISTS (SELECT 1 FROM license_assignment a WHERE a.user_id = u.id AND a.{_POOLED})
GROUP BY 1, 2, 3"""

_SQLITE_SKU_TRIGGERS = (
    f"""CREATE TRIGGER pooled_sku_insert AFTER INSERT ON sku
    WHEN {_is_pooled("new.", sqlite=True)} BEGIN
      INSERT INTO pooled_sku (sku_id) VALUES (new.id);
    END""",
    f"""CREATE TRIGGER pooled_sku_update AFTER UPDATE OF part_number, service_plans ON sku
    WHEN {_is_pooled("old.", sqlite=True)} <> {_is_pooled("new.", sqlite=True)} BEGIN
      DELETE FROM pooled_sku WHERE sku_id = new.id;
      INSERT INTO pooled_sku (sku_id) SELECT new.id WHERE {_is_pooled("new.", sqlite=True)};
      DELETE FROM user_license_set_count;
      {_SQLITE_FILL};
    END""",
)

# --- PostgreSQL -------------------------------------------------------------------------

_NO_ROWS = (
    "SELECT NULL::bigint AS id, NULL::bigint AS tenant_id, NULL::bigint AS user_id, "
    "NULL::bigint AS sku_id, NULL::text AS disabled_plans WHERE false"
)
_COLUMNS = "id, tenant_id, user_id, sku_id, disabled_plans"
# An UPDATE's rows whose set-relevant columns changed, before (o) and after (n).
_CHANGED = (
    "SELECT {side}.id, {side}.tenant_id, {side}.user_id, {side}.sku_id, {side}.disabled_plans "
    "FROM new_rows n JOIN old_rows o ON o.id = n.id "
    "WHERE (o.user_id, o.sku_id, o.disabled_plans) IS DISTINCT FROM "
    "(n.user_id, n.sku_id, n.disabled_plans)"
)
_LINE = "sku_id || ' ' || COALESCE(disabled_plans, '')"


def _pg_license_function(name: str, gone: str, came: str) -> str:
    """The statement trigger for license rows `gone` (deleted, or as they were) and `came`
    (inserted, or as they are): each touched user leaves its set from before the statement
    (its rows now, less `came`, plus `gone`) and joins its set now."""
    return f"""CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      WITH gone AS (SELECT * FROM ({gone}) g WHERE g.{_POOLED}),
      came AS (SELECT * FROM ({came}) n WHERE n.{_POOLED}),
      holder AS (
        SELECT h.id, h.tenant_id, h.loc
        FROM (SELECT user_id FROM gone UNION SELECT user_id FROM came) t
        CROSS JOIN LATERAL (SELECT u.id, u.tenant_id, COALESCE(u.usage_location, '') AS loc
                            FROM directory_user u JOIN tenant tn ON tn.id = u.tenant_id
                            WHERE u.id = t.user_id OFFSET 0) h),
      held AS (
        SELECT h.id AS user_id, l.id, l.sku_id, l.disabled_plans FROM holder h
        CROSS JOIN LATERAL (SELECT a.id, a.sku_id, a.disabled_plans FROM license_assignment a
                            WHERE a.user_id = h.id AND a.{_POOLED} OFFSET 0) l),
      prior AS (
        SELECT user_id, sku_id, disabled_plans FROM held WHERE id NOT IN (SELECT id FROM came)
        UNION ALL
        SELECT g.user_id, g.sku_id, g.disabled_plans FROM gone g
        WHERE g.user_id IN (SELECT id FROM holder)),
      sets AS (
        SELECT h.tenant_id, h.loc, b.l AS old_set, a.l AS new_set FROM holder h
        LEFT JOIN (SELECT user_id, string_agg({_LINE}, E'\\n' ORDER BY sku_id) AS l
                   FROM prior GROUP BY user_id) b ON b.user_id = h.id
        LEFT JOIN (SELECT user_id, string_agg({_LINE}, E'\\n' ORDER BY sku_id) AS l
                   FROM held GROUP BY user_id) a ON a.user_id = h.id
        WHERE b.l IS DISTINCT FROM a.l),
      moves AS (
        SELECT tenant_id, loc, old_set AS l, -1 AS d FROM sets WHERE old_set IS NOT NULL
        UNION ALL
        SELECT tenant_id, loc, new_set, 1 FROM sets WHERE new_set IS NOT NULL)
      INSERT INTO user_license_set_count (tenant_id, usage_location, licenses, users)
      SELECT tenant_id, loc, l, sum(d) FROM moves GROUP BY 1, 2, 3
      ON CONFLICT (tenant_id, usage_location, licenses)
      DO UPDATE SET users = user_license_set_count.users + EXCLUDED.users;
      DELETE FROM user_license_set_count c
      WHERE c.users = 0
        AND c.tenant_id IN (SELECT tenant_id FROM ({gone}) g
                            UNION SELECT tenant_id FROM ({came}) n);
      RETURN NULL;
    END $$"""


_PG_FUNCTIONS = (
    _pg_license_function("license_set_count_insert", _NO_ROWS, f"SELECT {_COLUMNS} FROM added"),
    _pg_license_function("license_set_count_delete", f"SELECT {_COLUMNS} FROM removed", _NO_ROWS),
    _pg_license_function(
        "license_set_count_update", _CHANGED.format(side="o"), _CHANGED.format(side="n")
    ),
    # The users whose location changed (the two transition tables, hashed: both are the
    # statement's rows), then each one's licenses by (user_id, sku_id).
    f"""CREATE FUNCTION license_set_count_move() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      WITH moved AS (
        SELECT n.id, n.tenant_id, COALESCE(o.usage_location, '') AS old_loc,
               COALESCE(n.usage_location, '') AS new_loc
        FROM after_rows n JOIN before_rows o ON o.id = n.id
        WHERE COALESCE(o.usage_location, '') <> COALESCE(n.usage_location, '')),
      sets AS (
        SELECT m.tenant_id, m.old_loc, m.new_loc, s.l FROM moved m
        CROSS JOIN LATERAL (SELECT string_agg({_LINE}, E'\\n' ORDER BY sku_id) AS l
                            FROM license_assignment a
                            WHERE a.user_id = m.id AND a.{_POOLED}) s
        WHERE s.l IS NOT NULL),
      moves AS (
        SELECT tenant_id, old_loc AS loc, l, -1 AS d FROM sets
        UNION ALL
        SELECT tenant_id, new_loc, l, 1 FROM sets)
      INSERT INTO user_license_set_count (tenant_id, usage_location, licenses, users)
      SELECT tenant_id, loc, l, sum(d) FROM moves GROUP BY 1, 2, 3
      ON CONFLICT (tenant_id, usage_location, licenses)
      DO UPDATE SET users = user_license_set_count.users + EXCLUDED.users;
      DELETE FROM user_license_set_count c
      WHERE c.users = 0 AND c.tenant_id IN (SELECT tenant_id FROM after_rows);
      RETURN NULL;
    END $$""",
    # A row trigger: a statement trigger BEFORE the delete has no transition table, and one
    # after it runs when the cascade has taken the licenses (migration 0023 says the same).
    f"""CREATE FUNCTION license_set_count_user_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      UPDATE user_license_set_count c SET users = c.users - 1
      FROM (SELECT string_agg({_LINE}, E'\\n' ORDER BY sku_id) AS l
            FROM license_assignment a WHERE a.user_id = OLD.id AND a.{_POOLED}) s
      WHERE c.tenant_id = OLD.tenant_id
        AND c.usage_location = COALESCE(OLD.usage_location, '') AND c.licenses = s.l;
      DELETE FROM user_license_set_count c WHERE c.tenant_id = OLD.tenant_id AND c.users = 0;
      RETURN OLD;
    END $$""",
)

_PG_TRIGGERS = (
    "CREATE TRIGGER license_set_count_insert AFTER INSERT ON license_assignment "
    "REFERENCING NEW TABLE AS added FOR EACH STATEMENT "
    "EXECUTE FUNCTION license_set_count_insert()",
    "CREATE TRIGGER license_set_count_delete AFTER DELETE ON license_assignment "
    "REFERENCING OLD TABLE AS removed FOR EACH STATEMENT "
    "EXECUTE FUNCTION license_set_count_delete()",
    "CREATE TRIGGER license_set_count_update AFTER UPDATE ON license_assignment "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION license_set_count_update()",
    # Transition tables allow no column list: every UPDATE of users runs it (one hash join of
    # the statement's own rows when no location changed), as 0022's does.
    "CREATE TRIGGER license_set_count_move AFTER UPDATE ON directory_user "
    "REFERENCING OLD TABLE AS before_rows NEW TABLE AS after_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION license_set_count_move()",
    "CREATE TRIGGER license_set_count_user_delete BEFORE DELETE ON directory_user "
    "FOR EACH ROW EXECUTE FUNCTION license_set_count_user_delete()",
)

_PG_FILL = f"""INSERT INTO user_license_set_count (tenant_id, usage_location, licenses, users)
SELECT u.tenant_id, COALESCE(u.usage_location, ''), s.l, count(*)
FROM (SELECT user_id, string_agg({_LINE}, E'\\n' ORDER BY sku_id) AS l
      FROM license_assignment WHERE {_POOLED} GROUP BY user_id) s
JOIN directory_user u ON u.id = s.user_id
GROUP BY 1, 2, 3"""

_PG_SKU = (
    f"""CREATE FUNCTION pooled_sku_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'UPDATE' THEN
        IF {_is_pooled("OLD.", sqlite=False)} = {_is_pooled("NEW.", sqlite=False)} THEN
          RETURN NULL;
        END IF;
        DELETE FROM pooled_sku WHERE sku_id = NEW.id;
      END IF;
      IF {_is_pooled("NEW.", sqlite=False)} THEN
        INSERT INTO pooled_sku (sku_id) VALUES (NEW.id);
      END IF;
      IF TG_OP = 'UPDATE' THEN
        DELETE FROM user_license_set_count;
        {_PG_FILL};
      END IF;
      RETURN NULL;
    END $$""",
    "CREATE TRIGGER pooled_sku_changed AFTER INSERT OR UPDATE OF part_number, service_plans "
    "ON sku FOR EACH ROW EXECUTE FUNCTION pooled_sku_changed()",
)


def up(migrator, db):
    sqlite = isinstance(db, peewee.SqliteDatabase)
    for statement in (_POOLED_TABLE, _fill_pooled(sqlite), _TABLE, _EMPTIED_INDEX):
        db.execute_sql(statement)
    if sqlite:
        statements = (*_SQLITE_TRIGGERS, *_SQLITE_SKU_TRIGGERS, _SQLITE_FILL)
    else:
        statements = (*_PG_FUNCTIONS, *_PG_TRIGGERS, *_PG_SKU, _PG_FILL)
    for statement in statements:
        db.execute_sql(statement)


def down(migrator, db):
    sqlite = isinstance(db, peewee.SqliteDatabase)
    for table, names in _TRIGGER_NAMES.items():
        for name in names:
            db.execute_sql(
                f'DROP TRIGGER IF EXISTS "{name}"'
                if sqlite
                else f'DROP TRIGGER IF EXISTS "{name}" ON "{table}"'
            )
            if not sqlite:
                db.execute_sql(f"DROP FUNCTION IF EXISTS {name}()")
    db.execute_sql("DROP TABLE IF EXISTS user_license_set_count")
    db.execute_sql("DROP TABLE IF EXISTS pooled_sku")
