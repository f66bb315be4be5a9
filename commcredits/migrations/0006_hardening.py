"""Hardening: failed authentications, counted per client address and key prefix.

A table rather than per-process memory so that the limits hold across `serve --workers N`
and across restarts. Frozen inline model, as in 0001_core.
"""

import peewee


def up(migrator, db):
    from commcredits.models.base import UTCDateTimeField

    class AuthFailure(peewee.Model):
        address = peewee.CharField(max_length=64)
        key_prefix = peewee.CharField(max_length=16)
        at = UTCDateTimeField()

        class Meta:
            database = db
            table_name = "auth_failure"
            indexes = (
                (("address", "at"), False),
                (("key_prefix", "at"), False),
                (("at",), False),
            )

    db.create_tables([AuthFailure])


def down(migrator, db):
    db.execute_sql("DROP TABLE IF EXISTS auth_failure")
