"""URL guard: a browser context may reach only the hosts it was given.

The context is created with a proxy that Chromium uses for every request except those to the
allowed hosts (the proxy's bypass list, with the implicit bypass of loopback addresses turned
off). The proxy is a :class:`ClosedPort`: a local port bound but never listening, so any other
request (a document, a sub-resource, a fetch, an iframe, a new tab, a worker's request) fails
before it leaves the browser. :meth:`UrlGuard.watch` remembers those failures, so the next
observation can report them.

Unlike a Playwright route, this intercepts nothing: allowed requests go straight to the site,
without a hop through the driver, and the HTTP cache stays on (any route turns it off).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from playwright.async_api import BrowserContext, Request

#: Schemes that never leave the browser.
LOCAL_SCHEMES = frozenset({"about", "data", "blob", "chrome-error"})
#: How Chromium fails a request sent to the closed proxy port.
BLOCKED_FAILURES = frozenset(
    {"net::ERR_PROXY_CONNECTION_FAILED", "net::ERR_TUNNEL_CONNECTION_FAILED"}
)
_ENTRY = re.compile(r"[a-z0-9._-]+(:\d{1,5})?")


class ClosedPort:
    """A TCP port on 127.0.0.1 that refuses every connection, for as long as it is open.

    Bound without listening: the kernel refuses connections to it, and no other process can
    start listening on it meanwhile.
    """

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"

    def close(self) -> None:
        self._socket.close()


class UrlGuard:
    """Allows URLs whose ``host`` or ``host:port`` is in ``allowed``; blocks the rest."""

    def __init__(self, allowed: Iterable[str]) -> None:
        self.allowed = frozenset(entry.lower().rstrip("/") for entry in allowed)
        for entry in self.allowed:
            if not _ENTRY.fullmatch(entry):
                raise ValueError(f"{entry!r} is not a host or host:port")
        self.blocked: list[str] = []

    def allows(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme in LOCAL_SCHEMES:
            return True
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return False
        host = parts.hostname.lower()
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:  # a port out of range is no URL a browser can open
            return False
        return host in self.allowed or f"{host}:{port}" in self.allowed

    def proxy(self, closed: ClosedPort) -> dict[str, str]:
        """The ``proxy`` option of a guarded browser context."""
        return {"server": closed.url, "bypass": ",".join(["<-loopback>", *sorted(self.allowed)])}

    def watch(self, context: BrowserContext) -> None:
        """Remember the requests of ``context`` that the closed proxy refused."""
        context.on("requestfailed", self._failed)

    def _failed(self, request: Request) -> None:
        if request.failure in BLOCKED_FAILURES and request.url not in self.blocked:
            self.blocked.append(request.url)

    def take_blocked(self) -> list[str]:
        """The URLs blocked since the last call."""
        blocked, self.blocked = self.blocked, []
        return blocked
