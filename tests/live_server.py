"""A real `commcredits serve` on a free 127.0.0.1 port, for tests that need a real server.

Every wait is bounded, and `stop` always ends the process (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

START_TIMEOUT = 30.0
STOP_TIMEOUT = 40.0  # above the server's 30 s graceful shutdown


def children(pid: int) -> list[int]:
    """The pids whose parent is `pid` (a server's worker processes)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def free_port() -> int:
    """A free 127.0.0.1 port, reserved for about a minute for whoever binds it with
    SO_REUSEADDR (as uvicorn does): one connection to it is closed from its side first, which
    leaves the port in TIME_WAIT. The kernel hands such a port to no other bind(0) or outgoing
    connection, so parallel test workers (pytest-xdist) and other processes never pick the
    port a server is about to take, or one a stopped server is restarted on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            accepted, _ = listener.accept()
            accepted.close()  # the port's side closes first: TIME_WAIT is on the port
    return port


@dataclass
class LiveServer:
    process: subprocess.Popen
    port: int
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_lines(self) -> list[dict]:
        """The server's JSON log lines so far (anything else on stderr is skipped)."""
        lines = []
        for raw in self.log_path.read_text(errors="replace").splitlines():
            try:
                lines.append(json.loads(raw))
            except json.JSONDecodeError:
                continue
        return lines

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.process.returncode}:\n"
                    + self.log_path.read_text(errors="replace")[-4000:]
                )
            try:
                if httpx.get(self.url + "/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise TimeoutError("server did not come up:\n" + self.log_path.read_text()[-4000:])

    def terminate(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self) -> int:
        self.terminate()
        try:
            return self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)  # its own session: workers too
            return self.process.wait(timeout=10)


@contextmanager
def live_server(
    database_url: str, log_dir: Path, *, workers: int = 1, extra_env: dict[str, str] | None = None
) -> Iterator[LiveServer]:
    """`commcredits serve` against `database_url`; stopped when the block ends."""
    port = free_port()
    env = {
        **os.environ,
        "COMMCREDITS_DATABASE_URL": database_url,
        "COMMCREDITS_LOG_LEVEL": "INFO",
        **(extra_env or {}),
    }
    log_path = log_dir / f"server-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "commcredits.cli", "serve"]
            + ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C in the test run does not hit the server first
        )
    server = LiveServer(process, port, log_path, env)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
