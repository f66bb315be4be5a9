"""Run one GraphQL operation: the single path for HTTP requests and the in-process bulk layer."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import uuid
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    GraphQLString,
    ListTypeNode,
    NamedTypeNode,
    NonNullTypeNode,
    OperationDefinitionNode,
    TypeNode,
)
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.graphql import OperationType

from commcredits.resolvers.context import Context
from commcredits.services.access import Principal
from commcredits.services.errors import DomainError

log = logging.getLogger("commcredits.graphql")

_ONE_RESULT = (OperationType.QUERY, OperationType.MUTATION)


def format_error(error: GraphQLError, request_id: str) -> dict[str, Any]:
    """A client-safe error: domain refusals keep their code, anything unexpected is masked."""
    original = error.original_error
    body: dict[str, Any] = {"message": error.message}
    if error.locations:
        body["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if error.path:
        body["path"] = error.path
    # Before execution (no path), graphql-core turns a scalar's ValueError/TypeError into a
    # validation error (a 5,000-digit Int literal): the client's mistake, not ours.
    coercion = not error.path and isinstance(original, ValueError | TypeError)
    if original is None or isinstance(original, GraphQLError) or coercion:
        # A validation rule may name its own code (e.g. QUERY_TOO_EXPENSIVE); keep it.
        body["extensions"] = {"code": "GRAPHQL_VALIDATION_FAILED", **(error.extensions or {})}
    elif isinstance(original, DomainError):
        detail = original.details[0]
        body["extensions"] = {"code": detail.code, "field": detail.field}
    else:
        log.error(
            "unexpected error in %s (request %s)",
            error.path,
            request_id,
            exc_info=(type(original), original, original.__traceback__),
        )
        body["message"] = f"Internal error; quote request id {request_id} to support."
        body["extensions"] = {"code": "INTERNAL_ERROR", "requestId": request_id}
    return body


async def execute_async(
    query: str,
    variables: dict[str, Any] | None = None,
    operation_name: str | None = None,
    *,
    principal: Principal | None,
    now: dt.datetime,
    request_id: str | None = None,
) -> dict[str, Any]:
    from commcredits.schema.root import schema  # import late: the schema pulls in everything

    request_id = request_id or uuid.uuid4().hex
    context = Context(principal=principal, now=now, request_id=request_id)
    result = await schema.execute(
        query,
        variable_values=variables,
        context_value=context,
        operation_name=operation_name,
        # A subscription streams: only the websocket runs one (commcredits.websocket).
        allowed_operation_types=_ONE_RESULT,
    )
    response: dict[str, Any] = {"data": result.data}
    if result.errors:
        response["errors"] = [format_error(e, request_id) for e in result.errors]
    if result.extensions:
        # extensions.cost (schema/validation.py): the estimate and the limit, so a client
        # sees how close a document is to QUERY_TOO_EXPENSIVE.
        response["extensions"] = result.extensions
    return response


def execute(
    query: str,
    variables: dict[str, Any] | None = None,
    operation_name: str | None = None,
    *,
    principal: Principal | None,
    now: dt.datetime,
    request_id: str | None = None,
) -> dict[str, Any]:
    """Execute synchronously on this thread (its own event loop, so dataloaders batch)."""
    coroutine = execute_async(
        query, variables, operation_name, principal=principal, now=now, request_id=request_id
    )
    loop = _thread_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        # As asyncio.run would: nothing an operation started outlives it.
        pending = asyncio.all_tasks(loop)
        if pending:
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))


_local = threading.local()


def _thread_loop() -> asyncio.AbstractEventLoop:
    """This thread's event loop for synchronous callers, made once and kept.

    The bulk layer executes thousands of operations in a row; `asyncio.run` would build and
    tear down a loop (and its signal handling) for every one, which costs more than a small
    operation itself.
    """
    loop = getattr(_local, "loop", None)
    if loop is None or loop.is_closed():
        loop = _local.loop = asyncio.new_event_loop()
    return loop


# Lists shorter than this are coerced as graphql-core does: only a bulk client's lists are
# long enough for the shortcut to matter.
_PLAIN_LIST_FROM = 32


class PlainListVariables(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's execution context, but a long `[String!]` variable whose items are all
    `str` is taken as given instead of item by item.

    graphql-core coerces each item of a list variable through a chain of type checks and
    the String scalar (which returns a `str` as is): a bulk batch's 1,000 user principal
    names cost more there than the batch's own rules. Such a list coerces to a copy of
    itself, so it is copied; anything else in it (a number, a null, a nested list) goes the
    usual way and fails with graphql-core's own error. The rest is untouched: the other
    variables, validation, the length limits (`InputLimits` reads the raw variables).
    """

    @classmethod
    def build(  # type: ignore[override]
        cls,
        schema: GraphQLSchema,
        document: DocumentNode,
        root_value: Any = None,
        context_value: Any = None,
        raw_variable_values: dict[str, Any] | None = None,
        operation_name: str | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        plain = _plain_string_lists(schema, document, operation_name, raw_variable_values)
        if plain:  # coerced as empty lists, then given their items
            raw_variable_values = {**(raw_variable_values or {}), **{n: [] for n in plain}}
        built = super().build(
            schema,
            document,
            root_value,
            context_value,
            raw_variable_values,
            operation_name,
            *args,
            **kwargs,
        )
        if plain and not isinstance(built, list):  # a list: the request's errors
            values = built.variable_values
            for name, items in plain.items():
                values.coerced[name] = list(items)
                values.sources[name] = values.sources[name]._replace(value=items)
        return built


def _plain_string_lists(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    raw: dict[str, Any] | None,
) -> dict[str, list[str]]:
    """The operation's long `[String!]` / `[String!]!` variables given as lists of `str`."""
    if not raw or schema.type_map.get("String") is not GraphQLString:
        return {}
    operations = [
        d
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode)
        and (operation_name is None or (d.name is not None and d.name.value == operation_name))
    ]
    if len(operations) != 1:  # graphql-core says what is wrong with it
        return {}
    plain = {}
    for definition in operations[0].variable_definitions or ():
        name = definition.variable.name.value
        items = raw.get(name)
        if (
            type(items) is list
            and len(items) >= _PLAIN_LIST_FROM
            and _is_string_list(definition.type)
            and set(map(type, items)) == {str}
        ):
            plain[name] = items
    return plain


def _is_string_list(node: TypeNode) -> bool:
    if isinstance(node, NonNullTypeNode):
        node = node.type
    if not isinstance(node, ListTypeNode) or not isinstance(node.type, NonNullTypeNode):
        return False
    named = node.type.type
    return isinstance(named, NamedTypeNode) and named.name.value == "String"
