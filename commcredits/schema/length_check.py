"""The input length check: where a document's literals and variables go, planned once per
query text, and the extension that refuses a request before execution.

Part of the input length check (`input_limits` says what it is for).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    InlineFragmentNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
)
from graphql.execution import ExecutionResult as GraphQLExecutionResult
from strawberry.extensions import SchemaExtension

from commcredits.schema.input_limits import MAX_REPORTED, declared_limit
from commcredits.schema.value_lengths import (
    Checker,
    Path,
    Position,
    checker_for,
    fields_of,
    too_long,
)

CACHE_SIZE = 256  # query texts whose plan is kept (as many as validated texts are)

# -- the document, once per query text -----------------------------------------------------------


@dataclass(frozen=True)
class _Usage:
    """A variable used at a position of a known type and limit."""

    variable: str
    checker: Checker | None
    limit: int
    path: Path
    position: Position
    default_errors: list[GraphQLError]  # its default's, for a request that omits it


@dataclass
class _Plan:
    literal_errors: list[GraphQLError]
    usages: list[_Usage]
    defaults: dict[str, ValueNode]  # the operation's variable defaults (they are literals)


def _check_literal(
    node: ValueNode,
    type_: GraphQLInputType,
    limit: int,
    path: Path,
    position: Position,
    plan: _Plan,
) -> None:
    """Measure a literal (validated already, so its shape fits `type_`) and note variables."""
    stack: list[tuple[ValueNode, GraphQLInputType, int, Path]] = [(node, type_, limit, path)]
    while stack:
        node, type_, limit, path = stack.pop()
        if isinstance(type_, GraphQLNonNull):
            type_ = type_.of_type
        if isinstance(node, VariableNode):
            name = node.name.value
            default = _Plan(literal_errors=[], usages=[], defaults={})
            if name in plan.defaults:
                _check_literal(plan.defaults[name], type_, limit, path, position, default)
            checker = checker_for(type_, limit)
            usage = _Usage(name, checker, limit, path, position, default.literal_errors)
            plan.usages.append(usage)
        elif isinstance(node, ListValueNode):
            item_type = type_.of_type if isinstance(type_, GraphQLList) else type_
            stack.extend((v, item_type, limit, (path, i)) for i, v in enumerate(node.values))
        elif isinstance(node, ObjectValueNode):
            if isinstance(type_, GraphQLInputObjectType):
                fields = fields_of(type_)
                for f in node.fields:
                    entry = fields.get(f.name.value)
                    if entry is not None:
                        stack.append((f.value, entry[0], entry[1], (path, f.name.value)))
        else:
            # String, number (an ID may be written as one), enum and null literals: their
            # source text is what a scalar parses.
            text = getattr(node, "value", None)
            if isinstance(text, str) and len(text) > limit:
                plan.literal_errors.append(too_long(position, path, len(text), limit))


def _plan(schema: GraphQLSchema, document: DocumentNode, operation_name: str | None) -> _Plan:
    plan = _Plan(literal_errors=[], usages=[], defaults={})
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    if len(operations) != 1:
        return plan  # execution refuses an unknown or ambiguous operation itself
    operation = operations[0]
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    for definition in operation.variable_definitions or ():
        if definition.default_value is not None:
            plan.defaults[definition.variable.name.value] = definition.default_value
    root = schema.get_root_type(operation.operation)
    if root is None:
        return plan
    seen_fragments: set[str] = set()
    # Each fragment is walked once, however often it is spread: the walk stays linear.
    pending: list[tuple[SelectionSetNode, Any]] = [(operation.selection_set, root)]
    while pending:
        selection_set, parent = pending.pop()
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                field = getattr(parent, "fields", {}).get(selection.name.value)
                if field is None:
                    continue  # __typename, __type, __schema: introspection takes no input
                label = f"{parent.name}.{selection.name.value}"
                for argument in selection.arguments or ():
                    definition = field.args.get(argument.name.value)
                    if definition is None:
                        continue
                    position = Position(label, argument.name.value, argument)
                    _check_literal(
                        argument.value,
                        definition.type,
                        declared_limit(definition),
                        None,
                        position,
                        plan,
                    )
                if selection.selection_set is not None:
                    pending.append((selection.selection_set, get_named_type(field.type)))
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = schema.get_type(condition.name.value) if condition else parent
                pending.append((selection.selection_set, target or parent))
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is None or name in seen_fragments:
                    continue
                seen_fragments.add(name)
                target = schema.get_type(fragment.type_condition.name.value)
                pending.append((fragment.selection_set, target or parent))
    return plan


_plans_lock = threading.Lock()
_plans: OrderedDict[tuple[str, str | None], _Plan] = OrderedDict()


def _cached_plan(
    schema: GraphQLSchema, document: DocumentNode, query: str | None, operation_name: str | None
) -> _Plan:
    if not query:  # nothing to keep it by
        return _plan(schema, document, operation_name)
    key = (query, operation_name)
    with _plans_lock:
        found = _plans.get(key)
        if found is not None:
            _plans.move_to_end(key)
            return found
    found = _plan(schema, document, operation_name)
    with _plans_lock:
        _plans[key] = found
        while len(_plans) > CACHE_SIZE:
            _plans.popitem(last=False)
    return found


def length_errors(
    schema: GraphQLSchema,
    document: DocumentNode,
    variables: Mapping[str, Any] | None,
    *,
    query: str | None = None,
    operation_name: str | None = None,
) -> list[GraphQLError]:
    """Every string over its limit in the operation's literals and variables (at most
    MAX_REPORTED); empty when the request may run."""
    plan = _cached_plan(schema, document, query, operation_name)
    errors = list(plan.literal_errors[:MAX_REPORTED])
    values = variables if isinstance(variables, Mapping) else {}
    for usage in plan.usages:
        if len(errors) >= MAX_REPORTED:
            break
        value = values.get(usage.variable)
        if usage.variable not in values:
            errors.extend(usage.default_errors)
        elif isinstance(value, str):
            if len(value) > usage.limit:
                errors.append(too_long(usage.position, usage.path, len(value), usage.limit))
        elif usage.checker is not None and value is not None:
            usage.checker(value, usage.path, usage.position, errors)
    return errors[:MAX_REPORTED]


class InputLimits(SchemaExtension):
    """Refuses the request, before execution, when any input string is over its limit."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and context.result is None:
            errors = length_errors(
                context.schema._schema,
                document,
                context.variables,
                query=context.query,
                operation_name=context.operation_name,
            )
            if errors:
                # Strawberry skips execution when a result is already there.
                context.result = GraphQLExecutionResult(data=None, errors=errors)
        yield
