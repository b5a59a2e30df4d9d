"""Fixtures for the server tests: a real Redis, in-loop servers over one shared runtime, and
``webserv serve`` processes that can be killed and started again."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import uvicorn
from conftest import free_port, wait_healthy

from webserv.env.runtime import EnvRuntime, RuntimeConfig
from webserv.server.app import create_app
from webserv.server.config import ServerConfig

#: Owner label of the runtime the in-loop test servers share.
TEST_OWNER = "srvtest"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server of its own on a free port, without persistence."""
    port = free_port()
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1"]
    argv += ["--save", "", "--appendonly", "no", "--dir", str(tmp_path_factory.mktemp("redis"))]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)  # poll interval while redis opens its port
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
async def server_runtime(runtime_config: RuntimeConfig) -> AsyncIterator[EnvRuntime]:
    """One started runtime (pool and browser) that the in-loop servers share."""
    config = runtime_config.model_copy(update={"owner": TEST_OWNER, "max_instances": 8})
    async with EnvRuntime(config) as runtime:
        yield runtime


@asynccontextmanager
async def serving(config: ServerConfig, runtime: EnvRuntime) -> AsyncIterator[str]:
    """The app for ``config`` on uvicorn on a free loopback port, in this event loop."""
    port = free_port()
    config = config.model_copy(update={"port": port, "runtime": runtime.config})
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config, runtime), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    serve = asyncio.create_task(server.serve())
    while not server.started:
        if serve.done():
            serve.result()
            raise RuntimeError("the server stopped before it started")
        await asyncio.sleep(0.01)  # poll interval while uvicorn binds
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serve


@dataclass
class ServerProcess:
    """A ``webserv serve`` process with fixed arguments, that can be killed and restarted."""

    argv: list[str]
    env: dict[str, str]
    url: str
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ServerProcess:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.argv, env=self.env, stdout=out, stderr=out)
        wait_healthy(f"{self.url}/healthz", self.proc, timeout_s=180)
        return self

    def kill(self) -> None:
        """SIGKILL: nothing of the server gets to clean up."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def server_process(
    home: Path, golden: Path, *options: str, port: int | None = None
) -> ServerProcess:
    """A server on a free port with its own WEBSERV_HOME and a copy-driver snapshot store."""
    port = port or free_port()
    argv = [sys.executable, "-m", "webserv.cli", "serve", "--port", str(port)]
    argv += ["--server-id", f"proc{port}", "--snapshot-driver", "copy"]
    argv += ["--snapshot-root", str(home / "snapshots"), "--golden-source", str(golden)]
    argv += ["--standby", "1", "--max-instances", "6", *options]
    env = {**os.environ, "WEBSERV_HOME": str(home)}
    return ServerProcess(argv, env, f"http://127.0.0.1:{port}", home / f"server-{port}.log")
