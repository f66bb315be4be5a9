"""The subset of PowerShell that admins' Graph scripts are written in: its syntax tree, its
tokenizer, and `parse` (the parser is `ps_parser`).

Scripts are parsed whole before anything runs, so a line outside the subset is refused with its
line and column (exit 2) and nothing is sent. The subset: statements separated by newlines or
`;`; `$var = <pipeline>`; `foreach ($x in <expr>) { ... }`; pipelines `A | B`; commands with
`-Param value`, `-Param:value` and switches; values: '…' and "…" strings (`''`, `""` and
backtick escapes, `$var` / `${var}` interpolated), numbers, barewords, `$var.Prop.Prop`, `$_`,
`@{ k = v; … }`, `@( … )`, `a, b` lists, `( … )` and `{ … }` script blocks holding either
statements or a condition (`$_.P -eq 'x' -and …`). `#` and `<# #>` comments, backtick line
continuation. Anything else (subexpressions, casts, indexing, splatting, here-strings, `if`,
functions) is an error naming where it is.

Input is bounded (MAX_SCRIPT_BYTES, MAX_DEPTH) and read in one pass: time is linear in its size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from commcredits.bulk.errors import UsageError

MAX_SCRIPT_BYTES = 1_000_000
MAX_DEPTH = 32
SUPPORTED = (
    "strings, numbers, barewords, $var, $var.Prop, $_, @{k = v}, @(a, b), a, b, { … } blocks, "
    "-Param value, |, ;, # comments"
)
COMPARISONS = ("eq", "ne", "like", "notlike", "in", "notin", "contains", "gt", "lt", "ge", "le")
DASHES = "-\u2013\u2014"  # PowerShell takes en and em dashes (pasted from web pages) as `-`
SQUOTES = "'\u2018\u2019"
DQUOTES = '"\u201c\u201d'
_STOP = set(" \t\r\n|;,(){}=\"'\u2018\u2019\u201c\u201d$`")
_ESCAPES = {"0": "\0", "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


class ScriptError(UsageError):
    """Where a script leaves the subset: `file:line:col: what — supported: …` (exit 2)."""

    def __init__(self, source: str, pos: tuple[int, int], what: str, supported: str = SUPPORTED):
        super().__init__(f"{source}:{pos[0]}:{pos[1]}: {what} — supported: {supported}")
        self.pos = pos


# --- syntax tree -------------------------------------------------------------------------


@dataclass(frozen=True)
class Var:
    name: str  # lower-case; "_" is the pipeline's current object
    props: tuple[str, ...]
    pos: tuple[int, int]
    text: str  # as written, for messages


@dataclass(frozen=True)
class Str:
    parts: tuple[str | Var, ...]
    pos: tuple[int, int]


@dataclass(frozen=True)
class Num:
    value: int | float
    pos: tuple[int, int]


@dataclass(frozen=True)
class Bare:
    text: str
    pos: tuple[int, int]


@dataclass(frozen=True)
class Hash:
    items: tuple[tuple[str, Any], ...]
    pos: tuple[int, int]


@dataclass(frozen=True)
class Arr:
    items: tuple[Any, ...]
    pos: tuple[int, int]


@dataclass(frozen=True)
class Cond:
    op: str  # a comparison, or "and" / "or" joining conditions
    left: Any
    right: Any
    pos: tuple[int, int]


@dataclass(frozen=True)
class Block:
    statements: tuple[Any, ...]
    pos: tuple[int, int]


@dataclass(frozen=True)
class Param:
    name: str
    value: Any  # the `-Name:value` form's value, else None
    pos: tuple[int, int]


@dataclass(frozen=True)
class Command:
    name: str
    args: tuple[Any, ...]  # Param and values, in order
    pos: tuple[int, int]


@dataclass(frozen=True)
class Pipeline:
    stages: tuple[Any, ...]  # the first may be a value; the others are Commands
    pos: tuple[int, int]


@dataclass(frozen=True)
class Assign:
    name: str
    value: Pipeline
    pos: tuple[int, int]


@dataclass(frozen=True)
class Foreach:
    name: str
    source: Any
    body: Block
    pos: tuple[int, int]


Node = Var | Str | Num | Bare | Hash | Arr | Cond | Block


# --- tokens ------------------------------------------------------------------------------


@dataclass
class Token:
    kind: str  # str num word param var @{ @( { } ( ) | ; nl , = eof
    value: Any
    pos: tuple[int, int]
    space: bool  # whitespace (or the start of a line) before it
    colon: bool = field(default=False)  # `-Param:` (its value follows)


class Tokenizer:
    def __init__(self, text: str, source: str):
        if len(text.encode("utf-8", "surrogatepass")) > MAX_SCRIPT_BYTES:
            raise UsageError(f"{source}: the script is over {MAX_SCRIPT_BYTES:,} bytes")
        self.text, self.source, self.i, self.line, self.bol = text, source, 0, 1, 0

    def error(self, what: str, at: int | None = None) -> ScriptError:
        i = self.i if at is None else at
        line = self.text.count("\n", 0, i) + 1 if at is not None else self.line
        bol = self.text.rfind("\n", 0, i) + 1
        return ScriptError(self.source, (line, i - bol + 1), what)

    def _newline(self, i: int) -> None:
        self.line += 1
        self.bol = i + 1

    def tokens(self) -> list[Token]:
        out: list[Token] = []
        text, n = self.text, len(self.text)
        space = True
        while True:
            i = self.i
            if i >= n:
                out.append(Token("eof", None, (self.line, i - self.bol + 1), True))
                return out
            c = text[i]
            if c in " \t\r\f\ufeff\xa0":
                self.i, space = i + 1, True
                continue
            if c == "`" and text.startswith(("`\n", "`\r\n"), i):  # line continuation
                self.i = text.index("\n", i) + 1
                self._newline(self.i - 1)
                space = True
                continue
            if text.startswith("<#", i):
                end = text.find("#>", i + 2)
                if end < 0:
                    raise self.error("a <# comment that is never closed")
                for k in range(i, end):
                    if text[k] == "\n":
                        self._newline(k)
                self.i, space = end + 2, True
                continue
            if c == "#":
                end = text.find("\n", i)
                self.i = n if end < 0 else end
                continue
            pos = (self.line, i - self.bol + 1)
            token = self._token(c, i, pos, space)
            out.append(token)
            space = token.kind == "nl"

    def _token(self, c: str, i: int, pos: tuple[int, int], space: bool) -> Token:
        text = self.text
        nxt = text[i + 1] if i + 1 < len(text) else ""
        if c == "\n":
            self._newline(i)
            self.i = i + 1
            return Token("nl", None, pos, space)
        if c == "@" and nxt in "{(":
            self.i = i + 2
            return Token("@" + nxt, None, pos, space)
        if c == "@" and nxt in DQUOTES + SQUOTES:
            raise self.error('here-strings (@" … "@) are not supported')
        if c == "@":
            raise self.error("splatting (@var) is not supported")
        if c in "{}()|;,=":
            self.i = i + 1
            return Token(c, None, pos, space)
        if c == "[":
            raise self.error("type casts and [types] are not supported")
        if c in SQUOTES:
            return Token("str", self._single(i, pos), pos, space)
        if c in DQUOTES:
            return Token("str", self._double(i, pos), pos, space)
        if c == "$":
            var = self._var(i + 1, pos)
            if var is None:
                raise self.error("$ must start a variable ($name, $_ or ${name})")
            return Token("var", var, pos, space)
        if c in DASHES and (nxt.isalpha() or nxt == "?" or (nxt in DASHES and i + 2 < len(text))):
            j = i + 1
            while j < len(text) and (text[j].isalnum() or text[j] in "_?" or text[j] in DASHES):
                j += 1
            name = "".join("-" if ch in DASHES else ch for ch in text[i + 1 : j])
            colon = j < len(text) and text[j] == ":"
            self.i = j + colon
            return Token("param", name, pos, space, colon)
        return self._word(i, pos, space)

    def _word(self, i: int, pos: tuple[int, int], space: bool) -> Token:
        text, parts, j = self.text, [], i
        while j < len(text) and text[j] not in _STOP:
            if text[j] == "`" and j + 1 < len(text) and text[j + 1] != "\n":
                parts.append(text[j + 1])
                j += 2
                continue
            parts.append(text[j])
            j += 1
        if j < len(text) and text[j] == "`" and j == i:
            raise self.error("a stray backtick")
        self.i = j
        word = "".join(parts)
        if word[:1] in DASHES and word[1:2].isdigit() or word[:1].isdigit():
            try:
                return Token("num", int(word), pos, space)
            except ValueError:
                try:
                    return Token("num", float(word), pos, space)
                except ValueError:
                    pass
        return Token("word", word, pos, space)

    def _single(self, i: int, pos: tuple[int, int]) -> Str:
        text, parts, j = self.text, [], i + 1
        while True:
            k = j
            while k < len(text) and text[k] not in SQUOTES:
                k += 1
            if k >= len(text):
                raise self.error("a string that is never closed", i)
            parts.append(text[j:k])
            if k + 1 < len(text) and text[k + 1] in SQUOTES:  # '' is one '
                parts.append("'")
                j = k + 2
                continue
            self._lines(i, k)
            self.i = k + 1
            return Str(("".join(parts),), pos)

    def _double(self, i: int, pos: tuple[int, int]) -> Str:
        text, parts, buf, j = self.text, [], [], i + 1
        # the line and its start where j is, kept as j moves (a string may span lines): each
        # variable's place costs nothing, so a string of many $a reads in linear time
        line, bol = self.line, self.bol
        while True:
            if j >= len(text):
                raise self.error("a string that is never closed", i)
            c = text[j]
            if c in DQUOTES:
                if j + 1 < len(text) and text[j + 1] in DQUOTES:
                    buf.append('"')
                    j += 2
                    continue
                break
            if c == "\n":
                line, bol = line + 1, j + 1
            if c == "`" and j + 1 < len(text):
                if text[j + 1] == "\n":
                    line, bol = line + 1, j + 2
                buf.append(_ESCAPES.get(text[j + 1], text[j + 1]))
                j += 2
                continue
            if c == "$":
                if text.startswith("$(", j):
                    raise self.error(
                        "subexpressions $( … ) in strings are not supported; assign the value "
                        'to a variable first and write "$name"',
                        j,
                    )
                var = self._var(j + 1, (line, j - bol + 1), member=False)
                if var is not None:
                    if buf:
                        parts.append("".join(buf))
                        buf = []
                    parts.append(var)
                    if var.text.startswith("${") and "\n" in var.text:  # ${a<newline>b}
                        line += var.text.count("\n")
                        bol = j + var.text.rfind("\n") + 1
                    j = self.i
                    continue
            buf.append(c)
            j += 1
        if buf or not parts:
            parts.append("".join(buf))
        self._lines(i, j)
        self.i = j + 1
        return Str(tuple(parts), pos)

    def _lines(self, start: int, end: int) -> None:
        """Count the newlines inside a string token (strings may span lines)."""
        newlines = self.text.count("\n", start, end)
        if newlines:
            self.line += newlines
            self.bol = self.text.rfind("\n", start, end) + 1

    def _var(self, j: int, pos: tuple[int, int], member: bool = True) -> Var | None:
        """A variable after `$` (at j); with `member`, its `.Prop` chain. Sets self.i."""
        text, start = self.text, j - 1
        if j < len(text) and text[j] == "{":
            end = text.find("}", j)
            if end < 0:
                raise self.error("a ${ that is never closed", start)
            name, j = text[j + 1 : end], end + 1
        else:
            k = j
            while k < len(text) and (text[k].isalnum() or text[k] in "_:"):
                k += 1
            name, j = text[j:k].rstrip(":"), j + len(text[j:k].rstrip(":"))
        if not name:
            return None
        if name.lower().startswith(("env:", "global:", "script:")):
            raise self.error(f"scoped variables (${name}) are not supported", start)
        props: list[str] = []
        while member and j + 1 < len(text) and text[j] == "." and (text[j + 1].isalpha()):
            k = j + 1
            while k < len(text) and (text[k].isalnum() or text[k] == "_"):
                k += 1
            props.append(text[j + 1 : k])
            j = k
        if member and j < len(text) and text[j] in "[(":
            what = "indexing ($x[0])" if text[j] == "[" else "method calls ($x.Method())"
            raise self.error(f"{what} is not supported", j)
        self.i = j
        return Var(name.lower(), tuple(props), pos, text[start:j])


def parse(text: str, source: str = "<line>") -> tuple[Any, ...]:
    """The script's statements, or ScriptError at the first thing outside the subset."""
    from commcredits.bulk.ps_parser import parse_script  # the parser builds on this module

    return parse_script(text, source)
