"""Two-phase charges (SPEC §6): an invoice is written PENDING with its own payment key before
the gateway is called, and settled PAID/ISSUED or FAILED afterwards.

- invoice.payment_key: the idempotency key sent to the payment gateway (unique); older
  invoices, settled in one step, have none.
- invoice.payment_token: the card token the charge was made with, kept so that asking again
  sends the same request even if the billing profile changed meanwhile (Stripe refuses a key
  reused with other parameters).
- invoice(status, tenant_id): the sweeper finds PENDING invoices, and a ledger counts a
  tenant's pending recharges, without reading settled ones.
"""


def up(migrator, db):
    db.execute_sql('ALTER TABLE "invoice" ADD COLUMN "payment_key" VARCHAR(100)')
    db.execute_sql('ALTER TABLE "invoice" ADD COLUMN "payment_token" VARCHAR(200)')
    db.execute_sql(
        'CREATE UNIQUE INDEX IF NOT EXISTS "invoice_payment_key" ON "invoice" ("payment_key")'
    )
    db.execute_sql(
        'CREATE INDEX IF NOT EXISTS "invoice_status_tenant" ON "invoice" ("status", "tenant_id")'
    )


def down(migrator, db):
    db.execute_sql('DROP INDEX IF EXISTS "invoice_status_tenant"')
    db.execute_sql('DROP INDEX IF EXISTS "invoice_payment_key"')
    db.execute_sql('ALTER TABLE "invoice" DROP COLUMN "payment_token"')
    db.execute_sql('ALTER TABLE "invoice" DROP COLUMN "payment_key"')
