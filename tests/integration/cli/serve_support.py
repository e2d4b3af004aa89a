"""`ketaflow serve` as its own process group on 127.0.0.1 and a free port, for tests that need the
real server (and may kill it)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

KETAFLOW = Path(sys.executable).parent / "ketaflow"
START_TIMEOUT_S = 60.0  # a bound on start-up (workers import the app), not a timing


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def kill_hard(self) -> None:
        """kill -9 of the whole server (the supervisor and every worker): no clean-up runs."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        """Ctrl+C, as an operator stops it; kill -9 if it does not stop within the bound."""
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill_hard()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(database_url: str, log: Path, workers: int = 1) -> Server:
    """`ketaflow serve` on `database_url` once it answers /health. One worker process by default:
    each worker imports and builds the whole app, which is most of a start's CPU."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KETAFLOW_")}
    env["KETAFLOW_DATA_DIR"] = str(log.parent)
    command = [
        str(KETAFLOW),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--database-url",
        database_url,
    ]
    with log.open("a") as out:
        proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    server = Server(proc, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + START_TIMEOUT_S
    with httpx.Client(timeout=5) as poll:  # one client: a new one per try costs more than the try
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"ketaflow serve stopped: {log.read_text()}")
            try:
                if poll.get(f"{server.url}/health").status_code == 200:
                    return server
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                server.kill_hard()
                raise AssertionError(f"ketaflow serve did not answer: {log.read_text()}")
            time.sleep(0.2)  # a bounded wait for the server to listen, not an ordering of threads
