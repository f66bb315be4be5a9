"""Users blocked from PSTN calls (issue 17): the current blocks and the log of block actions.

- pstn_block: one row per blocked user (unique user_id), deleted on unblock; (tenant_id, id)
  serves the report's keyset pages.
- pstn_block_log: one row per block or unblock action (Graph's pstnBlockedUsersLogRow), its
  remediation GUID unique; the user's name and number copied, user_id set NULL when the user
  is deleted. (tenant_id, id) serves the log's pages, (tenant_id, at) its from/to range.

Numbered 0016 after 0015 (calling policies); the runner applies each script once, in order.
"""

import peewee


def up(migrator, db):
    from commcredits.models.base import UTCDateTimeField

    class Base(peewee.Model):
        class Meta:
            database = db
            legacy_table_names = False

    class Tenant(Base):  # only what the foreign keys need; the tables exist (0001)
        class Meta:
            table_name = "tenant"

    class User(Base):
        class Meta:
            table_name = "directory_user"

    class PstnBlock(Base):
        tenant = peewee.ForeignKeyField(Tenant, on_delete="CASCADE", index=False)
        user = peewee.ForeignKeyField(User, unique=True, on_delete="CASCADE")
        reason = peewee.CharField(max_length=500)
        blocked_at = UTCDateTimeField()
        blocked_by = peewee.CharField(max_length=200)
        remediation_id = peewee.CharField(max_length=36)

        class Meta:
            table_name = "pstn_block"
            indexes = ((("tenant", "id"), False),)

    class PstnBlockLog(Base):
        tenant = peewee.ForeignKeyField(Tenant, on_delete="CASCADE", index=False)
        user = peewee.ForeignKeyField(User, null=True, on_delete="SET NULL")
        user_principal_name = peewee.CharField(max_length=113)
        user_display_name = peewee.CharField(max_length=256, default="")
        user_telephone_number = peewee.CharField(max_length=64, default="")
        user_block_mode = peewee.CharField(max_length=16)
        reason = peewee.CharField(max_length=500, default="")
        at = UTCDateTimeField()
        actor = peewee.CharField(max_length=200)
        remediation_id = peewee.CharField(max_length=36, unique=True)

        class Meta:
            table_name = "pstn_block_log"
            indexes = ((("tenant", "id"), False), (("tenant", "at"), False))

    db.create_tables([PstnBlock, PstnBlockLog])


def down(migrator, db):
    db.execute_sql('DROP TABLE IF EXISTS "pstn_block_log"')
    db.execute_sql('DROP TABLE IF EXISTS "pstn_block"')
