"""call_record: three indexes that another index begins with, dropped (rating's writes).

Every rated call is written into each of call_record's indexes, and a rating batch's INSERT
and commit grow with them (bench/README.md, "Calls"). Three of them serve no query that a
longer index with the same leading columns does not serve as well:

- `call_record_tenant_id` (tenant_id): `call_record_tenant_id_call_id` (the unique key), and
  every other tenant-first index, begin with it; the tenant's cascade delete uses any;
- `call_record_tenant_id_month` (tenant_id, month): `call_record_tenant_id_month_user_id`
  (0015, the usage report's page of a month's callers) begins with it;
- `call_record_tenant_id_user_id` (tenant_id, user_id):
  `call_record_tenant_id_user_id_started_at_id` (0018) begins with it.

`call_record_user_id` stays: a user's deletion sets its calls' user to NULL by user_id alone.
Dropping them: 4,979 rated calls/s of CPU against 4,805 in the same minutes. Both databases.
"""

_DROPPED = {
    "call_record_tenant_id": '"tenant_id"',
    "call_record_tenant_id_month": '"tenant_id", "month"',
    "call_record_tenant_id_user_id": '"tenant_id", "user_id"',
}


def up(migrator, db):
    for name in _DROPPED:
        db.execute_sql(f'DROP INDEX IF EXISTS "{name}"')


def down(migrator, db):
    for name, columns in _DROPPED.items():
        db.execute_sql(f'CREATE INDEX IF NOT EXISTS "{name}" ON "call_record" ({columns})')
