"""Permissions declared, not repeated (README "Roles"): every root field declares the one
permission it needs, the README's roles table is generated from the declarations, and queries,
mutations and subscriptions refuse the same way. Also the one convention for nested fields:
they resolve in their schema type, so no module of commcredits/schema imports
commcredits/resolvers (but schema/root.py, which assembles the resolvers' root types)."""

from __future__ import annotations

import ast
import asyncio
import datetime as dt
import pathlib

from commcredits.resolvers.context import Context
from commcredits.resolvers.permissions import declarations, readme_table, roles_table
from commcredits.schema.root import schema
from commcredits.services.principal import Permission
from tests.conftest import Api

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "commcredits"


def test_every_root_field_declares_its_permission():
    fields = declarations(schema)
    roots = {f.root for f in fields}
    assert roots == {"Query", "Mutation", "Subscription"}
    undeclared = [f"{f.root}.{f.name}" for f in fields if f.declaration is None]
    assert undeclared == [], "declare them with @permission(...) (resolvers/permissions.py)"
    assert {f.declaration.permission for f in fields} == set(Permission)


def test_every_mutation_payload_has_user_errors_for_its_refusals():
    mutation = schema.get_type_by_name("Mutation")
    graphql_schema = schema._schema
    for field in mutation.fields:
        name = schema.config.name_converter.get_graphql_name(field)
        payload = graphql_schema.mutation_type.fields[name].type
        while hasattr(payload, "of_type"):
            payload = payload.of_type
        assert "userErrors" in payload.fields, name


def test_the_readme_roles_table_is_generated_from_the_declarations():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme_table(readme) == roles_table(schema), (
        "run .venv/bin/python -m commcredits.resolvers.permissions README.md"
    )


def _imports(path: pathlib.Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):  # nested imports too
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def test_schema_modules_never_import_resolvers():
    offenders = {
        path.name: sorted(m for m in _imports(path) if m.startswith("commcredits.resolvers"))
        for path in sorted((PACKAGE / "schema").glob("*.py"))
        if path.name != "root.py"
    }
    assert {name: mods for name, mods in offenders.items() if mods} == {}


def test_resolvers_do_not_check_permissions_by_hand():
    for path in sorted((PACKAGE / "resolvers").glob("*.py")):
        if path.name == "permissions.py":
            continue
        imported = _imports(path)
        for name in ("require", "require_tenant"):
            assert f"commcredits.services.access.{name}" not in imported, path.name
            assert f"commcredits.services.principal.{name}" not in imported, path.name


def test_a_query_and_a_mutation_refuse_with_the_same_code_and_message(client, api_as):
    reader = api_as("READER")
    query_error = reader.errors("{ apiKeys { id } }")[0]
    mutation = reader(
        'mutation { revokeApiKey(id: "QXBpS2V5OjE=") { apiKey { id } '
        "userErrors { code message } } }"
    )["revokeApiKey"]
    assert mutation["apiKey"] is None
    assert query_error["extensions"]["code"] == mutation["userErrors"][0]["code"] == "FORBIDDEN"
    assert query_error["message"] == mutation["userErrors"][0]["message"]

    anonymous = Api(client, None)
    query_error = anonymous.errors("{ tenant { name } }")[0]
    mutation = anonymous(
        'mutation { createUser(input: {userPrincipalName: "a@b.example"}) '
        "{ user { id } userErrors { code message } } }"
    )["createUser"]
    assert query_error["extensions"]["code"] == mutation["userErrors"][0]["code"]
    assert query_error["extensions"]["code"] == "UNAUTHENTICATED"
    assert query_error["message"] == mutation["userErrors"][0]["message"]


def test_a_subscription_is_refused_at_subscribe_time_as_a_query_is():
    async def run() -> tuple:
        context = Context(principal=None, now=dt.datetime(2026, 12, 1), request_id="t")
        stream = await schema.subscribe(
            "subscription { balanceChanged { sequence } }", context_value=context
        )
        first = await stream.__anext__()
        query = await schema.execute("{ tenant { name } }", context_value=context)
        return first.errors[0], query.errors[0]

    subscribed, queried = asyncio.run(run())
    assert subscribed.original_error.details[0].code == "UNAUTHENTICATED"
    assert subscribed.message == queried.message
