"""What a command line says: parameters, PowerShell style, into values; and what a command is.

Parameters are matched case-insensitively and also accepted GNU-style (`--add-licenses`);
`-Switch`, `-Switch:$false`, `-Param:value` and `--param=value` work.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO, TextIO

from commcredits.bulk.errors import UsageError


@dataclass(frozen=True)
class Param:
    name: str
    kind: str = "str"  # str, list, switch, int, bool
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
    # A Graph PowerShell cmdlet: its words go to the PowerShell parser as they are ("Args"),
    # less the target parameters (`params`), which are parsed here.
    raw: bool = False


def command(
    name: str,
    summary: str,
    params: tuple[Param, ...],
    example: str,
    fn: Callable[[Invocation], int],
    positional: str | None = "Path",
    notes: str = "",
    raw: bool = False,
) -> Command:
    return Command(name, summary, tuple(params), example, fn, positional, notes, tuple(params), raw)


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
        help="per-row report (default: <input>.result.csv, -WhatIf: <input>.whatif.result.csv, "
        "numbered when taken; stdin: stdout)",
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


_TOKEN = re.compile(r"^--?([A-Za-z?][A-Za-z0-9_-]*)(?:[:=](.*))?$")


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9?]", "", name.lower())


def parse_bool(text: str, what: str) -> bool:
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
    rest: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        match = _TOKEN.match(token)
        if token in ("-?", "/?") or (match and _norm(match.group(1)) in ("help", "h", "?")):
            values["Help"] = True
            i += 1
            continue
        if command.raw and (not match or _norm(match.group(1)) not in by_norm):
            rest.append(token)  # the cmdlet's own words, for the PowerShell parser
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
            values[param.name] = True if inline is None else parse_bool(inline, param.name)
            i += 1
            continue
        if param.kind == "bool":
            # A PowerShell Boolean parameter (`-X $true`, `-X:$false`). Bash drops an unquoted
            # $true: a value missing (the end, or the next parameter) is refused, never guessed.
            if inline is None and i + 1 < len(argv) and not _TOKEN.match(argv[i + 1]):
                i += 1
                inline = argv[i]
            i += 1
            if not inline:
                raise UsageError(
                    f"-{param.name} needs $true or $false; in a shell quote it ('$true': an "
                    f"unquoted $true is dropped) or write true / false"
                )
            values[param.name] = parse_bool(inline, param.name)
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
    if command.raw:
        values["Args"] = rest
    if positional:
        if command.positional and command.positional not in values and len(positional) == 1:
            values[command.positional] = positional[0]
        else:
            raise UsageError(f"unexpected argument {positional[0]!r}")
    return values
