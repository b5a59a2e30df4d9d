"""``webserv serve`` as a process, and ``redis-server`` (:mod:`webserv.server.redis_local`): for
the HTTP benchmarks and tests.

A :class:`ServerProcess` keeps its command line, so it can be killed with SIGKILL and
started again as the same server (same port, same server id, so the same owner label).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from webserv.pool.backends.base import free_port
from webserv.server.redis_local import RedisProcess, redis_server

__all__ = ["RedisProcess", "ServerProcess", "free_port", "redis_server", "server_process"]


@dataclass
class ServerProcess:
    """A ``webserv serve`` process with fixed arguments, that can be killed and restarted."""

    argv: list[str]
    env: dict[str, str]
    url: str
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def server_id(self) -> str:
        return self.argv[self.argv.index("--server-id") + 1]

    def start(self, timeout_s: float = 300.0) -> ServerProcess:
        """Start the server and wait until ``/healthz`` answers."""
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.argv, env=self.env, stdout=out, stderr=out)
        deadline = time.monotonic() + timeout_s
        with httpx.Client(timeout=2.0) as client:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"the server exited with {self.proc.returncode}; see {self.log}"
                    )
                try:
                    if client.get(f"{self.url}/healthz").status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{self.url} not healthy after {timeout_s} s")
                time.sleep(0.05)  # poll interval while the server starts

    def kill(self) -> None:
        """SIGKILL: nothing of the server gets to clean up."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM: the server closes its envs and stops its instances."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def process(self) -> psutil.Process:
        assert self.proc is not None
        return psutil.Process(self.proc.pid)


def server_process(
    *options: str,
    port: int | None = None,
    server_id: str | None = None,
    log: Path,
    env: dict[str, str] | None = None,
) -> ServerProcess:
    """A server on ``port`` (default: a free one) with ``options`` for ``webserv serve``."""
    port = port or free_port()
    argv = [sys.executable, "-m", "webserv.cli", "serve", "--port", str(port)]
    argv += ["--server-id", server_id or f"proc{port}", *options]
    return ServerProcess(argv, {**os.environ, **(env or {})}, f"http://127.0.0.1:{port}", log)
