"""Policies granted to groups with a rank (issue 18 item 4: Teams's group policy assignment).

- group_policy_grant: a dial-out (policy_name) or calling policy (calling_policy_id, RESTRICT
  as calling_policy_grant's) granted to a group with a rank; unique (group_id, policy_type):
  one assignment per group and type, and the join from a user's memberships in the effective
  lookups; unique (tenant_id, policy_type, rank): ranks 1..n per type, and the tenant's list
  in rank order; calling_policy_id indexed for "who holds this policy" (removeCallingPolicy).

Numbered 0021 (0020 is the user search index's); the runner applies each script once, in order.
"""

import peewee

CHECKS = (
    "rank >= 1",
    "(policy_type = 'DIAL_OUT' AND policy_name IS NOT NULL AND calling_policy_id IS NULL) "
    "OR (policy_type = 'CALLING' AND calling_policy_id IS NOT NULL AND policy_name IS NULL)",
)


def up(migrator, db):
    from commcredits.models.base import UTCDateTimeField

    class Base(peewee.Model):
        class Meta:
            database = db
            legacy_table_names = False

    class Tenant(Base):  # only what the foreign keys need; the tables exist
        class Meta:
            table_name = "tenant"

    class Group(Base):
        class Meta:
            table_name = "directory_group"

    class CallingPolicy(Base):
        class Meta:
            table_name = "calling_policy"

    class GroupPolicyGrant(Base):
        tenant = peewee.ForeignKeyField(Tenant, on_delete="CASCADE", index=False)
        group = peewee.ForeignKeyField(Group, on_delete="CASCADE", index=False)
        policy_type = peewee.CharField(max_length=16)
        policy_name = peewee.CharField(max_length=64, null=True)
        calling_policy = peewee.ForeignKeyField(CallingPolicy, null=True, on_delete="RESTRICT")
        rank = peewee.IntegerField()
        granted_at = UTCDateTimeField()

        class Meta:
            table_name = "group_policy_grant"
            indexes = (
                (("group", "policy_type"), True),
                (("tenant", "policy_type", "rank"), True),
            )
            constraints = [peewee.Check(c) for c in CHECKS]

    db.create_tables([GroupPolicyGrant])


def down(migrator, db):
    db.execute_sql('DROP TABLE IF EXISTS "group_policy_grant"')
