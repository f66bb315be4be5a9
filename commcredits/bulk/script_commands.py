"""The Graph PowerShell subset a script may use (`SPECS`), and what is done with a script's
commands before and while it runs: binding their parameters, Where-Object's forms, and the
check of the whole script before its first statement runs (every command, parameter,
Where-Object form and constant -Filter, inside arguments too), so a script outside the subset
sends nothing. graph_script.Session runs what passes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from commcredits.bulk import graph_cmdlets as mg
from commcredits.bulk.powershell import (
    COMPARISONS,
    Arr,
    Assign,
    Bare,
    Block,
    Command,
    Cond,
    Foreach,
    Hash,
    Param,
    Pipeline,
    ScriptError,
    Str,
)
from commcredits.bulk.ps_objects import var_of
from commcredits.bulk.ps_values import Scope, compare, evaluate, member


@dataclass(frozen=True)
class Spec:
    name: str
    params: tuple[str, ...] = ()
    switches: tuple[str, ...] = ()
    positional: tuple[str, ...] = ()
    ignored: bool = False  # accepted for the script's sake, does nothing here


CHANGES = ("set-mguserlicense", "update-mguser")
SPECS: dict[str, Spec] = {
    "set-mguserlicense": Spec(
        "Set-MgUserLicense", ("UserId", "AddLicenses", "RemoveLicenses"), ("WhatIf", "Confirm")
    ),
    "update-mguser": Spec("Update-MgUser", ("UserId", "UsageLocation"), ("WhatIf", "Confirm")),
    "get-mgsubscribedsku": Spec("Get-MgSubscribedSku", ("Property",), ("All",)),
    "get-mguser": Spec(
        "Get-MgUser",
        ("UserId", "Filter", "Top", "Property", "Select", "ConsistencyLevel"),
        ("All",),
        ("UserId",),
    ),
    "get-mguserlicensedetail": Spec("Get-MgUserLicenseDetail", ("UserId",), ("All",), ("UserId",)),
    "import-csv": Spec("Import-Csv", ("Path", "LiteralPath"), (), ("Path",)),
    "export-csv": Spec("Export-Csv", ("Path", "LiteralPath"), ("NoTypeInformation",), ("Path",)),
    "foreach-object": Spec("ForEach-Object", ("Process",), (), ("Process",)),
    "where-object": Spec("Where-Object", ("FilterScript", "Property", "Value"), ()),
    "select-object": Spec(
        "Select-Object", ("Property", "ExpandProperty", "First"), ("Unique",), ("Property",)
    ),
    "connect-mggraph": Spec("Connect-MgGraph", ignored=True),
    "disconnect-mggraph": Spec("Disconnect-MgGraph", ignored=True),
    "format-table": Spec("Format-Table", ignored=True),
    "format-list": Spec("Format-List", ignored=True),
}
ALIASES = {
    "connect-graph": "connect-mggraph",
    "where": "where-object",
    "?": "where-object",
    "foreach": "foreach-object",
    "%": "foreach-object",
    "select": "select-object",
    "ft": "format-table",
    "fl": "format-list",
}
SUPPORTED = ", ".join(s.name for s in SPECS.values())


def spec_of(name: str) -> Spec | None:
    low = name.lower()
    return SPECS.get(ALIASES.get(low, low))


class ScriptCommands:
    """Binding and checking a script's commands (graph_script.Session sets `source` and
    `is_native`)."""

    source: str
    is_native: Callable[[str], bool]

    def error(self, node: Any, what: str, supported: str = SUPPORTED) -> ScriptError:
        return ScriptError(self.source, getattr(node, "pos", (0, 0)), what, supported)

    # --- checking, before anything runs ----------------------------------------------------

    def check(self, statements: tuple[Any, ...]) -> None:
        for st in statements:
            if isinstance(st, Assign):
                self.check_pipeline(st.value, assigned=True)
            elif isinstance(st, Foreach):
                self.check_value(st.source)
                self.check_body(st.body)
            else:
                self.check_pipeline(st)

    def check_value(self, node: Any) -> None:
        """The pipelines inside a value — `( … )` in an argument, a hashtable, a list or a
        condition — are checked as an assigned pipeline's are."""
        if isinstance(node, Pipeline):
            self.check_pipeline(node, assigned=True)
        elif isinstance(node, Param):
            self.check_value(node.value)
        elif isinstance(node, Hash):
            for _, value in node.items:
                self.check_value(value)
        elif isinstance(node, Arr):
            for item in node.items:
                self.check_value(item)
        elif isinstance(node, Cond):
            self.check_value(node.left)
            self.check_value(node.right)
        elif isinstance(node, Block):
            for st in node.statements:
                self.check_value(st)

    def check_args(self, cmd: Command) -> None:
        for arg in cmd.args:
            self.check_value(arg)

    def check_body(self, body: Block) -> None:
        for st in body.statements:
            stages = st.stages if isinstance(st, Pipeline) else ()
            if len(stages) != 1 or not isinstance(stages[0], Command):
                raise self.error(
                    st,
                    "a loop body holds Set-MgUserLicense or Update-MgUser lines",
                    "Set-MgUserLicense, Update-MgUser",
                )
            if stages[0].name.lower() not in CHANGES:
                raise self.error(
                    stages[0],
                    f"{stages[0].name} inside a loop is not supported",
                    "Set-MgUserLicense, Update-MgUser",
                )
            self.bind(stages[0])
            self.check_args(stages[0])

    def check_pipeline(self, p: Pipeline, assigned: bool = False) -> None:
        commands = [s for s in p.stages if isinstance(s, Command)]
        if not isinstance(p.stages[0], Command):
            self.check_value(p.stages[0])
        native = [c for c in commands if self.is_native(c.name)]
        for cmd in native:
            named = cmd.args[0] if cmd.name.lower() == "commcredits" and cmd.args else cmd
            name = getattr(named, "name", None) or getattr(named, "text", "")
            if name.lower() == "invoke-script":
                raise self.error(
                    named,
                    "Invoke-Script inside a script is not supported",
                    "the other script's lines in this one, or one Invoke-Script after another",
                )
        if native:
            if len(native) != len(p.stages) or assigned:
                raise self.error(
                    native[0],
                    f"{native[0].name} is a native command: give it a "
                    "line of its own, piped only into native commands",
                )
            for cmd in native:
                self.check_args(cmd)
            return
        for cmd in commands:
            bound = self.bind(cmd)
            self.check_args(cmd)
            low = ALIASES.get(cmd.name.lower(), cmd.name.lower())
            if low == "foreach-object":
                body = bound.get("Process")
                if not isinstance(body, Block):
                    raise self.error(cmd, "ForEach-Object takes a { … } block")
                self.check_body(body)
            if low == "where-object":
                self.where_test(cmd)
            flt = bound.get("Filter")
            if (
                low == "get-mguser"
                and isinstance(flt, Str)
                and all(isinstance(x, str) for x in flt.parts)
            ):
                mg.parse_filter(flt.parts[0] if flt.parts else "", flt, self.source)

    def bind(self, cmd: Command) -> dict[str, Any]:
        """The command's parameters: {Name: value node}, switches as True."""
        spec = spec_of(cmd.name)
        if spec is None:
            raise self.error(cmd, f"the command {cmd.name!r} is not supported")
        if spec.ignored or spec.name == "Where-Object":  # where_test reads Where's own forms
            return {}
        names = {p.lower(): p for p in (*spec.params, *spec.switches)}
        bound: dict[str, Any] = {}
        positional = list(spec.positional)
        args = list(cmd.args)
        while args:
            arg = args.pop(0)
            if isinstance(arg, Param):
                name = names.get(arg.name.lower())
                if name is None:
                    listed = ", ".join("-" + n for n in (*spec.params, *spec.switches))
                    raise self.error(arg, f"{spec.name} has no parameter -{arg.name}", listed)
                if name in spec.switches:
                    bound[name] = True if arg.value is None else arg.value
                    continue
                if arg.value is None and (not args or isinstance(args[0], Param)):
                    raise self.error(arg, f"-{name} needs a value")
                bound[name] = arg.value if arg.value is not None else args.pop(0)
                if name in positional:
                    positional.remove(name)
            elif positional:
                bound[positional.pop(0)] = arg
            else:
                raise self.error(arg, f"{spec.name}: a value without a parameter name")
        return bound

    def where_test(self, cmd: Command) -> Callable[[Any, Scope], bool]:
        """Where-Object { condition }, or the simplified `Where Prop -op value`."""
        args = cmd.args
        if (
            len(args) == 1
            and isinstance(args[0], Block)
            or (
                len(args) == 2
                and isinstance(args[0], Param)
                and args[0].name.lower() == "filterscript"
            )
        ):
            block = args[-1]
            body = block.statements if isinstance(block, Block) else ()
            if len(body) != 1 or len(body[0].stages) != 1 or isinstance(body[0].stages[0], Command):
                raise self.error(
                    cmd, "Where-Object { … } holds one condition", "{ $_.Prop -eq 'x' -and … }"
                )
            test = body[0].stages[0]
            return lambda item, scope: bool(evaluate(test, scope))
        if len(args) == 3 and isinstance(args[1], Param) and isinstance(args[0], Bare | Str):
            prop = args[0]
            op = args[1].name.lower().removeprefix("i") if args[1].name.lower() != "in" else "in"
            cond = Cond(op, None, args[2], args[1].pos)
            if op not in COMPARISONS:
                raise self.error(
                    args[1],
                    f"the operator -{args[1].name} is not supported",
                    ", ".join("-" + c for c in COMPARISONS),
                )

            def test(item: Any, scope: Scope) -> bool:
                name = evaluate(prop, scope)
                return compare(
                    cond.op, member(item, name, var_of(prop), scope), evaluate(cond.right, scope)
                )

            return test
        raise self.error(
            cmd,
            "this Where-Object form is not supported",
            "Where-Object { $_.Prop -eq 'x' }, Where Prop -eq 'x'",
        )

    # --- running ---------------------------------------------------------------------------
