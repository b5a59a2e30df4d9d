"""Warm starts: what an instance's next episode needs, prepared while it waits in standby.

A reset spends most of its time outside the pool: logging in, opening a browser context,
loading the first page and waiting for it to settle. The :class:`Warmer` does that ahead of
time for each standby instance, for the site's usual start (:class:`StartPlan`: the login
roles and the start page the envs of this runtime last began with, at first the site's first
alias with a login), so that the reset that leases the instance takes a context that is
logged in with its page settled. A prepared context belongs to its instance: it is handed to
the one lease of that instance or closed when the instance goes, never reused, so nothing of
one episode reaches the next. Every standby instance of a site is prepared the same way, so
a group leased from identical state also starts from identical browsers.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from webserv.browser.session import BrowserPool, BrowserSession, SessionConfig
from webserv.env.login import Credentials, log_in
from webserv.pool.backends.base import Instance

if TYPE_CHECKING:
    import httpx

    from webserv.pool.manager import PoolManager
    from webserv.sites.plugin import Site

log = logging.getLogger(__name__)

#: Session settings that shape the browser context itself: a prepared context serves a reset
#: only if they are the env's own (the others apply per observation and are set on hand-over).
CONTEXT_FIELDS = ("viewport_width", "viewport_height", "timer_horizon_ms", "har_path")


@dataclass(frozen=True)
class StartPlan:
    """How an episode on one instance begins: the roles logged in (sorted) and the start
    page, as a path below the instance's URL."""

    roles: tuple[str, ...]
    path: str


@dataclass
class PreparedStart:
    """A logged-in browser context on an instance's start page, settled."""

    plan: StartPlan
    url: str
    browser: BrowserSession
    credentials: dict[str, Credentials]


def first_plan(site: Site) -> StartPlan:
    """The start assumed until an env says otherwise: the site's first name with a login."""
    for alias in site.served_names().values():
        if alias.role is not None:
            return StartPlan((alias.role,), alias.path)
    return StartPlan((), "")


def fits(prepared: SessionConfig, wanted: SessionConfig) -> bool:
    """Whether a context made with ``prepared`` can serve an env configured with ``wanted``."""
    return all(getattr(prepared, name) == getattr(wanted, name) for name in CONTEXT_FIELDS)


class Warmer:
    """Prepares a start for each standby instance of the pools it watches (see the module)."""

    def __init__(
        self,
        sites: dict[str, Site],
        browsers: BrowserPool,
        http: httpx.AsyncClient,
        config: SessionConfig | None = None,
    ) -> None:
        self.sites = sites
        self.browsers = browsers
        self.http = http
        self.config = config or SessionConfig()
        self.plans = {name: first_plan(site) for name, site in sites.items()}
        self._pools: list[PoolManager] = []
        self._prepared: dict[str, asyncio.Task[PreparedStart]] = {}
        self._closing: set[asyncio.Task[None]] = set()

    def watch(self, pool: PoolManager) -> None:
        """Prepare the standby instances of ``pool`` from now on."""
        self._pools.append(pool)
        pool.watch(self)

    # -- StandbyWatcher --------------------------------------------------------------------

    def standby(self, instance: Instance) -> None:
        if instance.site not in self.sites or instance.id in self._prepared:
            return
        for pool in self._pools:
            if instance.site in pool.sites:
                pool.touched(instance.id)  # its logins are sessions in the instance's data
        plan = self.plans[instance.site]
        self._prepared[instance.id] = asyncio.ensure_future(self._prepare(instance, plan))

    def gone(self, instance: Instance) -> None:
        task = self._prepared.pop(instance.id, None)
        if task is not None:
            self._discard(task)

    # -- preparing and handing over --------------------------------------------------------

    async def _prepare(self, instance: Instance, plan: StartPlan) -> PreparedStart:
        site = self.sites[instance.site]
        by_role = {login.role: login for login in site.spec.logins}
        browser = await self.browsers.new_session(
            allowed_hosts=[urlsplit(instance.url).netloc], config=self.config
        )
        try:
            got = await asyncio.gather(
                *(log_in(self.http, instance.url, by_role[role]) for role in plan.roles)
            )
            credentials = dict(zip(plan.roles, got, strict=True))
            await Credentials.merge(got).apply(browser)
            url = instance.url.rstrip("/") + plan.path
            obs = await browser.start(url)
            if obs.last_action_error:
                raise RuntimeError(f"the start page failed: {obs.last_action_error}")
        except BaseException:
            await browser.close()
            raise
        return PreparedStart(plan, url, browser, credentials)

    async def take(self, instance: Instance, plan: StartPlan) -> PreparedStart | None:
        """The start prepared for ``instance`` (waiting for it if still being prepared) if it
        follows ``plan``; None otherwise, or if preparing failed. Either way the instance's
        preparation is used up, and ``plan`` is what its site's next instances get."""
        self.plans[instance.site] = plan
        task = self._prepared.pop(instance.id, None)
        if task is None:
            return None
        try:
            prepared = await asyncio.shield(task)
        except asyncio.CancelledError:
            self._discard(task)
            raise
        except Exception as err:  # the cold path logs in and reports errors on its own
            log.warning("preparing a start on %s failed: %s", instance.url, err)
            return None
        if prepared.plan.roles != plan.roles or not prepared.browser.alive:
            await prepared.browser.close()
            return None
        return prepared

    def _discard(self, task: asyncio.Task[PreparedStart]) -> None:
        closing = asyncio.ensure_future(_close_prepared(task))
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        """Close every prepared context (their instances are going with the runtime)."""
        for task in self._prepared.values():
            self._discard(task)
        self._prepared.clear()
        while self._closing:
            await asyncio.gather(*list(self._closing), return_exceptions=True)


async def _close_prepared(task: asyncio.Task[PreparedStart]) -> None:
    """Close a preparation's context, cancelling the preparation if it is still running (it
    then closes its context itself)."""
    task.cancel()
    await asyncio.wait([task])
    if not task.cancelled() and task.exception() is None:
        await task.result().browser.close()
