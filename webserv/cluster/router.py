"""The router: the unchanged ``/v1`` API in front of every node of the cluster.

Stateless, so several can run behind any load balancer, and a restarted one loses nothing:
an env or group id names its node (its first part), the node's address is in the shared
registry (Redis), and whether the node is alive is in Ray's node table. A call on an env is
forwarded as it came (body, token, headers) to that node's server and its answer passed back
as it went; creates go to the node with the most room for the site (a group whole on one
node); when no node has room the answer is 503 with Retry-After. A node Ray reports dead
answers 410 ``env_lost`` for its envs at once, including the calls that were waiting on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from fastapi.openapi.docs import get_swagger_ui_html
from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from webserv.cluster import nodes
from webserv.cluster.config import ClusterConfig
from webserv.server import errors
from webserv.server.app import Guard, create_app, served_requests
from webserv.server.metrics import Metrics
from webserv.server.store import RedisStore, ServerRecord
from webserv.wire import Health, PoolOut

log = logging.getLogger(__name__)

#: How often the router reads Ray's node table and the registry.
REFRESH_S = 0.25
#: How long a node may take to say how much room it has before it is left out of a create.
ROOM_TIMEOUT_S = 2.0
#: How long an agent may take to answer whether it is alive after a failed forward.
AGENT_CHECK_S = 2.0
#: Retry-After when no node can take the envs asked for.
FULL_RETRY_AFTER_S = 5.0
#: Headers that belong to one connection, not to the request forwarded.
_HOP = {b"host", b"connection", b"keep-alive", b"content-length", b"transfer-encoding"}
_PASSED_BACK = ("content-type", "retry-after", "server-timing", "www-authenticate", "allow")


@dataclass
class RoutedNode:
    """A node as the router sees it: alive or not, where its server listens."""

    name: str
    key: str
    alive: bool
    url: str | None = None
    lost: asyncio.Event = field(default_factory=asyncio.Event)
    handle: Any = None


class Router:
    """The routing table and the forwarding of calls; :func:`create_router_app` serves it."""

    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        self.owner = f"router-{secrets.token_hex(4)}"
        self.nodes: dict[str, RoutedNode] = {}
        self.store = RedisStore(config.node.redis_url or "")
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.Task[None] | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "the router is not started"
        return self._session

    async def start(self) -> None:
        # aiohttp, not httpx: forwarding is all the router does per call, and an aiohttp
        # request costs about a fifth of the CPU of an httpx one (measured on loopback).
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=25),
            # The node's own request timeout answers first.
            timeout=aiohttp.ClientTimeout(total=self.config.node.request_timeout_s + 30),
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
        )
        await asyncio.to_thread(nodes.join, self.config.ray_address)
        await self.store.ping()
        await self.refresh()
        self._loop = asyncio.create_task(self._refreshing())

    async def close(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
        if self._session is not None:
            await self._session.close()
        await self.store.close()

    # -- the table ---------------------------------------------------------------------

    async def refresh(self) -> None:
        """Read Ray's node table and the registry; start the agent of a node that has none;
        a node that died wakes the calls waiting on it."""
        seen = await asyncio.to_thread(nodes.read_nodes)
        servers = {record.server: record for record in await self.store.servers()}
        for key, node in seen.items():
            routed = self.nodes.get(key)
            if routed is None or (node.alive and not routed.alive):
                routed = self.nodes[key] = RoutedNode(node.name, key, node.alive)
            if routed.alive and not node.alive:
                log.warning("node %s left the cluster: its envs are lost", node.name)
                routed.alive = False
                routed.lost.set()
            record = servers.get(node.name)
            routed.url = record.url if record is not None else None
            if routed.alive and routed.handle is None:
                routed.handle = await asyncio.to_thread(nodes.start_agent, self.config, node.name)

    async def _refreshing(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_S)
            try:
                await self.refresh()
            except Exception as err:  # Redis or Ray hiccup: the next round tries again
                log.warning("reading the cluster's nodes failed: %s", err)

    def node_of(self, some_id: str) -> RoutedNode:
        node = self.nodes.get(nodes.key_of(some_id))
        if node is None:
            raise errors.NotFound(f"unknown env or group {some_id!r}")
        if not node.alive:
            raise errors.Lost(_lost(f"env or group {some_id}", node.name))
        if node.url is None:
            raise errors.PoolFullError(
                f"node {node.name} is starting", headers=errors.retry_after(1)
            )
        return node

    def serving(self) -> list[RoutedNode]:
        return [node for node in self.nodes.values() if node.alive and node.url is not None]

    async def rooms(self, site: str) -> dict[str, int]:
        """How many envs of ``site`` each serving node can take now (silent ones left out)."""
        serving = [node for node in self.serving() if node.handle is not None]
        asked = [
            asyncio.wait_for(_awaited(node.handle.room.remote(site)), ROOM_TIMEOUT_S)
            for node in serving
        ]
        answers = await asyncio.gather(*asked, return_exceptions=True)
        return {
            node.name: answer
            for node, answer in zip(serving, answers, strict=True)
            if isinstance(answer, int)
        }

    # -- forwarding --------------------------------------------------------------------

    async def forward(
        self, node: RoutedNode, request: Request, body: bytes, what: str = "the call"
    ) -> Response:
        """``request`` sent on to ``node``; its answer, or 410 when the node dies first
        (``what`` names the env or group for that answer)."""
        headers = {
            k.decode("latin-1"): v.decode("latin-1")
            for k, v in request.headers.raw
            if k not in _HOP
        }
        if "x-webserv-client" not in headers:
            headers["x-webserv-client"] = request.client.host if request.client else "unknown"
        url = f"{node.url}{request.url.path}"
        if request.url.query:
            url += f"?{request.url.query}"
        sent = asyncio.ensure_future(self._send(request.method, url, headers, body))
        lost = asyncio.ensure_future(node.lost.wait())
        try:
            await asyncio.wait({sent, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
        if not sent.done():
            sent.cancel()
            raise errors.Lost(_lost(what, node.name))
        try:
            status, answer_headers, content = sent.result()
        except aiohttp.ClientError as err:
            if await self._agent_gone(node):
                raise errors.Lost(_lost(what, node.name)) from err
            raise errors.Unreachable(
                f"node {node.name} did not answer: {err}", headers=errors.retry_after(1)
            ) from err
        passed: dict[str, str] = {}
        for name, value in answer_headers.items():  # a header sent twice (Server-Timing) joined
            name = name.lower()
            if name in _PASSED_BACK:
                passed[name] = f"{passed[name]}, {value}" if name in passed else value
        return Response(content, status_code=status, headers=passed)

    async def _send(
        self, method: str, url: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, Mapping[str, str], bytes]:
        async with self.session.request(method, url, headers=headers, data=body) as answer:
            return answer.status, answer.headers, await answer.read()

    async def _agent_gone(self, node: RoutedNode) -> bool:
        """Whether the server of ``node`` that the router knew is gone: its agent died (Ray
        tells its callers at once, while declaring a killed host dead takes it about 15 s) or
        was restarted since (a new server, without the old envs)."""
        from ray.exceptions import RayError

        known = node.url
        try:
            info = await asyncio.wait_for(_awaited(node.handle.info.remote()), AGENT_CHECK_S)
        except TimeoutError:
            return False  # busy, not known to be gone: the caller hears 503 and asks again
        except RayError:
            node.alive = False
            node.lost.set()
            return True
        return info.url != known

    async def create(self, request: Request, model: type[BaseModel]) -> Response:
        """A create (one env, or a group of ``n``) on the node with the most room."""
        body = await request.body()
        try:
            parsed = model.model_validate_json(body or b"{}")
        except ValidationError:
            parsed = None  # any node answers it with the server's own 400
        serving = self.serving()
        if not serving:
            raise errors.PoolFullError("no node is serving yet", headers=errors.retry_after(5))
        if parsed is None:
            return await self.forward(serving[0], request, body)
        n = getattr(parsed, "n", 1)
        site = parsed.site  # type: ignore[attr-defined]  # a field of the served-sites model
        rooms = await self.rooms(site)
        order = nodes.rank(rooms, n)
        answer: Response | None = None
        for name in order:
            node = next(node for node in serving if node.name == name)
            answer = await self.forward(node, request, body)
            if answer.status_code not in (429, 503):
                return answer
        if answer is not None:
            return answer  # every node refused: the last one's 429 or 503, with Retry-After
        raise errors.PoolFullError(
            f"no node has room for {n} env(s) of {site} (room by node: {rooms})",
            headers=errors.retry_after(FULL_RETRY_AFTER_S),
        )

    async def pool(self) -> PoolOut:
        """Every node's envs and pools, and the registry."""
        answers = await asyncio.gather(
            *(self._send("GET", f"{n.url}/v1/pool", self._auth(), b"") for n in self.serving()),
            return_exceptions=True,
        )
        pools = [
            PoolOut.model_validate_json(answer[2])
            for answer in answers
            if isinstance(answer, tuple) and answer[0] == 200
        ]
        servers = await self.store.servers()
        return PoolOut(
            server=self.owner,
            store=self.store.name,
            envs=[env for pool in pools for env in pool.envs],
            sites=self.config.node.served,
            pools=[status for pool in pools for status in pool.pools],
            servers=[record.model_dump() for record in servers],
        )

    def _auth(self) -> dict[str, str]:
        token = self.config.node.token
        return {"Authorization": f"Bearer {token}"} if token else {}


def _lost(what: str, node: str) -> str:
    return (
        f"{what}: lost with node {node}, which left the cluster (its browser and instances "
        "went with it); create a new env"
    )


async def _awaited(ref: Awaitable[Any]) -> Any:
    return await ref


def create_router_app(config: ClusterConfig) -> Starlette:
    """The router's ASGI app: ``/v1`` as a node's server has it, ``/healthz``, ``/metrics``,
    ``/openapi.json`` and ``/docs``."""
    router = Router(config)
    metrics = Metrics()
    spec = create_app(config.node).openapi()  # the nodes' API, described once

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await router.start()
        app.state.router = router
        try:
            yield
        finally:
            await router.close()

    async def http_error(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        code = {404: "not_found", 405: "method_not_allowed"}.get(status, "http_error")
        metrics.errors.labels(code).inc()
        return errors.error_response(status, code, str(getattr(exc, "detail", exc)))

    app = Starlette(
        routes=[*_v1_routes(router, metrics), *_ops_routes(router, metrics, spec)],
        lifespan=lifespan,
        exception_handlers={404: http_error, 405: http_error},
    )
    app.add_middleware(
        Guard,
        token=config.node.token,
        max_body_bytes=config.node.max_body_bytes,
        metrics=metrics,
        timing="router",  # beside the node's own "app" entry, passed back
    )
    return app


def _v1_routes(router: Router, metrics: Metrics) -> list[Route]:
    """``/v1``: creates placed on a node, every other call forwarded to the node holding its
    env or group; API errors answered as a node answers them."""
    create_in, group_in = served_requests(router.config.node)

    def answering(
        handler: Callable[[Request], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except errors.ApiError as err:
                metrics.errors.labels(err.code).inc()
                return errors.error_response(
                    err.status, err.code, err.message, err.detail, headers=err.headers
                )

        return endpoint

    async def create_env(request: Request) -> Response:
        return await router.create(request, create_in)

    async def create_group(request: Request) -> Response:
        return await router.create(request, group_in)

    async def on_env(request: Request) -> Response:
        some_id = request.path_params["some_id"]
        node = router.node_of(some_id)
        what = f"{request.url.path.split('/')[2][:-1]} {some_id}"  # "env <id>", "group <id>"
        return await router.forward(node, request, await request.body(), what)

    async def pool(request: Request) -> Response:
        return JSONResponse((await router.pool()).model_dump(mode="json"))

    return [
        Route("/v1/envs", answering(create_env), methods=["POST"]),
        Route("/v1/groups", answering(create_group), methods=["POST"]),
        Route("/v1/pool", answering(pool), methods=["GET"]),
        Route("/v1/envs/{some_id}", answering(on_env), methods=["GET", "DELETE"]),
        Route("/v1/envs/{some_id}/{action}", answering(on_env), methods=["GET", "POST"]),
        Route("/v1/groups/{some_id}", answering(on_env), methods=["DELETE"]),
        Route("/v1/groups/{some_id}/reset", answering(on_env), methods=["POST"]),
    ]


def _ops_routes(router: Router, metrics: Metrics, spec: dict[str, Any]) -> list[Route]:
    """``/healthz``, ``/metrics`` and the nodes' API description (``/openapi.json``, ``/docs``)."""

    async def healthz(request: Request) -> Response:
        servers: list[ServerRecord] = await router.store.servers()
        health = Health(status="ok", server=router.owner, envs=sum(s.envs for s in servers))
        return JSONResponse(health.model_dump())

    async def prometheus(request: Request) -> Response:
        return Response(metrics.render(0, []), media_type="text/plain; version=0.0.4")

    async def openapi(request: Request) -> Response:
        return JSONResponse(spec)

    async def docs(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="webserv cluster")

    return [
        Route("/healthz", healthz),
        Route("/metrics", prometheus),
        Route("/openapi.json", openapi),
        Route("/docs", docs),
    ]
