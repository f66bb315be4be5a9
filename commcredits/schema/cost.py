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
"""

from __future__ import annotations

from collections.abc import Mapping
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
LIST_SIZE = 10  # assumed length of a list field without `first` (license details, plans, …)
DEFAULT_FIRST = 50  # resolvers.common.DEFAULT_PAGE
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
        return int(node.value)
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

    def operation(self, op: OperationDefinitionNode) -> int:
        root = {
            OperationType.QUERY: self.schema.query_type,
            OperationType.MUTATION: self.schema.mutation_type,
            OperationType.SUBSCRIPTION: self.schema.subscription_type,
        }[op.operation]
        if root is None:
            return 0
        return self.selections(
            op.selection_set, root, 1, in_connection=False, list_size=LIST_SIZE, seen=frozenset()
        )

    def selections(
        self,
        selection_set: SelectionSetNode | None,
        parent: Any,
        multiplier: int,
        *,
        in_connection: bool,
        list_size: int,
        seen: frozenset[str],
    ) -> int:
        if selection_set is None:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.field(
                    selection,
                    parent,
                    multiplier,
                    in_connection=in_connection,
                    list_size=list_size,
                )
            elif isinstance(selection, InlineFragmentNode):
                target = parent
                if selection.type_condition is not None:
                    target = self.schema.get_type(selection.type_condition.name.value) or parent
                total += self.selections(
                    selection.selection_set,
                    target,
                    multiplier,
                    in_connection=in_connection,
                    list_size=list_size,
                    seen=seen,
                )
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in seen:  # unknown or cyclic: other rules report it
                    continue
                target = self.schema.get_type(fragment.type_condition.name.value) or parent
                total += self.selections(
                    fragment.selection_set,
                    target,
                    multiplier,
                    in_connection=in_connection,
                    list_size=list_size,
                    seen=seen | {name},
                )
        return total

    def field(
        self, node: FieldNode, parent: Any, multiplier: int, *, in_connection: bool, list_size: int
    ) -> int:
        name = node.name.value
        if not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            return 0  # an unknown parent: other validation rules report it
        # Introspection is costed too: its types refer to each other in cycles
        # (interfaces → possibleTypes → interfaces …), and the depth limit ignores it.
        definition = _META_FIELDS.get(name) or parent.fields.get(name)
        if definition is None:
            return 0
        target, is_list = _unwrap(definition.type)
        arguments = {a.name.value: _value(a.value, self.variables) for a in node.arguments or ()}
        connection = "first" in definition.args
        if connection:
            first = arguments.get("first")
            items = max(0, first) if isinstance(first, int) else DEFAULT_FIRST
        elif in_connection and name in CONNECTION_LISTS:
            items = 1  # the connection's `first` already counted them
        else:
            items = list_size if is_list else 1
        # A batch: its payload's lists hold one result per item of its longest list argument.
        batch = max((len(v) for v in arguments.values() if isinstance(v, list)), default=0)
        cost = sum(_list_items(v) for v in arguments.values()) if batch else 0
        if not isinstance(target, GraphQLObjectType | GraphQLInterfaceType):
            return cost  # a scalar or enum (or a list of them)
        cost += multiplier * items
        return cost + self.selections(
            node.selection_set,
            target,
            multiplier * items,
            in_connection=connection,
            list_size=max(batch, LIST_SIZE),
            seen=frozenset(),
        )


def estimate_cost(
    schema: GraphQLSchema,
    document: Any,
    variables: Mapping[str, Any] | None = None,
    operation_name: str | None = None,
) -> int:
    """The estimated cost of the operation to run (the dearest one if that is ambiguous)."""
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
    return GraphQLError(
        f"The query costs about {cost} and the limit is {max_cost}: ask for "
        "fewer items (`first`), fewer nested lists, or smaller batches.",
        extensions={"code": "QUERY_TOO_EXPENSIVE", "cost": cost},
    )
