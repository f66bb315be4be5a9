"""PostgreSQL: `rates` pages planned with sorting off, as the tenant lists' are (0013).

A card's filtered page (`rates(filter: { callType: INTERNATIONAL })` on an imported card of
100,000 rows, a quarter of them international) walked the index in id order only once the
table had statistics. Right after an import, before any ANALYZE, the planner guessed two
matching rows and read all 25,000 by bitmap to sort them for the first 21: 14 ms against
0.06 ms (bench_scale.py: ratio 2.73 against the sample card, 3.23 on a busy machine).
`rate_in_id_order(query text)` runs the page query with sorting off, so it is read from the
filter's index (card_id, call_type, id) in id order and stops when the page is full
(services/list_counts.in_id_order). Nothing on SQLite.
"""

import peewee


def up(migrator, db):
    if isinstance(db, peewee.PostgresqlDatabase):
        db.execute_sql(
            'CREATE FUNCTION "rate_in_id_order"(query text) RETURNS SETOF "rate" '
            "LANGUAGE plpgsql STABLE SET enable_sort = off SET jit = off AS $$ "
            "BEGIN RETURN QUERY EXECUTE query; END $$"
        )


def down(migrator, db):
    if isinstance(db, peewee.PostgresqlDatabase):
        db.execute_sql('DROP FUNCTION IF EXISTS "rate_in_id_order"(text)')
