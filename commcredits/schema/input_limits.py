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

This module declares limits; `value_lengths` measures a variable's value against the limits of
its type, and `length_check` plans each query text and refuses the request (`InputLimits`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import strawberry
from graphql import GraphQLArgument, GraphQLInputField

from commcredits.services.users import MAX_UPN

MAX_LENGTH = "commcredits.max_length"  # the metadata key a declared limit is stored under
DEFAULT_MAX_LENGTH = 1_000  # any string not declared otherwise (none legitimately longer)
VALUE_TOO_LONG = "VALUE_TOO_LONG"  # the services' code for the same refusal
MAX_REPORTED = 10  # errors per request: enough to fix a form, never one per list item

# Limits more than one field shares (the others are declared at their field).
USER_PRINCIPAL_NAME = MAX_UPN  # Entra: a 64-character alias, '@', a 48-character domain
USER_REF = MAX_UPN  # "global id or user principal name"; a global id is shorter
SKU_REF = 64  # a skuId (GUID, 36), skuPartNumber (64), servicePlanId or servicePlanName
IDEMPOTENCY_KEY = 200  # services/credits/rules.py check_idempotency_key
NAME = 200  # tenant, API key and rate card names (their columns)
ADJUSTMENT_REASON = 500  # services/credits/operations.py, and the column
WEBHOOK_URL = 2_000  # services/webhooks.py, and the column

# One sentence per kind of reference, the same wherever an argument names an object by its
# global id or its natural key (README "Schema conventions"); such arguments are typed ID.
USER_ID = "The user: global id or user principal name."
SKU_ID = "The SKU: skuId (GUID) or skuPartNumber."
PLAN_ID = "A service plan: servicePlanId (GUID) or servicePlanName."
TENANT_ID = "The tenant: global id or name."

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
