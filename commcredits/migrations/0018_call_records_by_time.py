"""`callRecords` pages by (started_at, id), latest first (issue 16): each filter's index ends in
started_at, id instead of id.

Paged by id, a from/to window far back had to walk past every newer call before reaching
its first row (3–6× slower at 200,000 calls than at 1,000); by (started_at, id) the window is
one range of an index and a page stops when full. The same order serves every other filter
through an index of (tenant, the filtered column, started_at, id); the id-ordered indexes of
migration 0013 are dropped, since nothing reads call records in id order any more, and
each index costs every rated call a write.

Each build reads its table once: a few seconds per 200,000 call records.
"""

_NEW = (
    ("call_record_tenant_id_user_id_started_at_id", '"tenant_id", "user_id", "started_at", "id"'),
    ("call_record_tenant_id_status_started_at_id", '"tenant_id", "status", "started_at", "id"'),
    (
        "call_record_tenant_id_call_type_started_at_id",
        '"tenant_id", "call_type", "started_at", "id"',
    ),
    # Matches the filter's LOWER("user_principal_name") = ? (services/usage_report.py).
    (
        "call_record_tenant_upn_started_at_id",
        '"tenant_id", LOWER("user_principal_name"), "started_at", "id"',
    ),
)
_OLD = (
    ("call_record_tenant_id_id", '"tenant_id", "id"'),
    ("call_record_tenant_id_user_id_id", '"tenant_id", "user_id", "id"'),
    ("call_record_tenant_id_status_id", '"tenant_id", "status", "id"'),
    ("call_record_tenant_id_call_type_id", '"tenant_id", "call_type", "id"'),
    ("call_record_tenant_upn_id", '"tenant_id", LOWER("user_principal_name"), "id"'),
)


def up(migrator, db):
    for name, columns in _NEW:
        db.execute_sql(f'CREATE INDEX IF NOT EXISTS "{name}" ON "call_record" ({columns})')
    for name, _ in _OLD:
        db.execute_sql(f'DROP INDEX IF EXISTS "{name}"')


def down(migrator, db):
    for name, columns in _OLD:
        db.execute_sql(f'CREATE INDEX IF NOT EXISTS "{name}" ON "call_record" ({columns})')
    for name, _ in reversed(_NEW):
        db.execute_sql(f'DROP INDEX IF EXISTS "{name}"')
