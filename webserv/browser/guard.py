"""URL guard: a browser context may reach only the hosts it was given, whatever the protocol.

The context is created with a proxy that Chromium uses for every request except those to the
allowed hosts (the proxy's bypass list, with the implicit bypass of loopback addresses turned
off). The proxy is a :class:`ClosedPort`: a local port bound but never listening, so any other
request (a document, a sub-resource, a fetch, an iframe, a new tab, a worker's request, a
WebSocket, a WebTransport session) fails before it leaves the browser. :meth:`UrlGuard.watch`
remembers the requests and WebSockets that failed there, so the next observation can list them.

WebRTC does not use the proxy unless made to: :func:`confine_webrtc` sets the browser's WebRTC
policy to ``disable_non_proxied_udp`` (no UDP at all; TURN over TCP through the proxy), and the
init script ``guard.js`` reports and drops the STUN/TURN servers a page names on other hosts.

A session is sent only to web pages of its hosts and to about:blank (:meth:`UrlGuard.allows`):
a ``data:`` or ``javascript:`` URL is a page of the sender's own making, scripts and all.

Unlike a Playwright route, this intercepts nothing: allowed requests go straight to the site,
without a hop through the driver, and the HTTP cache stays on (any route turns it off).
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import Browser, BrowserContext, Page, Request, WebSocket

from webserv.browser.scripts import script

#: The one page that is not on a site a session may be sent to: an empty tab.
BLANK = "about:blank"
#: How Chromium fails a request sent to the closed proxy port.
BLOCKED_FAILURES = frozenset(
    {"net::ERR_PROXY_CONNECTION_FAILED", "net::ERR_TUNNEL_CONNECTION_FAILED"}
)
_ENTRY = re.compile(r"[a-z0-9._-]+(:\d{1,5})?")
#: The page-side function through which ``guard.js`` reports a refused STUN/TURN server.
REPORT_BINDING = "__wsGuardBlocked"
_ICE_URL = re.compile(r"(stuns?|turns?):\S{1,2000}", re.IGNORECASE)
GUARD_SCRIPT = script("guard.js")

#: The extension that sets the browser's WebRTC policy (see :func:`confine_webrtc`).
WEBRTC_EXTENSION = Path(__file__).with_name("webrtc_policy")
WEBRTC_POLICY = "disable_non_proxied_udp"
#: Playwright's default Chromium flag that would refuse that extension.
NO_EXTENSIONS = "--disable-extensions"
#: How long a starting browser may take to apply the WebRTC policy, and how often to look.
WEBRTC_POLICY_TIMEOUT_S = 30.0
WEBRTC_POLICY_POLL_S = 0.02


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
        self.blocked_navigations: list[tuple[Page, str]] = []

    def allows(self, url: str) -> bool:
        """Whether a session may be sent to ``url``: an http(s) page of an allowed host, or
        about:blank. Other schemes are pages of the sender's own making (``data:``,
        ``javascript:``) or not on any site (``file:``, ``chrome:``, ``view-source:``)."""
        if url.strip().lower() == BLANK:
            return True
        # A browser reads a backslash in a web URL as a slash: http://a\@b/ is on host a.
        parts = urlsplit(url.replace("\\", "/"))
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

    @property
    def script(self) -> str:
        """``guard.js`` for these hosts: reports and drops the STUN/TURN servers of others."""
        args = f"{json.dumps(sorted(self.allowed))}, {json.dumps(REPORT_BINDING)}"
        return f"({GUARD_SCRIPT})({args});"

    async def watch(self, context: BrowserContext) -> None:
        """Remember what ``context`` tried to reach and was refused: the requests and WebSockets
        the closed proxy failed, the STUN/TURN servers ``guard.js`` dropped."""
        context.on("requestfailed", self._failed)
        # Playwright reports WebSockets per page (a worker's with its page), not as requests.
        context.on("page", self._watch_page)
        await context.expose_binding(REPORT_BINDING, self._reported)
        await context.add_init_script(self.script)

    def _failed(self, request: Request) -> None:
        if request.failure in BLOCKED_FAILURES:
            self._block(request.url)
            if request.is_navigation_request():
                frame = request.frame
                if frame.parent_frame is None:
                    self.blocked_navigations.append((frame.page, request.url))

    def _watch_page(self, page: Page) -> None:
        page.on("websocket", self._watch_socket)

    def _watch_socket(self, websocket: WebSocket) -> None:
        def failed(error: str) -> None:
            # e.g. "Error in connection establishment: net::ERR_PROXY_CONNECTION_FAILED"
            if any(failure in error for failure in BLOCKED_FAILURES):
                self._block(websocket.url)

        websocket.on("socketerror", failed)

    def _reported(self, source: Any, url: Any) -> None:
        # The binding is the page's to call: take only what guard.js sends, an ICE server URL.
        if isinstance(url, str) and _ICE_URL.fullmatch(url.strip()):
            self._block(url.strip())

    def _block(self, url: str) -> None:
        if url not in self.blocked:
            self.blocked.append(url)

    def take_blocked_navigations(self) -> list[tuple[Page, str]]:
        """The tabs sent to a refused URL since the last call, with that URL."""
        refused, self.blocked_navigations = self.blocked_navigations, []
        return refused

    def take_blocked(self) -> list[str]:
        """The URLs blocked since the last call."""
        blocked, self.blocked = self.blocked, []
        return blocked


async def confine_webrtc(browser: Browser) -> None:
    """Send WebRTC of every context of ``browser`` only through the context's proxy.

    Chromium otherwise sends WebRTC's UDP (STUN, TURN, connectivity checks) straight to any
    address a page names, past the proxy. Its WebRTC IP handling policy comes from preferences
    only, which an extension may set: ``webrtc_policy`` is loaded over the DevTools pipe (the
    browser needs ``--enable-unsafe-extension-debugging``, and not Playwright's
    ``--disable-extensions``), allowed in incognito, so that Playwright's contexts follow it,
    and its page sets the policy. Returns once the page reports it in force; raises
    ``RuntimeError`` if it is not, since guarded sessions would not be guarded.
    """
    cdp = await browser.new_browser_cdp_session()
    try:
        extension = await cdp.send(
            "Extensions.loadUnpacked",
            {"path": str(WEBRTC_EXTENSION), "enableInIncognito": True},
        )
        page = await cdp.send(
            "Target.createTarget", {"url": f"chrome-extension://{extension['id']}/policy.html"}
        )
        # The page says in its title whether the policy holds; a title change sends no event.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WEBRTC_POLICY_TIMEOUT_S
        title = ""
        while not title.startswith(("policy ", "error ")):
            if loop.time() > deadline:
                title = "the policy page did not report"
                break
            await asyncio.sleep(WEBRTC_POLICY_POLL_S)
            info = await cdp.send("Target.getTargetInfo", {"targetId": page["targetId"]})
            title = info["targetInfo"]["title"]
        await cdp.send("Target.closeTarget", {"targetId": page["targetId"]})
    finally:
        await cdp.detach()
    if title != f"policy {WEBRTC_POLICY}":
        raise RuntimeError(f"could not confine WebRTC to the proxy: {title}")
