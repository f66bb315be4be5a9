"""The object cmdlets that need no server, on the values ps_values.py evaluates: Where-Object,
Select-Object (rows of a sheet keep their row numbers), and the table an unassigned pipeline
prints (CSV, as the native Get-* commands print it).
"""

from __future__ import annotations

from typing import Any, TextIO

import polars as pl

from commcredits.bulk.powershell import ScriptError, Var
from commcredits.bulk.ps_values import (
    MAX_TEXT,
    Rows,
    Scope,
    TooLong,
    evaluate,
    member,
    text,
    text_size,
)
from commcredits.bulk.report_files import write_report


def as_items(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, Rows):
        return value.items()
    return value if isinstance(value, list) else [value]


def unwrap(items: list[Any]) -> Any:
    """A pipeline's output as PowerShell assigns it: one object alone, else an array."""
    return items[0] if len(items) == 1 else items


def where(value: Any, test: Any, scope: Scope) -> Any:
    """Where-Object: `test(item)` per item; Import-Csv rows stay rows (with their numbers)."""
    items = as_items(value)
    mask = [bool(test(item, scope.with_row("_", item))) for item in items]
    if isinstance(value, Rows):
        return value.keep(mask)
    return unwrap([item for item, keep in zip(items, mask, strict=True) if keep])


def _cell(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        if text_size(value, MAX_TEXT) > MAX_TEXT:
            raise TooLong(f"a cell would be longer than {MAX_TEXT:,} characters")
        return ";".join(_cell(v) or "" for v in value)
    if isinstance(value, dict):
        first = next((v for v in value.values() if isinstance(v, str)), None)
        return first if first is not None else ""
    return text(value)


def table(value: Any) -> pl.DataFrame | None:
    """Objects as a frame of text columns (lists joined with `;`); None for plain values."""
    if isinstance(value, Rows):
        return value.sheet.frame
    items = as_items(value)
    if not items or not all(isinstance(i, dict) for i in items):
        return None
    columns = list(dict.fromkeys(k for item in items for k in item))
    data = {
        c: [_cell(member(i, c, Var("_", (), (0, 0), c), _NO_SCOPE)) for i in items] for c in columns
    }
    return pl.DataFrame(data, schema={c: pl.String for c in columns})


_NO_SCOPE = Scope({}, "")


def show(value: Any, out: TextIO) -> None:
    """An unassigned pipeline's output: objects as CSV (as the native Get-* commands write
    them, so the next command of a shell pipeline can read them), values one per line."""
    frame = table(value)
    if frame is not None:
        write_report(frame, out)  # cells a spreadsheet would run as formulas neutralized
        return
    for item in as_items(value):
        out.write(text(item) + "\n")
    out.flush()


# --- Select-Object, -Property, and native command words ------------------------------------


def var_of(node: Any) -> Var:
    return Var("_", (), node.pos, f"$_.{getattr(node, 'text', '')}")


def columns(items: list[dict[str, Any]], bound: dict[str, Any], scope: Scope) -> list[Any]:
    """-Property / -Select: Id and the properties named, as Graph returns them."""
    node = bound.get("Property") or bound.get("Select")
    if node is None:
        return items
    wanted = evaluate(node, scope)
    wanted = [text(w).strip() for w in (wanted if isinstance(wanted, list) else [wanted])]
    low = {w.lower() for w in wanted} | {"id"}
    return [{k: v for k, v in i.items() if k.lower() in low} for i in items]


def switch_on(bound: dict[str, Any], name: str, scope: Scope) -> bool:
    """A switch: given (`-WhatIf`), or given a value (`-WhatIf:$false`), which counts."""
    value = bound.get(name)
    if value is None or value is True:
        return bool(value)
    return bool(evaluate(value, scope))


def count_of(node: Any, scope: Scope, what: str) -> int:
    """-First N, -Top N: a whole number, 0 or more ("5", 5 and 5.0 are five)."""
    value = evaluate(node, scope)
    number: Any = value
    if isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            number = None
    if isinstance(number, float) and number.is_integer():
        number = int(number)
    if isinstance(number, bool) or not isinstance(number, int) or number < 0:
        raise ScriptError(
            scope.source,
            getattr(node, "pos", (0, 0)),
            f"-{what} takes a whole number, 0 or more, not {text(value)!r}",
            f"-{what} 10",
        )
    return number


def select(value: Any, bound: dict[str, Any], scope: Scope) -> Any:
    if isinstance(value, Rows) and "ExpandProperty" not in bound and "Property" not in bound:
        return _select_rows(value, bound, scope)
    items = as_items(value)
    if "ExpandProperty" in bound:
        name = text(evaluate(bound["ExpandProperty"], scope))
        out = []
        for item in items:
            got = member(item, name, var_of(bound["ExpandProperty"]), scope)
            out.extend(got if isinstance(got, list) else [got])
        items = out
    elif "Property" in bound:
        names = evaluate(bound["Property"], scope)
        names = [text(n) for n in (names if isinstance(names, list) else [names])]
        items = [{n: member(i, n, var_of(bound["Property"]), scope) for n in names} for i in items]
    if switch_on(bound, "Unique", scope):
        seen: dict[str, Any] = {}
        for item in items:
            seen.setdefault(text(item).casefold(), item)
        items = list(seen.values())
    if "First" in bound:
        items = items[: count_of(bound["First"], scope, "First")]
    return unwrap(items) if items else None


def _select_rows(rows: Rows, bound: dict[str, Any], scope: Scope) -> Rows:
    """-First / -Unique on Import-Csv rows: the rows kept stay rows, with their numbers (for
    the report of a loop over them)."""
    items = rows.items()
    mask = [True] * len(items)
    if switch_on(bound, "Unique", scope):
        seen: set[str] = set()
        for n, item in enumerate(items):
            key = text(item).casefold()
            mask[n] = key not in seen
            seen.add(key)
    if "First" in bound:
        room = count_of(bound["First"], scope, "First")
        for n, keep in enumerate(mask):
            if keep:
                mask[n] = room > 0
                room -= 1
    return rows.keep(mask)
