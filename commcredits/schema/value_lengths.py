"""Measuring a value against the limits of its type: variables' values, paths and the error.

Part of the input length check (`input_limits` says what it is for).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    Node,
)

from commcredits.schema.input_limits import MAX_REPORTED, VALUE_TOO_LONG, declared_limit

# -- paths, for messages ---------------------------------------------------------------------------

# A position inside an argument's value, built as linked pairs so that walking a 1,000-item
# list costs no copying; it is only spelled out for an error.
Path = tuple[Any, str | int] | None


def _spell(path: Path) -> tuple[str, str]:
    """(the path after the argument name, like '.items[3].userId'; the last key's name)."""
    parts: list[str | int] = []
    while path is not None:
        path, key = path
        parts.append(key)
    parts.reverse()
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)
    names = [p for p in parts if isinstance(p, str)]
    return text, names[-1] if names else ""


@dataclass(frozen=True)
class Position:
    """An argument of a field in the document: where a value goes, for messages."""

    field: str  # "Mutation.updateBillingProfile"
    argument: str  # "input"
    node: Node


def too_long(position: Position, path: Path, length: int, limit: int) -> GraphQLError:
    inner, last = _spell(path)
    name = last or position.argument
    return GraphQLError(
        f"{position.field}({position.argument}{inner}) has at most {limit:,} characters; "
        f"this value has {length:,}.",
        position.node,
        extensions={"code": VALUE_TOO_LONG, "field": name, "maxLength": limit},
    )


# -- input object fields, once per type --------------------------------------------------------

_input_fields: dict[GraphQLInputObjectType, dict[str, tuple[GraphQLInputType, int]]] = {}


def fields_of(type_: GraphQLInputObjectType) -> dict[str, tuple[GraphQLInputType, int]]:
    found = _input_fields.get(type_)
    if found is None:
        found = {name: (f.type, declared_limit(f)) for name, f in type_.fields.items()}
        _input_fields[type_] = found  # idempotent: a race builds the same table twice
    return found


# -- variables' values, on every request ---------------------------------------------------------

# A checker measures one variable value (JSON: dicts, lists, scalars) against the limits of the
# type it is used as, appending errors. Checkers are built once per (type, limit) and specialized
# to it, because a 1,000-item batch is measured on every request: a string is measured inline by
# its container, so most values cost a type test and a len(). A value of the wrong shape is left
# for graphql-core's coercion to refuse.
Checker = Callable[[Any, Path, Position, list[GraphQLError]], None]

# Built without a lock: building is idempotent, so two threads racing build the same checker.
_checkers: dict[tuple[GraphQLInputType, int], Checker | None] = {}


def checker_for(type_: GraphQLInputType, limit: int) -> Checker | None:
    """The checker for values of `type_` at a position of `limit`; None for a scalar or enum
    (its container measures it)."""
    if isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    key = (type_, limit)
    if key not in _checkers:
        if isinstance(type_, GraphQLList):
            _checkers[key] = _list_checker(checker_for(type_.of_type, limit), limit)
        elif isinstance(type_, GraphQLInputObjectType):
            _checkers[key] = _object_checker(type_)
        else:
            _checkers[key] = None
    return _checkers[key]


def _list_checker(item: Checker | None, limit: int) -> Checker:
    def check(value: Any, path: Path, position: Position, errors: list[GraphQLError]) -> None:
        if not isinstance(value, list | tuple):
            # A lone value where a list is expected is coerced to a one-item list.
            value = (value,)
        for i, element in enumerate(value):
            if len(errors) >= MAX_REPORTED:
                return
            if isinstance(element, str):
                if len(element) > limit:
                    errors.append(too_long(position, (path, i), len(element), limit))
            elif item is not None and element is not None:
                item(element, (path, i), position, errors)

    return check


def _object_checker(type_: GraphQLInputObjectType) -> Checker:
    # Built lazily on first use: a field's checker may be this very type's.
    table: dict[str, tuple[int, Checker | None]] | None = None

    def check(value: Any, path: Path, position: Position, errors: list[GraphQLError]) -> None:
        nonlocal table
        if not isinstance(value, Mapping):
            return
        if table is None:
            table = {
                name: (limit, checker_for(field_type, limit))
                for name, (field_type, limit) in fields_of(type_).items()
            }
        for key, element in value.items():
            entry = table.get(key)
            if entry is None or element is None:
                continue
            limit, inner = entry
            if isinstance(element, str):
                if len(element) > limit:
                    errors.append(too_long(position, (path, key), len(element), limit))
            elif inner is not None:
                inner(element, (path, key), position, errors)

    return check
