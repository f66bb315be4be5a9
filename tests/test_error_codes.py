"""Error codes are part of the schema: every code the service produces is an `ErrorCode`
member with a description, every member is produced somewhere, and the README's tables agree.

The producers are found by reading the source (AST), not by running it, so a code on a path no
other test takes is checked too. A code is produced by
- a call to `DomainError`/`ErrorDetail`, to a subclass or helper of theirs, or to any function
  or class with a parameter named `code` or `*_code` (the literal at that position, or the
  keyword; a default of such a parameter too);
- a dict literal with the key "code" (GraphQL `extensions`, websocket errors);
- a comparison `<something>.code == "…"` (a consumer switching on a code).
The value may be a literal, an `ErrorCode.X`, a module constant holding a literal, or a
conditional of those; anything else must be a pass-through (`code`, `error.code`).
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

from commcredits.services import error_codes, error_table
from commcredits.services.error_codes import ErrorCode, known

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "commcredits"
CLIENT_SIDE = {"bulk", "console"}  # they read codes; checked below against the catalog
CODE_PARAM = re.compile(r"^(code|[a-z]+(?:_[a-z]+)*_code)$")
NOT_ERROR_CODES = {"decline_code", "status_code", "postal_code", "country_code", "exit_code"}
# Callables whose `code` is something else: Stripe's decline codes, websocket close codes.
OTHER_CODES = {"_declined", "close", "close_soon"}


def _is_code_param(name: str | None) -> bool:
    return bool(name) and bool(CODE_PARAM.match(name)) and name not in NOT_ERROR_CODES


class Scan:
    """The codes a set of modules produce: {code: ["path:line", …]}, and what it cannot read."""

    def __init__(self, modules: dict[str, str]):
        self.trees = {name: ast.parse(text, name) for name, text in modules.items()}
        self.found: dict[str, list[str]] = defaultdict(list)
        self.unreadable: list[str] = []
        self.takes: dict[str, set[int]] = defaultdict(set, DomainError={0}, ErrorDetail={0})
        self.bases: dict[str, list[str]] = {}
        self.constants: dict[str, dict[str, str]] = defaultdict(dict)
        for name, tree in self.trees.items():
            self._declarations(name, tree)
        for name in OTHER_CODES:
            self.takes.pop(name, None)
        for name, tree in self.trees.items():
            self._uses(name, tree)

    def _declarations(self, module: str, tree: ast.Module) -> None:
        for node in tree.body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                for target in node.targets:
                    if isinstance(target, ast.Name) and isinstance(node.value.value, str):
                        self.constants[module][target.id] = node.value.value
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                self.bases[node.name] = [b.id for b in node.bases if isinstance(b, ast.Name)]
                for item in node.body:
                    if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                        self._params(node.name, item, module, skip=1)
            elif (
                isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name != "__init__"
            ):
                first = (node.args.posonlyargs + node.args.args)[:1]
                skip = 1 if first and first[0].arg in ("self", "cls") else 0
                self._params(node.name, node, module, skip=skip)

    def _params(self, owner: str, fn: ast.FunctionDef | ast.AsyncFunctionDef, module, skip):
        positional = fn.args.posonlyargs + fn.args.args
        for i, arg in enumerate(positional[skip:]):
            if _is_code_param(arg.arg):
                self.takes[owner].add(i)
        defaults = list(
            zip(
                positional[len(positional) - len(fn.args.defaults) :], fn.args.defaults, strict=True
            )
        )
        defaults += [
            (a, d) for a, d in zip(fn.args.kwonlyargs, fn.args.kw_defaults, strict=True) if d
        ]
        for arg, default in defaults:
            if _is_code_param(arg.arg) and owner not in OTHER_CODES:
                self._record(default, module, f"{module}:{default.lineno}")

    def _uses(self, module: str, tree: ast.Module) -> None:
        classes = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                for child in ast.walk(node):
                    classes.setdefault(child, node.name)
        for node in ast.walk(tree):
            where = f"{module}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Call):
                name = _callee(node.func)
                positions = set()
                if name == "__init__" and _is_super(node.func):
                    for base in self.bases.get(classes.get(node, ""), []):
                        positions |= self.takes.get(base, set())
                elif name in self.takes:
                    positions = self.takes[name]
                for i in positions:
                    if i < len(node.args) and not isinstance(node.args[i], ast.Starred):
                        self._record(node.args[i], module, where)
                if name not in OTHER_CODES:
                    for keyword in node.keywords:
                        if _is_code_param(keyword.arg):
                            self._record(keyword.value, module, where)
            elif isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if isinstance(key, ast.Constant) and key.value == "code":
                        self._record(value, module, where)
            elif isinstance(node, ast.Compare) and len(node.comparators) == 1:
                left, right = node.left, node.comparators[0]
                for a, b in ((left, right), (right, left)):
                    if (
                        isinstance(a, ast.Attribute)
                        and a.attr == "code"
                        and isinstance(b, ast.Constant)
                        and isinstance(b.value, str)
                    ):
                        self._record(b, module, where)

    def _record(self, value: ast.expr, module: str, where: str) -> None:
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            self.found[value.value].append(where)
        elif isinstance(value, ast.IfExp):
            self._record(value.body, module, where)
            self._record(value.orelse, module, where)
        elif (
            isinstance(value, ast.Attribute)
            and isinstance(value.value, ast.Name)
            and value.value.id == "ErrorCode"
        ):
            self.found[value.attr].append(where)
        elif isinstance(value, ast.Name) and self._constant(module, value.id) is not None:
            self.found[self._constant(module, value.id)].append(where)
        elif isinstance(value, ast.Name) and _is_code_param(value.id):
            pass  # a helper passing its own `code` on: its callers are checked
        elif isinstance(value, ast.Attribute) and value.attr == "code":
            pass  # an error's code passed on: where it was raised is checked
        elif isinstance(value, ast.Constant) and value.value is None:
            pass
        elif isinstance(value, ast.Call) and _callee(value.func) == "known" and value.args:
            self._record(value.args[0], module, where)  # the catalog's own lookup
        else:
            self.unreadable.append(f"{where}: {ast.unparse(value)}")

    def _constant(self, module: str, name: str) -> str | None:
        if name in self.constants[module]:
            return self.constants[module][name]
        # imported: the same name defined as a module constant elsewhere in the package
        values = {c[name] for c in self.constants.values() if name in c}
        return values.pop() if len(values) == 1 else None


def _callee(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _is_super(func: ast.expr) -> bool:
    return (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Call)
        and _callee(func.value.func) == "super"
    )


def _package_modules() -> dict[str, str]:
    return {
        str(path.relative_to(ROOT)): path.read_text(encoding="utf-8")
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.relative_to(PACKAGE).parts[0] not in CLIENT_SIDE
        and path != PACKAGE / "services" / "error_codes.py"
    }


@pytest.fixture(scope="module")
def scan() -> Scan:
    return Scan(_package_modules())


CATALOG = {code.value for code in ErrorCode}


# -- the catalog --------------------------------------------------------------------------------


def test_every_member_is_named_as_spelled_and_described():
    for code in ErrorCode:
        assert code.name == code.value, code  # the GraphQL enum value is the wire spelling
        assert code.description.strip().endswith((".", ")")), code
        assert len(code.description) <= 100, code
        assert code.area in {
            error_codes.REQUEST,
            error_codes.ACCESS,
            error_codes.INPUT,
            error_codes.DIRECTORY,
            error_codes.LICENSES,
            error_codes.CREDITS,
            error_codes.BILLING,
            error_codes.CALLS,
            error_codes.RATES,
            error_codes.WEBHOOKS,
        }, code
    graph = {c.value for c in ErrorCode if c.area == error_codes.LICENSES and not c.isupper()}
    assert graph == {
        "InvalidSku",
        "InvalidServicePlan",
        "InvalidLicenseOperation",
        "ProhibitedInUsageLocationViolation",
        "CountViolation",
        "DependencyViolation",
        "MutuallyExclusiveViolation",
    }


def test_members_are_the_wire_strings():
    assert ErrorCode.NOT_FOUND == "NOT_FOUND"
    assert ErrorCode("CountViolation") is ErrorCode.CountViolation
    assert f"{ErrorCode.InvalidSku}" == "InvalidSku"


def test_an_unknown_code_is_logged_and_answered_as_internal_error(caplog):
    with caplog.at_level("ERROR", logger="commcredits.errors"):
        assert known("NO_SUCH_CODE") is ErrorCode.INTERNAL_ERROR
    assert "NO_SUCH_CODE" in caplog.text
    assert known("CountViolation") is ErrorCode.CountViolation


# -- the source against the catalog -------------------------------------------------------------


def test_every_code_the_service_produces_is_a_member(scan):
    unknown = {code: where for code, where in scan.found.items() if code not in CATALOG}
    assert not unknown, f"codes missing from ErrorCode (services/error_codes.py): {unknown}"


def test_every_code_value_can_be_read(scan):
    assert not scan.unreadable, (
        "pass a literal, an ErrorCode member or a module constant as a code, so that this test "
        f"can check it: {scan.unreadable}"
    )


def test_every_member_is_produced_somewhere(scan):
    dead = CATALOG - set(scan.found)
    assert not dead, f"codes nothing produces (drop them from ErrorCode): {sorted(dead)}"


def test_the_scan_finds_a_code_the_catalog_lacks():
    """The scan itself: each kind of producer, with a code that is not a member."""
    source = """
from commcredits.services.errors import DomainError, ErrorDetail
LIMIT = "TOO_BIG_A"
def helper(code, message): return DomainError(code, message)
def check(x, *, invalid_code="TOO_BIG_F"): ...
class Mine(DomainError):
    def __init__(self): super().__init__("TOO_BIG_B", "m")
def f(error):
    raise DomainError("TOO_BIG_C", "m", "field")
    ErrorDetail(code="TOO_BIG_D", message="m")
    helper("TOO_BIG_E", "m")
    check(1, invalid_code="TOO_BIG_G")
    errors = {"code": LIMIT}
    errors = {"code": "TOO_BIG_H" if f else "NOT_FOUND"}
    if error.code == "TOO_BIG_I": pass
    raise DomainError(ErrorCode.FORBIDDEN, "m")
    raise DomainError(f"X{1}", "m")
"""
    found = Scan({"fake.py": source})
    assert {c for c in found.found if c.startswith("TOO_BIG_")} == {
        f"TOO_BIG_{x}" for x in "ABCDEFGHI"
    }
    assert {"NOT_FOUND", "FORBIDDEN"} <= set(found.found)
    assert found.unreadable == ["fake.py:17: f'X{1}'"]


# -- the schema ---------------------------------------------------------------------------------


def test_the_schema_has_the_enum_with_every_description():
    from commcredits.schema.root import schema

    enum = schema._schema.type_map["ErrorCode"]
    assert set(enum.values) == CATALOG
    for name, value in enum.values.items():
        assert value.description == ErrorCode(name).description
    user_error = schema._schema.type_map["UserError"]
    assert str(user_error.fields["code"].type) == "ErrorCode!"


def test_a_user_error_code_is_the_same_string_on_the_wire(api):
    out = api(
        """mutation { assignLicense(userId: "nobody@fabrikam.example", addLicenses: [],
             removeLicenses: []) { userErrors { field code message } } }"""
    )["assignLicense"]
    assert out["userErrors"][0]["code"] == "NOT_FOUND"
    out = api(
        'mutation { purchaseSeats(skuPartNumber: "NOPE", quantity: 1) { userErrors { code } } }'
    )
    assert out["purchaseSeats"]["userErrors"] == [{"code": "InvalidSku"}]


# -- the clients --------------------------------------------------------------------------------


def test_codes_the_console_switches_on_are_members():
    static = PACKAGE / "console" / "static"
    used = set()
    for path in static.glob("*.js"):
        text = path.read_text(encoding="utf-8")
        used |= set(re.findall(r"\bcode\s*===?\s*\"([A-Za-z_]+)\"", text))
        used |= set(re.findall(r"^\s*\[\"([A-Za-z_]+)\", /", text, re.M))  # GRAPH's table
    assert "CountViolation" in used and "UNAUTHENTICATED" in used
    assert used <= CATALOG, used - CATALOG


# -- the README ---------------------------------------------------------------------------------


def _readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_readme_table_is_generated_from_the_catalog():
    text = _readme()
    assert error_table.rewrite_readme(text) == text, (
        "README.md's error codes are stale: run `.venv/bin/python -m "
        "commcredits.services.error_table`"
    )


def test_every_code_in_a_readme_table_is_a_member():
    """Tables with a `code` column (the license rules, the generated one): each code is a
    member; in the generated table the meaning is the member's description."""
    lines = _readme().splitlines()
    seen = 0
    for i, line in enumerate(lines):
        header = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or "code" not in header or not lines[i + 1].startswith("|-"):
            continue
        column = header.index("code")
        for row in lines[i + 2 :]:
            if not row.startswith("|"):
                break
            cells = [c.strip() for c in row.strip().strip("|").split("|")]
            code = cells[column].strip("`")
            assert code in CATALOG, row
            if "meaning" in header:
                assert cells[header.index("meaning")] == ErrorCode(code).description, row
            seen += 1
    assert seen >= len(CATALOG)
