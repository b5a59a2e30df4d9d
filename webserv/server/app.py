"""The FastAPI app: envs under ``/v1``, ``/healthz``, ``/metrics``, and ``/ui`` (the live
dashboard, and the trajectory viewer over a directory: :mod:`webserv.view`).

``create_app(config)`` starts, in its lifespan, the lease store, the runtime (pool and
browser; or uses the one passed in) and the :class:`EnvService`. Every error of the API is
JSON (``{"error": code, "message": ...}``); requests carry ``Authorization: Bearer <token>``
when the server has a token (a browser on ``/ui`` signs in once for a cookie instead).
"""

from __future__ import annotations

import gc
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Literal, TypeVar

from fastapi import APIRouter, Body, Depends, FastAPI, Header, Path, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field, create_model
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from webserv.browser.screenshot import MEDIA_TYPES, image_format
from webserv.env.runtime import EnvRuntime
from webserv.server import errors
from webserv.server.api import EnvApi
from webserv.server.config import ServerConfig
from webserv.server.metrics import Metrics
from webserv.server.service import EnvService, RecordedSite
from webserv.server.store import open_store
from webserv.view.app import mount_ui
from webserv.view.auth import has_session, login_url, ui_needs_token, wants_page
from webserv.view.dashboard import dashboard
from webserv.wire import (
    Closed,
    CreateRequest,
    EnvOptions,
    EnvSummary,
    ErrorBody,
    GroupOut,
    GroupRequest,
    Health,
    PoolOut,
    ResetOut,
    ResetRequest,
    StepOut,
    StepRequest,
)

F = TypeVar("F", bound=Callable[..., Any])

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in {
        400: "Malformed request",
        401: "Missing or wrong token",
        404: "Unknown env or group",
        409: "Episode over, or the env is busy with another call",
        410: "The env ended (TTL expired, closed, its server restarted or its node was lost)",
        413: "Request, action or typed text too large",
        429: "Too many envs open; see Retry-After",
        503: "Pool full, or the lease store unreachable; see Retry-After",
        504: "The call took longer than the request timeout",
    }.items()
}

EnvId = Path(min_length=1, max_length=64, description="An env id from POST /v1/envs.")
GroupId = Path(min_length=1, max_length=64, description="A group id from POST /v1/groups.")


def needs_token(path: str) -> bool:
    """Whether a call on ``path`` must carry the server's token: the API, the metrics and the
    UI's pages. The health check is open, and so are the OpenAPI spec and its pages
    (``/docs`` fetches the spec without a token; it holds no secret, only the served sites
    and the limits), and the UI's login page and static files."""
    return path.startswith("/v1/") or path in ("/v1", "/metrics") or ui_needs_token(path)


class Guard:
    """Pure ASGI middleware: the token check (401, before the body is read), the request size
    limit (413), UTF-8 bodies (400) and request latency metrics."""

    def __init__(
        self,
        app: ASGIApp,
        token: str | None,
        max_body_bytes: int,
        metrics: Metrics,
        timing: str = "app",
    ) -> None:
        self.app = app
        self.timing = timing.encode()
        self.token = token.encode() if token else None
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics

    def _unauthorized(self, scope: Scope) -> str | None:
        """Why the request's credentials are refused, if they are."""
        assert self.token is not None
        given = [value for name, value in scope["headers"] if name == b"authorization"]
        if len(given) > 1:
            # Proxies and frameworks disagree on which of several counts: none does.
            return "send one Authorization header, not several"
        if given:
            # RFC 7235: the scheme is case-insensitive, one or more spaces follow it.
            scheme, _, credentials = given[0].partition(b" ")
            if scheme.lower() == b"bearer" and hmac.compare_digest(
                credentials.lstrip(b" "), self.token
            ):
                return None
        return "missing or wrong token: send Authorization: Bearer <token>"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        if self.token is not None and needs_token(scope["path"]):
            refused = self._unauthorized(scope)
            if refused is not None and not has_session(scope, self.token):
                if wants_page(scope):  # a person's browser on /ui: to the login page
                    await RedirectResponse(login_url(scope), status_code=303)(scope, receive, send)
                    return
                await self._reject(send, 401, "unauthorized", refused, _CHALLENGE)
                return
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            if length.isdigit():
                await self._reject(send, *self._too_large())
            else:
                await self._reject(send, 400, "bad_request", "invalid Content-Length")
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes:
                await self._reject(send, *self._too_large())
                return
            if not message.get("more_body"):
                break
        problem = not_utf8(body)
        if problem is not None:
            await self._reject(send, 400, "bad_request", problem)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                spent = (time.perf_counter() - started) * 1000
                timing = (b"server-timing", b"%s;dur=%.3f" % (self.timing, spent))
                message = {**message, "headers": [*message.get("headers", []), timing]}
            await send(message)

        try:
            await self.app(scope, replay, timed_send)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            self.metrics.request_seconds.labels(scope["method"], path).observe(
                time.perf_counter() - started
            )

    def _too_large(self) -> tuple[int, str, str]:
        return 413, "too_large", f"request body larger than {self.max_body_bytes} bytes"

    async def _reject(
        self,
        send: Send,
        status: int,
        code: str,
        message: str,
        headers: tuple[tuple[bytes, bytes], ...] = (),
    ) -> None:
        self.metrics.count_error(code)
        payload = json.dumps({"error": code, "message": message}).encode()
        start_headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(payload)),
            *headers,
        ]
        await send({"type": "http.response.start", "status": status, "headers": start_headers})
        await send({"type": "http.response.body", "body": payload})


_CHALLENGE = ((b"www-authenticate", b"Bearer"),)


def not_utf8(body: bytes | bytearray) -> str | None:
    """Why ``body`` is not UTF-8 text, if it is not.

    JSON is UTF-8 (RFC 8259), but Python's JSON reader also takes UTF-16, UTF-8-encoded
    surrogates and escaped lone surrogates (``"\\ud800"``): strings that no UTF-8 text holds,
    which fail wherever they are encoded again (the browser, the answer: a 500 after acting).
    """
    try:
        text = body.decode()
    except UnicodeDecodeError as err:
        return f"the body is not valid UTF-8: {err}"
    if "\\u" not in text:  # the common case: nothing escaped, nothing more to check
        return None
    try:
        json.dumps(json.loads(text), ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return "the body is not valid UTF-8 text: it escapes a lone surrogate (\\ud800-\\udfff)"
    except (ValueError, RecursionError):
        pass  # not JSON: the endpoint's parser says so
    return None


def served_requests(config: ServerConfig) -> tuple[type[CreateRequest], type[GroupRequest]]:
    """The create bodies of the server of ``config``, with its limits in the OpenAPI spec:
    ``site`` is an enum of the served sites (any other value is a 400 that lists them),
    ``n`` at most ``max_group``, ``options.max_steps`` at most ``max_steps_limit``."""
    sites = config.served
    served = Literal.__getitem__(tuple(sites))
    about = f"The site the env runs on: {', '.join(sites)}."
    # enum even for one site (a one-value Literal alone makes a `const`).
    enum: dict[str, Any] = {"enum": sites}
    site: Any = (served, Field(sites[0], description=about, json_schema_extra=enum))
    steps = EnvOptions.model_fields["max_steps"]
    options = create_model(
        "EnvOptions",
        __base__=EnvOptions,
        max_steps=(
            int,
            Field(steps.default, ge=1, le=config.max_steps_limit, description=steps.description),
        ),
    )
    options_field = (options, Field(default_factory=options))
    size = GroupRequest.model_fields["n"]
    n = (int, Field(ge=1, le=config.max_group, description=size.description))
    create = create_model("CreateRequest", __base__=CreateRequest, site=site, options=options_field)
    group = create_model(
        "GroupRequest", __base__=GroupRequest, site=site, options=options_field, n=n
    )
    return create, group


def _body(model: type[BaseModel]) -> Callable[[F], F]:
    """Declare ``model`` as the type of an endpoint's ``req`` body (made per server)."""

    def declare(endpoint: F) -> F:
        endpoint.__annotations__["req"] = model
        return endpoint

    return declare


def recorded_sites(config: ServerConfig) -> dict[str, RecordedSite]:
    """The replays ``config`` lists, loaded (the behaviour package reads and scores them)."""
    if not config.replay:
        return {}
    from webserv.behaviour.replay_env import ReplaySource
    from webserv.behaviour.rewards import reward_config

    sites: dict[str, RecordedSite] = {}
    for replay in config.replay:
        constants = dict(replay.reward)
        reward = reward_config(constants.pop("scheme", "shop-r1"), **constants)
        sites[replay.name] = ReplaySource(replay.steps, replay.name, reward, replay.rules)
    return sites


def _lifespan(
    config: ServerConfig,
    runtime: EnvRuntime | None,
    metrics: Metrics,
    recorded: dict[str, RecordedSite],
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Start the store, the runtime (unless given) and the service; stop them afterwards."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime_config = config.runtime_config()
        store = await open_store(config.redis_url)
        own = runtime is None
        try:
            active = runtime or await EnvRuntime(runtime_config).start()
            try:
                service = EnvService(config, active, store, metrics, recorded)
                await service.start()
                app.state.service = service
                app.state.api = EnvApi(service)
                if own:
                    # What the server has made by now (modules, the browser, the pool) lives
                    # as long as the process: frozen, it is left out of full collections,
                    # which otherwise stall every env for about 160 ms (3 ms frozen).
                    gc.collect()
                    gc.freeze()
                try:
                    yield
                finally:
                    await service.shutdown()
            finally:
                if own:
                    await active.close()
        finally:
            await store.close()

    return lifespan


async def _client_of(
    request: Request,
    x_webserv_client: str | None = Header(None, max_length=200, description="Who you are."),
) -> str:
    if x_webserv_client:
        return x_webserv_client
    return request.client.host if request.client else "unknown"


def _v1_routes(
    api: Callable[[], EnvApi], create_in: type[CreateRequest], group_in: type[GroupRequest]
) -> APIRouter:
    """``/v1``: envs, groups and the pool, each call handed to the running service's
    :class:`EnvApi`."""
    v1 = APIRouter(prefix="/v1", responses=_ERRORS)
    _env_routes(v1, api, create_in)
    _group_routes(v1, api, group_in)

    @v1.get("/pool", response_model=PoolOut, summary="Pool and envs")
    async def pool() -> PoolOut:
        """This server's envs and pool, and every live server in the registry."""
        return await api().pool()

    return v1


def _env_routes(v1: APIRouter, api: Callable[[], EnvApi], create_in: type[CreateRequest]) -> None:
    """``/v1/envs``: create, describe, reset, step, screenshot and close an env."""

    @v1.post("/envs", status_code=201, response_model=ResetOut, summary="Create an env")
    @_body(create_in)
    async def create_env(
        req: CreateRequest,
        client: str = Depends(_client_of),
    ) -> ResetOut:
        """Lease an instance and a browser context, start the first episode."""
        return await api().create_env(req, client)

    @v1.get("/envs/{env_id}", response_model=EnvSummary, summary="Describe an env")
    async def get_env(env_id: str = EnvId) -> EnvSummary:
        return await api().describe(env_id)

    @v1.post("/envs/{env_id}/reset", response_model=ResetOut, summary="Start a new episode")
    async def reset_env(
        env_id: str = EnvId,
        req: ResetRequest = Body(default_factory=ResetRequest),
    ) -> ResetOut:
        """A new episode on a fresh instance (the old one is recycled)."""
        return await api().reset_env(env_id, req)

    @v1.post("/envs/{env_id}/step", response_model=StepOut, summary="Act")
    async def step_env(
        req: StepRequest,
        response: Response,
        env_id: str = EnvId,
    ) -> StepOut:
        """Carry out one action; a bad action is reported in `last_action_error`. The
        Server-Timing header says how long the env took (``env``) and the server (``app``)."""
        out = await api().step_env(env_id, req.action)
        response.headers["server-timing"] = f"env;dur={out.info['timings']['step_ms']}"
        return out

    @v1.get(
        "/envs/{env_id}/screenshot",
        response_class=Response,
        responses={
            200: {
                "content": {media_type: {} for media_type in MEDIA_TYPES.values()},
                "description": "The viewport, in the format of the env's options",
            }
        },
        summary="Screenshot",
    )
    async def screenshot(env_id: str = EnvId) -> Response:
        image = await api().screenshot(env_id)
        return Response(image, media_type=MEDIA_TYPES[image_format(image)])

    @v1.delete("/envs/{env_id}", response_model=Closed, summary="Close an env")
    async def close_env(env_id: str = EnvId) -> Closed:
        """End the env; its instance is recycled. Later calls answer 410."""
        return await api().close_env(env_id)


def _group_routes(v1: APIRouter, api: Callable[[], EnvApi], group_in: type[GroupRequest]) -> None:
    """``/v1/groups``: create, reset and close a group of envs."""

    @v1.post("/groups", status_code=201, response_model=GroupOut, summary="Create a group")
    @_body(group_in)
    async def create_group(
        req: GroupRequest,
        client: str = Depends(_client_of),
    ) -> GroupOut:
        """`n` envs on the same task, each on its own instance of the identical start state
        (all or none)."""
        return await api().create_group(req, client)

    @v1.post("/groups/{group}/reset", response_model=GroupOut, summary="Reset a group")
    async def reset_group(
        group: str = GroupId,
        req: ResetRequest = Body(default_factory=ResetRequest),
    ) -> GroupOut:
        """A new episode of one task for every env of the group, from identical instances."""
        return await api().reset_group(group, req)

    @v1.delete("/groups/{group}", response_model=Closed, summary="Close a group")
    async def close_group(group: str = GroupId) -> Closed:
        return await api().close_group(group)


def _ops_routes(app: FastAPI, running: Callable[[], EnvService], metrics: Metrics) -> None:
    """Liveness and Prometheus metrics."""

    @app.get("/healthz", response_model=Health, summary="Liveness")
    async def healthz() -> Health:
        svc = running()
        return Health(status="ok", server=svc.owner, envs=len(svc.envs))

    @app.get(
        "/metrics",
        response_class=Response,
        responses={200: {"content": {"text/plain": {}}, "description": "Prometheus metrics"}},
        summary="Prometheus metrics",
    )
    async def prometheus() -> Response:
        svc = running()
        body = metrics.render(len(svc.envs), svc.pool_status())
        return Response(body, media_type="text/plain; version=0.0.4")


def create_app(config: ServerConfig, runtime: EnvRuntime | None = None) -> FastAPI:
    """The server app; ``runtime``, if given, is used (already started) and left running
    (an app that starts its own runtime is the process's server: it freezes its start-up
    objects out of garbage collection)."""
    metrics = Metrics()
    recorded = recorded_sites(config)  # a bad replay file fails here, before serving
    app = FastAPI(
        title="webserv",
        summary="Web environments for RL agents: create, reset, step, close over HTTP.",
        version="1",
        lifespan=_lifespan(config, runtime, metrics, recorded),
    )
    app.add_middleware(
        Guard, token=config.token, max_body_bytes=config.max_body_bytes, metrics=metrics
    )

    def running() -> EnvService:
        # The service the lifespan started (a plain call: a dependency costs each request
        # FastAPI's dependency solving).
        return app.state.service

    def api() -> EnvApi:
        return app.state.api

    v1 = _v1_routes(api, *served_requests(config))
    app.include_router(v1)
    _ops_routes(app, running, metrics)

    library = None
    if config.view_dir is not None:
        from webserv.view.library import Library  # reads every kind of record: only if asked

        library = Library(config.view_dir)
    mount_ui(app, library, lambda: dashboard(running(), metrics), config.token)

    # The endpoints themselves: those of an included router are not in app.routes alike in
    # every FastAPI version.
    routes = [*app.routes, *v1.routes]
    errors.install(app, metrics.count_error, routes)
    return app
