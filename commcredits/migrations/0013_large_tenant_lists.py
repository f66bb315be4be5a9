"""Large tenants (issue 16), the lists other than `users`: each filter pages in id order.

Every list is paged by id (newest first, rates oldest first), so each filter gets an index of
the tenant (or card), the filtered column, then id: a page walks its value in id order and
stops after a page, whatever the tenant's size, and a capped count reads at most that many
index entries. PostgreSQL has no rowid: (tenant_id, id) is added for the unfiltered lists.

- audit_entry: (tenant_id, action, id), (tenant_id, target_type, id)
- call_record: (tenant_id, id), (tenant_id, user_id, id), (tenant_id, status, id),
  (tenant_id, call_type, id), (tenant_id, started_at, id), and (tenant_id,
  LOWER(user_principal_name), id) for `user` given as a name
- ledger_entry: (tenant_id, id), (tenant_id, reference, id), (tenant_id, created_at, id)
- invoice: (tenant_id, id)
- rate: (card_id, id), (card_id, call_type, id), (card_id, country, id), (card_id, prefix,
  id) (a prefix filter is also a range of prefixes)

PostgreSQL: `<table>_in_id_order(query text)` for audit_entry, call_record, ledger_entry and
invoice, which run a page query with sorting off (as 0012's `directory_user_in_id_order`):
without statistics the planner guesses a tenant small, and would read all of it by bitmap and
sort it rather than walk the index in id order and stop after a page. And
`list_count_by_index(query text)` for their capped counts, with sequential and bitmap scans
off: once analysed, the planner reads a count that reaches the cap (10,000 of 200,000 calls)
by a scan of the whole table, where the filter's index holds just those rows.

Each build reads its table once; on a database with many rows this takes a while (a few
seconds per 200,000 call records).
"""

import peewee

_INDEXES = (
    ("audit_entry", "audit_entry_tenant_id_action_id", '"tenant_id", "action", "id"'),
    ("audit_entry", "audit_entry_tenant_id_target_type_id", '"tenant_id", "target_type", "id"'),
    ("call_record", "call_record_tenant_id_id", '"tenant_id", "id"'),
    ("call_record", "call_record_tenant_id_user_id_id", '"tenant_id", "user_id", "id"'),
    ("call_record", "call_record_tenant_id_status_id", '"tenant_id", "status", "id"'),
    ("call_record", "call_record_tenant_id_call_type_id", '"tenant_id", "call_type", "id"'),
    ("call_record", "call_record_tenant_id_started_at_id", '"tenant_id", "started_at", "id"'),
    # Matches the filter's LOWER("user_principal_name") = ? (services/usage_report.py).
    ("call_record", "call_record_tenant_upn_id", '"tenant_id", LOWER("user_principal_name"), "id"'),
    ("ledger_entry", "ledger_entry_tenant_id_id", '"tenant_id", "id"'),
    ("ledger_entry", "ledger_entry_tenant_id_reference_id", '"tenant_id", "reference", "id"'),
    ("ledger_entry", "ledger_entry_tenant_id_created_at_id", '"tenant_id", "created_at", "id"'),
    ("invoice", "invoice_tenant_id_id", '"tenant_id", "id"'),
    ("rate", "rate_card_id_id", '"card_id", "id"'),
    ("rate", "rate_card_id_call_type_id", '"card_id", "call_type", "id"'),
    ("rate", "rate_card_id_country_id", '"card_id", "country", "id"'),
    ("rate", "rate_card_id_prefix_id", '"card_id", "prefix", "id"'),
)


IN_ID_ORDER = ("audit_entry", "call_record", "ledger_entry", "invoice")


def up(migrator, db):
    for table, name, columns in _INDEXES:
        db.execute_sql(f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" ({columns})')
    if isinstance(db, peewee.PostgresqlDatabase):
        for table in IN_ID_ORDER:
            db.execute_sql(
                f'CREATE FUNCTION "{table}_in_id_order"(query text) RETURNS SETOF "{table}" '
                "LANGUAGE plpgsql STABLE SET enable_sort = off SET jit = off AS $$ "
                "BEGIN RETURN QUERY EXECUTE query; END $$"
            )
        db.execute_sql(
            "CREATE FUNCTION list_count_by_index(query text) RETURNS bigint LANGUAGE plpgsql "
            "STABLE SET enable_seqscan = off SET enable_bitmapscan = off SET enable_sort = off "
            "SET jit = off AS $$ DECLARE n bigint; BEGIN EXECUTE query INTO n; RETURN n; END $$"
        )


def down(migrator, db):
    if isinstance(db, peewee.PostgresqlDatabase):
        for table in IN_ID_ORDER:
            db.execute_sql(f'DROP FUNCTION IF EXISTS "{table}_in_id_order"(text)')
        db.execute_sql("DROP FUNCTION IF EXISTS list_count_by_index(text)")
    for _, name, _ in reversed(_INDEXES):
        db.execute_sql(f'DROP INDEX IF EXISTS "{name}"')
