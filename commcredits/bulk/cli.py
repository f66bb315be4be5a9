"""`commcredits <Verb-Noun> -Param value ...`: PowerShell-style bulk commands, `help`, scripts.

This module only dispatches: parameters are parsed in `params`, the commands live in their
own modules (listed in `registry`), pipelines and scripts in `pipeline`, what the terminal
shows in `terminal`. Exit codes: 0 every row fine, 1 some rows failed, 2 usage, file, server or
key error (one line on stderr).
"""

from __future__ import annotations

import os
import sys
from typing import BinaryIO, TextIO

from commcredits.bulk.errors import UsageError
from commcredits.bulk.params import Invocation, parse
from commcredits.bulk.pipeline import run_pipeline, split_pipeline
from commcredits.bulk.registry import COMMANDS, find, help_text
from commcredits.bulk.terminal import isatty

__all__ = ["COMMANDS", "help_text", "main", "parse", "run", "run_pipeline", "split_pipeline"]


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
        command = find(argv[1])
        if command is None:
            stderr.write(
                f"commcredits: unknown command {argv[1]!r}; `commcredits help` lists them\n"
            )
            return 2
        stdout.write(help_text(command))
        return 0
    command = find(name)
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
    interactive = isatty(sys.stdin) and isatty(sys.stderr)
    return run(
        argv,
        stdin=sys.stdin.buffer,
        stdout=sys.stdout,
        stderr=sys.stderr,
        interactive=interactive,
    )
