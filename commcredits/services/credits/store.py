"""The credits hot path's SQL, in one place: what a ledger loads and what its flush writes.

Hand-written statements, because building them through peewee cost several times the
statements themselves on the rating path. Table names come from the models, parameters use
the database's own style (`db.param`), timestamps go through the models' datetime field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from commcredits.db import db, insert_values
from commcredits.models import (
    AutoRecharge,
    CreditAccount,
    CreditLot,
    DebitSplit,
    Invoice,
    LedgerDay,
    LedgerEntry,
    Tenant,
)
from commcredits.models.base import UTCDateTimeField

TS = UTCDateTimeField()
TENANT = Tenant._meta.table_name
ACCOUNT = CreditAccount._meta.table_name
SETTINGS = AutoRecharge._meta.table_name
LOT = CreditLot._meta.table_name
INVOICE = Invoice._meta.table_name
ENTRY = LedgerEntry._meta.table_name
SPLIT = DebitSplit._meta.table_name
DAY = LedgerDay._meta.table_name
LOT_PAGE = 64  # live lots a ledger loads at a time: a debit reads only the oldest it needs
CHUNK = 500

ENTRY_COLUMNS = (
    "tenant_id",
    "seq",
    "kind",
    "amount_minor",
    "postpaid_minor",
    "balance_after_minor",
    "currency",
    "reference",
    "usage_kind",
    "lot_id",
    "invoice_id",
    "period",
    "reason",
    "created_at",
)
SPLIT_COLUMNS = ("tenant_id", "entry_seq", "lot_id", "amount_minor")
_TENANT, _SEQ, _BALANCE, _AT = (
    ENTRY_COLUMNS.index(c) for c in ("tenant_id", "seq", "balance_after_minor", "created_at")
)
DAY_COLUMNS = ("tenant_id", "day", "last_seq", "balance_after_minor", "last_at")
# A day's row moves only to a later entry (in commit order) than the one it holds.
_DAY_UPSERT = (
    "ON CONFLICT (tenant_id, day) DO UPDATE SET last_seq = excluded.last_seq, "
    "balance_after_minor = excluded.balance_after_minor, last_at = excluded.last_at "
    f"WHERE excluded.last_seq > {DAY}.last_seq"
)
_HEAD = 7  # load_account's columns before the settings
_SETTINGS_COLUMNS = (
    "id",
    "enabled",
    "recharge_minor",
    "trigger_minor",
    "max_per_day",
    "retry_after",
    "capped_on",
    "count_day",
    "count_on_day",
    "updated_at",
)


def load_account(tenant_id: int, *, due_at: dt.datetime | None = None) -> tuple:
    """One tenant's credit state in one statement: (account id, balance, last entry seq, last
    invoice number, credit limit, pending recharges, their sum, *settings columns, credit due).
    The account's and the settings' columns are None where those rows do not exist yet; the
    last column is the credit in lots past their expiry at `due_at` (0 without it)."""
    p = db.param
    settings = ", ".join(f"s.{c}" for c in _SETTINGS_COLUMNS)
    pending = f"FROM {INVOICE} i WHERE i.status = 'PENDING' AND i.tenant_id = {p} " + (
        "AND i.reason = 'AUTO_RECHARGE'"
    )
    params: list = [tenant_id, tenant_id]
    due = "0"
    if due_at is not None:
        due = (
            f"(SELECT COALESCE(SUM(l.remaining_minor), 0) FROM {LOT} l WHERE l.tenant_id = {p} "
            f"AND l.expires_at <= {p} AND l.remaining_minor > 0)"
        )
        params += [tenant_id, TS.db_value(due_at)]
    row = db.execute_sql(
        f"SELECT a.id, a.balance_minor, a.last_entry_seq, a.last_invoice_number, "
        f"a.credit_limit_minor, (SELECT COUNT(*) {pending}), "
        f"(SELECT COALESCE(SUM(i.amount_minor), 0) {pending}), {settings}, {due} "
        f"FROM {TENANT} t LEFT OUTER JOIN {ACCOUNT} a ON a.tenant_id = t.id "
        f"LEFT OUTER JOIN {SETTINGS} s ON s.tenant_id = t.id WHERE t.id = {p}",
        (*params, tenant_id),
    ).fetchone()
    return row if row is not None else (None,) * (_HEAD + len(_SETTINGS_COLUMNS) + 1)


def settings_from(row: Sequence, tenant_id: int) -> AutoRecharge | None:
    """The AutoRecharge model in `load_account`'s row (None if never saved)."""
    columns = row[_HEAD : _HEAD + len(_SETTINGS_COLUMNS)]
    if columns[0] is None:
        return None
    values = dict(zip(_SETTINGS_COLUMNS, columns, strict=True))
    values["enabled"] = bool(values["enabled"])
    for name in ("retry_after", "updated_at"):
        values[name] = TS.python_value(values[name])
    return AutoRecharge(tenant=tenant_id, **values)


def load_lots(
    tenant_id: int, *, now: dt.datetime, after: tuple[dt.datetime, int] | None
) -> tuple[list[tuple], bool, tuple[dt.datetime, int] | None]:
    """The next page of live lots (remaining, not expired at `now`), oldest purchase first,
    after the (purchased_at, id) key `after`: ([(id, amount, remaining, purchased, expires), …],
    whether this was the last page, the key of the last row read).

    The page is read in index order from `credit_lot_live_fifo` (lots with credit left), so
    no lot beyond it is read or sorted. Lots past their expiry come first in that order
    (expiry is purchase + 12 months) and are left out here: `expire_due` has them.
    """
    p = db.param
    params: list = [tenant_id]
    where = ""
    if after is not None:
        # A row-value comparison: both databases start the index walk at the key.
        where = f" AND (purchased_at, id) > ({p}, {p})"
        params += [TS.db_value(after[0]), after[1]]
    rows = db.execute_sql(
        f"SELECT id, amount_minor, remaining_minor, purchased_at, expires_at FROM {LOT} "
        f"WHERE tenant_id = {p} AND remaining_minor > 0{where} "
        f"ORDER BY purchased_at, id LIMIT {LOT_PAGE}",
        params,
    ).fetchall()
    convert = TS.python_value
    page = [(i, a, r, convert(b), convert(e)) for i, a, r, b, e in rows]
    last = len(rows) < LOT_PAGE
    if page:
        # The key of the last row read, even if expired, so the next page starts after it.
        page_end = (page[-1][3], page[-1][0])
        return [row for row in page if row[4] > now], last, page_end
    return [], last, None


def load_due_lots(tenant_id: int, *, now: dt.datetime) -> list[tuple[int, int]]:
    """(id, remaining) of the lots past their expiry that still hold credit."""
    p = db.param
    return db.execute_sql(
        f"SELECT id, remaining_minor FROM {LOT} WHERE tenant_id = {p} AND expires_at <= {p} "
        # In expiry order, which is purchase order (expiry = purchase + 12 months), so that
        # the planner walks the live-expiry index instead of every live lot of the tenant.
        f"AND remaining_minor > 0 ORDER BY expires_at, id",
        (tenant_id, TS.db_value(now)),
    ).fetchall()


def insert_account(tenant_id: int, currency: str, *, now: dt.datetime) -> int:
    return CreditAccount.insert(
        tenant=tenant_id, currency=currency, balance_minor=0, updated_at=now
    ).execute()


def update_account(
    account_id: int,
    *,
    balance: int,
    last_entry_seq: int,
    last_invoice_number: int,
    credit_limit: int | None,
    now: dt.datetime,
) -> None:
    p = db.param
    db.execute_sql(
        f"UPDATE {ACCOUNT} SET balance_minor = {p}, last_entry_seq = {p}, "
        f"last_invoice_number = {p}, credit_limit_minor = {p}, updated_at = {p} WHERE id = {p}",
        (balance, last_entry_seq, last_invoice_number, credit_limit, TS.db_value(now), account_id),
    )


def insert_entries(rows: list[tuple]) -> None:
    """Insert ledger entries (rows in ENTRY_COLUMNS order) and move each (tenant, UTC day)
    they fall on to its last entry: the balance history reads those days (migration 0030).
    The only writer of ledger entries, so the days always follow the ledger."""
    insert_values(ENTRY, ENTRY_COLUMNS, rows)
    # Each (tenant, UTC day)'s last entry; a flush's entries share one `now`, so the day is
    # worked out once per distinct time (per entry it cost a 1,000-debit flush more than its
    # SQL).
    days: dict[Any, str] = {}
    last: dict[tuple[int, str], tuple] = {}
    for row in rows:
        at = row[_AT]
        day = days.get(at)
        if day is None:
            day = days[at] = TS.python_value(at).date().isoformat()
        key = (row[_TENANT], day)
        if key not in last or row[_SEQ] > last[key][2]:
            last[key] = (row[_TENANT], day, row[_SEQ], row[_BALANCE], at)
    # One row per key: PostgreSQL refuses an upsert that touches a row twice.
    insert_values(DAY, DAY_COLUMNS, list(last.values()), on_conflict=_DAY_UPSERT)


def insert_splits(rows: list[tuple]) -> None:
    insert_values(SPLIT, SPLIT_COLUMNS, rows)


def update_remaining(changes: list[tuple[int, int]]) -> None:
    """Set lots' remaining amounts: one CASE statement per chunk of (lot id, remaining)."""
    p = db.param
    for start in range(0, len(changes), CHUNK):
        chunk = changes[start : start + CHUNK]
        cases = " ".join(f"WHEN {p} THEN {p}" for _ in chunk)
        ids = ", ".join(p for _ in chunk)
        params: list = [v for pair in chunk for v in pair] + [lot_id for lot_id, _ in chunk]
        db.execute_sql(
            f"UPDATE {LOT} SET remaining_minor = CASE id {cases} END WHERE id IN ({ids})", params
        )


def insert_lot(values: dict) -> int:
    """A new lot (a handful per unit of work at most, so one statement each, for its id)."""
    return CreditLot.insert(**values).execute()


def insert_invoice(values: dict) -> int:
    return Invoice.insert(**values).execute()


def update_invoice(invoice_id: int, values: dict) -> None:
    Invoice.update(**values).where(Invoice.id == invoice_id).execute()
