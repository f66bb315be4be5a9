"""The built-in SKU catalog (SPEC §1). Re-running it only adds what is missing."""


def up(migrator, db):
    from commcredits.services.catalog import ensure_builtin_catalog

    ensure_builtin_catalog()


def down(migrator, db):
    db.execute_sql("DELETE FROM sku WHERE builtin")
