"""The README cannot drift: every example in it runs, against a freshly seeded demo database.

What is run, and how a README example says what it needs:

- Every ```graphql block, each operation of it separately and in order, over HTTP against a
  real `commcredits serve` on a copy of a database made by `commcredits migrate` and
  `commcredits seed-demo` (as `make run` makes it). The answer must have no `errors`, non-null
  top-level fields, and only empty `userErrors` lists.
  * `# operator key` in an operation runs that operation with the demo operator key; every
    other operation runs with Contoso's GLOBAL_ADMIN key.
  * `# $name: <JSON>` comment lines (the JSON may continue on the following `#` lines) give
    the variable `$name` to the operations that declare it.
- Every shell example, with bash, in a fresh working directory holding `var/` (the demo
  database and `var/demo-keys.txt`), a `.venv` link to the repository's, and the files the
  commands name (tests/readme_fixtures/, spreadsheets written from them):
  ```sh blocks (one bash script per block), 4-space-indented `commcredits …` lines, and inline
  code spans that start with `commcredits ` or `.venv/bin/commcredits `. The environment is
  a newcomer's after `make run`: `.venv/bin` on PATH, COMMCREDITS_DATABASE_URL at the demo
  database, and COMMCREDITS_TENANT=Contoso, as the README's bulk section says to export.
  Each must exit 0. Placeholders are replaced by SUBSTITUTIONS below (nothing else is).
  `commcredits serve` and `deliver-webhooks --loop` run until they answer (serve: /healthz on
  a free port) and are then stopped.
- An HTML comment on the line just above a fence adjusts a block:
  `<!-- doc-test: exit=2 -->` (the exit status the README documents) or
  `<!-- doc-test: expect-user-errors -->` (the example shows a refusal).
- Blocks that name a PostgreSQL server (`createdb`, `postgresql://`) run only where
  COMMCREDITS_TEST_DATABASE_URL names one, on a database of their own (deselected otherwise,
  as every PostgreSQL case of the suite).
- Inline selections in the query and subscription tables (`tenant { balance { … } }`) are
  validated against the schema, with argument lists dropped and `…` standing for any selection.
- Every link resolves: relative paths exist, `#anchors` name a heading.

`make run` runs for real in a copy of the repository (in a network namespace of its own, so
its port 8000 is free); `make test` is the one command not run: it runs this suite.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import graphql
import httpx
import polars as pl
import pytest
from graphql.validation import (
    NoDeprecatedCustomRule,
    ProvidedRequiredArgumentsRule,
    specified_rules,
)

from tests.live_server import free_port, live_server
from tests.readme_examples import (
    Block,
    anchors,
    fenced_blocks,
    indented_commands,
    inline_commands,
    links,
    logical_lines,
    needs_postgresql,
    table_spans,
    without_arguments,
)

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
FIXTURES = Path(__file__).resolve().parent / "readme_fixtures"
VENV_BIN = ROOT / ".venv" / "bin"
PG_URL = os.environ.get("COMMCREDITS_TEST_DATABASE_URL")
COMMAND_TIMEOUT = 60

# Placeholders a reader replaces by hand, and what the test puts there. {key} is Contoso's
# GLOBAL_ADMIN key, {port} the test server's port, {pg} the throwaway PostgreSQL database's
# URL and {pgname} its name.
SUBSTITUTIONS: list[tuple[str, str]] = [
    ("cck_…", "{key}"),
    ("127.0.0.1:8000", "127.0.0.1:{port}"),
    ("--host 0.0.0.0", "--host 127.0.0.1"),  # a test server listens on loopback only
    ("--port 8000", "--port {port}"),
    ("/backups/", "backups/"),
    ("--key-file FILE", "--key-file admin-key.txt"),  # a file holding one bare key
    ("postgresql://postgres@127.0.0.1:5432/commcredits", "{pg}"),
    ("postgresql://user@host:5432/commcredits", "{pg}"),
    ("createdb commcredits", "createdb {pgname}"),
]
# Shell lines that are not run as written, and why.
NOT_RUN = {
    "make test": "runs this very suite; it cannot run inside itself",
    "make run": "serves for ever: test_make_run_serves_the_demo runs it and stops it",
}
# Inline spans that only make sense on PostgreSQL (run by the PostgreSQL test, exit status).
POSTGRESQL_SPANS = {"commcredits backup /backups/cc.db": 2}
LONG_RUNNING = re.compile(r"^(?:\.venv/bin/)?commcredits (?:serve\b|deliver-webhooks .*--loop)")


ALL_BLOCKS = fenced_blocks(README)
GRAPHQL_BLOCKS = [b for b in ALL_BLOCKS if b.lang == "graphql"]
SH_BLOCKS = [b for b in ALL_BLOCKS if b.lang == "sh"]
SHELL_EXAMPLES = [b for b in SH_BLOCKS if not needs_postgresql(b.text)]
SHELL_EXAMPLES += indented_commands(README)
# An inline command the README repeats (`commcredits audit`) is run once, where it first appears.
SHELL_EXAMPLES += {
    b.text: b for b in reversed(inline_commands(README)) if b.text not in POSTGRESQL_SPANS
}.values()
SHELL_EXAMPLES.sort(key=lambda b: b.line)


# --- the demo database and the working directory -------------------------------------------


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory) -> Path:
    """A directory whose var/ holds a database made exactly as `make run` makes it."""
    home = tmp_path_factory.mktemp("readme-demo")
    env = {**os.environ, "COMMCREDITS_DATABASE_URL": f"sqlite:///{home}/var/commcredits.db"}
    for step in ("migrate", "seed-demo"):
        done = subprocess.run(
            [str(VENV_BIN / "commcredits"), step], env=env, cwd=home, capture_output=True
        )
        assert done.returncode == 0, done.stderr.decode()
    return home


@dataclass
class Workdir:
    path: Path
    keys: dict[str, str]
    env: dict[str, str]

    @property
    def database_url(self) -> str:
        return self.env["COMMCREDITS_DATABASE_URL"]


@pytest.fixture
def workdir(demo_template, tmp_path) -> Workdir:
    """A fresh copy of the seeded demo, with the files the README's commands name."""
    shutil.copytree(demo_template / "var", tmp_path / "var")
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    (tmp_path / "backups").mkdir()
    for fixture in FIXTURES.iterdir():
        shutil.copy(fixture, tmp_path / fixture.name)
    # The spreadsheets the examples name, from the CSV fixtures (every cell text).
    pl.read_csv(FIXTURES / "users.csv").write_excel(tmp_path / "users.xlsx")
    pl.read_csv(FIXTURES / "carrier.csv", infer_schema=False).write_excel(tmp_path / "carrier.xlsx")
    keys = dict(
        line.split("=", 1)
        for line in (tmp_path / "var/demo-keys.txt").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    (tmp_path / "admin-key.txt").write_text(keys["GLOBAL_ADMIN_KEY"] + "\n")
    env = {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
        "COMMCREDITS_DATABASE_URL": f"sqlite:///{tmp_path}/var/commcredits.db",
        "COMMCREDITS_TENANT": "Contoso",
    }
    for name in ("COMMCREDITS_ENDPOINT", "COMMCREDITS_API_KEY", "PYTHONPATH"):
        env.pop(name, None)
    return Workdir(tmp_path, keys, env)


# --- GraphQL blocks -------------------------------------------------------------------------


def graphql_schema() -> graphql.GraphQLSchema:
    from commcredits.schema.root import schema  # imported late: collection stays light

    return schema._schema


def block_variables(text: str) -> dict[str, object]:
    """`# $name: <JSON>` comments, the JSON continued on the `#` lines that follow."""
    found: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        comment = re.match(r"^\s*#\s?(.*)$", line)
        if not comment:
            current = None
            continue
        if start := re.match(r"^\$(\w+):\s*(.*)$", comment.group(1)):
            current = start.group(1)
            found[current] = start.group(2)
        elif current:
            found[current] += "\n" + comment.group(1)
    return {name: json.loads(value) for name, value in found.items()}


def user_errors(value: object, path: str = "data") -> list[str]:
    """Every non-empty `userErrors` list in an answer, with where it is."""
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "userErrors" and item:
                found.append(f"{path}.userErrors = {item}")
            else:
                found += user_errors(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += user_errors(item, f"{path}[{i}]")
    return found


@pytest.mark.parametrize("block", GRAPHQL_BLOCKS, ids=lambda b: b.id)
def test_graphql_block_runs(block: Block, workdir: Workdir) -> None:
    document = graphql.parse(block.text)
    variables = block_variables(block.text)
    operations = [d for d in document.definitions if isinstance(d, graphql.OperationDefinitionNode)]
    assert operations and len(operations) == len(document.definitions)
    for operation in operations:  # each is sent alone, so each is validated alone
        source = block.text[operation.loc.start : operation.loc.end]
        rules = [*specified_rules, NoDeprecatedCustomRule]
        errors = graphql.validate(graphql_schema(), graphql.parse(source), rules)
        assert not errors, f"README line {block.line}: " + "\n".join(e.message for e in errors)
    with live_server(workdir.database_url, workdir.path) as server:
        for operation in operations:
            source = block.text[operation.loc.start : operation.loc.end]
            operator = "# operator key" in block.text[operation.loc.start :].split("\n", 1)[0]
            key = workdir.keys["OPERATOR_KEY" if operator else "GLOBAL_ADMIN_KEY"]
            declared = [v.variable.name.value for v in operation.variable_definitions or ()]
            answer = httpx.post(
                server.url + "/graphql",
                json={"query": source, "variables": {n: variables[n] for n in declared}},
                headers={"Authorization": f"Bearer {key}"},
                timeout=30,
            )
            where = f"README line {block.line}: {source[:60]!r}"
            assert answer.status_code == 200, (where, answer.text)
            body = answer.json()
            assert "errors" not in body, (where, body["errors"])
            assert all(v is not None for v in body["data"].values()), (where, body)
            if "expect-user-errors" in block.options:
                assert user_errors(body["data"]), (where, "expected userErrors", body)
            else:
                assert not user_errors(body["data"]), (where, user_errors(body["data"]))


def test_this_months_examples_show_this_months_calls(workdir: Workdir) -> None:
    """'This month' examples give data on a fresh install: the seed rates its calls 1 to 8
    hours before it ran, so whenever the first of them falls in this UTC month (all but the
    month's first hour), the pools and the summary the README shows are not empty."""
    examples = "\n".join(b.text for b in GRAPHQL_BLOCKS)
    monthly = re.findall(r"(?:minutePools|usageSummary)(?:\([^)]*\))?", examples)
    assert monthly and not [m for m in monthly if "month:" in m], monthly
    with live_server(workdir.database_url, workdir.path) as server:
        answer = httpx.post(
            server.url + "/graphql",
            json={
                "query": "{ minutePools { used } usageSummary { month calls } "
                "callRecords(first: 1) { nodes { startedAt } } }"
            },
            headers={"Authorization": f"Bearer {workdir.keys['GLOBAL_ADMIN_KEY']}"},
            timeout=30,
        ).json()
    data = answer.get("data")
    assert data and "errors" not in answer, answer
    newest = data["callRecords"]["nodes"][0]["startedAt"]
    if newest[:7] == data["usageSummary"]["month"]:
        assert data["usageSummary"]["calls"] > 0 and data["minutePools"], data


# --- shell examples -------------------------------------------------------------------------


def runnable(script: str, values: dict[str, object]) -> str:
    """The script with SUBSTITUTIONS applied and long-running commands run until they answer."""
    for placeholder, value in SUBSTITUTIONS:
        if placeholder in script:
            script = script.replace(placeholder, value.format_map(values))
    lines = [
        until_it_answers(line, values["port"]) if LONG_RUNNING.match(line) else line
        for line in logical_lines(script)
    ]
    return "set -eo pipefail\n" + "\n".join(lines) + "\n"


def until_it_answers(command: str, port: int) -> str:
    """Bash that starts `command`, checks that it serves (or keeps running), then stops it
    with SIGTERM: it must end by it (status 0, or 143 for "ended by SIGTERM")."""
    if " serve" in command:
        health = f"curl -sf http://127.0.0.1:{port}/healthz"
        check = (
            f"for i in $(seq 300); do {health} >/dev/null && break; kill -0 $pid; sleep 0.1; done\n"
            f"{health}\nkill -0 $pid"  # it answers, and it is this process that does
        )
    else:
        check = "sleep 1\nkill -0 $pid"  # still delivering, not crashed
    return (
        f"COMMCREDITS_PORT={port} {command} & pid=$!\n{check}\n"
        "kill -TERM $pid\nwait $pid || [ $? = 143 ]"
    )


def run_script(script: str, workdir: Workdir) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-c", script],
        cwd=workdir.path,
        env=workdir.env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
    )


def not_run(line: str) -> bool:
    return line.split("#", 1)[0].strip() in NOT_RUN


@pytest.mark.parametrize("example", SHELL_EXAMPLES, ids=lambda b: b.id)
def test_shell_example_runs(example: Block, workdir: Workdir, tmp_path: Path) -> None:
    text = "\n".join(ln for ln in example.text.splitlines() if not not_run(ln))
    if not logical_lines(text):
        # Only the "Two commands" block is all NOT_RUN (make run has a test of its own).
        assert [ln for ln in logical_lines(example.text) if not not_run(ln)] == []
        assert "make run" in example.text and "make test" in example.text
        return
    values = {"key": workdir.keys["GLOBAL_ADMIN_KEY"], "port": free_port()}
    expected = int(example.options.get("exit", "0"))
    if re.search(r"\bcurl\b|-Endpoint\b", text):  # talks to a running server
        serves = [ln for ln in logical_lines(text) if LONG_RUNNING.match(ln)]
        assert not serves, "one port: a block either serves or is served"
        with live_server(workdir.database_url, tmp_path) as server:
            done = run_script(runnable(text, {**values, "port": server.port}), workdir)
    else:
        done = run_script(runnable(text, values), workdir)
    assert done.returncode == expected, (
        f"README line {example.line}: {text}\nexit {done.returncode}\n"
        f"stdout: {done.stdout[-2000:]}\nstderr: {done.stderr[-2000:]}"
    )
    assert '"errors"' not in done.stdout, (example, done.stdout)  # e.g. curl to /graphql


# --- inline selections in the query tables --------------------------------------------------


# Table cells leave required arguments out (`expiringWithin(days)`); nothing else is excused,
# and the README teaches no deprecated field.
VALIDATION_RULES = [
    *(r for r in specified_rules if r is not ProvidedRequiredArgumentsRule),
    NoDeprecatedCustomRule,
]


@pytest.mark.parametrize(
    "line, kind, span", table_spans(README), ids=[f"line{n}" for n, *_ in table_spans(README)]
)
def test_table_selection_is_valid(line: int, kind: str, span: str) -> None:
    """What a reader copies from the tables is valid: known fields, and a sub-selection
    wherever the type needs one. A field named alone (`tenant`) must exist at the root."""
    root = {
        "query": graphql_schema().query_type,
        "mutation": graphql_schema().mutation_type,
        "subscription": graphql_schema().subscription_type,
    }[kind]
    selection = without_arguments(span)
    if "{" not in selection:
        assert selection.strip() in root.fields, f"README line {line}: {span}"
        return
    document = graphql.parse(f"{kind} {{ {selection} }}")
    errors = graphql.validate(graphql_schema(), document, VALIDATION_RULES)
    assert not errors, f"README line {line}: {span}\n" + "\n".join(e.message for e in errors)


# --- links ----------------------------------------------------------------------------------


@pytest.mark.parametrize("document", ["README.md", "CONTRIBUTING.md", "docs/SPEC.md"])
def test_links_resolve(document: str) -> None:
    """Relative links name files of the repository, anchors name headings, web links are
    well-formed (no network here)."""
    path = ROOT / document
    text = path.read_text()
    found = links(text)
    assert found or document == "docs/SPEC.md"
    for target in found:
        parsed = urlparse(target)
        if parsed.scheme in ("http", "https"):
            assert parsed.netloc and " " not in target, target
            continue
        assert not parsed.scheme, f"{document}: {target}"
        file, _, anchor = target.partition("#")
        linked = (path.parent / file).resolve() if file else path
        assert linked.exists() and ROOT in linked.parents, f"{document}: {target} is missing"
        if anchor:
            assert anchor in set(anchors(linked.read_text())), f"{document}: no heading #{anchor}"


# --- make run -------------------------------------------------------------------------------

MAKE_RUN = """
ip link set lo up 2>/dev/null || true
make run > make.log 2>&1 &
answered=1
for i in $(seq 400); do
    if curl -sf http://127.0.0.1:8000/healthz > health.json; then answered=0; break; fi
    sleep 0.1
done
trap '' TERM
kill -TERM 0  # this process group: make and the server it started
wait
exit $answered
"""


def own_network() -> list[str]:
    """A prefix that runs a command in a network namespace of its own (its loopback has
    port 8000 free whatever runs here), or [] where namespaces are not allowed."""
    try:
        works = subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode == 0
    except FileNotFoundError:
        works = False
    return ["unshare", "-rn"] if works and shutil.which("ip") else []


def test_make_run_serves_the_demo(tmp_path: Path) -> None:
    """`make run` as a newcomer types it, in a copy of the checkout whose .venv is this one:
    it migrates, seeds, prints the keys and the sign-in link, and serves on 127.0.0.1:8000."""
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    for name in ("Makefile", "pyproject.toml", "requirements.lock"):
        shutil.copy2(ROOT / name, checkout / name)  # times kept: the venv's stamp stays newer
    (checkout / ".venv").symlink_to(ROOT / ".venv")
    env = {
        k: v for k, v in os.environ.items() if k not in ("COMMCREDITS_DATABASE_URL", "MAKEFLAGS")
    }
    dry = subprocess.run(
        ["make", "-n", "run"], cwd=checkout, env=env, capture_output=True, text=True
    )
    # Reinstalling from the copy would point the shared venv's editable install at it.
    assert "pip install" not in dry.stdout, "the venv is stale: run `make setup` first"
    prefix = own_network()
    if not prefix:  # no namespace: the host's port 8000 must be free
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", 8000))
    process = subprocess.Popen(
        [*prefix, "bash", "-c", MAKE_RUN], cwd=checkout, env=env, start_new_session=True
    )
    try:
        assert process.wait(timeout=120) == 0, (checkout / "make.log").read_text()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    printed = (checkout / "make.log").read_text()
    assert json.loads((checkout / "health.json").read_text()) == {"status": "ok"}
    assert "seeded demo tenant Contoso" in printed and "GLOBAL_ADMIN_KEY=cck_" in printed
    assert re.search(r"http://127\.0\.0\.1:8000/auth/link\?to=console#ccl_", printed), printed
    assert "GLOBAL_ADMIN_KEY=cck_" in (checkout / "var/demo-keys.txt").read_text()
    # Issue 15: `make run` prints no warnings of ours (nor Python's, nor a logged warning).
    assert not re.search(r"warning", printed, re.IGNORECASE), printed


# --- PostgreSQL -----------------------------------------------------------------------------


@pytest.mark.backends("postgresql")
def test_postgresql_examples_run(backend, workdir: Workdir) -> None:
    """The PostgreSQL examples, on a database of their own on COMMCREDITS_TEST_DATABASE_URL's
    server (deselected without one, as every PostgreSQL case)."""
    parsed = urlparse(PG_URL)
    name = f"commcredits_readme_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    values = {
        "key": workdir.keys["GLOBAL_ADMIN_KEY"],
        "port": free_port(),
        "pgname": name,
        "pg": urlunparse(parsed._replace(path="/" + name)),
    }
    # createdb, pg_dump and the commands find the server as the README's reader's would.
    workdir.env |= {
        "PGHOST": parsed.hostname or "127.0.0.1",
        "PGPORT": str(parsed.port or 5432),
        "PGUSER": parsed.username or "postgres",
        "PGPASSWORD": parsed.password or "",
        "COMMCREDITS_DATABASE_URL": values["pg"],
    }
    examples = [(b, 0) for b in SH_BLOCKS if needs_postgresql(b.text)]
    examples += [(Block("inline", span, 0), status) for span, status in POSTGRESQL_SPANS.items()]
    assert len(examples) >= 3
    try:
        for example, status in examples:
            done = run_script(runnable(example.text, values), workdir)
            assert done.returncode == status, (example, done.stdout, done.stderr)
    finally:
        subprocess.run(["dropdb", "--if-exists", "--force", name], env=workdir.env, check=False)


# --- the extraction itself ------------------------------------------------------------------

# Fences not run, and why: none of them is a command or an operation against the service.
NOT_RUN_LANGUAGES = {
    "": "printed output (what make run or a refused script prints)",
    "js": "browser code (graphql-ws client, fetch from a page)",
    "json": "payloads and log lines shown as they look",
    "yaml": "Prometheus configuration",
}


def test_every_fence_is_run_or_said_why_not() -> None:
    """A new ```bash or ```powershell block would otherwise never run."""
    languages = {b.lang for b in ALL_BLOCKS}
    assert languages <= {"graphql", "sh", *NOT_RUN_LANGUAGES}, languages
    assert len(GRAPHQL_BLOCKS) >= 7 and len(SH_BLOCKS) >= 8


def test_annotations_are_read() -> None:
    """The conventions this module's docstring describes, on a small sample."""
    sample = (
        "text\n<!-- doc-test: exit=2 expect-user-errors -->\n```sh\ncommcredits audit\n```\n\n"
        '```graphql\nmutation {  # operator key\n  x\n}\n# $items: [{"a": 1},\n#   {"b": 2}]\n```\n'
        "Run `commcredits info` or\n\n    commcredits audit   # check\n"
    )
    shell, operation = fenced_blocks(sample)
    assert shell.options == {"exit": "2", "expect-user-errors": "yes"} and shell.line == 4
    assert operation.options == {} and "# operator key" in operation.text
    assert block_variables(operation.text) == {"items": [{"a": 1}, {"b": 2}]}
    assert [b.text for b in inline_commands(sample)] == ["commcredits info"]
    assert [b.text for b in indented_commands(sample)] == ["commcredits audit   # check"]
    assert without_arguments("lots(first, filter: { a b }) { … } x(y) { z … }") == (
        "lots { __typename } x { z }"
    )
