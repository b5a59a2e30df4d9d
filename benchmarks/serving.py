"""``webserv serve`` and ``redis-server`` as processes: for the HTTP benchmarks and tests.

A :class:`ServerProcess` keeps its command line, so it can be killed with SIGKILL and
started again as the same server (same port, same server id, so the same owner label).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import redis


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisProcess:
    """A redis-server without persistence on a port of its own that it keeps across a stop
    and a start: an outage, after which Redis is back empty."""

    def __init__(self, workdir: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisProcess:
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no", "--dir", str(self.workdir)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, env=self.env)
        deadline = time.monotonic() + 30
        with redis.Redis(port=self.port) as client:
            while True:
                try:
                    client.ping()
                    return self
                except redis.ConnectionError:
                    if self.proc.poll() is not None or time.monotonic() > deadline:
                        raise
                    time.sleep(0.01)  # poll interval while redis opens its port

    def kill(self) -> None:
        """SIGKILL: an outage as abrupt as a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """A redis-server of its own on a free loopback port, without persistence; its URL."""
    server = RedisProcess(workdir).start()
    try:
        yield server.url
    finally:
        server.stop()


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
