"""Pages and `totalCount` of every list that can grow large (issue 16, docs/large-tenants.md).

A count that reads a large tenant's rows grows with the tenant. Where a number is kept it is
read instead (users: tenant_user_count; a card's `row_count`; a tenant's ledger sequence and
invoice numbers run 1, 2, 3, … without gaps, so the highest is the count). Anything else is
counted through the filter's index up to COUNT_CAP.

Without statistics (a bulk load, autovacuum off) PostgreSQL guesses a tenant at 0.5% of a
table it believes far smaller than it is, and prefers a bitmap scan of the whole tenant and a
sort to a walk in id order that stops after a page (250 ms against 6 ms for a license filter
on 200,000 users). So pages and counts run inside SQL functions (migrations 0012 and 0013)
whose SET clauses switch those plans off for that call only: reads open no transaction for a
SET LOCAL, and a function's setting cannot outlive its statement.
"""

from __future__ import annotations

from dataclasses import dataclass

import peewee

from commcredits.db import db, is_sqlite

# A filtered or searched totalCount counts this many matches at most.
COUNT_CAP = 10_000
# Tables whose pages PostgreSQL reads through `<table>_in_id_order` (migrations 0012, 0013,
# 0031).
_IN_ID_ORDER = frozenset(
    {"directory_user", "audit_entry", "call_record", "ledger_entry", "invoice", "rate"}
)
# The count functions: 0013's also keeps sequential scans off (an analysed planner read a count
# that reaches the cap by a scan of the whole table); 0012's, for users, does not.
LIST_COUNT = "list_count_by_index"
USER_COUNT = "directory_user_count_by_index"
# A search's count: bitmap scans on (its trigram index has no other), sequential scans off (0032).
SEARCH_COUNT = "directory_user_search_count"


@dataclass(frozen=True)
class Count:
    total: int
    capped: bool  # the true number is larger than `total` (COUNT_CAP)


def exact_count(n: int | None) -> Count:
    return Count(n or 0, False)


def capped_count(query: peewee.Select, *, planned_by: str = LIST_COUNT) -> Count:
    """How many rows `query` matches, reading at most COUNT_CAP + 1 of them; on PostgreSQL
    through the filter's index whatever the statistics (inside the function `planned_by`).
    A DISTINCT query keeps its columns (they are what is counted); any other selects 1, so the
    index alone can answer."""
    if query._distinct is None:  # .distinct() sets it, to () when on no columns
        query = query.select(peewee.SQL("1"))
    capped = query.order_by().limit(COUNT_CAP + 1).alias("capped")
    n = count_by_index(peewee.Select((capped,), (peewee.fn.COUNT(peewee.SQL("*")),)), planned_by)
    return Count(min(n, COUNT_CAP), n > COUNT_CAP)


def count_by_index(counting: peewee.Select, planned_by: str = LIST_COUNT) -> int:
    """A COUNT query's number, on PostgreSQL planned inside the function `planned_by`."""
    if is_sqlite():
        return counting.scalar(database=db)
    row = db.execute_sql(f'SELECT "{planned_by}"(%s)', (inline_sql(counting),))
    return row.fetchone()[0]


def in_id_order(query: peewee.ModelSelect) -> list[peewee.Model]:
    """The rows of a page query (ordered by id, limited). On PostgreSQL, for the tables of
    migration 0013, planned with sorting off inside `<table>_in_id_order`, so the page is read
    in id order from an index ending in id and stops when full, whatever the statistics."""
    table = query.model._meta.table_name
    if is_sqlite() or table not in _IN_ID_ORDER:
        return list(query)
    return rows_inside(query, f"{table}_in_id_order")


def rows_inside(query: peewee.ModelSelect, function: str) -> list[peewee.Model]:
    """PostgreSQL: the model rows of `query` (its table's columns), run inside `function`, a
    `RETURNS SETOF <table>` function of a migration that EXECUTEs it with its own planner
    settings."""
    text = inline_sql(query.select(peewee.SQL('"t1".*')))
    return list(query.model.raw(f'SELECT * FROM "{function}"(%s)', text))


def inline_sql(query: peewee.Node) -> str:
    """PostgreSQL: a query's text with its parameters quoted in by the driver (psycopg2's
    mogrify), for a function that EXECUTEs it."""
    sql, params = db.get_sql_context().sql(query).query()
    return db.cursor().mogrify(sql, params).decode()
