"""The ``/ui`` app and the two places it is served.

``ui_app`` is an app of its own, mounted at ``/ui``: the viewer's pages over a directory
(when there is one), the dashboard of a live server (when there is one), the login page,
and its static files. Mounted, it stays out of the server's OpenAPI spec, and its errors are
pages rather than the API's JSON. ``mount_ui`` puts it into ``webserv serve``'s app, whose
guard holds ``/ui`` behind the server's token (:mod:`.auth`); ``create_view_app`` is
``webserv view``: the same app, behind the same guard, alone.

Every answer says the page may load nothing but this app's own files
(``Content-Security-Policy``): no inline script, no style, image or script from elsewhere.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from webserv.view.auth import (
    LOGIN_PATH,
    UI_PREFIX,
    end_session,
    has_session,
    safe_next,
    set_session,
)
from webserv.view.dashboard import Dashboard
from webserv.view.render import Renderer, base_of
from webserv.view.sources import NotFound

if TYPE_CHECKING:
    from webserv.view.library import Library

STATIC = Path(__file__).parent / "static"
CONTENT_POLICY = (
    "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
#: Largest request body the standalone viewer takes (a login form).
MAX_BODY_BYTES = 4_096


class Headers:
    """Pure ASGI middleware: the content policy on every answer; pages are not cached (the
    records they show grow), files and static assets are."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cached = any(part in scope["path"] for part in ("/static/", "/file/"))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [
                    (b"content-security-policy", CONTENT_POLICY.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                ]
                if not cached:
                    extra.append((b"cache-control", b"no-store"))
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)


def dashboard_routes(live: Callable[[], Dashboard], renderer: Renderer) -> APIRouter:
    router = APIRouter()

    @router.get("/dashboard")
    def page(request: Request) -> Response:
        return renderer.render(request, "dashboard.html")

    @router.get("/api/dashboard", response_model=Dashboard)
    async def data() -> Dashboard:
        # On the event loop, where the server appends its recent observations.
        return live()

    return router


def login_routes(token: str | None, renderer: Renderer) -> APIRouter:
    """Sign in with the token, out again; without a token there is nothing to sign in to."""
    router = APIRouter()
    secret = token.encode() if token else None

    @router.get("/login")
    def login_page(request: Request, next: str = f"{UI_PREFIX}/") -> Response:
        if secret is None or has_session(request.scope, secret):
            return RedirectResponse(safe_next(next), status_code=303)
        return renderer.render(request, "login.html", next=safe_next(next))

    @router.post("/login")
    def login(
        request: Request,
        token: Annotated[str, Form(max_length=1_000)],
        next: Annotated[str, Form(max_length=2_000)] = f"{UI_PREFIX}/",
    ) -> Response:
        if secret is None:
            return RedirectResponse(safe_next(next), status_code=303)
        if not hmac.compare_digest(token.strip().encode(), secret):
            return renderer.render(request, "login.html", 401, next=safe_next(next), wrong=True)
        response = RedirectResponse(safe_next(next), status_code=303)
        response.headers["set-cookie"] = set_session(request.scope, secret)
        return response

    @router.post("/logout")
    def logout(request: Request) -> Response:
        response = RedirectResponse(LOGIN_PATH, status_code=303)
        response.headers["set-cookie"] = end_session(request.scope)
        return response

    return router


def _error_pages(app: FastAPI, renderer: Renderer) -> None:
    """Errors as pages: unknown things 404, bad parameters 400, unreadable records 422."""

    def page(request: Request, status: int, message: str) -> Response:
        return renderer.render(request, "error.html", status, status=status, message=message)

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        return page(request, 404, str(exc))

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(part) for part in first.get("loc", ()))
        return page(request, 400, f"{where}: {first.get('msg', '')}")

    @app.exception_handler(ValueError)  # a record that is not what its file should hold
    async def unreadable(request: Request, exc: ValueError) -> Response:
        return page(request, 422, f"cannot read this record: {exc}")


def ui_app(
    library: Library | None, live: Callable[[], Dashboard] | None, token: str | None
) -> FastAPI:
    """The ``/ui`` app: the viewer over ``library``, the dashboard of ``live``, or both."""
    renderer = Renderer(library.root if library else None, live is not None, token is not None)
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    if library is not None:
        # The viewer reads every kind of record: a server without a directory to show does
        # not load what reads them.
        from webserv.view.pages import episode_routes
        from webserv.view.reports import report_routes

        app.include_router(episode_routes(library, renderer))
        app.include_router(report_routes(library, renderer))
    else:

        @app.get("/")
        def home(request: Request) -> Response:
            return RedirectResponse(f"{base_of(request)}/dashboard", status_code=303)

    if live is not None:
        app.include_router(dashboard_routes(live, renderer))
    app.include_router(login_routes(token, renderer))
    _error_pages(app, renderer)
    app.add_middleware(Headers)
    return app


def mount_ui(
    app: FastAPI,
    library: Library | None,
    live: Callable[[], Dashboard] | None,
    token: str | None,
) -> None:
    """Serve the UI of ``library`` and ``live`` at ``/ui`` of ``app`` (whose guard holds it
    behind ``token``)."""
    app.mount(UI_PREFIX, ui_app(library, live, token))


def create_view_app(root: Path, token: str | None = None) -> FastAPI:
    """``webserv view``: the pages over the records under ``root``, at ``/ui``; with a
    token, behind the login of :mod:`.auth`."""
    # Imported here: the server's app imports this module to mount the UI.
    from webserv.server.app import Guard
    from webserv.server.metrics import Metrics
    from webserv.view.library import Library

    app = FastAPI(title="webserv view", openapi_url=None, docs_url=None, redoc_url=None)
    app.add_middleware(Guard, token=token, max_body_bytes=MAX_BODY_BYTES, metrics=Metrics())

    @app.get("/")
    def home() -> Response:
        return RedirectResponse(f"{UI_PREFIX}/", status_code=303)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    mount_ui(app, Library(root), None, token)
    return app
