"""Every string the API takes has a maximum length, checked before anything executes.

A pattern or parser run on an unbounded string is where a request turns into seconds of CPU
(issue 11: a 30,000-character e-mail address stalled the process for 3 s). So every String, ID
or other scalar value in an argument or input field, at any depth, literal or variable, is
measured first, in time linear in the request. A field or argument declares its limit where it
is declared: `limited_field(n, ...)` on an input field, `Annotated[str, limited_arg(n)]` on an
argument (Strawberry metadata, read back through graphql-core's link to the Strawberry
definition; the limit also goes into the description, for clients). Anything undeclared has
DEFAULT_MAX_LENGTH; a limit on a list applies to each item.

A value over its limit refuses the whole request before any resolver runs: one GraphQL error
per value (at most MAX_REPORTED), code VALUE_TOO_LONG, with `field` and `maxLength`. Services
keep their own checks for callers that do not come through GraphQL (CLI, seeds, tests). Where
the document's literals and variables go depends only on the query text, so that part is kept
per text, like validation; variables are measured on every request.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import strawberry
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLArgument,
    GraphQLError,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    InlineFragmentNode,
    ListValueNode,
    Node,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
)
from graphql.execution import ExecutionResult as GraphQLExecutionResult
from strawberry.extensions import SchemaExtension

from commcredits.services.users import MAX_UPN

MAX_LENGTH = "commcredits.max_length"  # the metadata key a declared limit is stored under
DEFAULT_MAX_LENGTH = 1_000  # any string not declared otherwise (none legitimately longer)
VALUE_TOO_LONG = "VALUE_TOO_LONG"  # the services' code for the same refusal
MAX_REPORTED = 10  # errors per request: enough to fix a form, never one per list item
CACHE_SIZE = 256  # query texts whose plan is kept (as many as validated texts are)

# Limits more than one field shares (the others are declared at their field).
USER_PRINCIPAL_NAME = MAX_UPN  # Entra: a 64-character alias, '@', a 48-character domain
USER_REF = MAX_UPN  # "global id or user principal name"; a global id is shorter
SKU_REF = 64  # a skuId (GUID, 36), skuPartNumber (64), servicePlanId or servicePlanName
IDEMPOTENCY_KEY = 200  # services/credits/rules.py check_idempotency_key
NAME = 200  # tenant, API key and rate card names (their columns)
ADJUSTMENT_REASON = 500  # services/credits/operations.py, and the column
WEBHOOK_URL = 2_000  # services/webhooks.py, and the column

# -- declaring limits ----------------------------------------------------------------------------


def _described(max_length: int, description: str | None) -> str:
    limit = f"At most {max_length:,} characters."
    return f"{description} {limit}" if description else limit


def limited_field(max_length: int, *, description: str | None = None, **kwargs: Any) -> Any:
    """`strawberry.field` for an input field of at most `max_length` characters (each item's,
    for a list)."""
    return strawberry.field(
        description=_described(max_length, description),
        metadata={MAX_LENGTH: max_length},
        **kwargs,
    )


def limited_arg(max_length: int, *, description: str | None = None) -> Any:
    """`strawberry.argument` for `Annotated[str, limited_arg(n)]`: at most `n` characters."""
    return strawberry.argument(
        description=_described(max_length, description), metadata={MAX_LENGTH: max_length}
    )


def declared_limit(definition: GraphQLArgument | GraphQLInputField) -> int:
    """The limit declared on an argument or input field, else the default."""
    strawberry_definition = (definition.extensions or {}).get("strawberry-definition")
    metadata: Mapping[Any, Any] = getattr(strawberry_definition, "metadata", None) or {}
    return int(metadata.get(MAX_LENGTH, DEFAULT_MAX_LENGTH))


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
class _Position:
    """An argument of a field in the document: where a value goes, for messages."""

    field: str  # "Mutation.updateBillingProfile"
    argument: str  # "input"
    node: Node


def _too_long(position: _Position, path: Path, length: int, limit: int) -> GraphQLError:
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


def _fields_of(type_: GraphQLInputObjectType) -> dict[str, tuple[GraphQLInputType, int]]:
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
Checker = Callable[[Any, Path, _Position, list[GraphQLError]], None]

# Built without a lock: building is idempotent, so two threads racing build the same checker.
_checkers: dict[tuple[GraphQLInputType, int], Checker | None] = {}


def _checker(type_: GraphQLInputType, limit: int) -> Checker | None:
    """The checker for values of `type_` at a position of `limit`; None for a scalar or enum
    (its container measures it)."""
    if isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    key = (type_, limit)
    if key not in _checkers:
        if isinstance(type_, GraphQLList):
            _checkers[key] = _list_checker(_checker(type_.of_type, limit), limit)
        elif isinstance(type_, GraphQLInputObjectType):
            _checkers[key] = _object_checker(type_)
        else:
            _checkers[key] = None
    return _checkers[key]


def _list_checker(item: Checker | None, limit: int) -> Checker:
    def check(value: Any, path: Path, position: _Position, errors: list[GraphQLError]) -> None:
        if not isinstance(value, list | tuple):
            # A lone value where a list is expected is coerced to a one-item list.
            value = (value,)
        for i, element in enumerate(value):
            if len(errors) >= MAX_REPORTED:
                return
            if isinstance(element, str):
                if len(element) > limit:
                    errors.append(_too_long(position, (path, i), len(element), limit))
            elif item is not None and element is not None:
                item(element, (path, i), position, errors)

    return check


def _object_checker(type_: GraphQLInputObjectType) -> Checker:
    # Built lazily on first use: a field's checker may be this very type's.
    table: dict[str, tuple[int, Checker | None]] | None = None

    def check(value: Any, path: Path, position: _Position, errors: list[GraphQLError]) -> None:
        nonlocal table
        if not isinstance(value, Mapping):
            return
        if table is None:
            table = {
                name: (limit, _checker(field_type, limit))
                for name, (field_type, limit) in _fields_of(type_).items()
            }
        for key, element in value.items():
            entry = table.get(key)
            if entry is None or element is None:
                continue
            limit, inner = entry
            if isinstance(element, str):
                if len(element) > limit:
                    errors.append(_too_long(position, (path, key), len(element), limit))
            elif inner is not None:
                inner(element, (path, key), position, errors)

    return check


# -- the document, once per query text -----------------------------------------------------------


@dataclass(frozen=True)
class _Usage:
    """A variable used at a position of a known type and limit."""

    variable: str
    checker: Checker | None
    limit: int
    path: Path
    position: _Position
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
    position: _Position,
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
            checker = _checker(type_, limit)
            usage = _Usage(name, checker, limit, path, position, default.literal_errors)
            plan.usages.append(usage)
        elif isinstance(node, ListValueNode):
            item_type = type_.of_type if isinstance(type_, GraphQLList) else type_
            stack.extend((v, item_type, limit, (path, i)) for i, v in enumerate(node.values))
        elif isinstance(node, ObjectValueNode):
            if isinstance(type_, GraphQLInputObjectType):
                fields = _fields_of(type_)
                for f in node.fields:
                    entry = fields.get(f.name.value)
                    if entry is not None:
                        stack.append((f.value, entry[0], entry[1], (path, f.name.value)))
        else:
            # String, number (an ID may be written as one), enum and null literals: their
            # source text is what a scalar parses.
            text = getattr(node, "value", None)
            if isinstance(text, str) and len(text) > limit:
                plan.literal_errors.append(_too_long(position, path, len(text), limit))


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
                    position = _Position(label, argument.name.value, argument)
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
                errors.append(_too_long(usage.position, usage.path, len(value), usage.limit))
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
