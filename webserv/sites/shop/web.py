"""Shared web plumbing of the shop: templates, filters, error pages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates

TEMPLATES_DIR = Path(__file__).with_name("templates")
STATIC_DIR = Path(__file__).with_name("static")

templates = Jinja2Templates(directory=TEMPLATES_DIR)


def money(cents: int | None) -> str:
    """Format integer cents as ``$1,234.50``."""
    if cents is None:
        return ""
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents) / 100:,.2f}"


templates.env.filters["money"] = money


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a template with the request and the current user/admin (set by middleware)."""
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def wants_json(request: Request) -> bool:
    return request.url.path.startswith(("/api/", "/admin/api/")) or "application/json" in (
        request.headers.get("accept", "")
    )


def error_response(request: Request, status_code: int, message: str) -> HTMLResponse | JSONResponse:
    """A 4xx/5xx answer that says clearly what was wrong: JSON for API calls, a page otherwise."""
    if wants_json(request):
        return JSONResponse({"error": message, "status": status_code}, status_code=status_code)
    return render(
        request, "error.html", status_code=status_code, status=status_code, message=message
    )
