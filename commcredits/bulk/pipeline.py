"""Pipelines (`A | B`, in this process) and Invoke-Script (a file of command lines)."""

from __future__ import annotations

import io
import shlex
from pathlib import Path
from typing import BinaryIO, TextIO

from commcredits.bulk.errors import UsageError
from commcredits.bulk.params import Invocation, Param, command


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


COMMANDS = (
    command(
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
