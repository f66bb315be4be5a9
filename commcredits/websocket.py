"""GraphQL over websockets at /graphql: the graphql-transport-ws protocol (graphql-ws's
PROTOCOL.md), for subscriptions, and queries and mutations too (README "Live updates").

Protocol handling, as the reference server does it:
- the subprotocol must be `graphql-transport-ws` (else 4406); `connection_init` within
  COMMCREDITS_WS_INIT_TIMEOUT seconds (else 4408), once (else 4429); its credentials are
  checked (`ws_auth`) and a refusal closes with 4403 before `connection_ack`;
- `subscribe` before the ack closes with 4401, with an id in use with 4409; a message that is
  not a JSON object of a known type, or of the wrong shape, closes with 4400, and so does a
  document that does not parse or names no operation to run;
- a document that parses but does not validate (unknown field, depth, cost, …) or a refusal
  by the resolver (no tenant, no permission) is an `error` message for that id; the
  connection stays open;
- `ping` → `pong`, `complete` stops an operation; results are `next`, then `complete`.

Subscriptions go through the same schema extensions as queries (token limit, validation
with the cost limit, input limits); queries and mutations run on a worker thread with a
database connection, as on HTTP (both in ws_operations.py).

Application close codes of our own (4000-4999, none used by the protocol): 4413 when a
subscriber falls COMMCREDITS_SUBSCRIPTION_QUEUE events behind (it never slows a writer or grows
memory: see events.py). A credential that ends — a revoked key at once (its revocation is an
event), a signed-out session or an expired JWT at the next recheck, every
COMMCREDITS_WS_RECHECK_SECONDS — closes the connection with 4403, and so does an operator's
chosen tenant that is gone (seen at the recheck too; ws_auth).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio
from starlette.websockets import WebSocket

from commcredits import db as database
from commcredits import events, ws_auth
from commcredits.config import Settings
from commcredits.request_screen import screen_body
from commcredits.services import jwt_auth
from commcredits.services.auth_failures import AuthLimits
from commcredits.ws_operations import Operations

log = logging.getLogger("commcredits.websocket")

SUBPROTOCOL = "graphql-transport-ws"
BAD_REQUEST, UNAUTHORIZED, FORBIDDEN = 4400, 4401, 4403
SUBPROTOCOL_NOT_ACCEPTABLE, INIT_TIMEOUT, SUBSCRIBER_EXISTS = 4406, 4408, 4409
TOO_MANY_INIT, INTERNAL_ERROR = 4429, 4500
TOO_SLOW = 4413  # ours: the subscriber fell too far behind
MESSAGE_TOO_BIG = 1009  # RFC 6455
CLOSE_TIMEOUT = 10.0  # a close frame stuck behind a client that reads nothing: give up


@dataclass(frozen=True)
class WsSettings:
    init_timeout: float = 3.0  # graphql-ws's own default
    queue_size: int = 100  # events waiting per subscription
    max_operations: int = 20  # running per connection
    recheck: float = 30.0  # seconds between credential checks

    @classmethod
    def from_env(cls) -> WsSettings:
        env = os.environ
        return cls(
            init_timeout=float(env.get("COMMCREDITS_WS_INIT_TIMEOUT", "3")),
            queue_size=max(1, int(env.get("COMMCREDITS_SUBSCRIPTION_QUEUE", "100"))),
            max_operations=max(1, int(env.get("COMMCREDITS_WS_MAX_OPERATIONS", "20"))),
            recheck=max(0.1, float(env.get("COMMCREDITS_WS_RECHECK_SECONDS", "30"))),
        )


def _reason(text: str) -> str:
    """A close reason fits in 123 bytes of UTF-8."""
    raw = text.encode()[:123]
    return raw.decode(errors="ignore")


class Connection(Operations):
    """One websocket: its protocol state, credential, operations and broker subscriptions."""

    def __init__(
        self,
        websocket: WebSocket,
        *,
        settings: Settings,
        ws_settings: WsSettings,
        clock: Callable[[], dt.datetime],
        verifier: jwt_auth.JwtVerifier | None,
        limits: AuthLimits,
    ) -> None:
        self.ws = websocket
        self.settings, self.ws_settings = settings, ws_settings
        self.clock, self.verifier, self.limits = clock, verifier, limits
        self.credential: ws_auth.Credential | None = None
        self.init_received = self.acked = self.closed = False
        self.close_code: int | None = None
        self.operations: dict[str, asyncio.Task[None]] = {}
        self.subscriptions: set[events.Subscription] = set()
        self.background: set[asyncio.Task[None]] = set()
        self.unwatch: list[Callable[[], None]] = []
        self.finished = asyncio.Event()
        self.queue_size = ws_settings.queue_size

    # -- the connection's life ----------------------------------------------------------------
    async def serve(self) -> None:
        started = time.perf_counter()
        if SUBPROTOCOL not in self.ws.scope.get("subprotocols", []):
            await self.ws.accept()
            await self.ws.close(SUBPROTOCOL_NOT_ACCEPTABLE, "Subprotocol not acceptable")
            return
        await self.ws.accept(subprotocol=SUBPROTOCOL)
        loop = asyncio.get_running_loop()
        timer = loop.call_later(self.ws_settings.init_timeout, self._init_timeout)
        reader = asyncio.create_task(self._read_loop())
        try:
            await self.finished.wait()
        finally:
            timer.cancel()
            reader.cancel()
            self._stop_everything()
            for task in list(self.background):
                task.cancel()
            principal = self.credential.principal if self.credential else None
            log.info(
                "websocket closed",
                extra={
                    "path": self.ws.scope.get("path"),
                    "status": self.close_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "key": principal.key_prefix if principal else None,
                    "tenant": principal.tenant.id if principal and principal.tenant else None,
                },
            )

    def _stop_everything(self) -> None:
        for task in self.operations.values():
            task.cancel()
        self.operations.clear()
        for sub in self.subscriptions:
            events.broker.unsubscribe(sub)
        self.subscriptions.clear()
        for undo in self.unwatch:
            undo()
        self.unwatch.clear()

    async def _read_loop(self) -> None:
        try:
            while True:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    self.close_code = self.close_code or message.get("code")
                    break
                if self.closed:
                    continue  # waiting for the client's close: nothing more is handled
                text = message.get("text")
                if text is None:
                    await self.close(BAD_REQUEST, "WebSocket message type must be text")
                elif len(text) > self.settings.max_body_bytes:
                    await self.close(MESSAGE_TOO_BIG, "Message too big")
                else:
                    await self._handle(text)
        except Exception:
            log.exception("websocket reader failed")
        finally:
            self.finished.set()

    async def close(self, code: int, reason: str) -> None:
        """Close once: stop every operation first, so nothing follows the close frame."""
        if self.closed:
            return
        self.closed, self.close_code = True, code
        current = asyncio.current_task()
        for task in list(self.operations.values()):
            if task is not current:
                task.cancel()
        self._stop_everything()
        try:
            with anyio.fail_after(CLOSE_TIMEOUT):
                await self.ws.close(code, _reason(reason))
        except Exception:  # the client went away, or reads nothing: drop it all the same
            self.finished.set()

    def close_soon(self, code: int, reason: str) -> None:
        """From a callback on the loop (broker, timer): close in a task of its own."""
        if not self.closed:
            task = asyncio.create_task(self.close(code, reason))
            self.background.add(task)
            task.add_done_callback(self.background.discard)

    async def bad_request(self, reason: str) -> None:
        await self.close(BAD_REQUEST, reason)

    def too_slow(self) -> None:
        self.close_soon(TOO_SLOW, f"Subscriber too slow: {self.queue_size} events behind")

    def _init_timeout(self) -> None:
        if not self.init_received:
            self.close_soon(INIT_TIMEOUT, "Connection initialisation timeout")

    async def send(self, message: dict[str, Any]) -> None:
        if not self.closed:
            await self.ws.send_text(json.dumps(message, separators=(",", ":"), default=str))

    # -- messages -----------------------------------------------------------------------------
    async def _handle(self, text: str) -> None:
        try:
            message = json.loads(text)
        except (ValueError, RecursionError):
            await self.close(BAD_REQUEST, "Invalid message received: not JSON")
            return
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "connection_init":
            await self._connection_init(message)
        elif kind == "ping":
            payload = message.get("payload")
            await self.send({"type": "pong"} | ({"payload": payload} if payload else {}))
        elif kind == "pong":
            pass
        elif kind == "subscribe":
            await self._subscribe(message)
        elif kind == "complete":
            if not isinstance(message.get("id"), str):
                await self.close(BAD_REQUEST, "Invalid message received: complete needs an id")
                return
            task = self.operations.pop(message["id"], None)
            if task is not None:
                task.cancel()
        elif isinstance(kind, str):
            await self.close(BAD_REQUEST, f"Unexpected message of type {kind[:40]} received")
        else:
            await self.close(BAD_REQUEST, "Invalid message received")

    async def _connection_init(self, message: dict[str, Any]) -> None:
        payload = message.get("payload")
        payload = {} if payload is None else payload
        if not isinstance(payload, dict):
            await self.close(BAD_REQUEST, "Invalid connection init payload")
            return
        if self.init_received:
            await self.close(TOO_MANY_INIT, "Too many initialisation requests")
            return
        self.init_received = True
        try:
            credential = await anyio.to_thread.run_sync(self._authenticate, payload)
        except ws_auth.Refused as refused:
            await self.close(FORBIDDEN, str(refused))
            return
        if self.closed:
            return
        self.credential = credential
        for ref in credential.refs:
            self.unwatch.append(
                events.broker.watch(ref, lambda: self.close_soon(FORBIDDEN, "Forbidden: revoked"))
            )
        task = asyncio.create_task(self._recheck_forever())
        self.background.add(task)
        self.acked = True
        await self.send({"type": "connection_ack"})

    def _authenticate(self, payload: dict[str, Any]) -> ws_auth.Credential:
        with database.db.connection_context():
            return ws_auth.authenticate_connection(
                payload,
                self.ws,
                settings=self.settings,
                verifier=self.verifier,
                limits=self.limits,
                now=self.clock(),
            )

    async def _recheck_forever(self) -> None:
        assert self.credential is not None
        recheck = self.credential.recheck

        def check() -> None:
            with database.db.connection_context():
                recheck(self.clock())

        while not self.closed:
            await asyncio.sleep(self.ws_settings.recheck)
            try:
                await anyio.to_thread.run_sync(check)
            except ws_auth.Refused as refused:
                await self.close(FORBIDDEN, str(refused))
                return
            except Exception:  # the database is down: the credential stands until it says no
                log.warning("credential recheck failed", exc_info=True)

    async def _subscribe(self, message: dict[str, Any]) -> None:
        op_id, payload = message.get("id"), message.get("payload")
        if (
            not isinstance(op_id, str)
            or not op_id
            or not isinstance(payload, dict)
            or not isinstance(payload.get("query"), str)
            or not isinstance(payload.get("variables") or {}, dict)
            or not isinstance(payload.get("operationName") or "", str)
            or not isinstance(payload.get("extensions") or {}, dict)
        ):
            await self.close(BAD_REQUEST, "Invalid message received: subscribe")
            return
        if not self.acked:
            await self.close(UNAUTHORIZED, "Unauthorized")
            return
        if op_id in self.operations:
            await self.close(SUBSCRIBER_EXISTS, f"Subscriber for {op_id[:80]} already exists")
            return

        if len(self.operations) >= self.ws_settings.max_operations:
            refused = f"At most {self.ws_settings.max_operations} operations per connection."
        else:  # a refused operation's document is not worth screening
            refused = screen_body(payload)
        if refused:
            error = {"message": refused, "extensions": {"code": "BAD_REQUEST"}}
            await self.send({"id": op_id, "type": "error", "payload": [error]})
            return
        task = asyncio.create_task(self._run(op_id, payload))
        self.operations[op_id] = task


def graphql_websocket(
    *,
    settings: Settings,
    clock: Callable[[], dt.datetime],
    verifier: jwt_auth.JwtVerifier | None,
    auth_limits: AuthLimits,
    ws_settings: WsSettings | None = None,
) -> Callable[[WebSocket], Any]:
    """The /graphql websocket endpoint of an app with these settings."""
    ws_settings = ws_settings or WsSettings.from_env()

    async def endpoint(websocket: WebSocket) -> None:
        connection = Connection(
            websocket,
            settings=settings,
            ws_settings=ws_settings,
            clock=clock,
            verifier=verifier,
            limits=auth_limits,
        )
        await connection.serve()

    return endpoint
