"""API errors: each a status, a stable code and a message, always sent as JSON."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match

from webserv.server.store import StoreUnavailable

#: When to ask again while the lease store is unreachable (an outage's length is unknown:
#: soon, and clients that honour Retry-After keep asking).
STORE_RETRY_AFTER_S = 2.0


class ApiError(Exception):
    """An error the client should see as ``{"error": code, "message": ...}``."""

    status = 500
    code = "internal"

    def __init__(
        self, message: str, *, detail: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.headers = headers or {}

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled whole (a node agent's error reaches its caller through Ray): the default
        # keeps only the message, and Retry-After lives in the headers.
        return (type(self), (self.message,), {"detail": self.detail, "headers": self.headers})


class BadRequest(ApiError):
    status, code = 400, "bad_request"


class NotFound(ApiError):
    status, code = 404, "not_found"


class EpisodeOverError(ApiError):
    status, code = 409, "episode_over"


class Busy(ApiError):
    status, code = 409, "env_busy"


class Gone(ApiError):
    status, code = 410, "env_gone"


class Lost(ApiError):
    """The env's node left the cluster: its browser and instance went with it."""

    status, code = 410, "env_lost"


class TooLarge(ApiError):
    status, code = 413, "too_large"


class TooManyEnvs(ApiError):
    status, code = 429, "too_many_envs"


class PoolFullError(ApiError):
    status, code = 503, "pool_full"


class Unreachable(ApiError):
    """A cluster node did not answer the router (and its agent is still there)."""

    status, code = 503, "node_unreachable"


class Timeout(ApiError):
    status, code = 504, "timeout"


def retry_after(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, round(seconds)))}


def error_response(status: int, code: str, message: str, detail: Any = None, **kw: Any) -> Any:
    body: dict[str, Any] = {"error": code, "message": message}
    if detail is not None:
        body["detail"] = detail
    return JSONResponse(body, status_code=status, **kw)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
}
STORE_UNAVAILABLE = "store_unavailable"


def error_codes() -> set[tuple[int, str]]:
    """Every (status, code) an error answer of the server is meant to carry: the API errors,
    the framework's HTTP errors and a store outage (the guard's refusals reuse these codes).
    ``internal`` (500) is not among them: it is an unexpected failure."""
    api = {(cls.status, cls.code) for cls in ApiError.__subclasses__()}
    return api | set(_HTTP_CODES.items()) | {(503, STORE_UNAVAILABLE)}


def allowed_methods(routes: Sequence[BaseRoute], request: Request) -> str:
    """Every method ``routes`` serve on the request's path, as an ``Allow`` header value.

    Starlette's 405 names the methods of the first route on the path only, and the API has a
    route per method (``GET`` and ``DELETE /v1/envs/{id}``)."""
    methods = {"OPTIONS"}
    for route in routes:
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return ", ".join(sorted(methods))


def install(app: FastAPI, on_error: Any, routes: Sequence[BaseRoute]) -> None:
    """JSON bodies for every error, including FastAPI's own and unexpected ones; ``OPTIONS``
    and 405 answers list the methods of ``routes`` (every endpoint, those of included routers
    too) on their path.

    ``on_error(code)`` counts each error for the metrics.
    """

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        on_error(exc.code)
        return error_response(exc.status, exc.code, exc.message, exc.detail, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        on_error("bad_request")
        problems = [
            {"loc": list(err.get("loc", ())), "msg": err.get("msg", "")} for err in exc.errors()
        ]
        first = problems[0] if problems else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(part) for part in first["loc"])
        return error_response(400, "bad_request", f"{where}: {first['msg']}", problems)

    @app.exception_handler(StoreUnavailable)
    async def store_down(request: Request, exc: StoreUnavailable) -> JSONResponse:
        on_error(STORE_UNAVAILABLE)
        return error_response(
            503,
            STORE_UNAVAILABLE,
            f"{exc}; nothing was done, retry later",
            headers=retry_after(STORE_RETRY_AFTER_S),
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            allow = {"Allow": allowed_methods(routes, request)}
            if request.method == "OPTIONS":  # no route has it: the answer is the Allow list
                return Response(status_code=204, headers=allow)
            headers = {**(headers or {}), **allow}
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        on_error(code)
        return error_response(exc.status_code, code, str(exc.detail), headers=headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        on_error("internal")
        return error_response(500, "internal", f"{type(exc).__name__}: {exc}")
