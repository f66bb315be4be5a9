"""Outbound calling restrictions (issue 17): dial-out policy grants and emergency numbers.

- dial_out_grant: a `CsOnlineDialOutPolicy` instance granted to a user, or (user_id NULL) the
  tenant's global grant; one per user (unique (tenant_id, user_id)) and one global per tenant
  (a partial unique index, since NULLs are distinct in the plain one). The nine instances are
  constants (services/dial_out.py), not rows.
- rate.emergency: an emergency number, matched whole, never restricted and never charged;
  default false for every existing row.
- The SAMPLE card(s) get the emergency rows of the shipped sample_rates.csv (a card loaded by
  0004 was loaded without them): per currency the card has, rows not already there.

Numbered 0014 after 0013 (large-tenant lists); the runner applies each script once, in order.
"""

import peewee


def _add_sample_emergency_rows(db) -> None:
    from commcredits.services.prices import MICROS
    from commcredits.services.rate_rows import validate_rows
    from commcredits.services.rates import read_rate_file, sample_card_path

    p = db.param
    rows = [
        r for r in validate_rows(read_rate_file(sample_card_path()), first_row=2) if r.emergency
    ]
    cards = db.execute_sql(f"SELECT id FROM rate_card WHERE sample = {p}", (True,)).fetchall()
    for (card_id,) in cards:
        currencies = {
            c
            for (c,) in db.execute_sql(
                f"SELECT DISTINCT currency FROM rate WHERE card_id = {p}", (card_id,)
            ).fetchall()
        }
        have = {
            (c, t, pre)
            for c, t, pre in db.execute_sql(
                f"SELECT currency, call_type, prefix FROM rate WHERE card_id = {p}", (card_id,)
            ).fetchall()
        }
        added = 0
        for r in rows:
            if r.currency not in currencies or (r.currency, r.call_type, r.prefix) in have:
                continue
            db.execute_sql(
                "INSERT INTO rate (card_id, call_type, prefix, country, price_micros, currency, "
                f"zone, premium, description, emergency) VALUES ({', '.join([p] * 10)})",
                (
                    card_id,
                    r.call_type,
                    r.prefix,
                    r.country,
                    int(r.price * MICROS),
                    r.currency,
                    r.zone,
                    r.premium,
                    r.description,
                    True,
                ),
            )
            added += 1
        if added:
            db.execute_sql(
                f"UPDATE rate_card SET row_count = row_count + {p} WHERE id = {p}", (added, card_id)
            )


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

    class DialOutGrant(Base):
        tenant = peewee.ForeignKeyField(Tenant, on_delete="CASCADE")
        user = peewee.ForeignKeyField(User, null=True, on_delete="CASCADE")
        policy_name = peewee.CharField(max_length=64)
        granted_at = UTCDateTimeField()

        class Meta:
            table_name = "dial_out_grant"
            indexes = ((("tenant", "user"), True),)

    db.create_tables([DialOutGrant])
    db.execute_sql(
        'CREATE UNIQUE INDEX "dial_out_grant_tenant_global" '
        'ON "dial_out_grant" ("tenant_id") WHERE "user_id" IS NULL'
    )
    db.execute_sql('ALTER TABLE "rate" ADD COLUMN "emergency" BOOLEAN NOT NULL DEFAULT FALSE')
    _add_sample_emergency_rows(db)


def down(migrator, db):
    db.execute_sql('DROP TABLE IF EXISTS "dial_out_grant"')
    db.execute_sql("DELETE FROM rate WHERE emergency")
    db.execute_sql('ALTER TABLE "rate" DROP COLUMN "emergency"')
