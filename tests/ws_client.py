"""A tiny graphql-transport-ws client for tests, over the `websockets` package's sync client.

Every wait is bounded: `receive` raises TimeoutError, `closed_with` returns the close code.
"""

from __future__ import annotations

import json
import socket
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

SUBPROTOCOL = "graphql-transport-ws"


class WsClient:
    def __init__(self, connection: ClientConnection) -> None:
        self.conn = connection
        self.skipped = 0  # messages `closed_with` read past

    @classmethod
    def open(
        cls,
        base_url: str,
        *,
        headers: dict[str, str] | None = None,
        subprotocols: list[str] | None = None,
        receive_buffer: int | None = None,
        max_queue: int | None = 16,
        keepalive: bool = True,
    ) -> WsClient:
        """Connect to base_url's /graphql. `receive_buffer` shrinks the socket's receive buffer
        (a client that reads slowly fills it sooner). `keepalive` False: no client pings (a
        client that stops reading cannot read their pongs, and would give up on its own before
        the server drops it on a slow machine)."""
        url = base_url.replace("http://", "ws://") + "/graphql"
        sock = None
        if receive_buffer is not None:
            host, port = base_url.removeprefix("http://").split(":")
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            sock.connect((host, int(port)))
        connection = connect(
            url,
            sock=sock,
            subprotocols=[SUBPROTOCOL] if subprotocols is None else subprotocols,
            additional_headers=headers or {},
            open_timeout=10,
            close_timeout=2,
            max_queue=max_queue,
            ping_interval=20 if keepalive else None,
            # Uncompressed, so that a test knows how many bytes its messages take.
            compression=None,
        )
        return cls(connection)

    def send(self, message: dict[str, Any] | str) -> None:
        self.conn.send(message if isinstance(message, str) else json.dumps(message))

    def receive(self, timeout: float = 5.0) -> dict[str, Any]:
        return json.loads(self.conn.recv(timeout=timeout))

    def init(self, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        self.send({"type": "connection_init", "payload": payload or {}})
        return self.receive()

    def subscribe(self, op_id: str, query: str, variables: dict | None = None) -> None:
        payload: dict[str, Any] = {"query": query}
        if variables:
            payload["variables"] = variables
        self.send({"id": op_id, "type": "subscribe", "payload": payload})

    def closed_with(self, timeout: float = 5.0) -> tuple[int | None, str]:
        """Read until the server closes; (code, reason). Messages before the close are skipped."""
        self.skipped = 0
        try:
            while True:
                self.conn.recv(timeout=timeout)
                self.skipped += 1
        except ConnectionClosed as closed:
            frame = closed.rcvd
            return (frame.code, frame.reason) if frame else (None, "")

    def nothing_for(self, seconds: float) -> bool:
        """True when no message arrives within `seconds`."""
        try:
            self.conn.recv(timeout=seconds)
        except TimeoutError:
            return True
        return False

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> WsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
