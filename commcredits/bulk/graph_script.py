"""Running a parsed script: Graph PowerShell cmdlets, the object cmdlets around them, and lines
of native bulk commands (`Set-UserLicense -Path …`, which run as on the command line).

The whole script is checked before its first statement runs (script_commands.py), so a
script outside the subset sends nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from commcredits.bulk import graph_cmdlets as mg
from commcredits.bulk.errors import UsageError
from commcredits.bulk.params import Invocation
from commcredits.bulk.powershell import (
    Assign,
    Block,
    Command,
    Foreach,
    Pipeline,
    ScriptError,
    parse,
)
from commcredits.bulk.ps_objects import (
    as_items,
    columns,
    count_of,
    select,
    show,
    switch_on,
    table,
    unwrap,
    where,
)
from commcredits.bulk.ps_values import Rows, Scope, evaluate, text
from commcredits.bulk.report_files import write_report
from commcredits.bulk.script_commands import CHANGES, ScriptCommands, spec_of
from commcredits.bulk.sheets import read_sheet
from commcredits.bulk.transport import Transport, connect


class Session(ScriptCommands):
    """One script's run: its variables, its target, and where its output goes."""

    def __init__(self, inv: Invocation, source: str, is_native: Callable[[str], bool]):
        self.inv, self.source, self.is_native = inv, source, is_native
        self.what_if = bool(inv.get("WhatIf"))
        self.scope = Scope({}, source, run=self.value_of)
        self._transport: Transport | None = None
        self.noted: set[str] = set()

    def transport(self) -> Transport:
        if self._transport is None:
            self._transport = connect(
                endpoint=self.inv.get("Endpoint"),
                api_key=self.inv.get("ApiKey"),
                tenant=self.inv.get("Tenant"),
            )
        return self._transport

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def invocation(self, command: str, what_if: bool) -> Invocation:
        keep = ("Endpoint", "ApiKey", "Tenant", "NoProgress", "Force", "BatchSize", "ResultPath")
        values = {k: self.inv.get(k) for k in keep if self.inv.get(k) is not None}
        values["WhatIf"] = what_if
        inv = self.inv
        return Invocation(command, values, inv.stdin, inv.stdout, inv.stderr, inv.interactive)

    def run(
        self,
        statements: tuple[Any, ...],
        native: Callable[[Pipeline, Scope], int],
        stop_on_error: bool,
    ) -> int:
        self.check(statements)
        worst = 0
        for st in statements:
            try:
                code = self.statement(st, native)
            except ScriptError:
                raise
            except UsageError as error:  # a file, a server, a stopped run: this line failed
                self.inv.stderr.write(f"{self.inv.command}: {self.source}:{st.pos[0]}: {error}\n")
                code = 2
            worst = max(worst, code)
            if code and stop_on_error:
                line = st.pos[0]
                if st is statements[-1]:
                    return code
                self.inv.stderr.write(
                    f"Invoke-Script: stopped at {self.source}:{line} (exit {code}); "
                    f"-ErrorAction Continue runs on\n"
                )
                return code
        return worst

    def statement(self, st: Any, native: Callable[[Pipeline, Scope], int]) -> int:
        if isinstance(st, Assign):
            value, code = self.pipeline(st.value, self.scope)
            self.scope.vars[st.name] = value
            return code
        if isinstance(st, Foreach):
            source = evaluate(st.source, self.scope)
            return self.loop(st.body, source, st.name, self.scope)
        if any(isinstance(s, Command) and self.is_native(s.name) for s in st.stages):
            return native(st, self.scope)
        value, code = self.pipeline(st, self.scope)
        if value is not None:
            show(value, self.inv.stdout)
        return code

    def value_of(self, p: Pipeline, scope: Scope) -> Any:
        return self.pipeline(p, scope)[0]

    def pipeline(self, p: Pipeline, scope: Scope) -> tuple[Any, int]:
        first = p.stages[0]
        value, code = (None, 0)
        if isinstance(first, Command):
            value, code = self.call(first, None, scope, first_stage=True)
        else:
            value = evaluate(first, scope)
        for cmd in p.stages[1:]:
            value, more = self.call(cmd, value, scope)
            code = max(code, more)
        return value, code

    def call(
        self, cmd: Command, value: Any, scope: Scope, first_stage: bool = False
    ) -> tuple[Any, int]:
        spec = spec_of(cmd.name)
        assert spec is not None  # checked
        bound = self.bind(cmd)
        low = spec.name.lower()
        arg = lambda name: evaluate(bound[name], scope) if name in bound else None  # noqa: E731
        if spec.ignored:
            if low == "connect-mggraph" and low not in self.noted:
                self.noted.add(low)
                self.inv.stderr.write(
                    f"{cmd.name}: ignored; the target is this command's "
                    "-Endpoint/-ApiKey or -Tenant\n"
                )
            return value, 0
        if low == "import-csv":
            path = text(arg("Path") or arg("LiteralPath"))
            return Rows(read_sheet(path, stdin=self.inv.stdin, row_faults=True)), 0
        if low == "where-object":
            return where(value, self.where_test(cmd), scope), 0
        if low == "select-object":
            return select(value, bound, scope), 0
        if low == "foreach-object":
            return None, self.loop(bound["Process"], value, "_", scope)
        if low == "export-csv":
            frame = table(value)
            if frame is not None:
                # as the reports: a cell a spreadsheet would run as a formula is neutralized
                write_report(frame, text(arg("Path") or arg("LiteralPath")))
            return None, 0
        if not first_stage and value is not None:
            raise self.error(
                cmd,
                f"piping objects into {spec.name} is not supported",
                "Import-Csv … | ForEach-Object { " + spec.name + " … }",
            )
        if low in CHANGES:
            return None, mg.change_run(self, cmd, bound, [(cmd.pos[0], scope)], None, None)
        if low == "get-mgsubscribedsku":
            return unwrap(mg.get_subscribed_sku(self.transport())), 0
        if low == "get-mguserlicensedetail" or (low == "get-mguser" and "UserId" in bound):
            ref = text(arg("UserId"))
            node = mg.get_user(self.transport(), ref)
            if node is None:
                self.inv.stderr.write(f"{spec.name}: no user {ref!r} (line {cmd.pos[0]})\n")
                return None, 1
            found = (
                mg.license_details(node)
                if low == "get-mguserlicensedetail"
                else [mg.user_object(node)]
            )
            return unwrap(columns(found, bound, scope)), 0
        flt = arg("Filter")
        clauses = mg.parse_filter(text(flt), bound["Filter"], self.source) if flt else []
        if "Top" in bound:
            top: int | None = count_of(bound["Top"], scope, "Top")
        else:
            top = None if switch_on(bound, "All", scope) else mg.PAGE
        users = mg.get_users(self.transport(), clauses, top)
        return unwrap(columns(users, bound, scope)), 0

    def loop(self, body: Block, source: Any, name: str, scope: Scope) -> int:
        """Each change line of the body, over every object: one batched run per line."""
        items = as_items(source)
        sheet = source.sheet if isinstance(source, Rows) else None
        rows = sheet.rows if sheet else list(range(1, len(items) + 1))
        worst = 0
        for st in body.statements:
            cmd = st.stages[0]
            scoped = [(n, scope.with_row(name, item)) for n, item in zip(rows, items, strict=True)]
            code = mg.change_run(self, cmd, self.bind(cmd), scoped, sheet, name)
            worst = max(worst, code)
        return worst


def run_script(
    text_: str,
    source: str,
    inv: Invocation,
    *,
    is_native: Callable[[str], bool],
    native: Callable[[Pipeline, Scope], int],
    stop_on_error: bool = True,
) -> int:
    statements = parse(text_, source)
    session = Session(inv, source, is_native)
    try:
        return session.run(statements, native, stop_on_error)
    finally:
        session.close()
