"""Serve one shop instance with uvicorn (one worker, no access log) and report readiness."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI


def process_age_ms() -> float:
    """Milliseconds since this process was started (from /proc; import time elsewhere)."""
    try:
        start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime_s = float(Path("/proc/uptime").read_text().split()[0])
        return (uptime_s - start_ticks / os.sysconf("SC_CLK_TCK")) * 1000
    except (OSError, ValueError, IndexError):
        return (time.perf_counter() - _IMPORTED) * 1000


_IMPORTED = time.perf_counter()


#: The app :func:`warm` built, for the one instance this process (a launcher's fork) serves.
_prebuilt: list[FastAPI] = []

#: Pages :func:`warm` serves over an empty database: every template, the error pages, the
#: API and the redirects, so the lazy imports and caches they fill live in the launcher.
WARM_PATHS = (
    "/",
    "/search?q=shirt",
    "/category/none",
    "/products/1",
    "/cart",
    "/checkout",
    "/account/login",
    "/account/register",
    "/admin/login",
    "/admin",
    "/api/suggest?q=a",
    "/api/cart",
    "/healthz",
)
#: Rounds over WARM_PATHS (1, 3 and 10 rounds left instances within 0.2 MiB of each other).
WARM_ROUNDS = 2


async def _get(app: FastAPI, target: str) -> None:
    """One GET of ``target`` (path and query) straight through the ASGI app, the answer
    dropped (no HTTP client: the shop's image has none)."""
    path, _, query = target.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"warm")],
        "client": ("127.0.0.1", 0),
        "server": ("warm", 80),
    }

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: object) -> None:
        pass

    await app(scope, receive, send)


def warm() -> None:
    """Build the shop app, serve its pages a few times in-process, and keep it for serve().

    Run by launchers that import the shop ahead of time (a zygote, a pre-started container).
    Each instance forked afterwards binds this app instead of building its own, and finds
    templates compiled, lazy imports done and caches filled: work it would otherwise redo in
    memory of its own. A forked instance writes to every page of the launcher's
    heap that it touches; warming leaves it fewer to touch (private memory of an instance
    that has served a few pages: ~13.5 MiB, ~20 MiB without the warm-up).
    """
    import asyncio
    import tempfile

    from webserv.sites.shop import db
    from webserv.sites.shop.app import bind, build_app
    from webserv.sites.shop.web import templates

    app = build_app()

    async def serve_pages() -> None:
        for _ in range(WARM_ROUNDS):
            for path in WARM_PATHS:
                await _get(app, path)

    with tempfile.TemporaryDirectory() as tmp:
        db.create(Path(tmp)).close()
        bind(app, Path(tmp))
        asyncio.run(serve_pages())
    for name in templates.env.list_templates(extensions=["html"]):
        templates.env.get_template(name)  # the pages behind a login or a product too
    _prebuilt[:] = [app]


def serve(
    data_dir: Path,
    port: int,
    host: str = "127.0.0.1",
    latency_ms: int = 0,
    jitter_ms: int = 0,
) -> None:
    """Run the shop over ``data_dir`` until interrupted; prints one line once it is ready."""
    import uvicorn

    from webserv.sites.shop.app import bind, build_app

    app = bind(_prebuilt.pop() if _prebuilt else build_app(), data_dir, latency_ms, jitter_ms)

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:
                print(
                    f"shop ready on http://{host}:{port} in {process_age_ms():.0f} ms "
                    f"({time.process_time() * 1000:.0f} ms CPU; data dir {data_dir})",
                    file=sys.stderr,
                    flush=True,
                )

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        workers=1,
        access_log=False,
        log_level="warning",
        lifespan="off",
    )
    Server(config).run()
