"""Pipelines (`A | B`, in this process), Invoke-Script, and Graph PowerShell cmdlets given on
the command line.

A script is PowerShell (the subset `powershell` parses): lines of native commands run as on
the command line, Graph cmdlet lines as `graph_script` maps them. The whole script is parsed
and checked before its first line runs.
"""

from __future__ import annotations

import io
import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TextIO

from commcredits.bulk.errors import UsageError
from commcredits.bulk.graph_script import run_script
from commcredits.bulk.params import TARGET, Command, Invocation, Param, command
from commcredits.bulk.powershell import MAX_SCRIPT_BYTES, Pipeline, parse
from commcredits.bulk.ps_values import Scope, native_argv
from commcredits.bulk.script_commands import spec_of


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
    # Imported here: the dispatcher's registry holds Invoke-Script, which is defined below.
    from commcredits.bulk.cli import run

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


def _is_native(name: str) -> bool:
    from commcredits.bulk.registry import find

    command = find(name)
    return name.lower() == "commcredits" or (command is not None and not command.raw)


_TARGET_NAMES = ("endpoint", "apikey", "tenant")
_INHERITED = ("BatchSize", "Force", "NoProgress")
_PARAM_WORD = re.compile(r"^--?([A-Za-z?][A-Za-z0-9_-]*)(?:[:=].*)?$")


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9?]", "", name.lower())


def inherit(argv: list[str], inv: Invocation) -> list[str]:
    """A script's native command line with the script's own options: its target
    (-Endpoint/-ApiKey or -Tenant, unless the line names a target itself), -BatchSize, -Force
    and -NoProgress (unless the line gives them), and its -WhatIf, which always wins: a line's
    `-WhatIf:$false` does not make a change real in a script run with -WhatIf."""
    from commcredits.bulk.registry import find

    command = find(argv[0])
    if command is None:
        return argv  # the dispatcher says it is unknown
    if command.name == "Invoke-Script":  # the check refuses it where it is written out
        raise UsageError("Invoke-Script inside a script is not supported")
    takes = {_key(a): p.name for p in command.all_params for a in (p.name, *p.aliases)}
    given = set()
    for word in argv[1:]:
        match = _PARAM_WORD.match(word)
        if match and _key(match.group(1)) in takes:
            given.add(takes[_key(match.group(1))])
    out = list(argv)
    names = ("Endpoint", "ApiKey", "Tenant")
    if not given.intersection(names):
        for name in names:
            if inv.get(name) is not None and _key(name) in takes:
                out += [f"-{name}", str(inv.get(name))]
    for name in _INHERITED:
        value = inv.get(name)
        if value is None or value is False or name in given or _key(name) not in takes:
            continue
        out += [f"-{name}"] if value is True else [f"-{name}", str(value)]
    if inv.get("WhatIf"):
        spec = spec_of(command.name) if command.raw else None
        if "whatif" in takes or (spec is not None and "WhatIf" in spec.switches):
            out.append("-WhatIf")  # after the line's own: the last one given counts
        elif not command.name.lower().startswith("get-"):
            raise UsageError(
                f"{command.name} has no -WhatIf, and the script runs with -WhatIf: "
                "run it without -WhatIf, or leave the line out"
            )
    return out


def _native(inv: Invocation) -> Callable[[Pipeline, Scope], int]:
    def run_native(p: Pipeline, scope: Scope) -> int:
        stages = [inherit(native_argv(cmd, scope), inv) for cmd in p.stages]
        return run_pipeline(stages, stdin=inv.stdin, stdout=inv.stdout, stderr=inv.stderr)

    return run_native


def run_invoke_script(inv: Invocation) -> int:
    path = inv.get("Path")
    if not path:
        raise UsageError("give the script file: commcredits Invoke-Script FILE")
    action = (inv.get("ErrorAction") or "Stop").strip().lower()
    if action not in ("stop", "continue", "silentlycontinue"):
        raise UsageError("-ErrorAction takes Stop or Continue")
    try:
        if Path(path).stat().st_size > MAX_SCRIPT_BYTES:
            raise UsageError(f"{path}: the script is over {MAX_SCRIPT_BYTES:,} bytes")
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UsageError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}: cannot read: {error}") from None
    # Parsed and checked whole first (run_script): a line outside the subset sends nothing.
    return run_script(
        text,
        path,
        inv,
        is_native=_is_native,
        native=_native(inv),
        stop_on_error=action == "stop",
    )


def _quoted(word: str) -> str:
    """A shell word as PowerShell source: as it is when PowerShell reads it as one argument
    (`@{…}`, `a,b`, a name, a number), else single-quoted (the shell has unquoted it)."""
    try:
        (line,) = parse(f"X {word}")
        (cmd,) = line.stages
        if len(cmd.args) == 1 or word.startswith("-"):
            return word
    except (UsageError, ValueError, AttributeError):
        pass
    return "'" + word.replace("'", "''") + "'"


def run_graph_cmdlet(inv: Invocation) -> int:
    """One Graph PowerShell line from the command line, e.g. `commcredits Set-MgUserLicense
    -UserId adele@contoso.example -AddLicenses '@{SkuId = "…"}' -RemoveLicenses '@()'`."""
    line = " ".join([inv.command, *(_quoted(w) for w in inv.get("Args", []))])
    return run_script(line, "<command line>", inv, is_native=_is_native, native=_native(inv))


_GRAPH_TARGET = (
    *TARGET,
    Param("ResultPath", help="the per-row report of a change (default: stdout)", value="FILE"),
    Param("NoProgress", "switch", "no progress bar"),
    Param("Force", "switch", "never ask"),
)


def _graph(name: str, summary: str, example: str) -> Command:
    spec = spec_of(name)
    assert spec is not None
    own = ", ".join("-" + p for p in (*spec.params, *spec.switches))
    return command(
        name,
        summary,
        _GRAPH_TARGET,
        example,
        run_graph_cmdlet,
        positional=None,
        notes=f"Microsoft Graph PowerShell syntax, with Graph's parameters ({own}); the same "
        "line runs in Invoke-Script. See README, Scripts.",
        raw=True,
    )


COMMANDS = (
    command(
        "Invoke-Script",
        "Run a script: Graph PowerShell lines and command lines (# comments, | between).",
        (
            Param("Path", help="the script file (.ps1 or command lines)", value="FILE"),
            Param(
                "ErrorAction",
                help="Stop (default) or Continue after a failing line",
                value="ACTION",
            ),
            Param("WhatIf", "switch", "every change in the script: validate, write nothing"),
            Param("NoProgress", "switch", "no progress bar"),
            Param("Force", "switch", "never ask"),
            Param("BatchSize", "int", "rows per request, 1..1000 (default 1000)", value="N"),
            *TARGET,
        ),
        "commcredits Invoke-Script licenses.ps1 -Tenant Contoso -WhatIf",
        run_invoke_script,
    ),
    _graph(
        "Set-MgUserLicense",
        "Graph's Set-MgUserLicense: -UserId X -AddLicenses @{SkuId = …} -RemoveLicenses @()",
        "commcredits Set-MgUserLicense -UserId adele@contoso.example "
        "-AddLicenses '@{SkuId = \"MCOPSTNC\"}' -RemoveLicenses '@()'",
    ),
    _graph(
        "Update-MgUser",
        "Graph's Update-MgUser: -UserId X -UsageLocation DE",
        "commcredits Update-MgUser -UserId adele@contoso.example -UsageLocation DE",
    ),
    _graph(
        "Get-MgSubscribedSku",
        "Graph's Get-MgSubscribedSku: the tenant's SKUs, with Graph's property names",
        "commcredits Get-MgSubscribedSku -All",
    ),
    _graph(
        "Get-MgUser",
        "Graph's Get-MgUser: -UserId X, or -Filter \"usageLocation eq 'DE'\" -All",
        "commcredits Get-MgUser -Filter \"usageLocation eq 'DE'\" -All",
    ),
    _graph(
        "Get-MgUserLicenseDetail",
        "Graph's Get-MgUserLicenseDetail: a user's licenses and service plans",
        "commcredits Get-MgUserLicenseDetail -UserId adele@contoso.example",
    ),
)
