"""`usersWithLicenseErrors` at a cost that does not grow with the group (issue 16,
services/group_errors.py): the members in error kept in member order by triggers.

The list is in member order (group_member's id), while group_license_state's (group, state,
user) index holds the errors in user order. Walking the members and keeping those in error
reads, before the first page, every member ahead of the first error: when a license runs out
of seats, CountViolation falls on the members processed last, and a first page of a 200,000
member group whose last 10% are in error read 180,000 members (294 ms on SQLite).

    group_member_error (member_id PRIMARY KEY, group_id, user_id), index (group_id, member_id)

holds one row per member with at least one Error state for its group (a member in error for
two SKUs once): a page is a range of (group_id, member_id) that stops when full, the count a
capped count of the same index, whatever the group's size or where its errors are.

Kept in the transaction that writes, by triggers on group_license_state that fire for Error
rows only (Active rows, most of a group's, run nothing):
- INSERT of an Error state: the member's row, looked up by group_member (group_id, user_id);
- DELETE of an Error state: the member's row goes unless another Error state of the group
  stays (both row triggers run after the row's change);
- UPDATE from or to Error (or of group_id / user_id): both of the above;
- a member's group_member row deleted (removeGroupMembers, a deleted user or group): its row
  goes by ON DELETE CASCADE of member_id.
A state is written for an existing member (services/groups.py inserts the membership first).

PostgreSQL also gets functions that plan the reads by index whatever the statistics
(services/list_counts.py says why):
- `group_members_by_index(query text)`: a page's (member_id, user_id), sorting, bitmap and
  sequential scans off: the range of (group_id, member_id) in order, stopping after a page;
- `directory_users_by_id(query text)`: the page's users by primary key, never a scan of the
  table (a planner that believes it small would read it whole).
The count uses 0013's `list_count_by_index`.

Numbered 0029 (0027 and 0028 are others'). The fill reads every Error state once.
"""

import peewee

_TABLE = """CREATE TABLE group_member_error (
  member_id integer NOT NULL PRIMARY KEY REFERENCES group_member (id) ON DELETE CASCADE,
  group_id integer NOT NULL,
  user_id integer NOT NULL
)"""
_INDEX = (
    'CREATE INDEX "group_member_error_group_id_member_id" '
    'ON "group_member_error" ("group_id", "member_id")'
)
_FILL = """INSERT INTO group_member_error (member_id, group_id, user_id)
SELECT DISTINCT m.id, m.group_id, m.user_id
FROM group_license_state s JOIN group_member m
  ON m.group_id = s.group_id AND m.user_id = s.user_id
WHERE s.state = 'Error'"""

# The member's row, if it is a member (the same statement on both databases, `{g}`/`{u}` the
# state row's group and user).
_ADD = """INSERT INTO group_member_error (member_id, group_id, user_id)
  SELECT id, group_id, user_id FROM group_member WHERE group_id = {g} AND user_id = {u}{also}
  ON CONFLICT DO NOTHING"""
_DROP = """DELETE FROM group_member_error
  WHERE member_id = (SELECT id FROM group_member WHERE group_id = {g} AND user_id = {u})
  AND NOT EXISTS (SELECT 1 FROM group_license_state
    WHERE group_id = {g} AND state = 'Error' AND user_id = {u})"""


def _add(row: str, also: str = "") -> str:
    return _ADD.format(g=f"{row}.group_id", u=f"{row}.user_id", also=also)


def _drop(row: str) -> str:
    return _DROP.format(g=f"{row}.group_id", u=f"{row}.user_id")


_SQLITE_TRIGGERS = (
    f"""CREATE TRIGGER group_member_error_insert AFTER INSERT ON group_license_state
    WHEN new.state = 'Error' BEGIN {_add("new")}; END""",
    f"""CREATE TRIGGER group_member_error_delete AFTER DELETE ON group_license_state
    WHEN old.state = 'Error' BEGIN {_drop("old")}; END""",
    f"""CREATE TRIGGER group_member_error_update
    AFTER UPDATE OF state, group_id, user_id ON group_license_state
    WHEN old.state = 'Error' OR new.state = 'Error' BEGIN
      {_drop("old")};
      {_add("new", " AND new.state = 'Error'")};
    END""",
)
_PG_FUNCTIONS = (
    f"""CREATE FUNCTION group_member_error_add() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      {_add("NEW")};
      RETURN NULL;
    END $$""",
    f"""CREATE FUNCTION group_member_error_drop() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      {_drop("OLD")};
      RETURN NULL;
    END $$""",
    f"""CREATE FUNCTION group_member_error_move() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF OLD.state = 'Error' THEN {_drop("OLD")}; END IF;
      IF NEW.state = 'Error' THEN {_add("NEW")}; END IF;
      RETURN NULL;
    END $$""",
    "CREATE FUNCTION group_members_by_index(query text) "
    "RETURNS TABLE (id integer, user_id integer) LANGUAGE plpgsql STABLE "
    "SET enable_seqscan = off SET enable_bitmapscan = off SET enable_sort = off SET jit = off "
    "AS $$ BEGIN RETURN QUERY EXECUTE query; END $$",
    "CREATE FUNCTION directory_users_by_id(query text) RETURNS SETOF directory_user "
    "LANGUAGE plpgsql STABLE SET enable_seqscan = off SET enable_bitmapscan = off "
    "SET jit = off AS $$ BEGIN RETURN QUERY EXECUTE query; END $$",
)
_PG_TRIGGERS = (
    "CREATE TRIGGER group_member_error_insert AFTER INSERT ON group_license_state "
    "FOR EACH ROW WHEN (NEW.state = 'Error') EXECUTE FUNCTION group_member_error_add()",
    "CREATE TRIGGER group_member_error_delete AFTER DELETE ON group_license_state "
    "FOR EACH ROW WHEN (OLD.state = 'Error') EXECUTE FUNCTION group_member_error_drop()",
    "CREATE TRIGGER group_member_error_update "
    "AFTER UPDATE OF state, group_id, user_id ON group_license_state FOR EACH ROW "
    "WHEN (OLD.state = 'Error' OR NEW.state = 'Error') "
    "EXECUTE FUNCTION group_member_error_move()",
)
_TRIGGER_NAMES = ("group_member_error_insert", "group_member_error_delete",
                  "group_member_error_update")  # fmt: skip


def up(migrator, db):
    db.execute_sql(_TABLE)
    db.execute_sql(_INDEX)
    db.execute_sql(_FILL)
    if isinstance(db, peewee.PostgresqlDatabase):
        for statement in _PG_FUNCTIONS + _PG_TRIGGERS:
            db.execute_sql(statement)
    else:
        for statement in _SQLITE_TRIGGERS:
            db.execute_sql(statement)


def down(migrator, db):
    postgres = isinstance(db, peewee.PostgresqlDatabase)
    for name in _TRIGGER_NAMES:
        db.execute_sql(
            f'DROP TRIGGER IF EXISTS {name} ON "group_license_state"'
            if postgres
            else f"DROP TRIGGER IF EXISTS {name}"
        )
    if postgres:
        for name in ("group_member_error_add", "group_member_error_drop",
                     "group_member_error_move"):  # fmt: skip
            db.execute_sql(f"DROP FUNCTION IF EXISTS {name}()")
        db.execute_sql("DROP FUNCTION IF EXISTS group_members_by_index(text)")
        db.execute_sql("DROP FUNCTION IF EXISTS directory_users_by_id(text)")
    db.execute_sql('DROP TABLE IF EXISTS "group_member_error"')
