"""A ``redis-server`` of its own: the lease store of a cluster tried on one machine, and of
the tests and benchmarks."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from webserv.pool.backends.base import free_port


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
