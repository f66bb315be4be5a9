"""Core tables: tenants, catalog, subscriptions, users, license assignments, keys, audit.

Frozen copies of the models as they were when this migration was written (peewee's migration
runner asks for that), so that later model changes never change what this step creates.
"""

import peewee


def up(migrator, db):
    from commcredits.models.base import JSONField, UTCDateTimeField

    class Base(peewee.Model):
        class Meta:
            database = db
            legacy_table_names = False

    class Tenant(Base):
        name = peewee.CharField(max_length=200, unique=True)
        country = peewee.CharField(max_length=2)
        currency = peewee.CharField(max_length=3)
        agreement_type = peewee.CharField(max_length=8)
        created_at = UTCDateTimeField()

        class Meta:
            table_name = "tenant"

    class Sku(Base):
        sku_id = peewee.CharField(max_length=36, unique=True)
        part_number = peewee.CharField(max_length=64, unique=True)
        name = peewee.CharField(max_length=200)
        service_plans = JSONField()
        countries = JSONField(null=True)
        builtin = peewee.BooleanField(default=False)

        class Meta:
            table_name = "sku"

    class Subscription(Base):
        tenant = peewee.ForeignKeyField(Tenant, on_delete="CASCADE")
        sku = peewee.ForeignKeyField(Sku)
        enabled_units = peewee.IntegerField(default=0)
        suspended_units = peewee.IntegerField(default=0)
        warning_units = peewee.IntegerField(default=0)
        locked_out_units = peewee.IntegerField(default=0)
        consumed_units = peewee.IntegerField(default=0)
        created_at = UTCDateTimeField()
        updated_at = UTCDateTimeField()

        class Meta:
            table_name = "subscription"
            indexes = ((("tenant", "sku"), True),)
            constraints = [
                peewee.Check("consumed_units >= 0"),
                peewee.Check("consumed_units <= enabled_units"),
            ]

    class User(Base):
        tenant = peewee.ForeignKeyField(Tenant, on_delete="CASCADE")
        user_principal_name = peewee.CharField(max_length=113)
        upn_key = peewee.CharField(max_length=113)
        display_name = peewee.CharField(max_length=256, default="")
        given_name = peewee.CharField(max_length=64, default="")
        surname = peewee.CharField(max_length=64, default="")
        job_title = peewee.CharField(max_length=128, default="")
        department = peewee.CharField(max_length=64, default="")
        office_location = peewee.CharField(max_length=128, default="")
        mobile_phone = peewee.CharField(max_length=64, default="")
        city = peewee.CharField(max_length=128, default="")
        country = peewee.CharField(max_length=128, default="")
        usage_location = peewee.CharField(max_length=2, null=True)
        account_enabled = peewee.BooleanField(default=True)
        created_at = UTCDateTimeField()
        updated_at = UTCDateTimeField()

        class Meta:
            table_name = "directory_user"
            indexes = (
                (("tenant", "upn_key"), True),
                (("tenant", "usage_location"), False),
                (("tenant", "department"), False),
            )

    class LicenseAssignment(Base):
        tenant = peewee.ForeignKeyField(Tenant, on_delete="CASCADE")
        user = peewee.ForeignKeyField(User, on_delete="CASCADE")
        sku = peewee.ForeignKeyField(Sku)
        disabled_plans = JSONField(default=list)
        assigned_at = UTCDateTimeField()

        class Meta:
            table_name = "license_assignment"
            indexes = ((("user", "sku"), True), (("tenant", "sku"), False))

    class ApiKey(Base):
        tenant = peewee.ForeignKeyField(Tenant, null=True, on_delete="CASCADE")
        role = peewee.CharField(max_length=16)
        name = peewee.CharField(max_length=200, default="")
        prefix = peewee.CharField(max_length=16)
        key_hash = peewee.CharField(max_length=64, unique=True)
        created_at = UTCDateTimeField()
        revoked_at = UTCDateTimeField(null=True)
        last_used_at = UTCDateTimeField(null=True)

        class Meta:
            table_name = "api_key"

    class AuditEntry(Base):
        tenant = peewee.ForeignKeyField(Tenant, null=True, on_delete="CASCADE")
        actor_key = peewee.ForeignKeyField(ApiKey, null=True, on_delete="SET NULL")
        actor = peewee.CharField(max_length=200)
        action = peewee.CharField(max_length=64)
        target_type = peewee.CharField(max_length=64)
        target_id = peewee.CharField(max_length=200)
        before = JSONField(null=True)
        after = JSONField(null=True)
        at = UTCDateTimeField()

        class Meta:
            table_name = "audit_entry"
            indexes = ((("tenant", "id"), False),)

    db.create_tables([Tenant, Sku, Subscription, User, LicenseAssignment, ApiKey, AuditEntry])


def down(migrator, db):
    for table in (
        "audit_entry",
        "api_key",
        "license_assignment",
        "directory_user",
        "subscription",
        "sku",
        "tenant",
    ):
        db.execute_sql(f"DROP TABLE IF EXISTS {table}")
