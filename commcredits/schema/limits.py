"""Limits of a document's shape (depth, aliases, size), checked in time linear in its text.

A fragment may be spread many times, and spread fragments may spread others: `F0 { ...F1
...F1 }`, `F1 { ...F2 ...F2 }`, … holds 2^n selections once spread out, in a few hundred
bytes. Strawberry's depth and alias limiters (and any walker that follows spreads) expand
every spread again, so such a "fragment bomb" took seconds at 18 levels and never ended at 40.
Here every fragment definition is walked once: its shape (deepest position, aliases, size
once spread out) is kept per name, in dependency order, and a spread adds the kept shape.
Counts saturate, so 2^1000 never becomes a number to compute with.

The rules keep the meaning of the limiters they replace, and their messages:

- depth: a selection inside more than `max_depth` fields with selection sets is refused,
  "'<operation>' exceeds maximum operation depth of <max_depth>"; introspection fields
  (`__schema`, `__type`, `__typename`) are not counted and not entered (the cost limit
  covers their cycles). Only the field's name decides: Strawberry's `should_ignore` saw the
  alias, so `__x: users { … }` slipped past the depth limit; it no longer does.
- aliases: aliased fields in every operation, fragments counted each time they are spread,
  "<n> aliases found. Allowed: <max_aliases>".
- size: an operation holding more than `max_selections` selections once its fragments are
  spread out is refused, code QUERY_TOO_COMPLEX, whatever execution would make of it.
- fragment cycles are refused here, with graphql-core's message, since nothing can be
  measured through them.

Run these before the standard rules (see `validation.CachedValidation`): they are what stops
a document before anything slower looks at it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import (
    BREAK,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    Node,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
    VisitorAction,
)

QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
# Counts stop here: enough for any message, small enough to stay a machine integer.
SATURATION = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Shape:
    """What a selection set holds once its fragments are spread out."""

    depth: int  # fields with selection sets around its deepest selection (introspection: 0)
    aliases: int  # aliased fields (saturating)
    selections: int  # fields, inline fragments and spreads (saturating)


def _sum(a: int, b: int) -> int:
    return min(a + b, SATURATION)


def _count(n: int) -> str:
    return str(n) if n < SATURATION else f"more than {SATURATION - 1}"


def _entered(field: FieldNode) -> SelectionSetNode | None:
    """The selection set of a field that counts for depth: not introspection, not empty."""
    if field.name.value.startswith("__") or not field.selection_set:
        return None
    return field.selection_set if field.selection_set.selections else None


def _operation_name(operation: OperationDefinitionNode) -> str:
    return operation.name.value if operation.name else "anonymous"


def _spreads(selection_set: SelectionSetNode) -> list[FragmentSpreadNode]:
    """Every spread in a selection set, at any depth (without following them)."""
    found: list[FragmentSpreadNode] = []
    stack = [selection_set]
    while stack:
        for selection in stack.pop().selections:
            if isinstance(selection, FragmentSpreadNode):
                found.append(selection)
            elif selection.selection_set is not None:  # type: ignore[attr-defined]
                stack.append(selection.selection_set)  # type: ignore[attr-defined]
    return found


class DocumentShape:
    """The shapes of a document's fragments and operations, each definition walked once."""

    def __init__(self, document: DocumentNode) -> None:
        self.fragments: dict[str, list[FragmentDefinitionNode]] = {}
        self.operations: list[OperationDefinitionNode] = []
        for definition in document.definitions:
            if isinstance(definition, FragmentDefinitionNode):
                # A repeated name is refused by UniqueFragmentNamesRule; until then the
                # largest of its definitions counts.
                self.fragments.setdefault(definition.name.value, []).append(definition)
            elif isinstance(definition, OperationDefinitionNode):
                self.operations.append(definition)
        self.shapes: dict[str, Shape] = {}
        # The depth below each selection set walked, to point at where the limit is crossed.
        self._depths: dict[int, int] = {}
        self._order: list[str] = []  # fragment names, each after those it spreads
        self.cycle = self._find_cycle_or_order()
        if self.cycle is None:
            for name in self._order:
                self.shapes[name] = self._fragment_shape(name)

    def _find_cycle_or_order(self) -> list[FragmentSpreadNode] | None:
        """Orders the fragments so each comes after those it spreads; or a cycle's spreads.

        An explicit stack: a chain of spreads is as long as the document allows, far
        beyond the interpreter's recursion limit.
        """
        spreads = {
            name: [s for d in defs for s in _spreads(d.selection_set)]
            for name, defs in self.fragments.items()
        }
        done: set[str] = set()
        for root in self.fragments:
            if root in done:
                continue
            stack = [(root, iter(spreads[root]))]
            on_stack = {root: 0}  # name → its index in `stack`
            entered_by: list[FragmentSpreadNode] = []  # the spread leading to stack[i + 1]
            while stack:
                name, pending = stack[-1]
                for spread in pending:
                    target = spread.name.value
                    if target not in self.fragments or target in done:
                        continue  # an unknown fragment is reported by KnownFragmentNamesRule
                    if target in on_stack:
                        return [*entered_by[on_stack[target] :], spread]
                    on_stack[target] = len(stack)
                    entered_by.append(spread)
                    stack.append((target, iter(spreads[target])))
                    break
                else:
                    stack.pop()
                    del on_stack[name]
                    if entered_by:
                        entered_by.pop()
                    done.add(name)
                    self._order.append(name)
        return None

    def _fragment_shape(self, name: str) -> Shape:
        shapes = [self.walk(d.selection_set) for d in self.fragments[name]]
        return Shape(
            max(s.depth for s in shapes),
            max(s.aliases for s in shapes),
            max(s.selections for s in shapes),
        )

    def walk(self, selection_set: SelectionSetNode) -> Shape:
        """The shape of a selection set, its fragments' shapes already known.

        Recursive over the text's own nesting only, which the parser bounds.
        """
        depth, aliases, selections = 0, 0, len(selection_set.selections)
        for selection in selection_set.selections:
            inner: Shape | None
            if isinstance(selection, FieldNode):
                aliases += selection.alias is not None
                if selection.selection_set is None:
                    continue
                inner = self.walk(selection.selection_set)
                if _entered(selection) is not None:
                    depth = max(depth, 1 + inner.depth)
            elif isinstance(selection, InlineFragmentNode):
                inner = self.walk(selection.selection_set)
                depth = max(depth, inner.depth)
            else:
                inner = self.shapes.get(selection.name.value)  # None: an unknown fragment
                if inner is None:
                    continue
                depth = max(depth, inner.depth)
            aliases = _sum(aliases, inner.aliases)
            selections = _sum(selections, inner.selections)
        self._depths[id(selection_set)] = depth
        return Shape(depth, aliases, selections)

    def locate(self, selection_set: SelectionSetNode, position: int) -> Node | None:
        """A selection at `position` (fields entered) below a walked selection set."""
        depths = self._depths
        while True:
            for selection in selection_set.selections:
                if position == 0:
                    return selection
                inner: SelectionSetNode | None = None
                if isinstance(selection, FieldNode):
                    entered = _entered(selection)
                    if entered is not None and 1 + depths[id(entered)] >= position:
                        inner, position = entered, position - 1
                elif isinstance(selection, InlineFragmentNode):
                    if depths[id(selection.selection_set)] >= position:
                        inner = selection.selection_set
                else:
                    for definition in self.fragments.get(selection.name.value, ()):
                        if depths[id(definition.selection_set)] >= position:
                            inner = definition.selection_set
                            break
                if inner is not None:
                    selection_set = inner
                    break
            else:
                return None


def document_limit_errors(
    document: DocumentNode, *, max_depth: int, max_aliases: int, max_selections: int
) -> list[GraphQLError]:
    """The refusals of a document by its shape; time and memory linear in its size."""
    shape = DocumentShape(document)
    if shape.cycle is not None:
        *via, target = [spread.name.value for spread in shape.cycle]
        # NoFragmentCyclesRule's words, so a client sees what it saw before.
        through = " via " + ", ".join(f"'{n}'" for n in via) if via else ""
        return [
            GraphQLError(f"Cannot spread fragment '{target}' within itself{through}.", shape.cycle)
        ]
    errors: list[GraphQLError] = []
    aliases = 0
    for operation in shape.operations:
        measured = shape.walk(operation.selection_set)
        aliases = _sum(aliases, measured.aliases)
        name = _operation_name(operation)
        if measured.depth > max_depth:
            node = shape.locate(operation.selection_set, max_depth + 1)
            errors.append(
                GraphQLError(
                    f"'{name}' exceeds maximum operation depth of {max_depth}",
                    node or operation,
                )
            )
        if measured.selections > max_selections:
            errors.append(
                GraphQLError(
                    f"'{name}' is too complex: once its fragments are spread out it holds "
                    f"{_count(measured.selections)} selections, and the limit is "
                    f"{max_selections}. Spread fewer fragments, or each fewer times.",
                    operation,
                    extensions={"code": QUERY_TOO_COMPLEX, "limit": max_selections},
                )
            )
    if aliases > max_aliases:
        found = str(aliases) if aliases < SATURATION else f"More than {SATURATION - 1}"
        errors.append(GraphQLError(f"{found} aliases found. Allowed: {max_aliases}"))
    return errors


def document_limits_rule(
    *, max_depth: int, max_aliases: int, max_selections: int
) -> type[ValidationRule]:
    """A validation rule applying `document_limit_errors` (run it before the standard ones)."""

    class DocumentLimitsRule(ValidationRule):
        def enter_document(self, node: DocumentNode, *_args: Any) -> VisitorAction:
            # The work happens here rather than in __init__ (as Strawberry's rules do) so
            # that graphql-core's `validate` guards it like every other visit.
            for error in document_limit_errors(
                node,
                max_depth=max_depth,
                max_aliases=max_aliases,
                max_selections=max_selections,
            ):
                self.report_error(error)
            return BREAK

    return DocumentLimitsRule
