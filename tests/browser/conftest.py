"""Fixtures of the browser tests: a local HTTP server for ``tests/pages``."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

PAGES = Path(__file__).parents[1] / "pages"


class _Handler(SimpleHTTPRequestHandler):
    """Static files from ``tests/pages`` plus ``/api/slow?ms=N``, which answers after N ms."""

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != "/api/slow":
            super().do_GET()
            return
        delay = int(parse_qs(parts.query).get("ms", ["0"])[0])
        time.sleep(delay / 1000)  # the server's simulated latency, not a wait in test logic
        body = json.dumps({"text": f"loaded after {delay} ms"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle(self) -> None:
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the browser went away mid-response (the crash tests close it on purpose)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def pages_url() -> Iterator[str]:
    """Base URL (``http://127.0.0.1:PORT``) of a server for the fixture pages."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(PAGES)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
