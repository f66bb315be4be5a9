"""`commcredits` command line: operations (migrate, info, serve, keys, money) and the Verb-Noun
bulk commands.

The commands themselves live in `cli_admin` (set up and run the service) and `cli_billing`
(money and usage); this module parses and dispatches. Every command but `migrate` uses an
existing, migrated database only (`db.must_be_migrated`): the database is resolved one way for
all of them (`config.database_url_from_env`), and a missing or unmigrated one is an exit-2 line
naming it and `commcredits migrate` rather than a new empty file wherever the command ran.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

from commcredits import cli_admin, cli_billing
from commcredits import db as database
from commcredits.config import ConfigError

_VERB_NOUN = re.compile(r"^[A-Z][a-z]+-[A-Za-z]+$")
# Commands that judge the database themselves: `migrate` creates it, `info` reports on it,
# `serve` refuses at start (but waits for a server that is not up yet), `backup` and `restore`
# work on the file (restore may bring back a database that is gone).
_OWN_DATABASE_CHECK = {"migrate", "info", "serve", "backup", "restore"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="commcredits",
        description="Prepaid communication credits and license assignment. "
        "Bulk commands: commcredits <Verb-Noun> -Param value (see `commcredits help`).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("migrate", help="bring the database to the current schema")
    p.add_argument("--target", help="stop after this migration")
    p.set_defaults(func=cli_admin.cmd_migrate)

    p = sub.add_parser(
        "info", help="the database in use, its migration level and its tenants (read-only)"
    )
    p.add_argument("--json", action="store_true", help="one JSON document, for scripts")
    p.set_defaults(func=cli_admin.cmd_info)

    p = sub.add_parser("seed-demo", help="create the demo tenant Contoso once, print its keys")
    p.set_defaults(func=cli_admin.cmd_seed_demo)

    p = sub.add_parser("create-api-key", help="print a new API key")
    p.add_argument("--operator", action="store_true", help="an operator key (all tenants)")
    p.add_argument("--tenant", help="tenant name or id")
    p.add_argument("--role", help="GLOBAL_ADMIN, BILLING_ADMIN, LICENSE_ADMIN or READER")
    p.add_argument("--name", default="", help="a label for the key")
    p.set_defaults(func=cli_admin.cmd_create_api_key)

    p = sub.add_parser("sign-in-link", help="print a one-time browser sign-in link for an API key")
    p.add_argument("--key-file", help="a file with the key, or NAME=key lines (default: stdin)")
    p.add_argument("--entry", help="which NAME=key line, e.g. GLOBAL_ADMIN_KEY")
    p.add_argument("--url", help="the server's base URL (default: http://127.0.0.1:8000)")
    p.add_argument(
        "--to",
        choices=("graphiql", "console"),
        default="graphiql",
        help="where the link opens once signed in (default: graphiql)",
    )
    p.set_defaults(func=cli_admin.cmd_sign_in_link)

    p = sub.add_parser("serve", help="serve the API (GraphiQL at /graphql)")
    p.add_argument("--host", default=os.environ.get("COMMCREDITS_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("COMMCREDITS_PORT", "8000")))
    p.add_argument("--workers", type=int, default=1, help="processes (PostgreSQL deployments)")
    p.set_defaults(func=cli_admin.cmd_serve)

    p = sub.add_parser("backup", help="online backup of the SQLite database to a new file")
    p.add_argument("path", help="the backup file to write (must not exist)")
    p.set_defaults(func=cli_admin.cmd_backup)

    p = sub.add_parser("restore", help="replace the SQLite database with a backup")
    p.add_argument("path", help="a file written by `commcredits backup`")
    p.set_defaults(func=cli_admin.cmd_restore)

    p = sub.add_parser("expire", help="expire credit lots whose 12 months have passed")
    p.add_argument("--as-of", help="ISO time to expire as of (default: now)")
    p.set_defaults(func=cli_billing.cmd_expire)

    p = sub.add_parser(
        "audit",
        help="recompute every balance from lots and ledger, and every kept count (seats, "
        "group and license counts) from its rows; exit 1 on a difference",
    )
    p.set_defaults(func=cli_billing.cmd_audit)

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
    p.set_defaults(func=cli_billing.cmd_reconcile_payments)
    p = sub.add_parser("deliver-webhooks", help="POST due notifications to tenants' webhooks")
    p.add_argument("--limit", type=int, default=100, help="notifications per round")
    p.add_argument("--loop", action="store_true", help="keep delivering")
    p.add_argument("--interval", type=float, default=5.0, help="seconds between rounds")
    p.set_defaults(func=cli_billing.cmd_deliver_webhooks)
    p = sub.add_parser(
        "import-rates", help="import a rate card (CSV, XLSX, Parquet), all or nothing"
    )
    p.add_argument("file", help="columns: call_type, prefix, country, price_per_minute, currency")
    p.add_argument("--name", help="the card's name (default: the file name)")
    p.add_argument("--effective-from", help="ISO time calls must start at to use it (default: now)")
    p.set_defaults(func=cli_billing.cmd_import_rates)

    p = sub.add_parser("export-usage", help="a month's PSTN usage report (.xlsx, .csv, .parquet)")
    p.add_argument("--tenant", required=True, help="tenant name or id")
    p.add_argument("--month", required=True, help="YYYY-MM")
    p.add_argument("--out", required=True, help="usage.xlsx, usage.csv or usage.parquet")
    p.set_defaults(func=cli_billing.cmd_export_usage)

    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and (_VERB_NOUN.match(argv[0]) or argv[0] == "help"):
            from commcredits.bulk.cli import main as bulk_main

            # In-process bulk commands bind the database in the bulk layer: refused there too.
            with database.must_be_migrated():
                return bulk_main(argv)
        args = build_parser().parse_args(argv)
        if args.command in _OWN_DATABASE_CHECK:
            return args.func(args)
        with database.must_be_migrated():
            return args.func(args)
    except ConfigError as error:  # a bad setting or database: say which, no traceback
        print(f"commcredits: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
