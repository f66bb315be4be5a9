"""`commcredits` commands for money and usage: expire, audit, reconcile-payments,
deliver-webhooks, import-rates, export-usage."""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from commcredits import db as database
from commcredits.cli_admin import bind_database
from commcredits.clock import utcnow


def cmd_expire(args: argparse.Namespace) -> int:
    from commcredits.services.credits import check_as_of, expire_credits
    from commcredits.services.errors import DomainError

    bind_database()
    try:
        given = dt.datetime.fromisoformat(args.as_of) if args.as_of else None
        now = utcnow()
        as_of = check_as_of(given, now=now)
    except (ValueError, DomainError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    with database.db.connection_context():
        results = expire_credits(now=now, as_of=as_of)
    for r in results:
        print(f"{r.tenant_name}: expired {r.expired} in {r.lots} lot(s)")
    print(f"expired credits of {len(results)} tenant(s) as of {as_of.isoformat()}")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from commcredits.money import Money
    from commcredits.services.credits import audit_balances
    from commcredits.services.kept_counts import kept_count_differences
    from commcredits.services.spend_limits import spend_differences

    bind_database()
    with database.db.connection_context():
        rows = audit_balances()
    header = ("tenant", "currency", "account", "Σ lots", "Σ ledger", "invoices", "status")
    lines = [header]
    for r in rows:

        def amount(minor: int, currency: str = r.currency) -> str:
            return str(Money.from_minor(minor, currency).amount)

        problems = []
        if not r.account == r.lots == r.ledger:
            problems.append("BALANCE DIFFERS")
        if r.invoice_gap:
            problems.append("INVOICE NUMBERS")
        if r.postpaid_mismatch:
            problems.append("POSTPAID DIFFERS")
        if r.lot_mismatch:
            problems.append("INVOICE WITHOUT ITS LOT")
        lines.append(
            (
                r.tenant_name,
                r.currency,
                amount(r.account),
                amount(r.lots),
                amount(r.ledger),
                f"{r.invoices}/{r.last_invoice_number}",
                ", ".join(problems) or "ok",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
    bad = [r for r in rows if not r.ok]
    print(f"{len(rows)} tenant(s) checked, {len(bad)} with differences")
    # The monthly spend kept per user for spending limits must be what its calls charged.
    with database.db.connection_context():
        spends = spend_differences()
    for tenant_id, user_id, month, kept, summed in spends:
        where = f"tenant {tenant_id}, user {user_id}, {month}"
        print(f"SPEND DIFFERS: {where}: kept {kept}, calls {summed} (minor units)")
    print(f"user spend per month: {len(spends)} difference(s)")
    # The counts kept by triggers and services (seats, group and license counts, …).
    with database.db.connection_context():
        counts = kept_count_differences()
    for d in counts:
        key = ", ".join(str(part) for part in d.key)
        print(f"KEPT COUNT DIFFERS: {d.kept_in} [{key}]: kept {d.kept}, counted {d.counted}")
    print(f"kept counts: {len(counts)} difference(s)")
    return 1 if bad or spends or counts else 0


def cmd_deliver_webhooks(args: argparse.Namespace) -> int:
    import time

    from commcredits.services.webhooks import deliver_due

    bind_database()
    while True:
        with database.db.connection_context():
            report = deliver_due(now=utcnow(), limit=args.limit)
        print(
            f"delivered {report.delivered}, retrying {report.retrying}, failed {report.failed}, "
            f"no webhook {report.skipped}",
            flush=True,
        )
        if not args.loop:
            return 0
        time.sleep(args.interval)


def cmd_reconcile_payments(args: argparse.Namespace) -> int:
    from commcredits.services.credits import reconcile_payments

    bind_database()
    with database.db.connection_context():
        invoices = reconcile_payments(
            now=utcnow(), older_than=dt.timedelta(seconds=args.older_than)
        )
    for invoice in invoices:
        print(f"tenant {invoice.tenant_id} invoice {invoice.number}: {invoice.status}")
    still = sum(1 for i in invoices if i.status == "PENDING")
    print(f"{len(invoices)} pending invoice(s) asked again, {still} still pending")
    return 1 if still else 0


def cmd_import_rates(args: argparse.Namespace) -> int:
    from commcredits.clock import as_utc
    from commcredits.services import rates
    from commcredits.services.access import SYSTEM
    from commcredits.services.errors import DomainError

    bind_database()
    try:
        effective = (
            as_utc(dt.datetime.fromisoformat(args.effective_from)) if args.effective_from else None
        )
    except ValueError:
        print(
            f"error: --effective-from {args.effective_from!r} is not an ISO date", file=sys.stderr
        )
        return 2
    with database.db.connection_context():
        try:
            card = rates.import_rate_file(
                SYSTEM, args.file, name=args.name, effective_from=effective, now=utcnow()
            )
        except DomainError as error:
            for detail in error.details:
                print(f"error: {detail.message}", file=sys.stderr)
            print("nothing imported", file=sys.stderr)
            return 1
    print(
        f"imported rate card {card.name!r}: {card.row_count} rows, effective from "
        f"{card.effective_from.isoformat()}"
    )
    return 0


def cmd_export_usage(args: argparse.Namespace) -> int:
    from commcredits.services import tenants
    from commcredits.services.errors import DomainError
    from commcredits.services.usage_report import export_usage
    from commcredits.sheet_stream import SheetTooLarge

    bind_database()
    with database.db.connection_context():
        try:
            tenant = tenants.find_tenant(args.tenant)
            rows = export_usage(tenant, args.month, args.out)
        except (DomainError, SheetTooLarge) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    print(f"wrote {rows} call(s) of {args.month} to {args.out}")
    return 0
