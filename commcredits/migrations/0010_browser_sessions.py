"""Browser sign-in: session cookies' server side, and one-time sign-in links.

- browser_session: one row per signed-in browser, made from an API key (its role and tenant);
  the cookie's token is kept only as a SHA-256 hash, with the idle stamp, the absolute expiry
  and the sign-out time.
- sign_in_link: the hashed token of a one-time link (`commcredits sign-in-link`, `make run`),
  used at most once, before it expires.

Both go with their key (ON DELETE CASCADE). Frozen inline models, as in 0001_core.
"""

import peewee


def up(migrator, db):
    from commcredits.models.base import UTCDateTimeField

    class Base(peewee.Model):
        class Meta:
            database = db
            legacy_table_names = False

    class ApiKey(Base):  # only what the foreign keys need; the table exists (0001)
        class Meta:
            table_name = "api_key"

    class BrowserSession(Base):
        key = peewee.ForeignKeyField(ApiKey, on_delete="CASCADE")
        token_hash = peewee.CharField(max_length=64, unique=True)
        created_at = UTCDateTimeField()
        last_seen_at = UTCDateTimeField()
        expires_at = UTCDateTimeField()
        revoked_at = UTCDateTimeField(null=True)

        class Meta:
            table_name = "browser_session"

    class SignInLink(Base):
        key = peewee.ForeignKeyField(ApiKey, on_delete="CASCADE")
        token_hash = peewee.CharField(max_length=64, unique=True)
        created_at = UTCDateTimeField()
        expires_at = UTCDateTimeField()
        used_at = UTCDateTimeField(null=True)

        class Meta:
            table_name = "sign_in_link"

    db.create_tables([BrowserSession, SignInLink])


def down(migrator, db):
    db.execute_sql("DROP TABLE IF EXISTS sign_in_link")
    db.execute_sql("DROP TABLE IF EXISTS browser_session")
