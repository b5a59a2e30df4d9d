"""Where the pages of ``webserv bench observe`` come from, and logged-in browsers on them.

Two kinds of corpus site: the real apps (WordPress, Redmine), one instance each on the
docker backend through an :class:`EnvRuntime` whose snapshot store lives in this run's own
directory, logged in per role over HTTP as an env's reset does; and the HTML documentation
a Debian package ships (``python3-doc``), served read-only from a thread on 127.0.0.1.
Everything started here is stopped when the context exits.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from webserv.browser.session import BrowserPool, BrowserSession, SessionConfig
from webserv.env.login import Credentials, log_in

#: Sites served from a directory of static HTML, and the directory.
DOC_SITES = {"python-doc": Path("/usr/share/doc/python3/html")}
#: Sites run as instances of a registered site plugin on the docker backend.
APP_SITES = ("wordpress", "redmine")
OWNER = "bench-observe"


@dataclass
class Target:
    """One corpus site as the benchmark reaches it: its base URL and a login per role."""

    site: str
    base: str
    credentials: dict[str, Credentials] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return urlsplit(self.base).netloc

    async def session(self, browsers: BrowserPool, role: str | None) -> BrowserSession:
        """A browser session at the default config, logged in as ``role`` (None: anonymous)."""
        session = await browsers.new_session(allowed_hosts=[self.host], config=SessionConfig())
        if role is not None:
            if role not in self.credentials:
                raise KeyError(f"{self.site} has no login for role {role!r}")
            await self.credentials[role].apply(session)
        return session


def doc_root(site: str) -> Path | None:
    """The directory a documentation site is served from, or None if its package is missing."""
    root = DOC_SITES[site].resolve()
    return root if (root / "index.html").is_file() else None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per request on stderr would bury the benchmark's own output


@contextlib.contextmanager
def serve_directory(root: Path) -> Iterator[str]:
    """Serve ``root`` on a free port of 127.0.0.1 from a thread; yield the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="observe-docs", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@contextlib.asynccontextmanager
async def app_targets(sites: list[str]) -> AsyncIterator[tuple[BrowserPool, dict[str, Target]]]:
    """One instance of each app site on docker, logged in with every role it documents;
    yields the runtime's browser pool and the targets. Instances, clones and the run's
    snapshot store are removed on exit."""
    from benchmarks.pool_setup import run_root
    from webserv.env.config import RuntimeConfig, SiteConfig
    from webserv.env.runtime import EnvRuntime
    from webserv.pool.golden import seeded_source
    from webserv.pool.snapshot import SnapshotStore
    from webserv.sites import registry

    root = run_root(None) / "observe"
    configs = []
    for name in sites:
        site = registry.get(name)
        # Seeded once under the webserv home (in the site's image, minutes the first time).
        source = seeded_source(site, site.golden_params(None))
        configs.append(SiteConfig(name=name, backend="docker", standby=1, golden_source=source))
    config = RuntimeConfig(sites=configs, snapshot_root=root, owner=OWNER, max_instances=2)
    runtime = EnvRuntime(config)
    try:
        await runtime.start()
        targets = {}
        for name in sites:
            lease = await runtime.acquire(name)
            target = Target(name, lease.url.rstrip("/"))
            for login in runtime.sites[name].spec.logins:
                target.credentials[login.role] = await log_in(runtime.http, lease.url, login)
            targets[name] = target
        yield runtime.browsers, targets
    finally:
        await runtime.close()
        with contextlib.suppress(OSError):
            SnapshotStore(root).wipe()
        with contextlib.suppress(OSError):
            root.parent.rmdir()
            root.parent.parent.rmdir()  # the runs' directory, once no other run uses it


@contextlib.asynccontextmanager
async def targets(sites: list[str]) -> AsyncIterator[tuple[BrowserPool, dict[str, Target]]]:
    """Every requested corpus site, reachable and logged in; yields a browser pool too."""
    apps = [s for s in sites if s in APP_SITES]
    docs = [s for s in sites if s in DOC_SITES]
    unknown = set(sites) - set(apps) - set(docs)
    if unknown:
        raise ValueError(f"no corpus site {sorted(unknown)}; known: {[*APP_SITES, *DOC_SITES]}")
    with contextlib.ExitStack() as stack:
        found: dict[str, Target] = {}
        for name in docs:
            root = doc_root(name)
            if root is None:
                raise FileNotFoundError(
                    f"{DOC_SITES[name]} is missing: install the Debian package python3-doc "
                    "(scripts/setup.sh does)"
                )
            found[name] = Target(name, stack.enter_context(serve_directory(root)))
        if apps:
            async with app_targets(apps) as (browsers, started):
                yield browsers, {**found, **started}
        else:
            async with BrowserPool() as browsers:
                yield browsers, found
