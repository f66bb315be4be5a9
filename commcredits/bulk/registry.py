"""Every bulk command, by name, and the help that lists them.

A command lives in one module with its work, its command-line wiring and its `COMMANDS`
entry; a new module of commands is added to `_MODULES` here.
"""

from __future__ import annotations

from commcredits.bulk import (
    calling_policy_cmdlets,
    credits,
    group_policies,
    groups,
    licensing,
    listings,
    pipeline,
    policies,
    pstn_reports,
    users,
)
from commcredits.bulk.params import Command

# the order `help` lists them in
_MODULES = (
    licensing,
    users,
    groups,
    listings,
    pstn_reports,
    policies,
    calling_policy_cmdlets,
    group_policies,
    credits,
    pipeline,
)

COMMANDS: dict[str, Command] = {c.name.lower(): c for m in _MODULES for c in m.COMMANDS}


def find(name: str) -> Command | None:
    return COMMANDS.get(name.lower())


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
