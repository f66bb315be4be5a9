"""Calling policies and per-user spending limits (issue 17).

- calling_policy: a tenant's named CsTeamsCallingPolicy (the spend-limit subset); unique
  (tenant_id, name_key), name_key the lower-cased name.
- calling_policy_grant: a policy granted to a user, or (user_id NULL) the tenant's global
  grant; one per user (unique (tenant_id, user_id)) and one global per tenant (a partial
  unique index, since NULLs are distinct in the plain one); policy_id indexed for "who holds
  this policy" (removeCallingPolicy).
- user_month_spend: what a user's calls took from credits in a calendar month (UTC), kept by
  rating; unique (user_id, month), which serves rating's and the users pages' reads. Filled
  here from the calls rated so far (RATED DOMESTIC, INTERNATIONAL and CONFERENCE_DIAL_OUT
  calls' charges), so a limit granted this month counts this month's earlier calls.
- call_record (tenant_id, month, user_id): the usage report's page of a month's callers.

Numbered 0015 after 0014 (dial-out policies); the runner applies each script once, in order.
"""

import peewee

COUNTED = ("DOMESTIC", "INTERNATIONAL", "CONFERENCE_DIAL_OUT")


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

    class CallingPolicy(Base):
        tenant = peewee.ForeignKeyField(Tenant, on_delete="CASCADE")
        name = peewee.CharField(max_length=64)
        name_key = peewee.CharField(max_length=64)
        description = peewee.CharField(max_length=1024, default="")
        enable_spend_limits = peewee.BooleanField(default=False)
        spend_limit_minor = peewee.BigIntegerField(null=True)
        created_at = UTCDateTimeField()
        updated_at = UTCDateTimeField()

        class Meta:
            table_name = "calling_policy"
            indexes = ((("tenant", "name_key"), True),)
            constraints = [peewee.Check("spend_limit_minor IS NULL OR spend_limit_minor >= 0")]

    class CallingPolicyGrant(Base):
        tenant = peewee.ForeignKeyField(Tenant, on_delete="CASCADE")
        user = peewee.ForeignKeyField(User, null=True, on_delete="CASCADE")
        policy = peewee.ForeignKeyField(CallingPolicy, on_delete="RESTRICT")
        granted_at = UTCDateTimeField()

        class Meta:
            table_name = "calling_policy_grant"
            indexes = ((("tenant", "user"), True),)

    class UserMonthSpend(Base):
        tenant = peewee.ForeignKeyField(Tenant, on_delete="CASCADE")
        user = peewee.ForeignKeyField(User, on_delete="CASCADE")
        month = peewee.CharField(max_length=7)
        spent_minor = peewee.BigIntegerField(default=0)
        notified_80 = peewee.BooleanField(default=False)
        notified_100 = peewee.BooleanField(default=False)
        updated_at = UTCDateTimeField()

        class Meta:
            table_name = "user_month_spend"
            indexes = ((("user", "month"), True),)
            constraints = [peewee.Check("spent_minor >= 0")]

    db.create_tables([CallingPolicy, CallingPolicyGrant, UserMonthSpend])
    db.execute_sql(
        'CREATE UNIQUE INDEX "calling_policy_grant_tenant_global" '
        'ON "calling_policy_grant" ("tenant_id") WHERE "user_id" IS NULL'
    )
    db.execute_sql(
        'CREATE INDEX IF NOT EXISTS "call_record_tenant_id_month_user_id" '
        'ON "call_record" ("tenant_id", "month", "user_id")'
    )
    backfill_spend(db)


def backfill_spend(db) -> None:
    """user_month_spend from the calls rated so far (what rating would have kept)."""
    marks = ", ".join(db.param for _ in COUNTED)
    db.execute_sql(
        "INSERT INTO user_month_spend (tenant_id, user_id, month, spent_minor, notified_80, "
        "notified_100, updated_at) "
        f"SELECT tenant_id, user_id, month, SUM(charge_minor), {db.param}, {db.param}, "
        "MAX(rated_at) FROM call_record "
        f"WHERE status = {db.param} AND user_id IS NOT NULL AND charge_minor > 0 "
        f"AND call_type IN ({marks}) GROUP BY tenant_id, user_id, month",
        (False, False, "RATED", *COUNTED),
    )


def down(migrator, db):
    db.execute_sql('DROP INDEX IF EXISTS "call_record_tenant_id_month_user_id"')
    for table in ("user_month_spend", "calling_policy_grant", "calling_policy"):
        db.execute_sql(f'DROP TABLE IF EXISTS "{table}"')
