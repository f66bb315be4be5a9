"""Walking the GraphQL schema: its root fields, generated argument values, deep selections.

Tests that must cover every field (tenant isolation, reads never write) enumerate the fields
from the schema itself, so a field added later is covered without anyone remembering it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLUnionType,
)

from commcredits.schema.root import schema

GQL = schema._schema


def unwrap(t):
    while isinstance(t, GraphQLNonNull | GraphQLList):
        t = t.of_type
    return t


def root_fields(kind: str) -> list[tuple[str, GraphQLField]]:
    """The Query ("query") or Mutation ("mutation") fields, by name."""
    root = GQL.query_type if kind == "query" else GQL.mutation_type
    return sorted(root.fields.items())


def value_for(arg_name: str, t, ids: list[Any], choice: int) -> Any:
    """A plausible value of a GraphQL input type; ID-like values come from `ids[choice]`."""
    nullable = not isinstance(t, GraphQLNonNull)
    if isinstance(t, GraphQLNonNull):
        t = t.of_type
    if isinstance(t, GraphQLList):
        return [value_for(arg_name, t.of_type, ids, choice)]
    lowered = arg_name.lower()
    if isinstance(t, GraphQLEnumType):
        return next(iter(t.values))
    if isinstance(t, GraphQLInputObjectType):
        return {
            name: value_for(name, field.type, ids, choice)
            for name, field in t.fields.items()
            if isinstance(field.type, GraphQLNonNull) or name.lower().endswith("id")
        }
    name = t.name
    if (
        name == "ID"
        or lowered.endswith("id")
        or lowered in ("user", "userprincipalname", "userprincipalnames")
    ):
        return ids[choice % len(ids)]
    if name == "Int":
        return 1
    if name == "Float":
        return 1.0
    if name == "Boolean":
        return False
    if name == "Decimal":
        return "1.00"
    if name == "Date":
        return "2026-11-01"
    if name == "DateTime":
        return "2026-11-25T10:00:00+00:00"
    if name == "JSON":
        return {}
    if nullable and name == "String" and "month" not in lowered:
        return ids[choice % len(ids)]
    if "month" in lowered:
        return "2026-11"
    if "country" in lowered or "location" in lowered:
        return "DE"
    if "currency" in lowered:
        return "EUR"
    if "url" in lowered:
        return "http://127.0.0.1:9/hook"
    return ids[choice % len(ids)]


def literal(value: Any, t) -> str:
    """`value` written as a GraphQL literal of input type `t`."""
    if isinstance(t, GraphQLNonNull):
        t = t.of_type
    if value is None:
        return "null"
    if isinstance(t, GraphQLList):
        return "[" + ", ".join(literal(v, t.of_type) for v in value) + "]"
    if isinstance(t, GraphQLEnumType):
        return str(value)
    if isinstance(t, GraphQLInputObjectType):
        inner = ", ".join(f"{k}: {literal(v, t.fields[k].type)}" for k, v in value.items())
        return "{" + inner + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(str(value))


# (owner type, field) -> the argument sets to ask that field with: one alias per set; an
# empty list leaves the field out (its required arguments could not be made).
ArgSets = Callable[[GraphQLObjectType, GraphQLField], list[dict[str, Any]]]


def deep_selection(t, arg_sets: ArgSets, *, depth: int, only: str | None = None) -> str:
    """A selection set of output type `t`: every scalar and enum leaf, and every object field
    down to `depth` levels, each field asked with every argument set `arg_sets` gives
    (aliased `name1`, `name2`, … after the first). Connection and edge wrappers take no level
    of their own. An interface or union gets an inline fragment per possible type (`only`:
    just that type's)."""
    t = unwrap(t)
    if isinstance(t, GraphQLScalarType | GraphQLEnumType):
        return ""
    if isinstance(t, GraphQLInterfaceType | GraphQLUnionType):
        kinds = [p for p in GQL.get_possible_types(t) if only in (None, p.name)]
        return (
            "{ __typename "
            + " ".join(f"... on {p.name} {deep_selection(p, arg_sets, depth=depth)}" for p in kinds)
            + " }"
        )
    assert isinstance(t, GraphQLObjectType), t
    parts = ["__typename"]
    for name, field in t.fields.items():
        inner = unwrap(field.type)
        leaf = isinstance(inner, GraphQLScalarType | GraphQLEnumType)
        wrapper = inner.name.endswith(("Connection", "Edge"))
        below = depth if wrapper else depth - 1
        if not leaf and below < 0:
            continue
        sets = arg_sets(t, field) if field.args else [{}]
        for index, values in enumerate(sets):
            alias = f"{name}{index}: " if index else ""
            args = ", ".join(f"{k}: {literal(v, field.args[k].type)}" for k, v in values.items())
            head = f"{alias}{name}({args})" if args else f"{alias}{name}"
            parts.append(
                head if leaf else f"{head} {deep_selection(field.type, arg_sets, depth=below)}"
            )
    return "{ " + " ".join(parts) + " }"
