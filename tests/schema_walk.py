"""Walking the GraphQL schema: its root fields, generated argument values, deep selections,
and every position inside every argument of every field (`targets`, `slots`).

Tests that must cover every field (tenant isolation, reads never write, hostile input)
enumerate the fields from the schema itself, so a field added later is covered without anyone
remembering it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLUnionType,
    Undefined,
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


# -- every argument of every field -------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A field that takes arguments: a root field, or a nested one reached through `via`."""

    kind: str  # "query" or "mutation": the operation it is asked in
    via: tuple[str, ...]  # argument-free fields from the root down to `owner` ("tenant", …)
    owner: str  # the type the field belongs to
    name: str
    field: GraphQLField = dataclasses.field(compare=False)  # graphql-core's types: no hash

    @property
    def label(self) -> str:
        return f"{self.owner}.{self.name}"


@dataclass(frozen=True)
class Slot:
    """One position in one argument: the argument itself, a field of an input object inside
    it, or an element of a list inside it."""

    target: Target
    arg: str
    path: tuple[str | int, ...]  # keys and list indices inside the argument's value
    type: GraphQLInputType = dataclasses.field(compare=False)  # at this position, wrapped
    input_field: str | None = None  # "InputType.field" when the position is one

    @property
    def label(self) -> str:
        inner = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in self.path)
        return f"{self.target.label}({self.arg}{inner})"

    @property
    def name(self) -> str:
        """The nearest name: the input field's, else the argument's."""
        names = [p for p in self.path if isinstance(p, str)]
        return names[-1] if names else self.arg

    @property
    def shape(self) -> str:
        """ "list", "object", "enum" or the scalar's name ("String", "Int", "ID" …)."""
        t = self.type.of_type if isinstance(self.type, GraphQLNonNull) else self.type
        if isinstance(t, GraphQLList):
            return "list"
        if isinstance(t, GraphQLInputObjectType):
            return "object"
        return "enum" if isinstance(t, GraphQLEnumType) else t.name


def _needs_arguments(f: GraphQLField) -> bool:
    return any(
        isinstance(a.type, GraphQLNonNull) and a.default_value is Undefined for a in f.args.values()
    )


def _paths_to_types() -> dict[str, tuple[str, ...]]:
    """For every object type reachable from Query through fields without required arguments,
    the shortest such path of field names (so a nested field with arguments can be asked)."""
    found: dict[str, tuple[str, ...]] = {GQL.query_type.name: ()}
    queue = [GQL.query_type]
    while queue:
        t = queue.pop(0)
        for name, f in t.fields.items():
            inner = unwrap(f.type)
            reachable = isinstance(inner, GraphQLObjectType) and not _needs_arguments(f)
            if reachable and inner.name not in found:
                found[inner.name] = (*found[t.name], name)
                queue.append(inner)
    return found


def targets() -> list[Target]:
    """Every field that takes arguments, of Query, Mutation and every object type below."""
    found = [
        Target(kind, (), root.name, name, f)
        for kind, root in (("query", GQL.query_type), ("mutation", GQL.mutation_type))
        for name, f in root_fields(kind)
        if f.args
    ]
    paths = _paths_to_types()
    roots = (GQL.query_type, GQL.mutation_type, GQL.subscription_type)
    for type_name, t in sorted(GQL.type_map.items()):
        if type_name.startswith("__") or t in roots:  # subscriptions: see `websocket_arguments`
            continue
        if isinstance(t, GraphQLObjectType):
            for name, f in t.fields.items():
                if f.args:
                    assert type_name in paths, f"{type_name}.{name}: no way to reach it"
                    found.append(Target("query", paths[type_name], type_name, name, f))
    return found


def _walk(target: Target, arg: str, t: Any, path: tuple, owner: str | None) -> Iterator[Slot]:
    yield Slot(target, arg, path, t, owner)
    base = t.of_type if isinstance(t, GraphQLNonNull) else t
    if isinstance(base, GraphQLList):
        yield from _walk(target, arg, base.of_type, (*path, 0), None)
    elif isinstance(base, GraphQLInputObjectType):
        for name, f in base.fields.items():
            yield from _walk(target, arg, f.type, (*path, name), f"{base.name}.{name}")


def slots(target: Target) -> list[Slot]:
    """Every position in every argument of `target`, recursing into input objects and lists."""
    return [s for arg, a in target.field.args.items() for s in _walk(target, arg, a.type, (), None)]


def schema_arguments() -> tuple[set[str], set[str]]:
    """Straight from the schema, not from the walk: every `Type.field(arg)` and every
    `InputType.field`, for a test to prove its walk reached them all."""
    args, inputs = set(), set()
    for type_name, t in GQL.type_map.items():
        if type_name.startswith("__"):
            continue
        if isinstance(t, GraphQLObjectType):
            args |= {f"{type_name}.{n}({a})" for n, f in t.fields.items() for a in f.args}
        if isinstance(t, GraphQLInputObjectType):
            inputs |= {f"{type_name}.{n}" for n in t.fields}
    return args, inputs


def websocket_arguments() -> set[str]:
    """The Subscription root's arguments, in `schema_arguments`' terms: a subscription runs
    over the websocket (graphql-transport-ws), not in a POST, so `targets` leaves it out."""
    root = GQL.subscription_type
    if root is None:
        return set()
    return {f"{root.name}.{n}({a})" for n, f in root.fields.items() for a in f.args}


def covered(walked: list[Slot]) -> tuple[set[str], set[str]]:
    """What `walked` reached, in `schema_arguments`' terms."""
    args = {f"{s.target.label}({s.arg})" for s in walked}
    return args, {s.input_field for s in walked if s.input_field}
