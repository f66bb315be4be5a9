"""PostgreSQL: a search's capped `totalCount` never reads the whole users table (issue 16).

`users(filter: { search })` counts its matches up to 10,000 (services/user_list.py). The
trigram index answers by bitmap only, so that count was planned as the planner liked. Once
analysed, a term many users hold ('muller': 18,000 of 200,000) made a sequential scan look
cheaper than the bitmap — it expected to meet 10,001 matches halfway through the table — and
the count read the whole table: 73 ms against 12 ms at 1,000 users (bench_scale.py, 5.95×).
`directory_user_search_count(query text)` runs that count with sequential scans off, so it
reads the trigram index's bitmap (or the filter's index). Nothing on SQLite (FTS5).
"""

import peewee


def up(migrator, db):
    if isinstance(db, peewee.PostgresqlDatabase):
        db.execute_sql(
            "CREATE FUNCTION directory_user_search_count(query text) RETURNS bigint "
            "LANGUAGE plpgsql STABLE SET enable_seqscan = off SET jit = off AS $$ "
            "DECLARE n bigint; BEGIN EXECUTE query INTO n; RETURN n; END $$"
        )


def down(migrator, db):
    if isinstance(db, peewee.PostgresqlDatabase):
        db.execute_sql("DROP FUNCTION IF EXISTS directory_user_search_count(text)")
