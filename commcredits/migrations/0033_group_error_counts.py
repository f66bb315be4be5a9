"""`group { licenseSummary }` at a cost that does not grow with the group (issue 16,
services/group_summary.py): counts of members in error kept by triggers.

The summary counted its members in error, per code, and the members holding every license of
the group by grouping the group's license states: 40–50 ms for a group of 200,000 members on
SQLite against 1.5 ms for 1,000 (bench_group_errors.py), whatever few of them were in error.
Now:

    group_member_error_code (member_id, error) PRIMARY KEY, group_id
        one row per member and code it is in error with for its group (the code-wise
        companion of 0029's group_member_error), kept by triggers on group_license_state as
        0029 keeps its table: a set, added with ON CONFLICT DO NOTHING and removed when no
        Error state of that code stays, so the same on both databases whether row triggers
        fire after each row (SQLite) or after the statement (PostgreSQL);
    group_error_count (group_id, error) PRIMARY KEY, members
        how many rows each of those sets holds per group: error '*' counts group_member_error
        (members in error with any code), a code counts group_member_error_code. Kept by
        triggers on the two sets, which fire once per row that really comes or goes (a
        count is not idempotent, a set is). A count only ever goes up by an upsert and down
        by an UPDATE: a group being deleted takes its counts with it (ON DELETE CASCADE)
        while its members' rows go, and a decrement then finds nothing to change.

A member's rows in both sets go by ON DELETE CASCADE of member_id (removed members, deleted
users and groups), firing the count triggers on both databases. The fill reads every Error
state once.
"""

import peewee

_CODE_TABLE = """CREATE TABLE group_member_error_code (
  member_id integer NOT NULL REFERENCES group_member (id) ON DELETE CASCADE,
  error varchar(64) NOT NULL,
  group_id integer NOT NULL,
  PRIMARY KEY (member_id, error)
)"""
_COUNT_TABLE = """CREATE TABLE group_error_count (
  group_id integer NOT NULL REFERENCES directory_group (id) ON DELETE CASCADE,
  error varchar(64) NOT NULL,
  members integer NOT NULL,
  PRIMARY KEY (group_id, error)
)"""
ANY = "*"  # group_error_count's row for members in error with any code
_FILLS = (
    """INSERT INTO group_member_error_code (member_id, error, group_id)
    SELECT DISTINCT m.id, COALESCE(s.error, ''), m.group_id
    FROM group_license_state s JOIN group_member m
      ON m.group_id = s.group_id AND m.user_id = s.user_id
    WHERE s.state = 'Error'""",
    f"""INSERT INTO group_error_count (group_id, error, members)
    SELECT group_id, '{ANY}', COUNT(*) FROM group_member_error GROUP BY group_id""",
    """INSERT INTO group_error_count (group_id, error, members)
    SELECT group_id, error, COUNT(*) FROM group_member_error_code GROUP BY group_id, error""",
)

# The code set's row of a state row `{r}` (NEW/OLD, new/old), if its user is a member.
_ADD = """INSERT INTO group_member_error_code (member_id, error, group_id)
  SELECT id, COALESCE({r}.error, ''), group_id FROM group_member
  WHERE group_id = {r}.group_id AND user_id = {r}.user_id
  ON CONFLICT DO NOTHING"""
_DROP = """DELETE FROM group_member_error_code
  WHERE member_id = (SELECT id FROM group_member
                     WHERE group_id = {r}.group_id AND user_id = {r}.user_id)
  AND error = COALESCE({r}.error, '')
  AND NOT EXISTS (SELECT 1 FROM group_license_state
    WHERE group_id = {r}.group_id AND state = 'Error' AND user_id = {r}.user_id
    AND COALESCE(error, '') = COALESCE({r}.error, ''))"""
# A count up or down by one for a set row `{r}`, `{e}` its count's error.
_UP = """INSERT INTO group_error_count (group_id, error, members) VALUES ({r}.group_id, {e}, 1)
  ON CONFLICT (group_id, error) DO UPDATE SET members = group_error_count.members + 1"""
_DOWN = """UPDATE group_error_count SET members = members - 1
  WHERE group_id = {r}.group_id AND error = {e}"""


def _sql(template: str, row: str, error: str = "") -> str:
    return template.format(r=row, e=error)


# Which set each count trigger watches, and its count's error for a row `r`.
_SETS = {
    "group_member_error": lambda r: f"'{ANY}'",
    "group_member_error_code": lambda r: f"{r}.error",
}

_SQLITE_TRIGGERS = (
    f"""CREATE TRIGGER group_error_code_insert AFTER INSERT ON group_license_state
    WHEN new.state = 'Error' BEGIN {_sql(_ADD, "new")}; END""",
    f"""CREATE TRIGGER group_error_code_delete AFTER DELETE ON group_license_state
    WHEN old.state = 'Error' BEGIN {_sql(_DROP, "old")}; END""",
    f"""CREATE TRIGGER group_error_code_update
    AFTER UPDATE OF state, error, group_id, user_id ON group_license_state
    WHEN old.state = 'Error' OR new.state = 'Error' BEGIN
      {_sql(_DROP, "old")};
      INSERT INTO group_member_error_code (member_id, error, group_id)
      SELECT id, COALESCE(new.error, ''), group_id FROM group_member
      WHERE group_id = new.group_id AND user_id = new.user_id AND new.state = 'Error'
      ON CONFLICT DO NOTHING;
    END""",
    *(
        f"""CREATE TRIGGER {table}_count_insert AFTER INSERT ON {table}
        BEGIN {_sql(_UP, "new", error("new"))}; END"""
        for table, error in _SETS.items()
    ),
    *(
        f"""CREATE TRIGGER {table}_count_delete AFTER DELETE ON {table}
        BEGIN {_sql(_DOWN, "old", error("old"))}; END"""
        for table, error in _SETS.items()
    ),
)

_PG_FUNCTIONS = (
    f"""CREATE FUNCTION group_error_code_add() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN {_sql(_ADD, "NEW")}; RETURN NULL; END $$""",
    f"""CREATE FUNCTION group_error_code_drop() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN {_sql(_DROP, "OLD")}; RETURN NULL; END $$""",
    f"""CREATE FUNCTION group_error_code_move() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF OLD.state = 'Error' THEN {_sql(_DROP, "OLD")}; END IF;
      IF NEW.state = 'Error' THEN {_sql(_ADD, "NEW")}; END IF;
      RETURN NULL;
    END $$""",
    *(
        f"""CREATE FUNCTION {table}_count_up() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN {_sql(_UP, "NEW", error("NEW"))}; RETURN NULL; END $$"""
        for table, error in _SETS.items()
    ),
    *(
        f"""CREATE FUNCTION {table}_count_down() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN {_sql(_DOWN, "OLD", error("OLD"))}; RETURN NULL; END $$"""
        for table, error in _SETS.items()
    ),
)
_PG_TRIGGERS = (
    "CREATE TRIGGER group_error_code_insert AFTER INSERT ON group_license_state "
    "FOR EACH ROW WHEN (NEW.state = 'Error') EXECUTE FUNCTION group_error_code_add()",
    "CREATE TRIGGER group_error_code_delete AFTER DELETE ON group_license_state "
    "FOR EACH ROW WHEN (OLD.state = 'Error') EXECUTE FUNCTION group_error_code_drop()",
    "CREATE TRIGGER group_error_code_update "
    "AFTER UPDATE OF state, error, group_id, user_id ON group_license_state FOR EACH ROW "
    "WHEN (OLD.state = 'Error' OR NEW.state = 'Error') "
    "EXECUTE FUNCTION group_error_code_move()",
    *(
        f"CREATE TRIGGER {table}_count_insert AFTER INSERT ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {table}_count_up()"
        for table in _SETS
    ),
    *(
        f"CREATE TRIGGER {table}_count_delete AFTER DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {table}_count_down()"
        for table in _SETS
    ),
)
# (trigger, its table)
_TRIGGERS = (
    *((f"group_error_code_{op}", "group_license_state") for op in ("insert", "delete", "update")),
    *((f"{table}_count_{op}", table) for table in _SETS for op in ("insert", "delete")),
)


def up(migrator, db):
    db.execute_sql(_CODE_TABLE)
    db.execute_sql(_COUNT_TABLE)
    for statement in _FILLS:
        db.execute_sql(statement)
    if isinstance(db, peewee.PostgresqlDatabase):
        for statement in _PG_FUNCTIONS + _PG_TRIGGERS:
            db.execute_sql(statement)
    else:
        for statement in _SQLITE_TRIGGERS:
            db.execute_sql(statement)


def down(migrator, db):
    postgres = isinstance(db, peewee.PostgresqlDatabase)
    for name, table in _TRIGGERS:
        db.execute_sql(
            f'DROP TRIGGER IF EXISTS {name} ON "{table}"'
            if postgres
            else f"DROP TRIGGER IF EXISTS {name}"
        )
    if postgres:
        names = ["group_error_code_add", "group_error_code_drop", "group_error_code_move"]
        names += [f"{table}_count_{way}" for table in _SETS for way in ("up", "down")]
        for name in names:
            db.execute_sql(f"DROP FUNCTION IF EXISTS {name}()")
    db.execute_sql('DROP TABLE IF EXISTS "group_error_count"')
    db.execute_sql('DROP TABLE IF EXISTS "group_member_error_code"')
