"""`commcredits` commands that set up and run the service: migrate, info, seed-demo, keys and
sign-in links, serve, backup and restore."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

from commcredits import db as database
from commcredits import db_state
from commcredits.clock import utcnow
from commcredits.config import Settings, data_dir

DEMO_KEYS_NAME = "demo-keys.txt"


def demo_keys_file(url: str) -> Path:
    """Where seed-demo keeps the demo keys: beside the SQLite database they open (so
    var/demo-keys.txt for the default one), else in the data directory; never relative to the
    working directory, which would scatter key files wherever the command ran."""
    path = db_state.sqlite_file(url)
    return (path.parent if path is not None else data_dir()) / DEMO_KEYS_NAME


def bind_database() -> Settings:
    """Bind the configured database for a command (inside `cli.main`'s `must_be_migrated`, so a
    missing or unmigrated one is refused with its path before anything opens it)."""
    settings = Settings.from_env()
    database.bind(settings.database_url)
    return settings


def cmd_migrate(args: argparse.Namespace) -> int:
    """The one command that may create the database (and its directory)."""
    from commcredits.migrate import migrate

    settings = Settings.from_env()
    database.bind(settings.database_url)
    applied = migrate(args.target)
    print(f"database: {db_state.place(settings.database_url)}")
    print(f"migrations applied: {', '.join(applied)}" if applied else "database is up to date")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    """The database in use, its migration level and its tenants; reads only, writes nothing."""
    url = Settings.from_env().database_url
    state = db_state.inspect(url)
    problem = state.problem() if not (state.exists and state.applied) else None
    rows = [] if problem else db_state.tenants(url)
    if args.json:
        found = {"database": state.as_json(), "tenants": [asdict(r) for r in rows]}
        print(json.dumps(found | ({"error": problem} if problem else {}), indent=2))
    else:
        print(f"database    {state.url}")
        print(f"kind        {'SQLite file' if state.kind == 'sqlite' else 'PostgreSQL'}")
    if problem:  # the same line every other command refuses with
        raise db_state.DatabaseNotReady(problem)
    if args.json:
        return 0
    behind = (
        f", {len(state.pending)} pending: run `commcredits migrate`"
        if state.pending
        else " (up to date)"
    )
    print(f"migrations  {state.level} applied, latest {state.latest}{behind}")
    print(f"tenants     {len(rows)}")
    if rows:
        table = [("id", "name", "country", "currency", "agreement", "users")] + [
            (str(r.id), r.name, r.country, r.currency, r.agreement_type, str(r.users)) for r in rows
        ]
        widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
        for line in table:
            cells = (c.ljust(w) for c, w in zip(line, widths, strict=True))
            print("  " + "  ".join(cells).rstrip())
    return 0


def cmd_seed_demo(args: argparse.Namespace) -> int:
    from commcredits.services.demo import DEMO_TENANT, seed_demo

    keys_file = demo_keys_file(bind_database().database_url)
    with database.db.connection_context():
        _, keys = seed_demo(now=utcnow())
    if keys is not None:
        keys_file.parent.mkdir(parents=True, exist_ok=True)
        keys_file.write_text(
            "# Demo keys (development only; the database keeps only their hashes)\n"
            f"OPERATOR_KEY={keys['operator']}\n"
            f"GLOBAL_ADMIN_KEY={keys['global_admin']}\n"
        )
        keys_file.chmod(0o600)
        print(f"seeded demo tenant {DEMO_TENANT}")
    else:
        print(f"demo tenant {DEMO_TENANT} already seeded")
    if keys_file.exists():
        print(f"demo keys ({keys_file}):")
        for line in keys_file.read_text().splitlines():
            if not line.startswith("#"):
                print("  " + line)
        # A one-time link, not the key: a key in a URL would end up in logs and history.
        key = _key_from_file(keys_file, "GLOBAL_ADMIN_KEY")
        link = _sign_in_link(key, base_url(), to="console")
        if link:
            print(f"Admin console as Contoso's admin (one-time link, {link[1]}): {link[0]}")
            # The link's session cookie signs GraphiQL in too (or put the key in its Headers).
            print(f"GraphiQL (same sign-in, or the key in its Headers tab): {base_url()}/graphql")
    return 0


def base_url() -> str:
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


def _sign_in_link(secret: str, base_url: str, to: str = "graphiql") -> tuple[str, str] | None:
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
    query = "?to=console" if to == "console" else ""
    return f"{base_url.rstrip('/')}/auth/link{query}#{token}", f"valid {minutes} min, once"


def cmd_sign_in_link(args: argparse.Namespace) -> int:
    bind_database()
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
    link = _sign_in_link(secret, args.url or base_url(), to=args.to)
    if link is None:
        return 1
    print(link[0])
    return 0


def cmd_create_api_key(args: argparse.Namespace) -> int:
    from commcredits.services import tenants
    from commcredits.services.access import SYSTEM, Role, create_api_key
    from commcredits.services.errors import DomainError

    bind_database()
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

    from commcredits import metrics_serve
    from commcredits.logs import configure, logging_config

    settings = Settings.from_env()
    configure(settings.log_level)
    try:
        # Refused here, with the path, rather than by the first request's "no such table".
        db_state.require_ready(settings.database_url)
    except db_state.DatabaseUnreachable as error:
        # A server that is not up yet may be soon: serve, and /readyz answers 503 until then.
        print(f"commcredits: warning: {error}", file=sys.stderr)
    # Metrics in multiprocess mode, before anything imports prometheus-client (README
    # "Metrics"): a fresh directory per start, shared by every worker.
    listen = os.environ.get(metrics_serve.ADDRESS_ENV, "").strip()
    if listen:
        metrics_serve.parse_address(listen)  # a bad value is refused before the directory
    remove_directory = metrics_serve.prepare_directory()
    stop_listener = None
    try:
        if listen:
            stop_listener = metrics_serve.start_listener(listen, settings.database_url)
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
    finally:
        if stop_listener is not None:
            stop_listener()
        remove_directory()
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
