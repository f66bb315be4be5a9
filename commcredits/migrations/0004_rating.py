"""Rating tables: rate cards and their rows, minute pools, rated call records; then the
shipped SAMPLE rate card, so a fresh install can rate calls (operators import their own).

Frozen copies of the models as they were when this migration was written.
"""

import peewee


def up(migrator, db):
    from commcredits.models.base import UTCDateTimeField

    class Base(peewee.Model):
        class Meta:
            database = db
            legacy_table_names = False

    class Tenant(Base):
        class Meta:
            table_name = "tenant"

    class User(Base):
        class Meta:
            table_name = "directory_user"

    class RateCard(Base):
        name = peewee.CharField(max_length=200)
        effective_from = UTCDateTimeField()
        imported_at = UTCDateTimeField()
        source = peewee.CharField(max_length=300, default="")
        sample = peewee.BooleanField(default=False)
        row_count = peewee.IntegerField(default=0)

        class Meta:
            table_name = "rate_card"
            indexes = ((("effective_from", "id"), False),)

    class Rate(Base):
        card = peewee.ForeignKeyField(RateCard, on_delete="CASCADE")
        call_type = peewee.CharField(max_length=24)
        prefix = peewee.CharField(max_length=15)
        country = peewee.CharField(max_length=2)
        price_micros = peewee.BigIntegerField()
        currency = peewee.CharField(max_length=3)
        zone = peewee.CharField(max_length=8, default="")
        premium = peewee.BooleanField(default=False)
        description = peewee.CharField(max_length=200, default="")

        class Meta:
            table_name = "rate"
            indexes = ((("card", "currency", "call_type", "prefix"), True),)
            constraints = [peewee.Check("price_micros >= 0")]

    class MinutePool(Base):
        tenant = peewee.ForeignKeyField(Tenant, on_delete="CASCADE")
        month = peewee.CharField(max_length=7)
        plan = peewee.CharField(max_length=32)
        country = peewee.CharField(max_length=2)
        call_type = peewee.CharField(max_length=24)
        granted = peewee.IntegerField(default=0)
        used = peewee.IntegerField(default=0)
        notified_80 = peewee.BooleanField(default=False)
        notified_100 = peewee.BooleanField(default=False)
        updated_at = UTCDateTimeField()

        class Meta:
            table_name = "minute_pool"
            indexes = ((("tenant", "month", "plan", "country", "call_type"), True),)
            constraints = [peewee.Check("used >= 0"), peewee.Check("granted >= 0")]

    class CallRecord(Base):
        tenant = peewee.ForeignKeyField(Tenant, on_delete="CASCADE")
        call_id = peewee.CharField(max_length=128)
        user = peewee.ForeignKeyField(User, null=True, on_delete="SET NULL")
        user_principal_name = peewee.CharField(max_length=113)
        display_name = peewee.CharField(max_length=256, default="")
        usage_location = peewee.CharField(max_length=2, default="")
        started_at = UTCDateTimeField()
        month = peewee.CharField(max_length=7)
        duration_seconds = peewee.IntegerField()
        destination = peewee.CharField(max_length=16)
        destination_country = peewee.CharField(max_length=2, default="")
        call_type = peewee.CharField(max_length=24)
        domestic = peewee.BooleanField(default=False)
        status = peewee.CharField(max_length=8)
        reason = peewee.CharField(max_length=32, null=True)
        minutes = peewee.IntegerField(default=0)
        pool_minutes = peewee.IntegerField(default=0)
        charged_minutes = peewee.IntegerField(default=0)
        pool_plan = peewee.CharField(max_length=32, default="")
        rate = peewee.ForeignKeyField(Rate, null=True, on_delete="SET NULL")
        price_micros = peewee.BigIntegerField(null=True)
        charge_minor = peewee.BigIntegerField(default=0)
        currency = peewee.CharField(max_length=3)
        rated_at = UTCDateTimeField()

        class Meta:
            table_name = "call_record"
            indexes = (
                (("tenant", "call_id"), True),
                (("tenant", "month"), False),
                (("tenant", "user"), False),
            )
            constraints = [peewee.Check("charge_minor >= 0")]

    db.create_tables([RateCard, Rate, MinutePool, CallRecord])

    import datetime as dt

    from commcredits.services.access import SYSTEM
    from commcredits.services.rates import ensure_sample_card

    ensure_sample_card(SYSTEM, now=dt.datetime.now(dt.UTC))


def down(migrator, db):
    for table in ("call_record", "minute_pool", "rate", "rate_card"):
        db.execute_sql(f"DROP TABLE IF EXISTS {table}")
