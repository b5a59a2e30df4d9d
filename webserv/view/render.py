"""Pages from the Jinja templates of ``templates/``, with what every page needs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

TEMPLATES = Path(__file__).parent / "templates"


def milliseconds(value: float | None) -> str:
    """A duration in ms as people read it: ``87 ms``, ``1.4 s``; ``-`` when there is none."""
    if value is None:
        return "-"
    return f"{value:,.0f} ms" if value < 1000 else f"{value / 1000:,.1f} s"


def base_of(request: Request) -> str:
    """Where the UI is mounted (``/ui``, below any root path of the server)."""
    return request.scope.get("root_path", "").rstrip("/")


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


class Renderer:
    """Renders the UI's pages; ``root`` is the directory viewed (None: none), ``live``
    whether there is a dashboard, ``login`` whether the pages are behind a token."""

    def __init__(self, root: Path | None, live: bool, login: bool) -> None:
        self.templates = Jinja2Templates(directory=TEMPLATES)
        self.templates.env.filters.update(ms=milliseconds, pretty=pretty_json)
        if root is not None:
            # The behaviour report's number formats, for evaluations (a dashboard has none).
            from webserv.behaviour.cli import num, pct

            self.templates.env.filters.update(pct=pct, num=num)
        self.common = {"root": root, "live": live, "login": login}

    def render(
        self, request: Request, name: str, status_code: int = 200, **context: Any
    ) -> Response:
        """The page ``name`` with ``context``; ``base`` is where the UI is mounted."""
        context = {**self.common, "base": base_of(request), **context}
        return self.templates.TemplateResponse(request, name, context, status_code=status_code)
