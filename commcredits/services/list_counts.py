"""`totalCount` of the lists other than `users`: exact where a number is kept, else capped.

A count that reads a large tenant's rows grows with the tenant (issue 16). Where a number is
kept it is read instead (a card's `row_count`; a tenant's ledger sequence and invoice numbers
run 1, 2, 3, … without gaps, so the highest is the count). Anything else is counted through
the filter's index up to COUNT_CAP, as `users` does (services/user_list.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import peewee

from commcredits.db import db, is_sqlite
from commcredits.services.user_list import COUNT_CAP

__all__ = ["COUNT_CAP", "Count", "capped_count", "exact_count", "in_id_order"]

# Tables whose pages PostgreSQL reads through `<table>_in_id_order` (migration 0013).
_IN_ID_ORDER = frozenset({"audit_entry", "call_record", "ledger_entry", "invoice"})


@dataclass(frozen=True)
class Count:
    total: int
    capped: bool  # the true number is larger than `total` (COUNT_CAP)


def exact_count(n: int | None) -> Count:
    return Count(n or 0, False)


def capped_count(query: peewee.ModelSelect) -> Count:
    """How many rows `query` matches, reading at most COUNT_CAP + 1 of them (on PostgreSQL
    through the filter's index whatever the statistics: `list_count_by_index`, 0013)."""
    capped = query.select(peewee.SQL("1")).order_by().limit(COUNT_CAP + 1).alias("capped")
    counting = peewee.Select((capped,), (peewee.fn.COUNT(peewee.SQL("*")),))
    if is_sqlite():
        n = counting.scalar(database=db)
    else:
        row = db.execute_sql('SELECT "list_count_by_index"(%s)', (_inline(counting),))
        n = row.fetchone()[0]
    return Count(min(n, COUNT_CAP), n > COUNT_CAP)


def in_id_order(query: peewee.ModelSelect) -> list[peewee.Model]:
    """The rows of a page query (ordered by id, limited). On PostgreSQL, for the tables of
    migration 0013, planned with sorting off inside `<table>_in_id_order`, so the page is read
    in id order from an index ending in id and stops when full, whatever the statistics."""
    model = query.model
    table = model._meta.table_name
    if is_sqlite() or table not in _IN_ID_ORDER:
        return list(query)
    text = _inline(query.select(peewee.SQL('"t1".*')))
    return list(model.raw(f'SELECT * FROM "{table}_in_id_order"(%s)', text))


def _inline(query: peewee.Node) -> str:
    sql, params = db.get_sql_context().sql(query).query()
    return db.cursor().mogrify(sql, params).decode()
