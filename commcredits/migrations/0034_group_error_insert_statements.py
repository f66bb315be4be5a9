"""PostgreSQL: the members in error (0029) and their counts (0033) kept once per INSERT
statement instead of once per row (issue 16).

Processing writes a group's new license states 1,000 rows to an INSERT; when seats run out,
most of them are Error rows, and each ran three PL/pgSQL row triggers (0029's set, 0033's code
set, then the count of each set that grew): processing two SKUs for 20,000 members, half of
them in error, took 11% longer with 0033's triggers than without (bench_group_errors.py). The
INSERT triggers become statement triggers over the statement's rows (`REFERENCING NEW TABLE`):
one set-based INSERT per set, one grouped upsert per count. The sets' rows come with
`ON CONFLICT DO NOTHING`, and a statement's transition table holds only the rows it inserted,
so the counts still follow the rows that really came. Each member is looked up by
(group_id, user_id) in a LATERAL subquery with sequential scans off, whatever the statistics
(a hash join would read every member of every group for each statement).

DELETE and UPDATE keep 0029's and 0033's row triggers: the services delete and update states
one row a statement, and a cascade deletes one parent's rows at a time. Nothing on SQLite,
whose row triggers run inside the statement without a function call.
"""

import peewee

_MEMBER = """FROM added a CROSS JOIN LATERAL (
      SELECT id, group_id, user_id FROM group_member
      WHERE group_id = a.group_id AND user_id = a.user_id) m
    WHERE a.state = 'Error'"""
_SETTINGS = "SET enable_seqscan = off SET enable_bitmapscan = off SET jit = off"

_FUNCTIONS = (
    f"""CREATE OR REPLACE FUNCTION group_member_error_add_rows() RETURNS trigger LANGUAGE plpgsql
    {_SETTINGS} AS $$
    BEGIN
      INSERT INTO group_member_error (member_id, group_id, user_id)
      SELECT DISTINCT m.id, m.group_id, m.user_id {_MEMBER}
      ON CONFLICT DO NOTHING;
      RETURN NULL;
    END $$""",
    f"""CREATE OR REPLACE FUNCTION group_error_code_add_rows() RETURNS trigger LANGUAGE plpgsql
    {_SETTINGS} AS $$
    BEGIN
      INSERT INTO group_member_error_code (member_id, error, group_id)
      SELECT DISTINCT m.id, COALESCE(a.error, ''), m.group_id {_MEMBER}
      ON CONFLICT DO NOTHING;
      RETURN NULL;
    END $$""",
    """CREATE OR REPLACE FUNCTION group_member_error_count_up_rows() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO group_error_count (group_id, error, members)
      SELECT group_id, '*', COUNT(*) FROM added GROUP BY group_id
      ON CONFLICT (group_id, error)
      DO UPDATE SET members = group_error_count.members + EXCLUDED.members;
      RETURN NULL;
    END $$""",
    """CREATE OR REPLACE FUNCTION group_member_error_code_count_up_rows() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO group_error_count (group_id, error, members)
      SELECT group_id, error, COUNT(*) FROM added GROUP BY group_id, error
      ON CONFLICT (group_id, error)
      DO UPDATE SET members = group_error_count.members + EXCLUDED.members;
      RETURN NULL;
    END $$""",
)
# (trigger, table, the statement trigger's function, the row trigger it replaces as created
# by 0029 / 0033)
_REPLACED = (
    (
        "group_member_error_insert",
        "group_license_state",
        "group_member_error_add_rows",
        "FOR EACH ROW WHEN (NEW.state = 'Error') EXECUTE FUNCTION group_member_error_add()",
    ),
    (
        "group_error_code_insert",
        "group_license_state",
        "group_error_code_add_rows",
        "FOR EACH ROW WHEN (NEW.state = 'Error') EXECUTE FUNCTION group_error_code_add()",
    ),
    (
        "group_member_error_count_insert",
        "group_member_error",
        "group_member_error_count_up_rows",
        "FOR EACH ROW EXECUTE FUNCTION group_member_error_count_up()",
    ),
    (
        "group_member_error_code_count_insert",
        "group_member_error_code",
        "group_member_error_code_count_up_rows",
        "FOR EACH ROW EXECUTE FUNCTION group_member_error_code_count_up()",
    ),
)


def up(migrator, db):
    if not isinstance(db, peewee.PostgresqlDatabase):
        return
    for statement in _FUNCTIONS:
        db.execute_sql(statement)
    for trigger, table, function, _ in _REPLACED:
        # IF EXISTS, and OR REPLACE above: 0033's down() (a rollback past both) drops these
        # triggers by name and leaves the functions; up() then builds them again.
        db.execute_sql(f'DROP TRIGGER IF EXISTS {trigger} ON "{table}"')
        db.execute_sql(
            f'CREATE TRIGGER {trigger} AFTER INSERT ON "{table}" REFERENCING NEW TABLE AS added '
            f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        )


def down(migrator, db):
    if not isinstance(db, peewee.PostgresqlDatabase):
        return
    for trigger, table, function, row_trigger in _REPLACED:
        db.execute_sql(f'DROP TRIGGER IF EXISTS {trigger} ON "{table}"')
        db.execute_sql(f'CREATE TRIGGER {trigger} AFTER INSERT ON "{table}" {row_trigger}')
        db.execute_sql(f"DROP FUNCTION IF EXISTS {function}()")
