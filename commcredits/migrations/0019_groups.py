"""Groups and group-based licensing (issue 18).

- directory_group: a tenant's groups; member_count kept with membership changes;
  processing_state/processed_through for license processing in batches. (tenant_id, id)
  serves the keyset pages.
- group_member: (group_id, user_id) unique; its id is the member order; (group_id, id) serves
  member pages and batches, user_id a user's groups.
- group_license: a group's SKUs with disabled plans, (group_id, sku_id) unique.
- group_license_state: a member's inherited assignment per SKU (Active, or Error with
  Entra's code); (user_id, group_id, sku_id) unique, (group_id, state, user_id) serves the
  error report, (tenant_id, error, sku_id) finds CountViolation members when seats free up.
- directory_group.member_count: kept by triggers on group_member (inserts, deletes,
  cascades from deleted users), so no writer can forget it.
- license_assignment.direct (TRUE for every existing row: they were all direct),
  direct_plans and inherited_plans (NULL): ADD COLUMN with a constant default, no rewrite.

Numbered 0019 (0017 is the user import's); the runner applies each script once, in order.
"""

import peewee

# directory_group.member_count kept by triggers on group_member (every insert and delete,
# cascades from a deleted user included), as tenant_user_count is (0012).
_SQLITE_TRIGGERS = (
    """CREATE TRIGGER group_member_count_insert AFTER INSERT ON group_member BEGIN
      UPDATE directory_group SET member_count = member_count + 1 WHERE id = new.group_id;
    END""",
    """CREATE TRIGGER group_member_count_delete AFTER DELETE ON group_member BEGIN
      UPDATE directory_group SET member_count = member_count - 1 WHERE id = old.group_id;
    END""",
)
# PostgreSQL: statement triggers with transition tables (one update per group per statement).
_PG_TRIGGERS = (
    """CREATE FUNCTION group_member_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      UPDATE directory_group g SET member_count = g.member_count + d.n
      FROM (SELECT group_id, count(*) AS n FROM new_members GROUP BY group_id) d
      WHERE g.id = d.group_id;
      RETURN NULL;
    END $$""",
    """CREATE FUNCTION group_member_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      UPDATE directory_group g SET member_count = g.member_count - d.n
      FROM (SELECT group_id, count(*) AS n FROM old_members GROUP BY group_id) d
      WHERE g.id = d.group_id;
      RETURN NULL;
    END $$""",
    "CREATE TRIGGER group_member_count_insert AFTER INSERT ON group_member "
    "REFERENCING NEW TABLE AS new_members FOR EACH STATEMENT "
    "EXECUTE FUNCTION group_member_count_insert()",
    "CREATE TRIGGER group_member_count_delete AFTER DELETE ON group_member "
    "REFERENCING OLD TABLE AS old_members FOR EACH STATEMENT "
    "EXECUTE FUNCTION group_member_count_delete()",
)

COLUMNS = (
    ("direct", "BOOLEAN NOT NULL DEFAULT TRUE"),
    ("direct_plans", "TEXT NULL"),
    ("inherited_plans", "TEXT NULL"),
)


def up(migrator, db):
    from commcredits.models.base import JSONField, UTCDateTimeField

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

    class Sku(Base):
        class Meta:
            table_name = "sku"

    class Group(Base):
        tenant = peewee.ForeignKeyField(Tenant, on_delete="CASCADE", index=False)
        display_name = peewee.CharField(max_length=256)
        description = peewee.CharField(max_length=1024, default="")
        member_count = peewee.IntegerField(default=0)
        processing_state = peewee.CharField(max_length=24, default="ProcessingComplete")
        processed_through = peewee.BigIntegerField(default=0)
        created_at = UTCDateTimeField()
        updated_at = UTCDateTimeField()

        class Meta:
            table_name = "directory_group"
            indexes = ((("tenant", "id"), False),)

    class GroupMember(Base):
        group = peewee.ForeignKeyField(Group, on_delete="CASCADE", index=False)
        user = peewee.ForeignKeyField(User, on_delete="CASCADE")
        added_at = UTCDateTimeField()

        class Meta:
            table_name = "group_member"
            indexes = ((("group", "user"), True), (("group", "id"), False))

    class GroupLicense(Base):
        group = peewee.ForeignKeyField(Group, on_delete="CASCADE", index=False)
        sku = peewee.ForeignKeyField(Sku, index=False)
        disabled_plans = JSONField(default=list)
        assigned_at = UTCDateTimeField()

        class Meta:
            table_name = "group_license"
            indexes = ((("group", "sku"), True),)

    class GroupLicenseState(Base):
        tenant = peewee.ForeignKeyField(Tenant, on_delete="CASCADE", index=False)
        group = peewee.ForeignKeyField(Group, on_delete="CASCADE", index=False)
        user = peewee.ForeignKeyField(User, on_delete="CASCADE", index=False)
        sku = peewee.ForeignKeyField(Sku, index=False)
        state = peewee.CharField(max_length=16)
        error = peewee.CharField(max_length=40, null=True)
        disabled_plans = JSONField(default=list)
        updated_at = UTCDateTimeField()

        class Meta:
            table_name = "group_license_state"
            indexes = (
                (("user", "group", "sku"), True),
                (("group", "state", "user"), False),
                (("tenant", "error", "sku"), False),
            )

    db.create_tables([Group, GroupMember, GroupLicense, GroupLicenseState])
    sqlite = isinstance(db, peewee.SqliteDatabase)
    for statement in _SQLITE_TRIGGERS if sqlite else _PG_TRIGGERS:
        db.execute_sql(statement)
    for name, definition in COLUMNS:
        db.execute_sql(f'ALTER TABLE "license_assignment" ADD COLUMN "{name}" {definition}')


def down(migrator, db):
    if isinstance(db, peewee.SqliteDatabase):
        for name in ("group_member_count_insert", "group_member_count_delete"):
            db.execute_sql(f'DROP TRIGGER IF EXISTS "{name}"')
    else:
        for name in ("group_member_count_insert", "group_member_count_delete"):
            db.execute_sql(f'DROP TRIGGER IF EXISTS {name} ON "group_member"')
            db.execute_sql(f"DROP FUNCTION IF EXISTS {name}()")
    for name, _ in reversed(COLUMNS):
        db.execute_sql(f'ALTER TABLE "license_assignment" DROP COLUMN "{name}"')
    for table in ("group_license_state", "group_license", "group_member", "directory_group"):
        db.execute_sql(f'DROP TABLE IF EXISTS "{table}"')
