"""A local stand-in for a WebArena deployment: one tiny HTTP server per site name that
answers every page with a sign-in form (a hidden CSRF field, as Magento and GitLab have)
and every form post with a session cookie. It lets the ``url`` backend, WebArena's login
flow and a suite run over WebArena's own task file be exercised without WebArena's images.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PAGE = """<!doctype html><html><head><title>{title}</title></head><body>
<h1>{title}</h1><p>Welcome, Emma Lopez</p><a href="/next">Next</a>
<form method="post" action="{path}"><input type="hidden" name="form_key" value="k1">
<input name="user"><input type="password" name="password"><button>Sign in</button></form>
</body></html>"""


class _Handler(BaseHTTPRequestHandler):
    site = "site"

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self, status: int, body: str = "", headers: dict[str, str] | None = None) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._answer(200, PAGE.format(title=f"{self.site} {self.path}", path=self.path))

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        cookie = f"{self.site}_session=s1; Path=/; HttpOnly"
        self._answer(302, headers={"Location": "/", "Set-Cookie": cookie})


@contextmanager
def webarena_standin(sites: list[str]) -> Iterator[dict[str, str]]:
    """Serve each site name on its own free 127.0.0.1 port; yield name to base URL."""
    servers = []
    for site in sites:
        handler = type(f"{site}Handler", (_Handler,), {"site": site})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append((site, server))
    try:
        yield {site: f"http://127.0.0.1:{server.server_address[1]}" for site, server in servers}
    finally:
        for _, server in servers:
            server.shutdown()
            server.server_close()
