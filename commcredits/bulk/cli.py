"""`commcredits <Verb-Noun> -Param value ...`: PowerShell-style bulk commands, `help`, scripts.

Parameters are matched case-insensitively and also accepted GNU-style (`--add-licenses`);
`-Switch`, `-Switch:$false`, `-Param:value` and `--param=value` work. Exit codes: 0 every row
fine, 1 some rows failed, 2 usage, file, server or key error (one line on stderr).
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from commcredits.bulk import commands
from commcredits.bulk.errors import UsageError
from commcredits.bulk.runtime import few_collections
from commcredits.bulk.sheets import (
    WRITE_EXTENSIONS,
    Sheet,
    default_result_path,
    read_sheet,
    write_frame,
)
from commcredits.bulk.transport import Transport, connect


@dataclass(frozen=True)
class Param:
    name: str
    kind: str = "str"  # str, list, switch, int
    help: str = ""
    aliases: tuple[str, ...] = ()
    value: str = "VALUE"


@dataclass
class Invocation:
    command: str
    values: dict[str, Any]
    stdin: BinaryIO
    stdout: TextIO
    stderr: TextIO
    interactive: bool = False  # stdin and stderr are a terminal

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)


@dataclass(frozen=True)
class Command:
    name: str
    summary: str
    params: tuple[Param, ...]
    example: str
    run: Callable[[Invocation], int]
    positional: str | None = "Path"
    notes: str = ""
    all_params: tuple[Param, ...] = field(default=(), compare=False)


TARGET = (
    Param(
        "Endpoint",
        help="GraphQL server URL (else COMMCREDITS_ENDPOINT; none: in-process)",
        value="URL",
    ),
    Param("ApiKey", help="API key (else COMMCREDITS_API_KEY)", value="KEY"),
    Param(
        "Tenant",
        help="in-process only: act as local GLOBAL_ADMIN of this tenant (else COMMCREDITS_TENANT)",
        value="NAME",
    ),
)
SHEET_IN = (
    Param(
        "Path",
        help="input sheet: .csv .xlsx .xls .ods .parquet .json .ndjson, or - (CSV on stdin)",
        value="FILE",
    ),
    Param(
        "WorksheetName",
        help="workbook sheet to read (default: the first)",
        aliases=("Sheet",),
        value="NAME",
    ),
    Param(
        "ResultPath",
        help="per-row report (default: <input>.result.csv; stdin: stdout)",
        value="FILE",
    ),
    Param("WhatIf", "switch", "validate every row on the server, write nothing"),
    Param("Confirm", "switch", "ask before writing more than -ConfirmThreshold rows (TTY only)"),
    Param("ConfirmThreshold", "int", "rows above which -Confirm asks (default 1000)", value="N"),
    Param("Force", "switch", "never ask"),
    Param("BatchSize", "int", "rows per request, 1..1000 (default 1000)", value="N"),
    Param("NoProgress", "switch", "no progress bar"),
)
SHEET_OUT = (
    Param(
        "Path",
        help="output file (.csv .xlsx .parquet .json .ndjson); default or -: CSV on stdout",
        value="FILE",
    ),
    Param("NoProgress", "switch", "no progress bar"),
)
FILTERS = (
    Param("Search", help="part of the user principal name or display name", value="TEXT"),
    Param("UsageLocation", help='ISO code; "" finds users without one', value="XX"),
    Param("Department", value="NAME"),
    Param("HasLicense", help="skuPartNumber or skuId held", value="SKU"),
    Param("AccountEnabled", help="true or false", value="BOOL"),
    Param("Top", "int", "at most this many users", value="N"),
)


_TOKEN = re.compile(r"^--?([A-Za-z?][A-Za-z0-9_-]*)(?:[:=](.*))?$")


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9?]", "", name.lower())


def _bool(text: str, what: str) -> bool:
    low = text.strip().lower()
    if low in ("$true", "true", "1", "yes", "y"):
        return True
    if low in ("$false", "false", "0", "no", "n"):
        return False
    raise UsageError(f"-{what} takes true or false, not {text!r}")


def parse(command: Command, argv: list[str]) -> dict[str, Any]:
    """PowerShell-style parameters into {ParamName: value}; 'Help' for -? / -Help / --help."""
    by_norm: dict[str, Param] = {}
    for p in command.all_params:
        for alias in (p.name, *p.aliases):
            by_norm[_norm(alias)] = p
    values: dict[str, Any] = {}
    positional: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        match = _TOKEN.match(token)
        if token in ("-?", "/?") or (match and _norm(match.group(1)) in ("help", "h", "?")):
            values["Help"] = True
            i += 1
            continue
        if not match:
            positional.append(token)
            i += 1
            continue
        param = by_norm.get(_norm(match.group(1)))
        if param is None:
            names = ", ".join("-" + p.name for p in command.all_params)
            raise UsageError(f"unknown parameter {token!r}; {command.name} takes {names}")
        inline = match.group(2)
        if param.kind == "switch":
            values[param.name] = True if inline is None else _bool(inline, param.name)
            i += 1
            continue
        if inline is None:
            i += 1
            if i >= len(argv):
                raise UsageError(f"-{param.name} needs a value")
            inline = argv[i]
        i += 1
        if param.kind == "list":
            # PowerShell arrays: `A,B` or `A, B` (the shell splits the latter after the comma)
            while inline.endswith(",") and i < len(argv):
                inline += argv[i]
                i += 1
            items = [v.strip() for v in inline.split(",") if v.strip()]
            values.setdefault(param.name, []).extend(items)
        elif param.kind == "int":
            try:
                values[param.name] = int(inline)
            except ValueError:
                raise UsageError(f"-{param.name} takes a whole number, not {inline!r}") from None
        else:
            values[param.name] = inline
    if positional:
        if command.positional and command.positional not in values and len(positional) == 1:
            values[command.positional] = positional[0]
        else:
            raise UsageError(f"unexpected argument {positional[0]!r}")
    return values


# --- running commands -------------------------------------------------------------------------


def _transport(inv: Invocation) -> Transport:
    return connect(
        endpoint=inv.get("Endpoint"), api_key=inv.get("ApiKey"), tenant=inv.get("Tenant")
    )


def _check_output(path: str | None) -> None:
    if path and path != "-" and Path(path).suffix.lower() not in WRITE_EXTENSIONS:
        raise UsageError(
            f"{path}: cannot write {Path(path).suffix or '(none)'!r} files; use one of "
            f"{', '.join(WRITE_EXTENSIONS)}"
        )


class _Progress:
    def __init__(self, inv: Invocation, total: int | None, unit: str):
        self.bar = None
        if not inv.get("NoProgress") and _isatty(inv.stderr):
            from tqdm import tqdm

            self.bar = tqdm(
                total=total,
                file=inv.stderr,
                unit=unit,
                unit_scale=True,
                leave=False,
                desc=inv.command,
                mininterval=0.2,
            )

    def __call__(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _confirm(inv: Invocation, rows: int) -> bool:
    if inv.get("WhatIf") or inv.get("Force") or inv.get("Confirm") is False:
        return True
    threshold = inv.get("ConfirmThreshold", 0 if inv.get("Confirm") else 1000)
    if rows <= threshold or not inv.interactive:
        return True
    inv.stderr.write(f"{inv.command}: about to write {rows:,} rows. Continue? [y/N] ")
    inv.stderr.flush()
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes", "a")


def _summary(inv: Invocation, report: commands.Report, frame, elapsed: float, where: str) -> str:
    counts = frame["Status"].value_counts(sort=True).rows()
    parts = ", ".join(f"{n:,} {s}" for s, n in counts)
    blank = f"; {report.blank_rows:,} blank rows skipped" if report.blank_rows else ""
    prefix = "What if: " if report.what_if else ""
    return (
        f"{prefix}{inv.command}: {frame.height:,} rows: {parts or 'none'}{blank}; "
        f"{elapsed:.2f} s; report: {where}"
    )


def _finish(inv: Invocation, report: commands.Report, sheet: Sheet | None, started: float) -> int:
    frame = report.frame()
    target = inv.get("ResultPath") or (default_result_path(sheet.source) if sheet else None)
    if target and target != "-":
        write_frame(frame, target)
        where = str(target)
    else:
        write_frame(frame, inv.stdout)
        where = "stdout"
    inv.stderr.write(_summary(inv, report, frame, time.perf_counter() - started, where) + "\n")
    failed = frame.filter(frame["Status"].is_in(["Failed", "WouldFail"])).height
    return 1 if failed else 0


def _sheet_command(
    inv: Invocation, body: Callable[[Transport, Sheet, commands.Options], Any]
) -> int:
    started = time.perf_counter()
    path = inv.get("Path")
    if not path:
        raise UsageError("give -Path FILE (or -Path - for CSV on stdin)")
    _check_output(inv.get("ResultPath"))
    sheet = read_sheet(path, stdin=inv.stdin, sheet_name=inv.get("WorksheetName"))
    transport = _transport(inv)
    try:
        if not _confirm(inv, len(sheet)):
            raise UsageError("cancelled; nothing was written")
        progress = _Progress(inv, len(sheet), "row")
        options = commands.Options(
            what_if=bool(inv.get("WhatIf")),
            batch_size=inv.get("BatchSize", commands.DEFAULT_BATCH),
            progress=progress,
        )
        try:
            with few_collections():
                report = body(transport, sheet, options)
        finally:
            progress.close()
    finally:
        transport.close()
    return _finish(inv, report, sheet, started)


def run_set_user_license(inv: Invocation) -> int:
    return _sheet_command(
        inv,
        lambda t, sheet, options: commands.set_user_license(
            t,
            sheet,
            options,
            add_licenses=inv.get("AddLicenses", []),
            remove_licenses=inv.get("RemoveLicenses", []),
            disabled_plans=inv.get("DisabledPlans", []),
        ),
    )


def run_import_users(inv: Invocation) -> int:
    def body(t: Transport, sheet: Sheet, options: commands.Options) -> commands.Report:
        report, ignored = commands.import_users(
            t,
            sheet,
            options,
            usage_location=inv.get("UsageLocation"),
            update_only=bool(inv.get("UpdateOnly")),
        )
        if ignored:
            inv.stderr.write(f"{inv.command}: columns not imported: {', '.join(ignored)}\n")
        return report

    return _sheet_command(inv, body)


def run_set_usage_location(inv: Invocation) -> int:
    return _sheet_command(
        inv,
        lambda t, sheet, options: commands.set_usage_location(
            t, sheet, options, usage_location=inv.get("UsageLocation")
        ),
    )


def _filters(inv: Invocation) -> dict[str, Any]:
    enabled = inv.get("AccountEnabled")
    return {
        "search": inv.get("Search"),
        "usageLocation": inv.get("UsageLocation"),
        "department": inv.get("Department"),
        "hasLicense": inv.get("HasLicense"),
        "accountEnabled": None if enabled is None else _bool(enabled, "AccountEnabled"),
    }


def _write_output(inv: Invocation, frame, started: float, what: str) -> int:
    path = inv.get("Path")
    if path and path != "-":
        write_frame(frame, path)
        where = path
    else:
        write_frame(frame, inv.stdout)
        where = "stdout"
    inv.stderr.write(
        f"{inv.command}: {frame.height:,} {what}; {time.perf_counter() - started:.2f} s; "
        f"written to {where}\n"
    )
    return 0


def _run_user_listing(inv: Invocation, listing: Callable[..., Any]) -> int:
    """Get-Users and Get-LicenseReport: the same filters, paging and output."""
    started = time.perf_counter()
    _check_output(inv.get("Path"))
    filters = _filters(inv)
    transport = _transport(inv)
    progress = _Progress(inv, inv.get("Top"), "user")
    try:
        frame = listing(transport, filters, top=inv.get("Top"), progress=progress)
    finally:
        progress.close()
        transport.close()
    return _write_output(inv, frame, started, "users")


def run_get_users(inv: Invocation) -> int:
    return _run_user_listing(inv, commands.get_users)


def run_get_license_report(inv: Invocation) -> int:
    return _run_user_listing(inv, commands.get_license_report)


def run_get_subscribed_sku(inv: Invocation) -> int:
    started = time.perf_counter()
    _check_output(inv.get("Path"))
    transport = _transport(inv)
    try:
        frame = commands.get_subscribed_sku(transport)
    finally:
        transport.close()
    return _write_output(inv, frame, started, "SKUs")


def run_add_credits(inv: Invocation) -> int:
    started = time.perf_counter()
    _check_output(inv.get("ResultPath"))
    path = inv.get("Path")
    if path and inv.get("Amount") is not None:
        raise UsageError("give either -Amount or -Path, not both")
    sheet = read_sheet(path, stdin=inv.stdin, sheet_name=inv.get("WorksheetName")) if path else None
    transport = _transport(inv)
    try:
        rows = len(sheet) if sheet else 1
        if not _confirm(inv, rows):
            raise UsageError("cancelled; nothing was written")
        progress = _Progress(inv, rows, "purchase")
        options = commands.Options(what_if=bool(inv.get("WhatIf")), progress=progress)
        try:
            report = commands.add_credits(
                transport,
                sheet,
                options,
                amount=inv.get("Amount"),
                idempotency_key_value=inv.get("IdempotencyKey"),
                day=dt.datetime.now(dt.UTC).date().isoformat(),
            )
        finally:
            progress.close()
    finally:
        transport.close()
    return _finish(inv, report, sheet, started)


def run_set_auto_recharge(inv: Invocation) -> int:
    started = time.perf_counter()
    _check_output(inv.get("ResultPath"))
    enabled = inv.get("Enabled")
    if enabled is None:
        raise UsageError("give -Enabled true or -Enabled false")
    transport = _transport(inv)
    try:
        report = commands.set_auto_recharge(
            transport,
            commands.Options(what_if=bool(inv.get("WhatIf"))),
            enabled=_bool(enabled, "Enabled"),
            recharge_amount=inv.get("RechargeAmount"),
            trigger_balance=inv.get("TriggerBalance"),
            max_recharges_per_day=inv.get("MaxRechargesPerDay"),
        )
    finally:
        transport.close()
    return _finish(inv, report, None, started)


# --- scripts ----------------------------------------------------------------------------------


def split_pipeline(line: str) -> list[list[str]]:
    """`A -x 1 | B -Path -` into [[A, -x, 1], [B, -Path, -]] (quotes respected)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars="|")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    stages: list[list[str]] = [[]]
    for token in lexer:
        if token == "|":
            stages.append([])
        elif token.startswith("|") and set(token) == {"|"}:
            raise UsageError("use a single | between commands")
        else:
            stages[-1].append(token)
    stages = [s[1:] if s and s[0].lower() == "commcredits" else s for s in stages]
    if any(not s for s in stages):
        raise UsageError("empty command in a pipeline")
    return stages


def run_pipeline(
    stages: list[list[str]], *, stdin: BinaryIO, stdout: TextIO, stderr: TextIO
) -> int:
    """Run commands in this process, each one's stdout becoming the next one's stdin."""
    worst = 0
    data_in = stdin
    for n, argv in enumerate(stages):
        last = n == len(stages) - 1
        out = stdout if last else io.StringIO()
        code = run(argv, stdin=data_in, stdout=out, stderr=stderr, interactive=False)
        worst = max(worst, code)
        if code == 2:
            return 2
        if not last:
            data_in = io.BytesIO(out.getvalue().encode("utf-8"))
    return worst


def run_invoke_script(inv: Invocation) -> int:
    path = inv.get("Path")
    if not path:
        raise UsageError("give the script file: commcredits Invoke-Script FILE")
    action = (inv.get("ErrorAction") or "Stop").strip().lower()
    if action not in ("stop", "continue", "silentlycontinue"):
        raise UsageError("-ErrorAction takes Stop or Continue")
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UsageError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}: cannot read: {error}") from None
    worst = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            stages = split_pipeline(line)
        except ValueError as error:  # shlex: unbalanced quotes
            raise UsageError(f"{path}:{number}: {error}") from None
        if not stages or stages == [[]]:
            continue
        code = run_pipeline(stages, stdin=inv.stdin, stdout=inv.stdout, stderr=inv.stderr)
        worst = max(worst, code)
        if code and action == "stop":
            inv.stderr.write(
                f"Invoke-Script: stopped at {path}:{number} (exit {code}); "
                f"-ErrorAction Continue runs on\n"
            )
            return code
    return worst


# --- the command table ------------------------------------------------------------------------


def _command(name, summary, params, example, fn, positional="Path", notes="") -> Command:
    return Command(name, summary, tuple(params), example, fn, positional, notes, tuple(params))


COMMANDS: dict[str, Command] = {
    c.name.lower(): c
    for c in (
        _command(
            "Set-UserLicense",
            "Add and remove licenses for the users of a sheet (Graph's Set-MgUserLicense).",
            (
                *SHEET_IN,
                Param(
                    "AddLicenses",
                    "list",
                    "skuPartNumber or skuId, comma-separated",
                    value="SKU,...",
                ),
                Param(
                    "RemoveLicenses",
                    "list",
                    "skuPartNumber or skuId, comma-separated",
                    value="SKU,...",
                ),
                Param(
                    "DisabledPlans",
                    "list",
                    "service plans to switch off in the added SKUs",
                    value="PLAN,...",
                ),
                *TARGET,
            ),
            "commcredits Set-UserLicense -Path users.xlsx -AddLicenses MCOEV,MCOPSTN1 -WhatIf",
            run_set_user_license,
            notes="Key column: UserPrincipalName (also UPN, User Name). Optional per-row "
            "columns AddLicenses, RemoveLicenses, DisabledPlans (values separated by ; , or +) "
            "add to the parameters. Rows sharing one change are sent together.",
        ),
        _command(
            "Import-Users",
            "Create or update users from a sheet (also the Microsoft 365 admin center templates).",
            (
                *SHEET_IN,
                Param(
                    "UsageLocation",
                    help="usage location for every row (overrides the column)",
                    value="XX",
                ),
                Param("UpdateOnly", "switch", "only update existing users, create none"),
                *TARGET,
            ),
            "commcredits Import-Users -Path 'Add multiple users.csv' -UsageLocation DE",
            run_import_users,
            notes="Columns: User Name / UserPrincipalName (key), First Name, Last Name, Display "
            "Name, Job Title, Department, Office Number, Mobile Phone, City, Country or Region, "
            "UsageLocation, AccountEnabled (or Block credential). Blank cells leave a property "
            "as it is; other columns are listed and ignored.",
        ),
        _command(
            "Set-UsageLocation",
            "Set the usage location of the users of a sheet.",
            (
                *SHEET_IN,
                Param(
                    "UsageLocation",
                    help='ISO code for every row ("" removes it); else the column',
                    value="XX",
                ),
                *TARGET,
            ),
            "commcredits Get-Users -Department Sales | commcredits Set-UsageLocation -Path - "
            "-UsageLocation DE",
            run_set_usage_location,
        ),
        _command(
            "Get-Users",
            "Write the tenant's users (filtered) to a sheet, or CSV to stdout.",
            (*SHEET_OUT, *FILTERS, *TARGET),
            "commcredits Get-Users -UsageLocation DE -Path de-users.xlsx",
            run_get_users,
        ),
        _command(
            "Get-SubscribedSku",
            "Write the tenant's seats per SKU (Graph's Get-MgSubscribedSku).",
            (*SHEET_OUT, *TARGET),
            "commcredits Get-SubscribedSku",
            run_get_subscribed_sku,
        ),
        _command(
            "Get-LicenseReport",
            "Write users × SKUs (1 = held) with disabled plans.",
            (*SHEET_OUT, *FILTERS, *TARGET),
            "commcredits Get-LicenseReport -Path licenses.xlsx",
            run_get_license_report,
        ),
        _command(
            "Add-Credits",
            "Buy communication credits: -Amount once, or one purchase per sheet row.",
            (
                Param("Amount", help="amount in the tenant's currency", value="N"),
                Param("IdempotencyKey", help="with -Amount: the purchase's key", value="KEY"),
                *SHEET_IN,
                *TARGET,
            ),
            "commcredits Add-Credits -Amount 500 -WhatIf",
            run_add_credits,
            notes="Sheet columns: Amount (required), Reference / IdempotencyKey (optional). "
            "Every purchase has an idempotency key (the Reference, else derived from the row, "
            "or for -Amount from the amount and the UTC day), so a re-run buys nothing twice.",
        ),
        _command(
            "Set-AutoRecharge",
            "Switch automatic recharge of credits on or off and set its amounts.",
            (
                Param("Enabled", help="true or false", value="BOOL"),
                Param("RechargeAmount", help="amount bought per recharge", value="N"),
                Param(
                    "TriggerBalance", help="recharge when the balance falls below this", value="N"
                ),
                Param("MaxRechargesPerDay", "int", "at most this many recharges a day", value="N"),
                Param("ResultPath", help="report file (default: stdout)", value="FILE"),
                Param("WhatIf", "switch", "show what would be sent, send nothing"),
                *TARGET,
            ),
            "commcredits Set-AutoRecharge -Enabled true -RechargeAmount 200 -TriggerBalance 50",
            run_set_auto_recharge,
            positional=None,
        ),
        _command(
            "Invoke-Script",
            "Run a file of command lines (# comments, | between commands).",
            (
                Param("Path", help="the script file", value="FILE"),
                Param(
                    "ErrorAction",
                    help="Stop (default) or Continue after a failing line",
                    value="ACTION",
                ),
            ),
            "commcredits Invoke-Script nightly.ccs -ErrorAction Continue",
            run_invoke_script,
        ),
    )
}


def help_text(command: Command | None = None) -> str:
    if command is None:
        width = max(len(c.name) for c in COMMANDS.values())
        lines = ["Bulk commands (commcredits help <command> for its parameters):", ""]
        lines += [f"  {c.name:<{width}}  {c.summary}" for c in COMMANDS.values()]
        lines += [
            "",
            "Parameters: -Name value (case-insensitive) or --kebab-name value; switches as "
            "-WhatIf or -WhatIf:$false.",
            "Target: -Endpoint URL -ApiKey KEY for a server; otherwise in-process on "
            "COMMCREDITS_DATABASE_URL with -Tenant NAME or -ApiKey KEY.",
            "Exit codes: 0 all rows fine, 1 some rows failed, 2 usage, file, server or key error.",
        ]
        return "\n".join(lines) + "\n"
    syntax = [command.name]
    for p in command.params:
        shown = f"-{p.name}" if p.kind == "switch" else f"-{p.name} {p.value}"
        if command.positional == p.name:
            shown = f"[-{p.name}] {p.value}"
        syntax.append(f"[{shown}]" if command.positional != p.name else shown)
    lines = [f"{command.name}: {command.summary}", "", "SYNTAX", "  " + " ".join(syntax), ""]
    if command.notes:
        lines += ["NOTES", "  " + command.notes, ""]
    lines.append("PARAMETERS")
    width = max(len(p.name) for p in command.params) + 1
    for p in command.params:
        lines.append(f"  -{p.name:<{width}} {p.help}".rstrip())
    lines += ["", "EXAMPLE", "  " + command.example, ""]
    return "\n".join(lines)


def run(
    argv: list[str],
    *,
    stdin: BinaryIO,
    stdout: TextIO,
    stderr: TextIO,
    interactive: bool = False,
) -> int:
    """Run one bulk command; never raises (errors are one line on stderr and exit code 2)."""
    if not argv:
        stdout.write(help_text())
        return 0
    name = argv[0]
    if name.lower() == "help":
        if len(argv) == 1:
            stdout.write(help_text())
            return 0
        command = COMMANDS.get(argv[1].lower())
        if command is None:
            stderr.write(
                f"commcredits: unknown command {argv[1]!r}; `commcredits help` lists them\n"
            )
            return 2
        stdout.write(help_text(command))
        return 0
    command = COMMANDS.get(name.lower())
    if command is None:
        stderr.write(f"commcredits: unknown command {name!r}; `commcredits help` lists them\n")
        return 2
    try:
        values = parse(command, argv[1:])
        if values.get("Help"):
            stdout.write(help_text(command))
            return 0
        inv = Invocation(command.name, values, stdin, stdout, stderr, interactive)
        return command.run(inv)
    except UsageError as error:
        stderr.write(f"{command.name}: {error}\n")
        return 2
    except KeyboardInterrupt:
        stderr.write(f"{command.name}: interrupted\n")
        return 130
    except Exception as error:  # the promise is one line, never a traceback
        if os.environ.get("COMMCREDITS_DEBUG"):
            raise
        stderr.write(f"{command.name}: unexpected error: {type(error).__name__}: {error}\n")
        return 2


def main(argv: list[str]) -> int:
    interactive = _isatty(sys.stdin) and _isatty(sys.stderr)
    return run(
        argv,
        stdin=sys.stdin.buffer,
        stdout=sys.stdout,
        stderr=sys.stderr,
        interactive=interactive,
    )
