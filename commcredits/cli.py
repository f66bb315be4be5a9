"""`commcredits` command line: operations (migrate, serve, keys) and the Verb-Noun bulk commands."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import sys
from pathlib import Path

from commcredits import db as database
from commcredits.clock import utcnow
from commcredits.config import ConfigError, Settings

DEMO_KEYS_FILE = Path("var/demo-keys.txt")
_VERB_NOUN = re.compile(r"^[A-Z][a-z]+-[A-Za-z]+$")


def _bind() -> Settings:
    settings = Settings.from_env()
    database.bind(settings.database_url)
    return settings


def cmd_migrate(args: argparse.Namespace) -> int:
    from commcredits.migrate import migrate

    _bind()
    applied = migrate(args.target)
    print(f"migrations applied: {', '.join(applied)}" if applied else "database is up to date")
    return 0


def cmd_seed_demo(args: argparse.Namespace) -> int:
    from commcredits.services.demo import DEMO_TENANT, seed_demo

    _bind()
    with database.db.connection_context():
        _, keys = seed_demo(now=utcnow())
    if keys is not None:
        DEMO_KEYS_FILE.parent.mkdir(parents=True, exist_ok=True)
        DEMO_KEYS_FILE.write_text(
            "# Demo keys (development only; the database keeps only their hashes)\n"
            f"OPERATOR_KEY={keys['operator']}\n"
            f"GLOBAL_ADMIN_KEY={keys['global_admin']}\n"
        )
        DEMO_KEYS_FILE.chmod(0o600)
        print(f"seeded demo tenant {DEMO_TENANT}")
    else:
        print(f"demo tenant {DEMO_TENANT} already seeded")
    if DEMO_KEYS_FILE.exists():
        print(f"demo keys ({DEMO_KEYS_FILE}):")
        for line in DEMO_KEYS_FILE.read_text().splitlines():
            if not line.startswith("#"):
                print("  " + line)
        # A one-time link, not the key: a key in a URL would end up in logs and history.
        link = _sign_in_link(_key_from_file(DEMO_KEYS_FILE, "GLOBAL_ADMIN_KEY"), _base_url())
        if link:
            print(f"GraphiQL as Contoso's admin (one-time link, {link[1]}): {link[0]}")
    return 0


def _base_url() -> str:
    host = os.environ.get("COMMCREDITS_HOST", "127.0.0.1")
    return f"http://{host}:{os.environ.get('COMMCREDITS_PORT', '8000')}"


def _key_from_file(path: Path, entry: str | None) -> str:
    """A key from a file holding just the key, or NAME=key lines (var/demo-keys.txt)."""
    lines = [
        line.strip()
        for line in path.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    if entry:
        return next((line.split("=", 1)[1] for line in lines if line.startswith(entry + "=")), "")
    return lines[0].split("=", 1)[-1] if len(lines) == 1 else ""


def _sign_in_link(secret: str, base_url: str) -> tuple[str, str] | None:
    """(link, how long it lasts) for a valid key; None (and a note on stderr) otherwise."""
    from commcredits.services.access import AuthenticationError
    from commcredits.services.sessions import create_sign_in_link

    settings = Settings.from_env()
    try:
        with database.db.connection_context():
            token = create_sign_in_link(secret, settings.sessions, now=utcnow())
    except AuthenticationError:
        print("no sign-in link: the key is unknown or revoked", file=sys.stderr)
        return None
    minutes = round(settings.sessions.link_ttl / 60)
    # The token goes in the fragment (#…): browsers never send it, so no server logs it.
    return f"{base_url.rstrip('/')}/auth/link#{token}", f"valid {minutes} min, once"


def cmd_sign_in_link(args: argparse.Namespace) -> int:
    _bind()
    if args.key_file:
        secret = _key_from_file(Path(args.key_file), args.entry)
    else:  # from stdin, never from the command line (other users see process arguments)
        secret = sys.stdin.readline().strip()
    if not secret:
        print(
            "no key found: give --key-file FILE [--entry NAME], or the key on stdin",
            file=sys.stderr,
        )
        return 2
    link = _sign_in_link(secret, args.url or _base_url())
    if link is None:
        return 1
    print(link[0])
    return 0


def cmd_create_api_key(args: argparse.Namespace) -> int:
    from commcredits.services import tenants
    from commcredits.services.access import SYSTEM, Role, create_api_key
    from commcredits.services.errors import DomainError

    _bind()
    with database.db.connection_context():
        try:
            if args.operator:
                _, secret = create_api_key(
                    SYSTEM, role=Role.OPERATOR, tenant=None, name=args.name, now=utcnow()
                )
            else:
                if not args.tenant or not args.role:
                    print("give --operator, or --tenant NAME and --role ROLE", file=sys.stderr)
                    return 2
                tenant = tenants.find_tenant(args.tenant)
                _, secret = create_api_key(
                    SYSTEM,
                    role=Role(args.role.upper()),
                    tenant=tenant,
                    name=args.name,
                    now=utcnow(),
                )
        except (DomainError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    print(secret)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from commcredits.logs import configure, logging_config

    settings = Settings.from_env()
    configure(settings.log_level)
    # SIGTERM / SIGINT: stop accepting, let in-flight requests finish (up to 30 s), exit.
    uvicorn.run(
        "commcredits.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=settings.log_level.lower(),
        log_config=logging_config(settings.log_level),
        access_log=False,  # commcredits.app writes one JSON line per request instead
        timeout_graceful_shutdown=30,
    )
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    from commcredits.backup import BackupError, backup_sqlite, pg_dump_command, sqlite_path

    settings = Settings.from_env()
    if sqlite_path(settings.database_url) is None:
        dump, restore = pg_dump_command(settings.database_url, args.path)
        print("PostgreSQL is backed up with its own tools; run:")
        print(f"  {dump}")
        print("and to restore:")
        print(f"  {restore}")
        return 2
    try:
        pages = backup_sqlite(settings.database_url, Path(args.path))
    except BackupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"backed up {pages} pages to {args.path}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from commcredits.backup import BackupError, pg_dump_command, restore_sqlite, sqlite_path

    settings = Settings.from_env()
    if sqlite_path(settings.database_url) is None:
        _, restore = pg_dump_command(settings.database_url, args.path)
        print(f"PostgreSQL is restored with its own tools; run:\n  {restore}")
        return 2
    try:
        pages = restore_sqlite(settings.database_url, Path(args.path))
    except BackupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"restored {pages} pages from {args.path}; run `commcredits migrate` if it is older")
    return 0


def cmd_expire(args: argparse.Namespace) -> int:
    from commcredits.services.credits import check_as_of, expire_credits
    from commcredits.services.errors import DomainError

    _bind()
    try:
        given = dt.datetime.fromisoformat(args.as_of) if args.as_of else None
        as_of = check_as_of(given, now=utcnow())
    except (ValueError, DomainError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    with database.db.connection_context():
        results = expire_credits(now=as_of)
    for r in results:
        print(f"{r.tenant_name}: expired {r.expired} in {r.lots} lot(s)")
    print(f"expired credits of {len(results)} tenant(s) as of {as_of.isoformat()}")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from commcredits.money import Money
    from commcredits.services.credits import audit_balances

    _bind()
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
    return 1 if bad else 0


def cmd_deliver_webhooks(args: argparse.Namespace) -> int:
    import time

    from commcredits.services.webhooks import deliver_due

    _bind()
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

    _bind()
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

    _bind()
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

    _bind()
    with database.db.connection_context():
        try:
            tenant = tenants.find_tenant(args.tenant)
            rows = export_usage(tenant, args.month, args.out)
        except DomainError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    print(f"wrote {rows} call(s) of {args.month} to {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="commcredits",
        description="Prepaid communication credits and license assignment. "
        "Bulk commands: commcredits <Verb-Noun> -Param value (see `commcredits help`).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("migrate", help="bring the database to the current schema")
    p.add_argument("--target", help="stop after this migration")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("seed-demo", help="create the demo tenant Contoso once, print its keys")
    p.set_defaults(func=cmd_seed_demo)

    p = sub.add_parser("create-api-key", help="print a new API key")
    p.add_argument("--operator", action="store_true", help="an operator key (all tenants)")
    p.add_argument("--tenant", help="tenant name or id")
    p.add_argument("--role", help="GLOBAL_ADMIN, BILLING_ADMIN, LICENSE_ADMIN or READER")
    p.add_argument("--name", default="", help="a label for the key")
    p.set_defaults(func=cmd_create_api_key)

    p = sub.add_parser("sign-in-link", help="print a one-time browser sign-in link for an API key")
    p.add_argument("--key-file", help="a file with the key, or NAME=key lines (default: stdin)")
    p.add_argument("--entry", help="which NAME=key line, e.g. GLOBAL_ADMIN_KEY")
    p.add_argument("--url", help="the server's base URL (default: http://127.0.0.1:8000)")
    p.set_defaults(func=cmd_sign_in_link)

    p = sub.add_parser("serve", help="serve the API (GraphiQL at /graphql)")
    p.add_argument("--host", default=os.environ.get("COMMCREDITS_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("COMMCREDITS_PORT", "8000")))
    p.add_argument("--workers", type=int, default=1, help="processes (PostgreSQL deployments)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("backup", help="online backup of the SQLite database to a new file")
    p.add_argument("path", help="the backup file to write (must not exist)")
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser("restore", help="replace the SQLite database with a backup")
    p.add_argument("path", help="a file written by `commcredits backup`")
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser("expire", help="expire credit lots whose 12 months have passed")
    p.add_argument("--as-of", help="ISO time to expire as of (default: now)")
    p.set_defaults(func=cmd_expire)

    p = sub.add_parser(
        "audit", help="recompute every balance from lots and ledger; exit 1 on a difference"
    )
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser(
        "reconcile-payments",
        help="finish charges left PENDING (a crash, a timeout) by asking the gateway again",
    )
    p.add_argument(
        "--older-than",
        type=float,
        default=0.0,
        help="only invoices pending at least this many seconds (default: all)",
    )
    p.set_defaults(func=cmd_reconcile_payments)
    p = sub.add_parser("deliver-webhooks", help="POST due notifications to tenants' webhooks")
    p.add_argument("--limit", type=int, default=100, help="notifications per round")
    p.add_argument("--loop", action="store_true", help="keep delivering")
    p.add_argument("--interval", type=float, default=5.0, help="seconds between rounds")
    p.set_defaults(func=cmd_deliver_webhooks)
    p = sub.add_parser(
        "import-rates", help="import a rate card (CSV, XLSX, Parquet), all or nothing"
    )
    p.add_argument("file", help="columns: call_type, prefix, country, price_per_minute, currency")
    p.add_argument("--name", help="the card's name (default: the file name)")
    p.add_argument("--effective-from", help="ISO time calls must start at to use it (default: now)")
    p.set_defaults(func=cmd_import_rates)

    p = sub.add_parser("export-usage", help="a month's PSTN usage report (.xlsx, .csv, .parquet)")
    p.add_argument("--tenant", required=True, help="tenant name or id")
    p.add_argument("--month", required=True, help="YYYY-MM")
    p.add_argument("--out", required=True, help="usage.xlsx, usage.csv or usage.parquet")
    p.set_defaults(func=cmd_export_usage)

    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and (_VERB_NOUN.match(argv[0]) or argv[0] == "help"):
            from commcredits.bulk.cli import main as bulk_main

            return bulk_main(argv)
        args = build_parser().parse_args(argv)
        return args.func(args)
    except ConfigError as error:  # a bad setting: say which, no traceback
        print(f"commcredits: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
