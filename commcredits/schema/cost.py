"""A cost limit: refuse, before execution, documents that could return too much.

The estimate counts the objects a response may hold, GitHub-style. Every field of an object
type costs 1 per parent object it is asked on (scalars are free: the token limit bounds them),
and a field multiplies the cost of what it selects by the number of items it may return:

- a field taking `first` (a connection) returns `first` items (the resolvers' default, 50,
  when absent): its `edges` / `nodes` then count once, the connection already multiplied;
- any other list-returning field is taken to return LIST_SIZE items;
- a field with list arguments (a batch mutation) costs one per list element given, anywhere in
  its arguments, and its payload's lists count once per item of its longest list argument.

Variables are read from the request, so `first: $n` is costed with the value sent.

The estimate runs on every request, so it takes time linear in the document: a fragment is
costed once per parent type, however often it is spread (see `_Cost`), and the numbers
saturate at SATURATION.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    OperationType,
    SchemaMetaFieldDef,
    SelectionSetNode,
    TypeMetaFieldDef,
    ValueNode,
    VariableNode,
)

MAX_COST = 50_000
# Estimates stop growing here: a document's cost can be exponential in its size (a list
# field in a fragment spread twice per level), and such numbers need not be computed.
SATURATION = 10**15
LIST_SIZE = 10  # assumed length of a list field without `first` (license details, plans, …)
DEFAULT_FIRST = 50  # schema.pages.DEFAULT_PAGE
CONNECTION_LISTS = ("edges", "nodes")
_META_FIELDS = {"__schema": SchemaMetaFieldDef, "__type": TypeMetaFieldDef}


def _unwrap(type_: Any) -> tuple[Any, bool]:
    """The named type behind wrappers, and whether a list is among them."""
    is_list = False
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        is_list = is_list or isinstance(type_, GraphQLList)
        type_ = type_.of_type
    return type_, is_list


def _value(node: ValueNode, variables: Mapping[str, Any]) -> Any:
    if isinstance(node, VariableNode):
        return variables.get(node.name.value)
    if isinstance(node, IntValueNode):
        # GraphQL's Int is 32 bits (validation refuses more); int() of a 5,000-digit literal
        # would raise, so a long one counts as "very many" without being converted.
        text = node.value
        return int(text) if len(text) <= 20 else (-1 if text.startswith("-") else 10**20)
    if isinstance(node, ListValueNode):
        return [_value(v, variables) for v in node.values]
    if isinstance(node, ObjectValueNode):
        return {f.name.value: _value(f.value, variables) for f in node.fields}
    return None


def _list_items(value: Any) -> int:
    """List elements anywhere in an argument value."""
    if isinstance(value, list):
        # A GraphQL list holds one type: when its first value is a scalar, all are, and a
        # batch's 1,000 names need not be walked one by one.
        first = next((v for v in value if v is not None), None)
        if not isinstance(first, list | dict):
            return len(value)
        return len(value) + sum(_list_items(v) for v in value)
    if isinstance(value, dict):
        return sum(_list_items(v) for v in value.values())
    return 0


@dataclass(frozen=True, slots=True)
class _Cost:
    """A selection set's cost, for `multiplier` parent objects and lists of `list_size` items.

    The cost is `multiplier * (fixed + per_item * list_size) + once`: linear in both, since a
    field multiplies what it selects by its items (a constant, or `list_size` for a plain list
    field) and batch arguments cost once. So a fragment's cost is computed once per parent
    type (and connection context) and reused wherever it is spread: a fragment spreading
    another twice, n levels deep, costs n steps to estimate, not 2^n.
    """

    fixed: int
    per_item: int
    once: int

    def plus(self, other: _Cost) -> _Cost:
        return _Cost(
            _add(self.fixed, other.fixed),
            _add(self.per_item, other.per_item),
            _add(self.once, other.once),
        )

    def per_parent(self, list_size: int) -> int:
        return _add(self.fixed, _mul(self.per_item, list_size))

    def total(self, multiplier: int, list_size: int) -> int:
        return _add(_mul(multiplier, self.per_parent(list_size)), self.once)


_FREE = _Cost(0, 0, 0)


def _add(a: int, b: int) -> int:
    return min(a + b, SATURATION)


def _mul(a: int, b: int) -> int:
    # Operands are at most SATURATION, so the product stays a small integer before the cap.
    return min(a * b, SATURATION)


class _Estimator:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        # (fragment, parent type, in a connection) → its cost; None while being computed,
        # so a cycle (refused by validation anyway) adds nothing instead of recursing.
        self.memo: dict[tuple[str, Any, bool], _Cost | None] = {}

    def operation(self, op: OperationDefinitionNode) -> int:
        root = {
            OperationType.QUERY: self.schema.query_type,
            OperationType.MUTATION: self.schema.mutation_type,
            OperationType.SUBSCRIPTION: self.schema.subscription_type,
        }[op.operation]
        if root is None:
            return 0
        return self.selections(op.selection_set, root, in_connection=False).total(1, LIST_SIZE)

    def selections(
        self, selection_set: SelectionSetNode | None, parent: Any, *, in_connection: bool
    ) -> _Cost:
        if selection_set is None:
            return _FREE
        total = _FREE
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total = total.plus(self.field(selection, parent, in_connection=in_connection))
            elif isinstance(selection, InlineFragmentNode):
                target = parent
                if selection.type_condition is not None:
                    target = self.schema.get_type(selection.type_condition.name.value) or parent
                inner = self.selections(
                    selection.selection_set, target, in_connection=in_connection
                )
                total = total.plus(inner)
            elif isinstance(selection, FragmentSpreadNode):
                total = total.plus(self.spread(selection.name.value, parent, in_connection))
        return total

    def spread(self, name: str, parent: Any, in_connection: bool) -> _Cost:
        fragment = self.fragments.get(name)
        if fragment is None:  # unknown: other rules report it
            return _FREE
        target = self.schema.get_type(fragment.type_condition.name.value) or parent
        key = (name, target, in_connection)
        if key in self.memo:
            return self.memo[key] or _FREE
        self.memo[key] = None
        cost = self.selections(fragment.selection_set, target, in_connection=in_connection)
        self.memo[key] = cost
        return cost

    def field(self, node: FieldNode, parent: Any, *, in_connection: bool) -> _Cost:
        name = node.name.value
        if not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            return _FREE  # an unknown parent: other validation rules report it
        # Introspection is costed too: its types refer to each other in cycles
        # (interfaces → possibleTypes → interfaces …), and the depth limit ignores it.
        definition = _META_FIELDS.get(name) or parent.fields.get(name)
        if definition is None:
            return _FREE
        target, is_list = _unwrap(definition.type)
        arguments = {a.name.value: _value(a.value, self.variables) for a in node.arguments or ()}
        # A batch: its payload's lists hold one result per item of its longest list argument.
        batch = max((len(v) for v in arguments.values() if isinstance(v, list)), default=0)
        once = min(sum(_list_items(v) for v in arguments.values()), SATURATION) if batch else 0
        if not isinstance(target, GraphQLObjectType | GraphQLInterfaceType):
            return _Cost(0, 0, once)  # a scalar or enum (or a list of them)
        connection = "first" in definition.args
        inner = self.selections(node.selection_set, target, in_connection=connection)
        # Each item costs 1 and holds what it selects, costed for its own lists' size.
        per_item = _add(1, inner.per_parent(max(batch, LIST_SIZE)))
        once = _add(once, inner.once)
        if connection:
            first = arguments.get("first")
            items = min(max(0, first), SATURATION) if isinstance(first, int) else DEFAULT_FIRST
        elif in_connection and name in CONNECTION_LISTS:
            items = 1  # the connection's `first` already counted them
        elif is_list:
            return _Cost(0, per_item, once)  # as many items as the parent's lists hold
        else:
            items = 1
        return _Cost(_mul(items, per_item), 0, once)


def estimate_cost(
    schema: GraphQLSchema,
    document: Any,
    variables: Mapping[str, Any] | None = None,
    operation_name: str | None = None,
) -> int:
    """The estimated cost of the operation to run (the dearest one if that is ambiguous).

    At most SATURATION. Fragment cycles add nothing (validation refuses them).
    """
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    estimator = _Estimator(schema, fragments, variables or {})
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [o for o in operations if operation_name and o.name and o.name.value == operation_name]
    return max((estimator.operation(o) for o in chosen or operations), default=0)


def cost_error(
    schema: GraphQLSchema,
    document: Any,
    variables: Mapping[str, Any] | None,
    operation_name: str | None,
    *,
    max_cost: int = MAX_COST,
) -> GraphQLError | None:
    """The refusal of a document whose estimated cost, with these variables, is over the limit."""
    cost = estimate_cost(schema, document, variables, operation_name)
    if cost <= max_cost:
        return None
    about = f"about {cost}" if cost < SATURATION else f"more than {SATURATION - 1}"
    return GraphQLError(
        f"The query costs {about} and the limit is {max_cost}: ask for "
        "fewer items (`first`), fewer nested lists, or smaller batches.",
        extensions={"code": "QUERY_TOO_EXPENSIVE", "cost": cost},
    )
