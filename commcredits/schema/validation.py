"""Validation that costs once per distinct query text, plus the cost limit on every request.

Clients send the same few operation texts over and over (the bulk layer sends one text per
command, thousands of times), and graphql-core's validation walks the whole document with
every rule each time: about 3 ms, more than a 1,000-row batch spends on its input. The result
depends only on the text (the depth, alias and token limits are rules of the document), so it
is kept, per text, in a bounded LRU. The cost limit depends on the variables (`first: $n`, a
batch's list), so it runs for every request.

Nothing here may take more than linear time in the text, whoever sends it (requests without
a key are validated too, before any resolver refuses them). So the document's own limits
(`limits.py`: depth, aliases, size once fragments are spread, fragment cycles), which are
linear, run first, and a document they refuse goes no further. Of the standard rules, only
OverlappingFieldsCanBeMergedRule is worse than linear: it compares fields sharing a response
name pairwise (`{ viewer { role } viewer { role } … }` ×900 took 2.7 s), so it runs with a
small work budget (graphql-core meters its comparisons) and a document exceeding it is
refused as QUERY_TOO_COMPLEX. Realistic documents use none or a few dozen units of it; the
standard introspection query uses none.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import NamedTuple

from graphql import ASTValidationRule, GraphQLError, ValidationContext, validate
from graphql.validation import OverlappingFieldsCanBeMergedRule
from graphql.validation.validate import ValidationAbortedError
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document
from strawberry.types import ExecutionContext

from commcredits.schema.cost import MAX_COST, cost_error, estimate_cost
from commcredits.schema.limits import QUERY_TOO_COMPLEX

CACHE_SIZE = 256
# Units of OverlappingFieldsCanBeMergedRule's work (about 2-5 µs each): graphql-core allows
# 500,000 by default, seconds of a worker thread.
OVERLAP_BUDGET = 10_000
# What graphql-core's validation says when it gives up on a document (its work budget, or
# fragments nested beyond the interpreter's recursion), as opposed to its error limit.
_ABORTED = "Validation aborted."


class _Verdict(NamedTuple):
    errors: list[GraphQLError]
    # Whether the cost estimate may run: the document's own limits passed and validation
    # finished (no fragment cycle, nesting within bounds), even if other rules refused it.
    costable: bool


_lock = threading.Lock()
_validated: OrderedDict[str, _Verdict] = OrderedDict()


def _cached(query: str) -> _Verdict | None:
    with _lock:
        verdict = _validated.get(query)
        if verdict is not None:
            _validated.move_to_end(query)
        return verdict


def _store(query: str, verdict: _Verdict) -> None:
    with _lock:
        _validated[query] = verdict
        while len(_validated) > CACHE_SIZE:
            _validated.popitem(last=False)


def _budgeted_overlap_rule(budget: int) -> type[ASTValidationRule]:
    class BudgetedOverlappingFieldsRule(OverlappingFieldsCanBeMergedRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.rule_context.remaining_complexity_budget = budget

    return BudgetedOverlappingFieldsRule


def _is_abort(error: GraphQLError) -> bool:
    return isinstance(error, ValidationAbortedError) and error.message == _ABORTED


def _without_aborts(errors: list[GraphQLError]) -> tuple[list[GraphQLError], bool]:
    """graphql-core's bare abort replaced by a refusal a client can act on; and whether any."""
    kept = [e for e in errors if not _is_abort(e)]
    if len(kept) == len(errors):
        return kept, False
    if not any((e.extensions or {}).get("code") == QUERY_TOO_COMPLEX for e in kept):
        kept.append(
            GraphQLError(
                "The document is too complex to validate: fragments nested too deeply, or "
                "too many fields with the same name (or fragments) to compare in one "
                "selection. Send a smaller document.",
                extensions={"code": QUERY_TOO_COMPLEX},
            )
        )
    return kept, True


class CachedValidation(SchemaExtension):
    """Replaces Strawberry's validation step: cached document rules, then the cost limit.

    `rules` are limits of the document itself (depth, aliases, …) and must take linear time:
    they run before the standard ones, which do not run on a document they refuse. Put this
    extension after every extension that adds validation rules, so its first run of a text
    sees them all.
    """

    def __init__(
        self,
        *,
        rules: Sequence[type[ASTValidationRule]] = (),
        max_cost: int = MAX_COST,
        overlap_budget: int = OVERLAP_BUDGET,
    ) -> None:
        self.rules = tuple(rules)
        self.max_cost = max_cost
        self.overlap_rule = _budgeted_overlap_rule(overlap_budget)

    def _validate(self, context: ExecutionContext) -> _Verdict:
        schema = context.schema._schema
        document = context.graphql_document
        errors = validate(schema, document, self.rules) if self.rules else []
        if errors:
            return _Verdict(_without_aborts(errors)[0], costable=False)
        rules = tuple(
            self.overlap_rule if rule is OverlappingFieldsCanBeMergedRule else rule
            for rule in context.validation_rules
        )
        errors, aborted = _without_aborts(validate_document(schema, document, rules))
        return _Verdict(errors, costable=not aborted)

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        query = context.query
        verdict = _cached(query) if query else None
        if verdict is None:
            verdict = self._validate(context)
            if query:
                _store(query, verdict)
        errors = list(verdict.errors)
        cost: int | None = None
        if verdict.costable:
            # Costed even when other rules refused the document, so a client learns all
            # that is wrong with it at once.
            variables = context.variables if isinstance(context.variables, dict) else {}
            args = (context.schema._schema, context.graphql_document, variables)
            cost = estimate_cost(*args, context.operation_name)
            if cost > self.max_cost:
                errors.append(cost_error(*args, context.operation_name, max_cost=self.max_cost))
        # The response's extensions.cost (Shopify's names): how close the document is to
        # QUERY_TOO_EXPENSIVE; requestedQueryCost is null for a document that was not costed.
        context.extensions_results["cost"] = {
            "requestedQueryCost": cost,
            "maximumAvailable": self.max_cost,
        }
        # Strawberry skips its own validation once this is set (an empty list means valid).
        context.pre_execution_errors = errors
        yield
