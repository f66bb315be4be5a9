"""Drop single-column indexes that a composite index already serves.

peewee gives every foreign key an index of its own. Where a composite index starts with the
same column, that one answers the same lookups (and the foreign key's checks), and the extra
index only costs every insert: a license batch wrote into five indexes, now two.

- license_assignment(user_id): served by (user_id, sku_id)
- license_assignment(tenant_id): served by (tenant_id, sku_id)
- license_assignment(sku_id): every lookup by SKU names the tenant, so (tenant_id, sku_id)
  serves it; SKUs are never deleted, the one thing a lone sku_id index would speed up
- directory_user(tenant_id): served by (tenant_id, upn_key)
- audit_entry(tenant_id): served by (tenant_id, id)
"""

REDUNDANT = (
    ("license_assignment", "user_id"),
    ("license_assignment", "tenant_id"),
    ("license_assignment", "sku_id"),
    ("directory_user", "tenant_id"),
    ("audit_entry", "tenant_id"),
)


def up(migrator, db):
    for table, column in REDUNDANT:
        db.execute_sql(f'DROP INDEX IF EXISTS "{table}_{column}"')


def down(migrator, db):
    for table, column in REDUNDANT:
        db.execute_sql(f'CREATE INDEX IF NOT EXISTS "{table}_{column}" ON "{table}" ("{column}")')
