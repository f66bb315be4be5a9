"""What the parsed PowerShell subset evaluates to: strings, numbers, booleans, $null, arrays
(lists), hashtables and objects (dicts, with PowerShell's case-insensitive member names), and
the rows of an Import-Csv sheet (`Rows`, which keep their row numbers for the report).

The object cmdlets that need no server (Where-Object, Select-Object, the table an unassigned
pipeline prints) are in ps_objects.py.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field, replace
from typing import Any

import polars as pl

from commcredits.bulk.errors import UsageError
from commcredits.bulk.powershell import (
    Arr,
    Bare,
    Block,
    Command,
    Cond,
    Hash,
    Num,
    Param,
    Pipeline,
    ScriptError,
    Str,
    Var,
)
from commcredits.bulk.sheets import Sheet

CONSTANTS = {"true": True, "false": False, "null": None}
# What one value may grow to while a script runs (`$a = $a, $a` or `$s = "$s$s"` over and over
# doubles it): generous beside the bounds of the input (a 1 MB script; a sheet of at most
# 16,777,216 cells), and small enough for memory.
MAX_ITEMS = 16_777_216  # items in one array
MAX_TEXT = 16_777_216  # characters in one string


class TooLong(UsageError):
    """A value over MAX_ITEMS or MAX_TEXT (where no node is at hand to name its place)."""


class Row(dict):
    """One row of an Import-Csv sheet: `$_.Column`, case-insensitively; a column the sheet
    lacks is an error naming the columns it has (PowerShell would quietly give $null)."""

    source: str = ""


@dataclass
class Rows:
    """The rows of an Import-Csv sheet, in sheet order (Where-Object keeps the row numbers)."""

    sheet: Sheet
    _items: list[Row] | None = field(default=None, repr=False)

    def items(self) -> list[Row]:
        if self._items is None:
            columns = self.sheet.frame.columns
            self._items = []
            for values in self.sheet.frame.iter_rows():
                row = Row(zip(columns, values, strict=True))
                row.source = self.sheet.source
                self._items.append(row)
        return self._items

    def keep(self, mask: list[bool]) -> Rows:
        frame = self.sheet.frame.filter(pl.Series(mask, dtype=pl.Boolean))
        rows = [r for r, m in zip(self.sheet.rows, mask, strict=True) if m]
        kept = [item for item, m in zip(self.items(), mask, strict=True) if m]
        return Rows(replace(self.sheet, frame=frame, rows=rows), kept)


@dataclass
class Scope:
    """Variables, and the object `$_` (or a foreach variable) stands for."""

    vars: dict[str, Any]
    source: str
    row_name: str | None = None
    row: Any = None
    run: Any = None  # runs a parenthesized pipeline: (Pipeline, Scope) -> value

    def with_row(self, name: str, row: Any) -> Scope:
        return Scope(self.vars, self.source, name, row, self.run)


def member(value: Any, name: str, node: Var, scope: Scope) -> Any:
    if isinstance(value, list):  # member enumeration: $skus.SkuId
        out: list[Any] = []
        for v in value:
            f = member(v, name, node, scope)
            out.extend(f if isinstance(f, list) else [f])
            if len(out) > MAX_ITEMS:
                raise _too_many(node, scope)
        return out
    if isinstance(value, dict):
        low = name.lower()
        for key, item in value.items():
            if key.lower() == low:
                return item
        if isinstance(value, Row):
            raise ScriptError(
                scope.source,
                node.pos,
                f"{node.text}: {value.source} has no column {name!r}",
                ", ".join(repr(k) for k in value),
            )
        return None
    return None


def _over_limit(node: Any, scope: Scope, what: str) -> ScriptError:
    return ScriptError(
        scope.source,
        getattr(node, "pos", (0, 0)),
        what,
        f"arrays of at most {MAX_ITEMS:,} items, strings of at most {MAX_TEXT:,} characters",
    )


def _too_many(node: Any, scope: Scope) -> ScriptError:
    return _over_limit(node, scope, f"this array would hold more than {MAX_ITEMS:,} items")


def _too_long(node: Any, scope: Scope) -> ScriptError:
    return _over_limit(node, scope, f"this string would be longer than {MAX_TEXT:,} characters")


def _expand(node: Str, scope: Scope) -> str:
    parts, length = [], 0
    for p in node.parts:
        try:
            part = p if isinstance(p, str) else text(evaluate(p, scope))
        except TooLong:
            raise _too_long(p, scope) from None
        length += len(part)
        if length > MAX_TEXT:
            raise _too_long(p if not isinstance(p, str) else node, scope)
        parts.append(part)
    return "".join(parts)


def evaluate(node: Any, scope: Scope) -> Any:
    if isinstance(node, Str):
        return _expand(node, scope)
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Bare):
        return node.text
    if isinstance(node, Var):
        value = lookup(node, scope)
        for prop in node.props:
            value = member(value, prop, node, scope)
        return value
    if isinstance(node, Hash):
        return {key: evaluate(v, scope) for key, v in node.items}
    if isinstance(node, Arr):
        out: list[Any] = []
        for item in node.items:
            value = evaluate(item, scope)
            out.extend(value if isinstance(value, list) else [value])
            if len(out) > MAX_ITEMS:
                raise _too_many(node, scope)
        return out
    if isinstance(node, Cond):
        return condition(node, scope)
    if isinstance(node, Block):
        return node
    if isinstance(node, Pipeline):
        return scope.run(node, scope)
    raise ScriptError(scope.source, getattr(node, "pos", (0, 0)), "this value is not supported")


def lookup(node: Var, scope: Scope) -> Any:
    if node.name in CONSTANTS and not node.props:
        return CONSTANTS[node.name]
    if scope.row_name is not None and node.name == scope.row_name:
        return scope.row
    if node.name == "_":
        raise ScriptError(
            scope.source, node.pos, "$_ outside a ForEach-Object or Where-Object block"
        )
    if node.name not in scope.vars:
        raise ScriptError(scope.source, node.pos, f"the variable {node.text} is not set")
    return scope.vars[node.name]


def uses(node: Any, name: str) -> bool:
    """Whether a value depends on the variable `name` (then it is evaluated per row)."""
    if isinstance(node, Var):
        return node.name == name
    if isinstance(node, Str):
        return any(uses(p, name) for p in node.parts if not isinstance(p, str))
    if isinstance(node, Hash):
        return any(uses(v, name) for _, v in node.items)
    if isinstance(node, Arr):
        return any(uses(v, name) for v in node.items)
    if isinstance(node, Cond):
        return uses(node.left, name) or uses(node.right, name)
    if isinstance(node, Pipeline):  # ( Get-MgUser -UserId $_.Manager | … )
        return any(uses(s, name) for s in node.stages)
    if isinstance(node, Command):
        return any(uses(a, name) for a in node.args)
    if isinstance(node, Param):
        return node.value is not None and uses(node.value, name)
    if isinstance(node, Block):  # inside a block, $_ is the block's own object
        return name != "_" and any(uses(s, name) for s in node.statements)
    return False


def text_size(value: Any, room: int) -> int:
    """About how many characters `value` is as text (more than `room`: stops there). Arrays
    and hashtables may hold one value many times over, so this counts what text would write,
    in at most `room` steps, never the objects in memory."""
    total, stack = 0, [value]
    while stack and total <= room:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, list):
            total += len(item)
            if total <= room:
                stack.extend(item)
        elif isinstance(item, dict):
            total += 4 * len(item)
            if total <= room:
                stack.extend(item.keys())
                stack.extend(item.values())
        else:
            total += 8
    return total


def text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, list | dict) and text_size(value, MAX_TEXT) > MAX_TEXT:
        raise TooLong(f"a value would be longer than {MAX_TEXT:,} characters as text")
    if isinstance(value, list):
        return " ".join(text(v) for v in value)  # "$list" joins with spaces, as PowerShell
    return str(value)


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and (b is None or b == "")
    if isinstance(a, bool) or isinstance(b, bool):
        return text(a).lower() == text(b).lower()
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return text(a).casefold() == text(b).casefold()


def _order(a: Any, b: Any) -> tuple[Any, Any]:
    try:
        return float(a), float(b)
    except (TypeError, ValueError):
        return text(a).casefold(), text(b).casefold()


def compare(op: str, a: Any, b: Any) -> bool:
    """PowerShell's comparison operators, case-insensitive as PowerShell's are by default."""
    if op in ("and", "or"):
        return (bool(a) and bool(b)) if op == "and" else (bool(a) or bool(b))
    if isinstance(a, list) and op in ("eq", "ne", "like", "notlike"):
        return any(compare(op, x, b) for x in a)  # a list on the left filters; any match
    if op == "eq":
        return _same(a, b)
    if op == "ne":
        return not _same(a, b)
    if op in ("like", "notlike"):
        hit = fnmatch.fnmatchcase(text(a).casefold(), text(b).casefold())
        return hit if op == "like" else not hit
    if op in ("in", "notin"):
        hit = any(_same(a, x) for x in (b if isinstance(b, list) else [b]))
        return hit if op == "in" else not hit
    if op == "contains":
        return any(_same(x, b) for x in (a if isinstance(a, list) else [a]))
    x, y = _order(a, b)
    return {"gt": x > y, "lt": x < y, "ge": x >= y, "le": x <= y}[op]


def condition(node: Cond, scope: Scope) -> bool:
    if node.op in ("and", "or"):
        left = bool(evaluate(node.left, scope))
        if node.op == "and" and not left:
            return False
        if node.op == "or" and left:
            return True
        return bool(evaluate(node.right, scope))
    return compare(node.op, evaluate(node.left, scope), evaluate(node.right, scope))


def native_argv(cmd: Command, scope: Scope) -> list[str]:
    """A native command's words as the command line would give them (values evaluated)."""
    argv = [cmd.name]
    for arg in cmd.args:
        if isinstance(arg, Param):
            argv.append(
                f"-{arg.name}"
                + (f":{_word(evaluate(arg.value, scope))}" if arg.value is not None else "")
            )
        else:
            argv.append(_word(evaluate(arg, scope)))
    return argv[1:] if argv[0].lower() == "commcredits" else argv


def _word(value: Any) -> str:
    if isinstance(value, list):
        if text_size(value, MAX_TEXT) > MAX_TEXT:
            raise TooLong(f"a value would be longer than {MAX_TEXT:,} characters as text")
        return ",".join(text(v) for v in value)
    return text(value)
