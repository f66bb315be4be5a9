"""Validation that costs once per distinct query text, plus the cost limit on every request.

Clients send the same few operation texts over and over (the bulk layer sends one text per
command, thousands of times), and graphql-core's validation walks the whole document with
every rule each time: about 3 ms, more than a 1,000-row batch spends on its input. The result
depends only on the text (the depth, alias and token limits are rules of the document), so it
is kept, per text, in a bounded LRU. The cost limit depends on the variables (`first: $n`, a
batch's list), so it runs for every request.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence

from graphql import ASTValidationRule, GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from commcredits.schema.cost import MAX_COST, cost_error

CACHE_SIZE = 256

_lock = threading.Lock()
_validated: OrderedDict[str, list[GraphQLError]] = OrderedDict()


def _cached(query: str) -> list[GraphQLError] | None:
    with _lock:
        errors = _validated.get(query)
        if errors is not None:
            _validated.move_to_end(query)
        return errors


def _store(query: str, errors: list[GraphQLError]) -> None:
    with _lock:
        _validated[query] = errors
        while len(_validated) > CACHE_SIZE:
            _validated.popitem(last=False)


class CachedValidation(SchemaExtension):
    """Replaces Strawberry's validation step: cached document rules, then the cost limit.

    `rules` are added to the standard ones (limits of the document itself, such as depth and
    aliases). Put it after every extension that adds validation rules, so its first run of a
    text sees them all.
    """

    def __init__(
        self, *, rules: Sequence[type[ASTValidationRule]] = (), max_cost: int = MAX_COST
    ) -> None:
        self.rules = tuple(rules)
        self.max_cost = max_cost

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        schema = context.schema._schema
        query = context.query
        errors = _cached(query) if query else None
        if errors is None:
            rules = (*context.validation_rules, *self.rules)
            errors = validate_document(schema, document, rules)
            if query:
                _store(query, errors)
        variables = context.variables if isinstance(context.variables, dict) else {}
        refusal = cost_error(
            schema, document, variables, context.operation_name, max_cost=self.max_cost
        )
        # Strawberry skips its own validation once this is set (an empty list means valid).
        context.pre_execution_errors = [*errors, *([refusal] if refusal is not None else [])]
        yield
