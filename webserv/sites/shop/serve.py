"""Serve one shop instance with uvicorn (one worker, no access log) and report readiness."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path


def process_age_ms() -> float:
    """Milliseconds since this process was started (from /proc; import time elsewhere)."""
    try:
        start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime_s = float(Path("/proc/uptime").read_text().split()[0])
        return (uptime_s - start_ticks / os.sysconf("SC_CLK_TCK")) * 1000
    except (OSError, ValueError, IndexError):
        return (time.perf_counter() - _IMPORTED) * 1000


_IMPORTED = time.perf_counter()


def warm() -> None:
    """Build the shop app once over an empty database and compile its templates.

    Run by launchers that import the shop ahead of time (a zygote, a pre-started container):
    FastAPI's route analysis costs ~0.5 s on the first build and ~3 ms after, and whatever
    runs the shop later in that process inherits the warmed caches and compiled templates.
    """
    import tempfile

    from webserv.sites.shop import db
    from webserv.sites.shop.app import create_app
    from webserv.sites.shop.web import templates

    with tempfile.TemporaryDirectory() as tmp:
        db.create(Path(tmp)).close()
        create_app(Path(tmp))
    for name in templates.env.list_templates(extensions=["html"]):
        templates.env.get_template(name)


def serve(
    data_dir: Path,
    port: int,
    host: str = "127.0.0.1",
    latency_ms: int = 0,
    jitter_ms: int = 0,
) -> None:
    """Run the shop over ``data_dir`` until interrupted; prints one line once it is ready."""
    import uvicorn

    from webserv.sites.shop.app import create_app

    app = create_app(data_dir, latency_ms=latency_ms, jitter_ms=jitter_ms)

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
