"""The shop's ASGI app: storefront at ``/``, admin CMS at ``/admin``, both over one data dir."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Mount

from webserv.sites.shop import db
from webserv.sites.shop.admin import router as admin_router
from webserv.sites.shop.storefront import router as storefront_router
from webserv.sites.shop.web import STATIC_DIR, error_response

#: The mount serving the data dir's ``media/``.
MEDIA = "media"


def create_app(data_dir: Path, latency_ms: int = 0, jitter_ms: int = 0) -> FastAPI:
    """Build the app serving ``data_dir``.

    ``latency_ms`` (plus uniform ``jitter_ms``) delays every API response (``/api/...``),
    the calls the pages' JavaScript makes, so slow pages can be tested.
    """
    return bind(build_app(), data_dir, latency_ms, jitter_ms)


def bind(app: FastAPI, data_dir: Path, latency_ms: int = 0, jitter_ms: int = 0) -> FastAPI:
    """Point ``app`` (from :func:`build_app`) at ``data_dir``; returns it.

    Binding is cheap, building is not (~4 MiB of route objects): a launcher that builds the
    app before it forks lets each instance bind the shared copy instead of building its own.
    """
    data_dir = Path(data_dir).resolve()
    db.connect(data_dir).close()  # fail at start, not on the first request
    app.state.data_dir = data_dir
    app.state.latency = (latency_ms, jitter_ms)
    for route in app.routes:
        if isinstance(route, Mount) and route.name == MEDIA:
            route.app = StaticFiles(directory=data_dir / "media", check_dir=False)
    return app


def build_app() -> FastAPI:
    """The shop's routes and handlers, not yet bound to a data dir (see :func:`bind`)."""
    app = FastAPI(title="webserv shop", docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def api_latency(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        base, jitter = request.app.state.latency
        if (base or jitter) and "/api/" in request.url.path:
            await asyncio.sleep((base + random.uniform(0, jitter)) / 1000)
        return await call_next(request)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return error_response(request, exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'][1:]) or err['loc'][0]}: {err['msg']}"
            for err in exc.errors()
        )
        return error_response(request, 422, f"Invalid input: {problems}")

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.mount("/media", StaticFiles(), name=MEDIA)  # serves nothing until bind()
    app.include_router(admin_router)
    app.include_router(storefront_router)
    return app
