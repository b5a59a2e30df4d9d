"""API errors: each a status, a stable code and a message, always sent as JSON."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException


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


class TooLarge(ApiError):
    status, code = 413, "too_large"


class TooManyEnvs(ApiError):
    status, code = 429, "too_many_envs"


class PoolFullError(ApiError):
    status, code = 503, "pool_full"


class Timeout(ApiError):
    status, code = 504, "timeout"


def retry_after(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, round(seconds)))}


def error_response(status: int, code: str, message: str, detail: Any = None, **kw: Any) -> Any:
    body: dict[str, Any] = {"error": code, "message": message}
    if detail is not None:
        body["detail"] = detail
    return JSONResponse(body, status_code=status, **kw)


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}


def install(app: FastAPI, on_error: Any) -> None:
    """JSON bodies for every error, including FastAPI's own and unexpected ones.

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

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        on_error(code)
        return error_response(
            exc.status_code, code, str(exc.detail), headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        on_error("internal")
        return error_response(500, "internal", f"{type(exc).__name__}: {exc}")
