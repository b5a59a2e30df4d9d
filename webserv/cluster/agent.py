"""NodeAgent: the Ray actor that owns one host's pool, browser and envs.

It runs the single-host server (:func:`webserv.server.app.create_app`) in its own event loop:
over HTTP for the router, and as actor methods for trainers inside the cluster (the fast
path), both answering through one :class:`EnvApi`. One agent per node, named after it,
pinned to it by the node's label and restarted by Ray when it dies (``max_restarts=-1``);
a restarted agent is the same server (same owner), so its start reaps what the previous
incarnation left: the pool reconciles instances by owner, the service ends the old envs.
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any

import uvicorn
from pydantic import BaseModel, ValidationError

from webserv.cluster.config import ClusterConfig
from webserv.server import errors
from webserv.server.api import EnvApi
from webserv.server.app import create_app, served_requests
from webserv.server.service import EnvService
from webserv.wire import (
    Closed,
    EnvSummary,
    GroupOut,
    PoolOut,
    ResetOut,
    ResetRequest,
    StepOut,
)

#: How long an agent's server may take to start (golden data, pool, browser).
START_TIMEOUT_S = 600.0


class NodeInfo(BaseModel):
    node: str
    url: str
    boot: str
    pid: int
    sites: list[str]


class NodeAgent:
    """One node's server, started as the actor is (first, and after every restart), so that
    a restarted agent reaps its predecessor's leftovers without waiting for a call."""

    def __init__(self, config_json: str, node: str, public_host: str | None = None) -> None:
        self.cluster = ClusterConfig.model_validate_json(config_json)
        self.node = node
        self.public_host = public_host or _node_ip(self.cluster.node.host)
        self._server: uvicorn.Server | None = None
        self._serving: asyncio.Task[None] | None = None
        self._url = ""
        self._requests = served_requests(self.cluster.node)
        # An async actor is made inside its running event loop.
        self._start = asyncio.get_running_loop().create_task(self._serve())

    async def _api(self) -> EnvApi:
        return await asyncio.shield(self._start)

    async def _serve(self) -> EnvApi:
        host = self.cluster.node.host
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, 0))  # a free port of this host, held until uvicorn serves on it
        port = sock.getsockname()[1]
        config = self.cluster.for_node(self.node, port, self.public_host)
        self._url = config.public_url or ""
        app = create_app(config)
        server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", timeout_keep_alive=30, access_log=False)
        )
        self._server = server
        self._serving = asyncio.create_task(server.serve(sockets=[sock]))
        async with asyncio.timeout(START_TIMEOUT_S):
            while not server.started:
                if self._serving.done():
                    self._serving.result()  # the start-up error
                    raise RuntimeError(f"node {self.node}: the server stopped while starting")
                await asyncio.sleep(0.05)
        return app.state.api

    async def service(self) -> EnvService:
        return (await self._api()).service

    # -- what the router and the cluster's tools ask ----------------------------------

    async def info(self) -> NodeInfo:
        svc = await self.service()
        return NodeInfo(
            node=self.node, url=self._url, boot=svc.boot, pid=os.getpid(), sites=svc.runtime.served
        )

    async def pool(self) -> PoolOut:
        """The node's envs and pool, as its ``GET /v1/pool`` has them."""
        return await (await self._api()).pool()

    async def room(self, site: str) -> int:
        """How many more envs of ``site`` this node can open now."""
        return (await self.service()).room(site)

    async def shutdown(self) -> None:
        """End every env and stop the server (the agent is about to be killed)."""
        if self._server is not None and self._serving is not None:
            self._server.should_exit = True
            await self._serving

    # -- the fast path: the /v1 calls without HTTP ------------------------------------

    async def create_env(self, body: dict[str, Any], client: str) -> ResetOut:
        return await (await self._api()).create_env(self._parse(0, body), client)

    async def describe(self, env_id: str) -> EnvSummary:
        return await (await self._api()).describe(env_id)

    async def reset_env(self, env_id: str, body: dict[str, Any]) -> ResetOut:
        return await (await self._api()).reset_env(env_id, _reset(body))

    async def step_env(self, env_id: str, action: str | dict[str, Any]) -> StepOut:
        return await (await self._api()).step_env(env_id, action)

    async def screenshot(self, env_id: str) -> bytes:
        return await (await self._api()).screenshot(env_id)

    async def close_env(self, env_id: str) -> Closed:
        return await (await self._api()).close_env(env_id)

    async def create_group(self, body: dict[str, Any], client: str) -> GroupOut:
        return await (await self._api()).create_group(self._parse(1, body), client)

    async def reset_group(self, group: str, body: dict[str, Any]) -> GroupOut:
        return await (await self._api()).reset_group(group, _reset(body))

    async def close_group(self, group: str) -> Closed:
        return await (await self._api()).close_group(group)

    def _parse(self, which: int, body: dict[str, Any]) -> Any:
        """A create body checked as the HTTP endpoint checks it (served sites, limits)."""
        try:
            return self._requests[which].model_validate(body)
        except ValidationError as err:
            raise errors.BadRequest(_first_problem(err)) from None


def _reset(body: dict[str, Any]) -> ResetRequest:
    try:
        return ResetRequest.model_validate(body)
    except ValidationError as err:
        raise errors.BadRequest(_first_problem(err)) from None


def _first_problem(err: ValidationError) -> str:
    first = err.errors()[0]
    return f"{'.'.join(str(part) for part in first['loc'])}: {first['msg']}"


def _node_ip(host: str) -> str:
    """The address others reach this node's server at: the bind address, or for a wildcard
    bind this node's address in the Ray cluster."""
    if host not in ("0.0.0.0", "::"):
        return host
    import ray

    return ray.util.get_node_ip_address()
