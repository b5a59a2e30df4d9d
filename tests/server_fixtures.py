"""Servers for the tests of every package: in-loop servers over one shared runtime, and
``webserv serve`` processes that can be killed and started again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import uvicorn

from benchmarks.serving import ServerProcess, free_port
from benchmarks.serving import server_process as serving_process
from webserv.env.runtime import EnvRuntime, RuntimeConfig
from webserv.server.app import create_app
from webserv.server.config import ServerConfig

#: Owner label of the runtime the in-loop test servers share.
TEST_OWNER = "srvtest"


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


def server_process(home: Path, golden: Path, *options: str) -> ServerProcess:
    """A server on a free port with its own WEBSERV_HOME and a copy-driver snapshot store."""
    args = ["--snapshot-driver", "copy", "--snapshot-root", str(home / "snapshots")]
    args += ["--golden-source", str(golden), "--standby", "1", "--max-instances", "6"]
    port = free_port()
    return serving_process(
        *args, *options, port=port, log=home / f"server-{port}.log", env={"WEBSERV_HOME": str(home)}
    )
