"""One graphql-transport-ws operation on a connection (`websocket.Connection`): a
subscription streamed from the broker, or a query or mutation run as on HTTP.

Subscriptions go through `schema.subscribe`, so through the same extensions as every query
(token limit, cached validation with the cost limit, input limits). Their resolvers join the
broker through `stream`, which hands each one a bounded queue of its tenant's events.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import anyio
from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.execution import PreExecutionError

from commcredits import db as database
from commcredits import events
from commcredits.execution import execute, format_error
from commcredits.resolvers.context import Context
from commcredits.ws_auth import Credential

log = logging.getLogger("commcredits.websocket")


@dataclass
class SubscriptionContext(Context):
    """A websocket operation's context: the request context plus the connection's events."""

    events: Operations | None = None


class Operations:
    """The operations part of a connection; `websocket.Connection` provides the rest."""

    credential: Credential | None
    clock: Callable[[], dt.datetime]
    operations: dict[str, asyncio.Task[None]]
    subscriptions: set[events.Subscription]
    queue_size: int

    async def send(self, message: dict[str, Any]) -> None:
        raise NotImplementedError

    async def bad_request(self, reason: str) -> None:
        raise NotImplementedError

    def too_slow(self) -> None:
        raise NotImplementedError

    def stream(self, tenant_id: int, kinds: frozenset[str]) -> AsyncIterator[dict[str, Any]]:
        """The tenant's events of these kinds (resolvers/subscriptions.py), joined now."""
        sub = events.broker.subscribe(
            tenant_id,
            kinds,
            size=self.queue_size,
            on_overflow=self.too_slow,
        )
        self.subscriptions.add(sub)

        async def events_of() -> AsyncIterator[dict[str, Any]]:
            try:
                while True:
                    yield await sub.queue.get()
            finally:
                events.broker.unsubscribe(sub)
                self.subscriptions.discard(sub)

        return events_of()

    async def _run(self, op_id: str, payload: dict[str, Any]) -> None:
        from commcredits.schema.root import schema

        assert self.credential is not None
        request_id = uuid.uuid4().hex
        context = SubscriptionContext(
            principal=self.credential.principal,
            now=self.clock(),
            request_id=request_id,
            events=self,
        )
        try:
            source = await schema.subscribe(
                payload["query"],
                variable_values=payload.get("variables") or None,
                context_value=context,
                operation_name=payload.get("operationName") or None,
            )
            results = source if hasattr(source, "__aiter__") else _single(source)
            first = True
            async with aclosing(results):
                async for result in results:
                    if first and isinstance(result, PreExecutionError):
                        await self._refused(op_id, payload, result.errors or [], request_id)
                        return
                    first = False
                    await self._next(op_id, result, request_id)
            await self._finish(op_id, {"id": op_id, "type": "complete"})
        except asyncio.CancelledError:
            raise
        except GraphQLSyntaxError as error:  # the parser, raised through Strawberry's stream
            self.operations.pop(op_id, None)
            await self.bad_request(error.message)
        except GraphQLError as error:  # another extension's refusal, before execution
            await self._finish(
                op_id, {"id": op_id, "type": "error", "payload": [format_error(error, request_id)]}
            )
        except Exception:
            log.exception("websocket operation failed (request %s)", request_id)
            error = {
                "message": f"Internal error; quote request id {request_id} to support.",
                "extensions": {"code": "INTERNAL_ERROR", "requestId": request_id},
            }
            await self._finish(op_id, {"id": op_id, "type": "error", "payload": [error]})

    async def _refused(
        self, op_id: str, payload: dict[str, Any], errors: list[GraphQLError], request_id: str
    ) -> None:
        first = errors[0] if errors else None
        original = getattr(first, "original_error", None)
        if isinstance(original, InvalidOperationTypeError):
            # A query or mutation: run as on HTTP, on a worker thread with a connection.
            response = await anyio.to_thread.run_sync(self._execute, payload, request_id)
            await self.send({"id": op_id, "type": "next", "payload": response})
            await self._finish(op_id, {"id": op_id, "type": "complete"})
            return
        if isinstance(first, GraphQLSyntaxError) or isinstance(
            original, CannotGetOperationTypeError | MissingQueryError
        ):
            self.operations.pop(op_id, None)
            await self.bad_request(first.message if first else "Bad request")
            return
        formatted = [format_error(e, request_id) for e in errors]
        await self._finish(op_id, {"id": op_id, "type": "error", "payload": formatted})

    def _execute(self, payload: dict[str, Any], request_id: str) -> dict[str, Any]:
        assert self.credential is not None
        with database.db.connection_context():
            return execute(
                payload["query"],
                payload.get("variables") or None,
                payload.get("operationName") or None,
                principal=self.credential.principal,
                now=self.clock(),
                request_id=request_id,
            )

    async def _next(self, op_id: str, result: Any, request_id: str) -> None:
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = [format_error(e, request_id) for e in result.errors]
        if result.extensions:
            body["extensions"] = result.extensions
        await self.send({"id": op_id, "type": "next", "payload": body})

    async def _finish(self, op_id: str, message: dict[str, Any]) -> None:
        """The operation's last message (complete or error), unless the client stopped it."""
        if self.operations.pop(op_id, None) is not None:
            await self.send(message)


async def _single(result: Any) -> AsyncIterator[Any]:
    yield result
