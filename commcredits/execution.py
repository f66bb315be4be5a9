"""Run one GraphQL operation: the single path for HTTP requests and the in-process bulk layer."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import uuid
from typing import Any

from graphql import GraphQLError
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
