"""Every GraphQL operation our own clients send is valid against the schema and uses no
deprecated field: the console's documents (template literals in its ES modules, with their
`${CONSTANT}` pieces filled in from the constants the module defines or imports), the bulk
CLI's (module constants, and the one it builds per request), and GraphiQL's welcome query.

A variable declared with the wrong type (`$userId: String!` where an argument takes `ID!`) is
a validation error; a deprecated field fails NoDeprecatedCustomRule.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from graphql import parse, specified_rules, validate
from graphql.validation import NoDeprecatedCustomRule

import commcredits.bulk
from commcredits import graphiql
from commcredits.bulk import licensing
from commcredits.schema.root import schema

ROOT = Path(__file__).resolve().parents[1]
CONSOLE = ROOT / "commcredits" / "console" / "static"
BULK = ROOT / "commcredits" / "bulk"
RULES = [*specified_rules, NoDeprecatedCustomRule]
KEYWORD = re.compile(r"(query|mutation|subscription)(?![\w$])")
IDENT = re.compile(r"[A-Za-z_$][\w$]*")

# -- reading the console's modules --------------------------------------------------------------


@dataclass
class Literal:
    """A JS string or template literal: its text pieces, and the `${…}` expressions between."""

    start: int
    end: int
    template: bool
    parts: list[str | Interpolation] = field(default_factory=list)

    def leading_text(self) -> str:
        return self.parts[0] if self.parts and isinstance(self.parts[0], str) else ""


@dataclass
class Interpolation:
    expression: str


# After these, a `/` starts a regular expression rather than a division.
REGEX_AFTER_CHARS = set("(,=:[!&|?{};+-*%<>~^")
REGEX_AFTER_WORDS = {"return", "typeof", "case", "do", "else", "in", "of", "new", "delete", "void"}


class JsScanner:
    """Just enough of a JavaScript lexer to find string and template literals: it skips
    comments and regular expressions, and follows `${…}` (with nested literals) in templates.
    `inert` are the spans that are not code (comments, strings, a template's text), where a
    `gql(` is no call."""

    def __init__(self, source: str) -> None:
        self.s = source
        self.literals: list[Literal] = []
        self.inert: list[tuple[int, int]] = []

    def scan(self) -> list[Literal]:
        end = self._code(0, nested=False)
        assert end == len(self.s)
        return self.literals

    def _code(self, i: int, *, nested: bool) -> int:
        """Code from i; inside `${…}` (nested), up to and past its closing brace."""
        s, depth, prev = self.s, 0, ""
        while i < len(s):
            c = s[i]
            if s.startswith("//", i):
                start, i = i, s.find("\n", i)
                i = len(s) if i < 0 else i
                self.inert.append((start, i))
                continue
            if s.startswith("/*", i):
                start, i = i, s.index("*/", i) + 2
                self.inert.append((start, i))
                continue
            if c in "\"'":
                i = self._string(i)
                prev = "x"
                continue
            if c == "`":
                i = self._template(i)
                prev = "x"
                continue
            if c == "/" and (prev == "" or prev in REGEX_AFTER_CHARS or prev in REGEX_AFTER_WORDS):
                i = self._regex(i)
                prev = "x"
                continue
            if c == "{":
                depth += 1
            elif c == "}":
                if nested and depth == 0:
                    return i + 1
                depth -= 1
            if c.isspace():
                i += 1
                continue
            word = IDENT.match(s, i)
            if word:
                prev = word.group()
                i = word.end()
                continue
            prev = c
            i += 1
        assert not nested, "unterminated ${…}"
        return i

    def _string(self, i: int) -> int:
        quote, j, text = self.s[i], i + 1, []
        while self.s[j] != quote:
            if self.s[j] == "\\":
                text.append(self.s[j : j + 2])
                j += 2
            else:
                assert self.s[j] != "\n", f"unterminated string at {i}"
                text.append(self.s[j])
                j += 1
        self.literals.append(Literal(i, j + 1, False, ["".join(text)]))
        self.inert.append((i, j + 1))
        return j + 1

    def _template(self, i: int) -> int:
        literal = Literal(i, -1, True)
        self.literals.append(literal)
        j, text, piece = i + 1, [], i
        while self.s[j] != "`":
            if self.s[j] == "\\":
                text.append(self.s[j : j + 2])
                j += 2
            elif self.s.startswith("${", j):
                literal.parts.append("".join(text))
                self.inert.append((piece, j))
                text = []
                end = self._code(j + 2, nested=True)
                literal.parts.append(Interpolation(self.s[j + 2 : end - 1].strip()))
                j = piece = end
            else:
                text.append(self.s[j])
                j += 1
        literal.parts.append("".join(text))
        literal.end = j + 1
        self.inert.append((piece, j + 1))
        return j + 1

    def _regex(self, i: int) -> int:
        j, in_class = i + 1, False
        while in_class or self.s[j] != "/":
            if self.s[j] == "\\":
                j += 1
            elif self.s[j] == "[":
                in_class = True
            elif self.s[j] == "]":
                in_class = False
            assert self.s[j] != "\n", f"unterminated regular expression at {i}"
            j += 1
        j += 1
        while j < len(self.s) and self.s[j].isalpha():  # flags
            j += 1
        return j


CONST = re.compile(r"^(?:export\s+)?const\s+([A-Za-z_$][\w$]*)\s*=\s*", re.M)
IMPORT = re.compile(r"import\s*\{([^}]*)\}\s*from\s*[\"']([^\"']+)[\"']")
CALL = re.compile(r"(?<![\w$.])(?<!function )(gql|subscribe)\(\s*([^,)]*)")


@dataclass
class Module:
    path: Path
    source: str
    literals: list[Literal]
    inert: list[tuple[int, int]]  # comments, strings, templates' text: no calls there
    constants: dict[str, Literal]  # const NAME = <one literal>;
    imports: dict[str, tuple[Path, str]]  # local name -> (module, exported name)


_modules: dict[Path, Module] = {}


def module(path: Path) -> Module:
    path = path.resolve()
    if path not in _modules:
        source = path.read_text(encoding="utf-8")
        scanner = JsScanner(source)
        literals = scanner.scan()
        by_start = {lit.start: lit for lit in literals}
        constants = {}
        for m in CONST.finditer(source):
            lit = by_start.get(m.end())
            if lit and re.match(r"\s*;", source[lit.end :]):
                constants[m.group(1)] = lit
        imports = {}
        for m in IMPORT.finditer(source):
            for item in m.group(1).split(","):
                names = item.split(" as ")
                if item.strip():
                    target = (path.parent / m.group(2)).resolve()
                    imports[names[-1].strip()] = (target, names[0].strip())
        _modules[path] = Module(path, source, literals, scanner.inert, constants, imports)
    return _modules[path]


def constant(mod: Module, name: str) -> tuple[Module, Literal] | None:
    if name in mod.constants:
        return mod, mod.constants[name]
    if name in mod.imports:
        target, exported = mod.imports[name]
        return constant(module(target), exported)
    return None


def resolve(mod: Module, lit: Literal, seen: tuple[str, ...] = ()) -> str:
    """The literal's text with every `${NAME}` replaced by that constant's text."""
    out = []
    for part in lit.parts:
        if isinstance(part, str):
            out.append(part)
            continue
        found = constant(mod, part.expression) if IDENT.fullmatch(part.expression) else None
        if found is None or part.expression in seen:
            raise AssertionError(
                f"{mod.path.relative_to(ROOT)}: `${{{part.expression}}}` in a GraphQL document "
                "is no constant this module defines or imports"
            )
        out.append(resolve(*found, seen=(*seen, part.expression)))
    return "".join(out)


def is_operation(lit: Literal) -> bool:
    text = lit.leading_text().lstrip()
    if KEYWORD.match(text):
        return lit.template or "{" in "".join(p for p in lit.parts if isinstance(p, str))
    # An anonymous query ("{ viewer { role } }"); `{${name}}` and JSON are no selection.
    return lit.template and re.match(r"\{\s*[_A-Za-z]", text) is not None


def console_files() -> list[Path]:
    return sorted(p for p in CONSOLE.rglob("*.js") if "vendor" not in p.relative_to(CONSOLE).parts)


def console_operations() -> dict[str, str]:
    """`file:line` -> the document, for every GraphQL literal of the console."""
    found = {}
    for path in console_files():
        mod = module(path)
        for lit in mod.literals:
            if is_operation(lit):
                line = mod.source.count("\n", 0, lit.start) + 1
                found[f"{path.relative_to(ROOT)}:{line}"] = resolve(mod, lit)
    return found


# -- the bulk CLI's -----------------------------------------------------------------------------


def bulk_modules() -> list[str]:
    return [
        f"commcredits.bulk.{m.name}"
        for m in pkgutil.iter_modules(commcredits.bulk.__path__)
        if not m.ispkg
    ]


def looks_like_operation(text: str) -> bool:
    return bool(KEYWORD.match(text.lstrip()) or re.match(r"\{\s*[_A-Za-z]", text.lstrip()))


class RecordingTransport:
    """Answers nothing; keeps what would have been sent."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def execute(self, query: str, variables: dict | None = None) -> dict:
        self.sent.append(query)
        return {}


# Functions that build their document per request: run, and what they send is checked.
BUILT_PER_REQUEST = {("licensing.py", "user_upns")}


def bulk_operations() -> dict[str, str]:
    found = {}
    for name in ["commcredits.bulk", *bulk_modules()]:
        mod = importlib.import_module(name)
        for attr, value in vars(mod).items():
            if isinstance(value, str) and looks_like_operation(value) and attr.isupper():
                found.setdefault(value, f"{name}.{attr}")
    transport = RecordingTransport()
    licensing.user_upns(transport, ["VXNlcjox", "VXNlcjoy"])
    for text in transport.sent:
        found.setdefault(text, "commcredits.bulk.licensing.user_upns")
    return {where: text for text, where in found.items()}


def inline_bulk_documents() -> list[tuple[str, str]]:
    """(file, function) of every GraphQL text in bulk's source that is not a module constant."""
    inline = []
    for path in sorted(BULK.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(fn):
                text = None
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    text = node.value
                elif isinstance(node, ast.JoinedStr) and node.values:
                    first = node.values[0]
                    text = first.value if isinstance(first, ast.Constant) else None
                if text and KEYWORD.match(text.lstrip()) and re.search(r"[({]", text):
                    inline.append((path.name, fn.name))
    return sorted(set(inline))


# -- the checks ---------------------------------------------------------------------------------

CONSOLE_OPERATIONS = console_operations()
BULK_OPERATIONS = bulk_operations()
ALL = (
    {f"console {k}": v for k, v in CONSOLE_OPERATIONS.items()}
    | {f"bulk {k}": v for k, v in BULK_OPERATIONS.items()}
    | {"graphiql WELCOME_QUERY": graphiql.WELCOME_QUERY}
)


@pytest.mark.parametrize("where", sorted(ALL))
def test_operation_is_valid_and_uses_nothing_deprecated(where):
    errors = validate(schema._schema, parse(ALL[where]), RULES)
    assert not errors, f"{where}:\n" + "\n".join(f"  {e.message}" for e in errors)


def test_every_client_operation_was_found():
    # Nothing silently skipped: the console has a dozen pages' documents, bulk its commands'.
    assert len(CONSOLE_OPERATIONS) >= 20, sorted(CONSOLE_OPERATIONS)
    assert len(BULK_OPERATIONS) >= 12, sorted(BULK_OPERATIONS)
    kinds = {parse(text).definitions[0].operation.value for text in CONSOLE_OPERATIONS.values()}
    assert kinds == {"query", "mutation", "subscription"}


def calls_in(source: str, inert: list[tuple[int, int]]) -> list[re.Match[str]]:
    """The `gql(`/`subscribe(` calls of the code: none in a comment or a string."""
    return [m for m in CALL.finditer(source) if not any(a <= m.start() < b for a, b in inert)]


def test_calls_are_read_from_code_only():
    source = (
        "// gql(NOT_A_CONSTANT) in a comment\n"
        "/* subscribe(nor, this) */\n"
        "const QUERY = `query Q { viewer { role } } ${WHERE}`;\n"
        'const message = "retry gql(later)";\n'
        "const said = `gql(no) ${gql(QUERY)} subscribe(no)`;\n"
        "gql(QUERY);\n"
    )
    scanner = JsScanner(source)
    scanner.scan()
    assert [m.group(2) for m in calls_in(source, scanner.inert)] == ["QUERY", "QUERY"]


def test_every_console_request_sends_a_checked_document():
    """gql(X, …) and subscribe(X, …) name a constant that is one of the documents above, so a
    document built some other way (concatenated, in a function) cannot escape the check."""
    checked = set(CONSOLE_OPERATIONS.values())
    calls = 0
    for path in console_files():
        mod = module(path)
        for m in calls_in(mod.source, mod.inert):
            where = f"{path.relative_to(ROOT)}:{mod.source.count(chr(10), 0, m.start()) + 1}"
            arg = m.group(2).strip()
            assert IDENT.fullmatch(arg), f"{where}: {m.group(1)}({arg}, …) sends no constant"
            found = constant(mod, arg)
            assert found, f"{where}: {arg} is no constant of the module"
            assert resolve(*found) in checked, f"{where}: {arg} is no checked document"
            calls += 1
    assert calls >= 20


def test_bulk_builds_no_unchecked_document():
    assert inline_bulk_documents() == sorted(BUILT_PER_REQUEST)


def test_the_scanner_skips_comments_and_regular_expressions():
    source = (
        "// `balance { amount }` in a comment\n"
        "const STRIP = /[\"`']/g; /* 'no string' */\n"
        'const half = total / 2; const ratio = n / "2".length;\n'
        "const Q = `query { ${F} }`;\n"
        'const K = `a.${x ? `b${y}` : ""}`;\n'
    )
    found = JsScanner(source).scan()
    texts = [[p if isinstance(p, str) else p.expression for p in lit.parts] for lit in found]
    assert texts == [
        ["2"],
        ["query { ", "F", " }"],
        ["a.", 'x ? `b${y}` : ""', ""],
        ["b", "y", ""],
        [""],
    ]


def test_the_scanner_fills_in_constants():
    mod = module(CONSOLE / "pages" / "credits.js")
    overview = resolve(mod, mod.constants["OVERVIEW"])
    assert "history(days: 90)" in overview and "${" not in overview
    calls = module(CONSOLE / "pages" / "calls.js")
    live = resolve(calls, calls.constants["LIVE"])
    assert live.startswith("subscription CallsLive { callRated { id callId")
