"""The parser of the PowerShell subset (see `powershell`): tokens into statements, checking
the grammar as it goes; each refusal names its line and column."""

from __future__ import annotations

from typing import Any

from commcredits.bulk.powershell import (
    COMPARISONS,
    MAX_DEPTH,
    Arr,
    Assign,
    Bare,
    Block,
    Command,
    Cond,
    Foreach,
    Hash,
    Num,
    Param,
    Pipeline,
    ScriptError,
    Token,
    Tokenizer,
)

KEYWORDS = frozenset(
    "if else elseif while do for switch function filter param try catch finally trap return "
    "break continue throw begin process end class until data dynamicparam exit".split()
)
_VALUE_START = ("str", "num", "var", "word", "@{", "@(", "(", "{")


def _describe(t: Token) -> str:
    if t.kind == "word":
        return f"'{t.value}'"
    if t.kind == "param":
        return f"-{t.value}"
    names = {"str": "a string", "num": "a number", "var": "a variable", "nl": "a line end"}
    return names.get(t.kind, "the end of the script" if t.kind == "eof" else f"'{t.kind}'")


class Parser:
    def __init__(self, text: str, source: str):
        self.source = source
        self.toks = Tokenizer(text, source).tokens()
        self.k = 0
        self.depth = 0

    def peek(self, off: int = 0) -> Token:
        return self.toks[min(self.k + off, len(self.toks) - 1)]

    def take(self) -> Token:
        token = self.toks[self.k]
        self.k = min(self.k + 1, len(self.toks) - 1)
        return token

    def error(self, t: Token, what: str) -> ScriptError:
        return ScriptError(self.source, t.pos, what)

    def expect(self, kind: str, what: str) -> Token:
        if self.peek().kind != kind:
            raise self.error(self.peek(), f"expected {what}, found {_describe(self.peek())}")
        return self.take()

    def skip_lines(self) -> None:
        while self.peek().kind == "nl":
            self.take()

    def nest(self, t: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(t, f"nesting deeper than {MAX_DEPTH} levels")

    def statements(self, end: str) -> tuple[Any, ...]:
        out = []
        while True:
            t = self.peek()
            if t.kind in ("nl", ";"):
                self.take()
                continue
            if t.kind == end:
                return tuple(out)
            if t.kind == "eof":
                raise self.error(t, f"a block is never closed (expected '{end}')")
            out.append(self.statement())
            t = self.peek()
            if t.kind not in ("nl", ";", end, "eof"):
                raise self.error(t, f"unexpected {_describe(t)} after the statement")

    def statement(self) -> Any:
        t = self.peek()
        if t.kind == "word" and t.value.lower() == "foreach" and self.peek(1).kind == "(":
            return self.foreach()
        if t.kind == "word" and t.value.lower() in KEYWORDS:
            raise self.error(t, f"'{t.value}' statements are not supported")
        if t.kind == "var" and self.peek(1).kind == "=":
            if t.value.props:
                raise self.error(t, "assigning to a property is not supported")
            self.take()
            self.take()
            self.skip_lines()
            if self.peek().kind in ("nl", ";", "eof"):
                raise self.error(self.peek(), f"{t.value.text} = needs a value")
            return Assign(t.value.name, self.pipeline(), t.pos)
        return self.pipeline()

    def pipeline(self) -> Pipeline:
        first = self.peek()
        stages = [self.command() if first.kind == "word" else self.condition()]
        while self.peek().kind == "|":
            self.take()
            self.skip_lines()
            if self.peek().kind != "word":
                raise self.error(self.peek(), "after | comes a command")
            stages.append(self.command())
        return Pipeline(tuple(stages), first.pos)

    def command(self) -> Command:
        name = self.take()
        args: list[Any] = []
        while self.peek().kind not in ("|", ";", "nl", "}", ")", "eof"):
            t = self.peek()
            if t.kind == "param":
                self.take()
                value = None
                if t.colon:
                    if self.peek().space or self.peek().kind not in _VALUE_START:
                        raise self.error(self.peek(), f"-{t.value}: needs a value right after")
                    value = self.primary(arg=True)
                args.append(Param(t.value, value, t.pos))
            else:
                args.append(self.value_list(arg=True))
        return Command(name.value, tuple(args), name.pos)

    def value_list(self, arg: bool = False) -> Any:
        first = self.primary(arg)
        items = [first]
        while self.peek().kind == ",":
            self.take()
            self.skip_lines()
            items.append(self.primary(arg))
        return first if len(items) == 1 else Arr(tuple(items), _pos(first))

    def condition(self) -> Any:
        left = self.compare()
        while self.peek().kind == "param" and self.peek().value.lower() in ("and", "or"):
            op = self.take()
            self.skip_lines()
            left = Cond(op.value.lower(), left, self.compare(), op.pos)
        return left

    def compare(self) -> Any:
        left = self.value_list()
        t = self.peek()
        if t.kind != "param":
            return left
        op = t.value.lower()
        op = op[1:] if op[:1] == "i" and op[1:] in COMPARISONS else op
        if op in ("and", "or"):
            return left
        if op not in COMPARISONS:
            raise ScriptError(
                self.source,
                t.pos,
                f"the operator -{t.value} is not supported",
                ", ".join("-" + c for c in (*COMPARISONS, "and", "or")),
            )
        self.take()
        return Cond(op, left, self.value_list(), t.pos)

    def primary(self, arg: bool = False) -> Any:
        t = self.peek()
        if t.kind == "str":
            node: Any = self.take().value
        elif t.kind == "num":
            node = Num(self.take().value, t.pos)
        elif t.kind == "var":
            node = self.take().value
        elif t.kind == "word":
            self.take()
            if not arg and t.value.lower() in KEYWORDS:
                raise self.error(t, f"'{t.value}' is not supported here")
            node = Bare(t.value, t.pos)
        elif t.kind == "@{":
            node = self.hashtable()
        elif t.kind in ("@(", "("):
            self.nest(self.take())
            self.skip_lines()
            if self.peek().kind == "word" and not self.peek().value[:1].isdigit():
                node = self.pipeline()  # `(Get-MgSubscribedSku | Where …)`
            elif self.peek().kind == ")" and t.kind == "@(":
                node = Arr((), t.pos)
            else:
                node = self.items_until(")", t)
            self.skip_lines()
            self.expect(")", "')'")
            self.depth -= 1
            if t.kind == "@(" and not isinstance(node, Arr):
                node = Arr((node,), t.pos)
        elif t.kind == "{":
            self.nest(self.take())
            node = Block(self.statements("}"), t.pos)
            self.take()
            self.depth -= 1
        else:
            raise self.error(t, f"expected a value, found {_describe(t)}")
        after = self.peek()
        if not after.space and after.kind in _VALUE_START:
            raise self.error(after, "values written together; quote them as one string")
        return node

    def items_until(self, end: str, start: Token) -> Any:
        """Values inside `@( … )` or `( … )`: comma lists, over lines and `;` as PowerShell
        reads them (each line adds its values to the array)."""
        items: list[Any] = []
        while True:
            while self.peek().kind in ("nl", ";"):
                self.take()
            if self.peek().kind in (end, "eof"):
                break
            node = self.condition()
            items.extend(node.items if isinstance(node, Arr) and start.kind == "@(" else [node])
        return items[0] if len(items) == 1 and start.kind == "(" else Arr(tuple(items), start.pos)

    def hashtable(self) -> Hash:
        start = self.take()
        self.nest(start)
        items: list[tuple[str, Any]] = []
        while True:
            while self.peek().kind in ("nl", ";"):
                self.take()
            t = self.peek()
            if t.kind == "}":
                self.take()
                break
            if t.kind == "word":
                key = t.value
            elif t.kind == "str" and all(isinstance(p, str) for p in t.value.parts):
                key = "".join(t.value.parts)
            else:
                raise self.error(t, f"expected a key (Name = value), found {_describe(t)}")
            self.take()
            self.expect("=", "'=' after the key")
            self.skip_lines()
            items.append((key, self.condition()))
            if self.peek().kind not in ("nl", ";", "}"):
                raise self.error(self.peek(), "expected ';', a line end or '}' after a value")
        self.depth -= 1
        return Hash(tuple(items), start.pos)

    def foreach(self) -> Foreach:
        start = self.take()
        self.expect("(", "'('")
        var = self.expect("var", "a variable ($user)")
        if var.value.props or var.value.name == "_":
            raise self.error(var, "expected a plain variable ($user)")
        word = self.expect("word", "'in'")
        if word.value.lower() != "in":
            raise self.error(word, "expected 'in'")
        source = self.pipeline() if self.peek().kind == "word" else self.value_list()
        self.expect(")", "')'")
        self.skip_lines()
        brace = self.expect("{", "'{'")
        self.nest(brace)
        body = Block(self.statements("}"), brace.pos)
        self.take()
        self.depth -= 1
        return Foreach(var.value.name, source, body, start.pos)


def _pos(node: Any) -> tuple[int, int]:
    return getattr(node, "pos", (0, 0))


def parse_script(text: str, source: str) -> tuple[Any, ...]:
    """The script's statements, or ScriptError at the first thing outside the subset."""
    parser = Parser(text, source)
    return parser.statements("eof")
