"""The `Decimal` scalar: money and prices cross the API in one text form (money.parse_amount).

Strawberry's own Decimal scalar hands any value to `decimal.Decimal`, which takes exponents
("1e999999999" overflowed the services' arithmetic), NaN, Infinity, '+', whitespace, '_' and
non-ASCII digits, and turns JSON numbers into text through a float. This one refuses all of
that while the request's values are coerced, before anything runs: a bad variable is a
coercion error, a bad literal a validation error, both with the code INVALID_DECIMAL.
"""

from __future__ import annotations

import decimal
from typing import Any

from graphql import FloatValueNode, GraphQLError, IntValueNode, StringValueNode, ValueNode
from strawberry.types.scalar import ScalarDefinition

from commcredits.money import AMOUNT_FORMAT, MAX_AMOUNT_DIGITS, parse_amount

INVALID_DECIMAL = "INVALID_DECIMAL"

DESCRIPTION = (
    'An exact decimal number as a string of plain digits: an optional "-", digits, and '
    f'optionally "." and digits (e.g. "12.50"); at most {MAX_AMOUNT_DIGITS} significant digits, '
    "no exponent, no spaces. An integer may also be sent as a number; other JSON numbers are "
    "refused (a float loses digits)."
)


def _refuse(message: str, node: ValueNode | None = None) -> GraphQLError:
    return GraphQLError(message, node, extensions={"code": INVALID_DECIMAL})


def _parse_text(text: str, node: ValueNode | None = None) -> decimal.Decimal:
    try:
        return parse_amount(text)
    except ValueError as error:
        raise _refuse(str(error), node) from None


def parse_value(value: Any) -> decimal.Decimal:
    """A variable's value: a string, or an integer (exact in JSON); never a float or bool."""
    if isinstance(value, str):
        return _parse_text(value)
    if isinstance(value, int) and not isinstance(value, bool):
        # Bounded before str(): a huge int costs quadratic time to print (and 3.11 refuses
        # past 4,300 digits with a ValueError, which would be an internal error here).
        if abs(value) >= 10**MAX_AMOUNT_DIGITS:
            raise _refuse(f"An amount has at most {MAX_AMOUNT_DIGITS} significant digits.")
        return decimal.Decimal(value)
    if isinstance(value, float):
        raise _refuse(
            f'Send an amount as a string (e.g. "12.50"), not a JSON number with a '
            f"fraction or exponent: a float loses digits. {AMOUNT_FORMAT}."
        )
    raise _refuse(f"{AMOUNT_FORMAT} (got {type(value).__name__}).")


def parse_literal(node: ValueNode, _variables: dict[str, Any] | None = None) -> decimal.Decimal:
    """A literal in the query: "12.50", or the number tokens 12 and 12.50 (their source text is
    exact, so it is parsed as written; 1e2 is refused like "1e2")."""
    if isinstance(node, StringValueNode | IntValueNode | FloatValueNode):
        return _parse_text(node.value, node)
    raise _refuse(f"{AMOUNT_FORMAT}.", node)


def serialize(value: Any) -> str:
    """Plain digits out too ("0.000000", never "0E-6"), so every output is a valid input."""
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    return str(value)


DECIMAL = ScalarDefinition(
    name="Decimal",
    description=DESCRIPTION,
    specified_by_url=None,
    serialize=serialize,
    parse_value=parse_value,
    parse_literal=parse_literal,
    origin=decimal.Decimal,
)

# For Schema(scalar_overrides=...): every `Decimal` annotation in the schema uses this scalar.
SCALAR_OVERRIDES: dict[object, ScalarDefinition] = {decimal.Decimal: DECIMAL}
