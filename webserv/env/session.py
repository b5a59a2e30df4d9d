"""EnvSession: the async core of one environment, joining a lease, a browser and a task.

``reset(task)`` leases a fresh shop instance (the previous one is recycled in the
background), logs in the accounts the task needs with one HTTP post each, opens the task's
start tabs and returns the first observation. ``step(action)`` acts, waits for the page to
settle and, when the episode ends (``stop(...)`` or ``max_steps``), evaluates the task on
pages of its own. The Gymnasium env and the HTTP server both drive this class.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from webserv.browser.observation import Observation
from webserv.browser.session import BrowserSession, SessionConfig
from webserv.env.bindings import base_urls, binding, pool_site_of, role_for_url
from webserv.env.login import login_cookies
from webserv.env.reader import BrowserPageReader
from webserv.env.runtime import EnvRuntime
from webserv.pool.manager import Lease, UnknownLease
from webserv.tasks.config import TaskConfig
from webserv.tasks.evaluators import EpisodeOutcome, Evaluation, Judge, evaluate


class EpisodeOver(RuntimeError):
    """``step`` was called with no episode running (before ``reset`` or after its end)."""


@dataclass
class StepResult:
    """What one step returns, in Gymnasium's order."""

    observation: Observation
    reward: float
    terminated: bool
    truncated: bool
    info: dict[str, Any] = field(default_factory=dict)


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 1)


class EnvSession:
    """One environment: at most one episode at a time, each on a fresh instance."""

    def __init__(
        self,
        runtime: EnvRuntime,
        *,
        max_steps: int = 30,
        browser_config: SessionConfig | None = None,
        judge: Judge | None = None,
    ) -> None:
        if max_steps < 1:
            raise ValueError("max_steps must be at least 1")
        self.runtime = runtime
        self.max_steps = max_steps
        self.browser_config = browser_config or SessionConfig()
        self.judge = judge
        self.task: TaskConfig | None = None
        self.steps = 0
        self.done = True
        self._lease: Lease | None = None
        self._browser: BrowserSession | None = None
        self._cookies: dict[str, list[dict[str, Any]]] = {}

    @property
    def instance_url(self) -> str | None:
        return self._lease.url if self._lease is not None else None

    async def _login(self, roles: set[str]) -> list[dict[str, Any]]:
        """Session cookies for ``roles`` on the current instance (each posted once)."""
        assert self._lease is not None
        spec = self.runtime.site_spec(self._lease.instance.site)
        wanted = [r for r in sorted(roles) if r not in self._cookies]
        logins = {login.role: login for login in spec.logins}
        missing = [r for r in wanted if r not in logins]
        if missing:
            raise KeyError(f"site {spec.name} documents no account for roles {missing}")
        got = await asyncio.gather(
            *(login_cookies(self.runtime.http, self._lease.url, logins[r]) for r in wanted)
        )
        self._cookies.update(zip(wanted, got, strict=True))
        return [cookie for role in sorted(roles) for cookie in self._cookies[role]]

    async def reset(
        self, task: TaskConfig, lease: Lease | None = None
    ) -> tuple[Observation, dict[str, Any]]:
        """Start an episode of ``task`` (unresolved, with placeholders) on a fresh instance:
        ``lease`` if given (one the caller acquired, e.g. one of a group), else a new one."""
        started = time.perf_counter()
        pool = self.runtime.pool
        if pool is None:
            raise RuntimeError("the runtime is not started")
        await self._end_episode()
        pool_site = pool_site_of(task.sites)
        if lease is not None and lease.instance.site != pool_site:
            raise ValueError(f"lease {lease.id} is on {lease.instance.site}, not {pool_site}")
        self._lease = lease or await pool.acquire(pool_site)
        acquired_ms = _ms(started)
        resolved = task.resolve(base_urls(self._lease.url))
        roles = {binding(site).role for site in task.sites} if task.require_login else set()
        host = urlsplit(self._lease.url).netloc
        cookies, browser = await asyncio.gather(
            self._login(roles),
            self.runtime.browsers.new_session(
                allowed_hosts=[host], goal=task.intent, config=self.browser_config
            ),
            return_exceptions=True,
        )
        if isinstance(browser, BrowserSession):
            self._browser = browser  # closed with the lease by the next reset or close
        for outcome in (cookies, browser):
            if isinstance(outcome, BaseException):
                raise outcome
        assert isinstance(browser, BrowserSession) and isinstance(cookies, list)
        if cookies:
            await browser.add_cookies(cookies)
        ready_ms = _ms(started)
        first, *others = resolved.start_urls
        obs = await browser.start(first)
        if others:
            for url in others:
                await browser.open_tab(url)
            await browser.switch_tab(0)
            obs = await browser.observe()
        self.task, self.steps, self.done = resolved, 0, False
        info = {
            "task_id": task.task_id,
            "intent": task.intent,
            "instance_url": self._lease.url,
            "lease": self._lease.id,
            "settle_ms": obs.settle_ms,
            "settled": obs.settled,
            "timings": {
                "acquire_ms": acquired_ms,
                "login_and_browser_ms": round(ready_ms - acquired_ms, 1),
                "reset_ms": _ms(started),
            },
        }
        return obs, info

    async def step(self, action: str | dict[str, Any]) -> StepResult:
        """Carry out ``action``; a bad action is reported in the observation, not raised."""
        if self.done or self._browser is None or self.task is None:
            raise EpisodeOver("no episode is running; call reset() first")
        started = time.perf_counter()
        self.steps += 1
        self._renew()
        obs = await self._browser.step(action)
        step_ms = _ms(started)
        terminated = self._browser.answer is not None
        truncated = not terminated and self.steps >= self.max_steps
        reward = 0.0
        info: dict[str, Any] = {
            "task_id": self.task.task_id,
            "step": self.steps,
            "last_action_error": obs.last_action_error,
            "settle_ms": obs.settle_ms,
            "settled": obs.settled,
            "timings": {"step_ms": step_ms},
        }
        if terminated or truncated:
            self.done = True
            evaluated = time.perf_counter()
            result = await self.evaluate(obs)
            reward = result.score or 0.0
            info["evaluation"] = {
                "score": result.score,
                "evaluable": result.evaluable,
                "checks": result.checks,
            }
            info["timings"]["eval_ms"] = _ms(evaluated)
        return StepResult(obs, reward, terminated, truncated, info)

    def _reader_roles(self, last_url: str) -> set[str]:
        """The accounts the evaluator's pages need: those of the sites its URLs are on."""
        assert self.task is not None and self._lease is not None
        roles = set()
        for target in self.task.eval.program_html:
            url = last_url if target.url == "last" else target.url
            role = role_for_url(url, self._lease.url)
            if role is not None:
                roles.add(role)
        return roles

    def _renew(self) -> None:
        pool, lease = self.runtime.pool, self._lease
        if pool is None or lease is None:
            return
        try:
            pool.renew(lease.id)
        except UnknownLease as err:
            self.done = True
            raise EpisodeOver(f"the episode's instance was reclaimed: {err}") from err

    async def evaluate(self, obs: Observation) -> Evaluation:
        """Score the episode so far: the answer given with stop() and the state of the site."""
        assert self.task is not None and self._lease is not None
        outcome = EpisodeOutcome(answer=obs.answer, last_url=obs.url)
        reader = None
        if "program_html" in self.task.eval.eval_types:
            reader = BrowserPageReader(
                self.runtime.browsers, await self._login(self._reader_roles(obs.url))
            )
        try:
            return await evaluate(self.task, outcome, reader=reader, judge=self.judge)
        except ValueError as err:
            return Evaluation(score=None, checks=[f"not evaluable: {err}"])
        finally:
            if reader is not None:
                await reader.close()

    async def observe(self, screenshot: bool | None = None) -> Observation:
        """The current page again (with a screenshot if asked), without acting."""
        if self._browser is None:
            raise EpisodeOver("no episode is running; call reset() first")
        return await self._browser.observe(screenshot=screenshot)

    async def _end_episode(self) -> None:
        browser, lease = self._browser, self._lease
        self._browser, self._lease, self._cookies = None, None, {}
        self.done, self.task = True, None
        if browser is not None:
            await browser.close()
        if lease is not None and self.runtime.pool is not None:
            with contextlib.suppress(UnknownLease):  # already reclaimed by the reaper
                await self.runtime.pool.release(lease.id)

    async def close(self) -> None:
        """End the episode: close the browser context, hand the instance back for recycling."""
        await self._end_episode()
