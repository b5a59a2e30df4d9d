"""The URL guard: its decisions, its proxy settings, the port that refuses what it blocks, and on
real Chromium, that nothing reaches a host the session was not given, whatever the protocol
(WebRTC, WebSocket, pages the agent or the page itself makes up), and that the attempts are
listed in ``blocked_urls``."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, urlsplit

import pytest
from browser_helpers import element_id

from webserv.browser.chromium import BUILDS
from webserv.browser.guard import ClosedPort, UrlGuard
from webserv.browser.session import BrowserPool, BrowserSession

GUARD = UrlGuard(["127.0.0.1:8000", "localhost"])


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://127.0.0.1:8000/cart?x=1", True),
        ("http://127.0.0.1:8000", True),
        ("https://LOCALHOST:9/a", True),
        ("http://localhost/", True),
        ("about:blank", True),
        ("ABOUT:BLANK", True),
        ("http://127.0.0.1:8001/", False),
        ("http://127.0.0.1:80001/", False),
        ("http://127.0.0.1:8000.example/", False),
        ("http://localhost.example/", False),
        # The browser reads the backslash as a slash: this is example.com.
        ("http://example.com\\@127.0.0.1:8000/", False),
        ("ftp://localhost/", False),
        ("http://example.com/", False),
        ("data:text/html,<script>alert(1)</script>", False),
        ("blob:http://127.0.0.1:8000/5a1c", False),
        ("javascript:alert(1)", False),
        ("about:version", False),
        ("view-source:http://127.0.0.1:8000/", False),
        ("file:///etc/passwd", False),
        ("chrome://version", False),
    ],
)
def test_allows_only_the_given_hosts(url: str, allowed: bool):
    assert GUARD.allows(url) is allowed


def test_proxy_bypasses_only_the_allowed_hosts():
    closed = ClosedPort()
    try:
        proxy = GUARD.proxy(closed)
        # Without "<-loopback>" Chromium would reach every local port directly.
        assert proxy == {"server": closed.url, "bypass": "<-loopback>,127.0.0.1:8000,localhost"}
        port = int(closed.url.rsplit(":", 1)[1])
        with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port)):
            pass
    finally:
        closed.close()


@pytest.mark.parametrize("entry", ["evil.com,localhost", "host;x", "http://host", "a b"])
def test_a_malformed_host_is_refused(entry: str):
    with pytest.raises(ValueError, match="is not a host or host:port"):
        UrlGuard([entry])


# ---- on real Chromium ----------------------------------------------------------------------

#: Calls a "peer" at 127.0.0.1:port every way WebRTC can: as a STUN server, as TURN servers
#: (UDP and TCP) and as a remote candidate, which connectivity checks go to straight. Resolves
#: a moment after candidate gathering ends, for the checks to go out.
CALL = """async (RTC, port) => {
  const pc = new RTC({iceServers: [
    {urls: `stun:127.0.0.1:${port}`},
    {urls: [`turn:127.0.0.1:${port}?transport=udp`, `turn:127.0.0.1:${port}?transport=tcp`],
     username: 'user', credential: 'secret'},
  ]});
  pc.createDataChannel('leak');
  const gathered = new Promise((resolve) => {
    pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && resolve();
  });
  await pc.setLocalDescription(await pc.createOffer());
  const answerer = new RTC();
  await answerer.setRemoteDescription(pc.localDescription);
  await answerer.setLocalDescription(await answerer.createAnswer());
  await pc.setRemoteDescription(answerer.localDescription);
  await pc.addIceCandidate({candidate: `candidate:1 1 udp 2122260223 127.0.0.1 ${port} typ host`,
                            sdpMid: '0', sdpMLineIndex: 0});
  await Promise.race([gathered, new Promise((resolve) => setTimeout(resolve, 3000))]);
  await new Promise((resolve) => setTimeout(resolve, 1000));
}"""


def _leak_page(port_expression: str, done: str) -> str:
    """A document that runs CALL against the UDP port, then runs ``done``."""
    return (
        f"<!doctype html><title>leak</title><script>({CALL})(window.RTCPeerConnection, "
        f"{port_expression}).then(() => {{ {done} }});</script>"
    )


def _data_url(document: str) -> str:
    return "data:text/html," + quote(document)


PAGES = {
    "/blank.html": "<!doctype html><title>Blank</title><h1>Blank</h1>",
    # The page's own window, a blank iframe it scripts and a data: iframe all call the peer.
    "/webrtc.html": f"""<!doctype html><title>WebRTC</title><h1>WebRTC</h1>
<p id="out">calling</p><iframe id="blank"></iframe><iframe id="data"></iframe><script>
const port = new URLSearchParams(location.search).get('udp');
const call = {CALL};
const framed = new Promise((resolve) => addEventListener('message', resolve));
document.getElementById('data').src = 'data:text/html,' + encodeURIComponent(
  `<script>(${{call}})(window.RTCPeerConnection, ${{port}})` +
  `.then(() => parent.postMessage('done', '*'));</` + `script>`);
Promise.all([call(window.RTCPeerConnection, port),
             call(document.getElementById('blank').contentWindow.RTCPeerConnection, port),
             framed])
  .then(() => {{ document.getElementById('out').textContent = 'done'; }},
        (error) => {{ document.getElementById('out').textContent = String(error); }});
</script>""",
    # Links to a data: page: in a frame of the page, in the tab itself, in a new tab.
    "/links.html": """<!doctype html><title>Links</title><h1>Links</h1>
<p id="out">waiting</p><iframe name="frame"></iframe>
<a id="frame" target="frame">In the frame</a> <a id="here">Here</a>
<a id="tab" target="_blank">In a new tab</a><script>
addEventListener('message', () => { document.getElementById('out').textContent = 'done'; });
for (const id of ['frame', 'here', 'tab']) document.getElementById(id).href = LEAK;
</script>""",
    # WebSockets to another host name of the same server, from the page and from a worker.
    "/socket.html": """<!doctype html><title>Sockets</title><h1>Sockets</h1>
<p id="out">0</p><script>
const away = `ws://localhost:${location.port}`;
const refused = () => {
  const out = document.getElementById('out');
  out.textContent = String(Number(out.textContent) + 1);
};
new WebSocket(`${away}/page`).onerror = refused;
const source = `new WebSocket('${away}/worker').onerror = () => postMessage('refused');`;
new Worker(URL.createObjectURL(new Blob([source]))).onmessage = refused;
</script>""",
}


@dataclass(frozen=True)
class Site:
    url: str

    @property
    def host(self) -> str:
        return self.url.removeprefix("http://")


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        page = PAGES.get(parts.path)
        if page is None:
            self.send_error(404)
            return
        # LEAK: a data: page that calls the peer, then tells the page that opened it.
        udp = parts.query.removeprefix("udp=") or "0"
        leak = _leak_page(udp, "(parent === window ? opener : parent)?.postMessage('', '*');")
        body = page.replace("LEAK", json.dumps(_data_url(leak))).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Site(f"http://127.0.0.1:{server.server_address[1]}")
    server.shutdown()
    server.server_close()
    thread.join()


class UdpSink(asyncio.DatagramProtocol):
    """A UDP port on 127.0.0.1 that keeps whatever reaches it."""

    def __init__(self) -> None:
        self.packets: list[bytes] = []
        self.port = 0

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.packets.append(data)


@pytest.fixture
async def udp(site: Site) -> AsyncIterator[UdpSink]:
    loop = asyncio.get_running_loop()
    transport, sink = await loop.create_datagram_endpoint(UdpSink, local_addr=("127.0.0.1", 0))
    sink.port = transport.get_extra_info("sockname")[1]
    # The session may reach the site's host:port only, never this port.
    assert f"127.0.0.1:{sink.port}" != site.host
    yield sink
    transport.close()


@pytest.fixture
async def session(browser_pool: BrowserPool, site: Site) -> AsyncIterator[BrowserSession]:
    session = await browser_pool.new_session(allowed_hosts=[site.host])
    yield session
    await session.close()


async def _until(session: BrowserSession, text: str) -> None:
    """Wait until the active page's #out says ``text`` (the page's calls are over)."""
    await session.page.wait_for_function(
        "(text) => document.getElementById('out')?.textContent === text", arg=text
    )


@pytest.fixture(scope="module", params=sorted(BUILDS))
async def any_build(request: pytest.FixtureRequest) -> AsyncIterator[BrowserPool]:
    """Each Chromium build: they confine WebRTC in different ways (a flag, an extension)."""
    async with BrowserPool(build=request.param) as pool:
        yield pool


@pytest.mark.browser
async def test_webrtc_reaches_no_other_host_and_is_listed(
    any_build: BrowserPool, site: Site, udp: UdpSink
):
    session = await any_build.new_session(allowed_hosts=[site.host])
    try:
        obs = await session.start(f"{site.url}/webrtc.html?udp={udp.port}")
        await _until(session, "done")
        blocked = obs.blocked_urls + (await session.observe()).blocked_urls
        assert udp.packets == []
        assert sorted(blocked) == sorted(
            [
                f"stun:127.0.0.1:{udp.port}",
                f"turn:127.0.0.1:{udp.port}?transport=udp",
                f"turn:127.0.0.1:{udp.port}?transport=tcp",
            ]
        )
        # Relayed candidates only: the browser then looks up no host name a remote one gives.
        policy = "new RTCPeerConnection().getConfiguration().iceTransportPolicy"
        assert await session.page.evaluate(policy) == "relay"
    finally:
        await session.close()


@pytest.mark.browser
async def test_webrtc_is_confined_even_where_no_init_script_runs(
    any_build: BrowserPool, site: Site, udp: UdpSink
):
    # What stops the packets is the browser's WebRTC policy, not the script that reports them:
    # a guarded context without the script sends nothing either.
    guard = UrlGuard([site.host])
    context, chromium = await any_build.new_context(proxy=guard.proxy(any_build.closed_port))
    try:
        page = await context.new_page()
        await page.goto(f"{site.url}/blank.html")
        await page.evaluate(f"(port) => ({CALL})(window.RTCPeerConnection, port)", udp.port)
    finally:
        await context.close()
        await any_build.release(chromium)
    assert udp.packets == []


REFUSED = [
    ("data", _data_url(_leak_page("UDP", ""))),
    ("javascript", "javascript:document.title='mine'"),
    ("blob", "blob:SITE/0b6fbc2c-8e4e-4e1f-9d41-6d1f4e0c1a11"),
    ("view-source", "view-source:SITE/blank.html"),
    ("file", "file:///etc/hostname"),
    ("chrome", "chrome://version"),
    ("about", "about:version"),
]


@pytest.mark.browser
@pytest.mark.parametrize(("scheme", "url"), REFUSED, ids=[scheme for scheme, _ in REFUSED])
async def test_goto_and_new_tab_open_web_pages_only(
    session: BrowserSession, site: Site, udp: UdpSink, scheme: str, url: str
):
    url = url.replace("UDP", str(udp.port)).replace("SITE", site.url)
    page = f"{site.url}/blank.html"
    await session.start(page)
    for action in (f"goto({json.dumps(url)})", f"new_tab({json.dumps(url)})"):
        obs = await session.step(action)
        assert obs.last_action_error.startswith(f"{scheme}: URLs cannot be opened")
        assert [tab.url for tab in obs.tabs] == [page] and obs.title == "Blank"
    assert udp.packets == []


@pytest.mark.browser
async def test_a_session_without_guard_refuses_them_too(browser_pool: BrowserPool, site: Site):
    session = await browser_pool.new_session()
    try:
        await session.start(f"{site.url}/blank.html")
        obs = await session.step(f"goto({json.dumps(_data_url('<h1>Mine</h1>'))})")
    finally:
        await session.close()
    assert obs.last_action_error.startswith("data: URLs cannot be opened")
    assert obs.title == "Blank"


@pytest.mark.browser
async def test_a_blank_tab_may_be_opened(session: BrowserSession, site: Site):
    await session.start(f"{site.url}/blank.html")
    obs = await session.step('new_tab("about:blank")')
    assert not obs.last_action_error and len(obs.tabs) == 2 and obs.url == "about:blank"
    obs = await session.step('goto("about:blank")')
    assert not obs.last_action_error and obs.url == "about:blank"


@pytest.mark.browser
async def test_a_pages_own_links_to_data_urls_stay_inside_the_guard(
    session: BrowserSession, site: Site, udp: UdpSink
):
    obs = await session.start(f"{site.url}/links.html?udp={udp.port}")
    blocked = list(obs.blocked_urls)
    # In a frame the data: page runs (an opaque origin, in the same guarded context) ...
    obs = await session.step(f'click("{element_id(obs, "link", "In the frame")}")')
    await _until(session, "done")
    blocked += obs.blocked_urls
    # ... as the page's own top-level document, in its tab or a new one, it is not opened.
    for link in ("Here", "In a new tab"):
        obs = await session.step(f'click("{element_id(obs, "link", link)}")')
        blocked += obs.blocked_urls
    blocked += (await session.observe()).blocked_urls
    assert not any(tab.url.startswith("data:") for tab in obs.tabs)
    assert udp.packets == []
    assert f"stun:127.0.0.1:{udp.port}" in blocked


@pytest.mark.browser
async def test_websockets_to_other_hosts_are_listed(session: BrowserSession, site: Site):
    obs = await session.start(f"{site.url}/socket.html")
    await _until(session, "2")
    blocked = obs.blocked_urls + (await session.observe()).blocked_urls
    away = f"ws://localhost:{urlsplit(site.url).port}"
    assert sorted(blocked) == [f"{away}/page", f"{away}/worker"]
