"""The rest of a user's profile (issue 12, item 5): every column of the Microsoft 365 admin
center's "Add multiple users" template and user export, under Graph's names.

- directory_user.business_phones, other_mails: Graph's string collections, kept as JSON lists
  in a text column (models.base.JSONField) so that a page of users needs no extra query; '[]'
  for the users that exist.
- directory_user.fax_number, street_address, state, postal_code: text, '' for the users that
  exist, as the other profile columns (0001_core).

ADD COLUMN with a constant default is the same statement, and a metadata-only change, on SQLite
and PostgreSQL (11+): no table rewrite, however many users there are.
"""

COLUMNS = (
    ("business_phones", "TEXT NOT NULL DEFAULT '[]'"),
    ("fax_number", "VARCHAR(64) NOT NULL DEFAULT ''"),
    ("other_mails", "TEXT NOT NULL DEFAULT '[]'"),
    ("street_address", "VARCHAR(1024) NOT NULL DEFAULT ''"),
    ("state", "VARCHAR(128) NOT NULL DEFAULT ''"),
    ("postal_code", "VARCHAR(40) NOT NULL DEFAULT ''"),
)


def up(migrator, db):
    for name, definition in COLUMNS:
        db.execute_sql(f'ALTER TABLE "directory_user" ADD COLUMN "{name}" {definition}')


def down(migrator, db):
    for name, _ in reversed(COLUMNS):
        db.execute_sql(f'ALTER TABLE "directory_user" DROP COLUMN "{name}"')
