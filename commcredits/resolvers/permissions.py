"""Who may ask for a root field, declared once on the field (README "Roles").

Every Query, Mutation and Subscription field carries one declaration:

    @strawberry.mutation(description="...")
    @permission(Permission.MANAGE_BILLING, tenant=True)
    def purchase_credits(self, info: Info, ...) -> PurchaseCreditsPayload: ...

The check (`require`, or `require_tenant` with `tenant=True`) runs before the resolver's body,
so queries, mutations and subscriptions refuse the same way: the same codes (UNAUTHENTICATED,
FORBIDDEN, TENANT_REQUIRED) with the same messages, from the same check. Where a refusal goes
follows the field's type, as for every other domain error: a mutation's payload has
`userErrors`, so there it is a userError (and the payload's other fields are null); a query or
a subscription has none, so there it is a GraphQL error with `extensions.code`. A mutation's
body runs under the same rule: any domain error it raises becomes the payload's userErrors.

`declarations(schema)` lists every root field with its declaration, and `roles_table` turns
them into the README's roles table (`tests/test_permissions_declared.py` compares the two;
`python -m commcredits.resolvers.permissions README.md` rewrites it).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import sys
import typing
from collections.abc import Callable
from typing import Any, TypeVar

from commcredits.schema.common import UserError
from commcredits.services.errors import DomainError
from commcredits.services.principal import (
    OPERATOR_IN_TENANT,
    ROLE_PERMISSIONS,
    TENANT_HEADER,
    Permission,
    Role,
    require,
    require_tenant,
)

F = TypeVar("F", bound=Callable[..., Any])

ATTRIBUTE = "__commcredits_permission__"
ROOT_TYPES = ("Query", "Mutation", "Subscription")


@dataclasses.dataclass(frozen=True)
class Declaration:
    """What a field needs: a permission, and whether the caller must act for one tenant."""

    permission: Permission
    tenant: bool = False


def permission(needed: Permission, *, tenant: bool = False) -> Callable[[F], F]:
    """Declare the permission a root field needs; the check runs before the resolver.

    `tenant=True`: the field acts on the caller's tenant (`ctx(info).tenant`), so an operator
    key must name one in the X-Commcredits-Tenant header. A field whose type has `userErrors`
    (a mutation's payload) refuses there; any other field raises the refusal as a GraphQL error.
    """
    declaration = Declaration(needed, tenant)
    check = require_tenant if tenant else require

    def declare(fn: F) -> F:
        if "info" not in inspect.signature(fn).parameters:
            raise TypeError(f"{fn.__qualname__}: a declared resolver takes `info`")

        @functools.cache
        def payload() -> type | None:
            # The payload class a refusal is carried in, if the field's type has userErrors.
            hints = typing.get_type_hints(fn, sys.modules[fn.__module__].__dict__)
            returned = hints.get("return")
            fields = getattr(returned, "__dataclass_fields__", {})
            return returned if "user_errors" in fields else None

        def refused(error: DomainError) -> Any:
            cls = payload()
            if cls is None:
                raise error
            return cls(user_errors=UserError.from_error(error))

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def checked_async(*args: Any, **kwargs: Any) -> Any:
                try:
                    check(kwargs["info"].context.principal, needed)
                    return await fn(*args, **kwargs)
                except DomainError as error:
                    return refused(error)

            wrapper: Any = checked_async
        else:

            @functools.wraps(fn)
            def checked(*args: Any, **kwargs: Any) -> Any:
                try:
                    check(kwargs["info"].context.principal, needed)
                    return fn(*args, **kwargs)
                except DomainError as error:
                    return refused(error)

            wrapper = checked
        setattr(wrapper, ATTRIBUTE, declaration)
        return typing.cast(F, wrapper)

    return declare


def declared(resolver: Callable[..., Any] | None) -> Declaration | None:
    return getattr(resolver, ATTRIBUTE, None) if resolver is not None else None


@dataclasses.dataclass(frozen=True)
class DeclaredField:
    root: str  # Query, Mutation or Subscription
    name: str  # the GraphQL name
    declaration: Declaration | None


def declarations(schema: Any) -> list[DeclaredField]:
    """Every root field of `schema` (a strawberry Schema), in schema order, as declared."""
    found = []
    for root in ROOT_TYPES:
        definition = schema.get_type_by_name(root)
        if definition is None:
            continue
        for field in definition.fields:
            resolver = field.base_resolver.wrapped_func if field.base_resolver else None
            name = schema.config.name_converter.get_graphql_name(field)
            found.append(DeclaredField(root, name, declared(resolver)))
    return found


# -- the README's roles table -------------------------------------------------------------------
TENANT_ROLES = [r for r in Role if r is not Role.OPERATOR]


def _operator_cell(declaration: Declaration) -> str:
    if declaration.permission not in OPERATOR_IN_TENANT:
        return ""  # an operator key does not change a tenant's users, licenses or money
    return f"with `{TENANT_HEADER}`" if declaration.tenant else "✓"


def _fields_cell(fields: list[DeclaredField]) -> str:
    parts = []
    for root in ROOT_TYPES:
        names = " ".join(f"`{f.name}`" for f in fields if f.root == root)
        if names:
            parts.append(f"{root.lower()}: {names}")
    return "; ".join(parts)


def roles_table(schema: Any) -> str:
    """The README's table: one row per declaration, its fields, and the roles allowed them."""
    rows: dict[Declaration, list[DeclaredField]] = {}
    for field in declarations(schema):
        if field.declaration is not None:
            rows.setdefault(field.declaration, []).append(field)
    order = list(Permission)
    header = ["permission", "fields", *(f"{r.value}" for r in Role)]
    lines = [
        "| " + " | ".join(header) + " |",
        "|---|---|" + ":-:|" * len(Role),
    ]
    for declaration in sorted(rows, key=lambda d: (order.index(d.permission), not d.tenant)):
        scope = "acts on the caller's tenant" if declaration.tenant else "needs no tenant"
        label = f"`{declaration.permission.name}`: {declaration.permission.value}; {scope}"
        cells = [label, _fields_cell(rows[declaration]), _operator_cell(declaration)]
        allowed = declaration.permission
        cells += ["✓" if allowed in ROLE_PERMISSIONS[role] else "" for role in TENANT_ROLES]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


BEGIN = "<!-- roles table: generated by `python -m commcredits.resolvers.permissions` -->\n"
END = "<!-- end of roles table -->\n"


def readme_table(text: str) -> str:
    """The generated part of a README's text (between the markers)."""
    start = text.index(BEGIN) + len(BEGIN)
    return text[start : text.index(END, start)]


def write_readme(path: str) -> bool:
    """Rewrite the roles table in the README at `path`; True if it changed."""
    from commcredits.schema.root import schema

    with open(path, encoding="utf-8") as f:
        text = f.read()
    old = readme_table(text)
    new = roles_table(schema)
    if old == new:
        return False
    start = text.index(BEGIN) + len(BEGIN)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text[:start] + new + text[start + len(old) :])
    return True


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else "README.md"
    print(f"{target}: {'rewritten' if write_readme(target) else 'up to date'}")
