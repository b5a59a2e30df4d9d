"""URL guard: a browser context may reach only the hosts it was given.

Installed as a route on the whole context, so every request (documents, sub-resources, fetch,
iframes, new tabs) is checked. The route's URL pattern leaves out requests to the allowed hosts,
so Playwright lets those through itself and only the others reach the handler here, which
aborts them and remembers them for the next observation to report.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from playwright.async_api import BrowserContext, Route

#: Schemes that never leave the browser.
LOCAL_SCHEMES = frozenset({"about", "data", "blob", "chrome-error"})


class UrlGuard:
    """Allows URLs whose ``host`` or ``host:port`` is in ``allowed``; blocks the rest."""

    def __init__(self, allowed: Iterable[str]) -> None:
        self.allowed = frozenset(entry.lower().rstrip("/") for entry in allowed)
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

    def pattern(self) -> re.Pattern[str]:
        """Every URL that does not start with an allowed origin (a superset of what
        :meth:`allows` rejects; the handler decides the rest)."""
        origins = []
        for entry in sorted(self.allowed):
            host, port = re.fullmatch(r"(.*?)(?::(\d+))?", entry).groups()  # type: ignore[union-attr]
            suffix = f":{port}" if port else r"(?::\d+)?"
            origins.append(re.escape(host) + suffix)
        if not origins:
            return re.compile("^")
        return re.compile(rf"^(?!https?://(?:{'|'.join(origins)})(?:[/?#]|$))", re.IGNORECASE)

    def take_blocked(self) -> list[str]:
        """The URLs blocked since the last call."""
        blocked, self.blocked = self.blocked, []
        return blocked

    async def install(self, context: BrowserContext) -> None:
        await context.route(self.pattern(), self._handle)

    async def _handle(self, route: Route) -> None:
        url = route.request.url
        if self.allows(url):
            await route.fallback()
        else:
            self.blocked.append(url)
            await route.abort("blockedbyclient")
