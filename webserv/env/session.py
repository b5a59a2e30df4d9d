"""EnvSession: the async core of one environment, joining a lease, a browser and a task.

``reset(task)`` leases a fresh instance of each site the task names (the previous ones are
recycled in the background), logs in the accounts the task needs, opens the task's start
tabs and returns the first observation. ``step(action)`` acts, waits for the page to
settle and, when the episode ends (``stop(...)`` or ``max_steps``), evaluates the task on
pages of its own. The Gymnasium env and the HTTP server both drive this class.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from webserv.browser.actions import ActionError
from webserv.browser.observation import Observation
from webserv.browser.session import BrowserSession, SessionConfig
from webserv.env.login import Credentials, log_in
from webserv.env.reader import BrowserPageReader
from webserv.env.runtime import EnvRuntime, TaskSites
from webserv.env.warm import PreparedStart, StartPlan, fits
from webserv.pool.manager import Lease, UnknownLease
from webserv.tasks.config import TaskConfig
from webserv.tasks.evaluators import EpisodeOutcome, EvalResult, Judge, NotEvaluable, evaluate
from webserv.tasks.verified import evaluate_verified


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


class Session(Protocol):
    """What drives one env, episode by episode: :class:`EnvSession` on live sites, or a
    replay of recorded sessions (:mod:`webserv.behaviour.replay_env`). The rollout runner's
    in-process envs and the HTTP server hold either."""

    @property
    def task(self) -> TaskConfig | None: ...

    @property
    def steps(self) -> int: ...

    @property
    def done(self) -> bool: ...

    @property
    def leases(self) -> Mapping[str, Lease]: ...

    @property
    def instance_url(self) -> str | None: ...

    async def reset(
        self, task: TaskConfig, leases: Mapping[str, Lease] | None = None
    ) -> tuple[Observation, dict[str, Any]]: ...

    async def step(self, action: str | dict[str, Any]) -> StepResult: ...

    async def observe(self, screenshot: bool | None = None) -> Observation: ...

    async def close(self) -> None: ...


def base_urls(task_sites: TaskSites, leases: Mapping[str, Lease]) -> dict[str, str]:
    """For each task site name a leased instance answers, its base URL (the placeholder's
    value): the instance's URL plus the alias path (``/admin`` for ``shopping_admin``)."""
    return {
        name: leases[site].url.rstrip("/") + alias.path
        for name, (site, alias) in task_sites.items()
        if site in leases
    }


def role_for_url(
    url: str, task_sites: TaskSites, leases: Mapping[str, Lease]
) -> tuple[str, str] | None:
    """The (site, login role) of the task site name whose base URL is the longest prefix of
    ``url``; None when no leased site with a role serves it."""
    best: tuple[int, tuple[str, str]] | None = None
    for name, base in base_urls(task_sites, leases).items():
        site, alias = task_sites[name]
        if alias.role is None:
            continue
        if url == base or url.startswith(base.rstrip("/") + "/"):
            if best is None or len(base) > best[0]:
                best = (len(base), (site, alias.role))
    return best[1] if best else None


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 1)


class EnvSession:
    """One environment: at most one episode at a time, each on fresh instances."""

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
        self._leases: dict[str, Lease] = {}
        self._browser: BrowserSession | None = None
        self._har_dir: Path | None = None
        self._credentials: dict[tuple[str, str], Credentials] = {}

    @property
    def leases(self) -> dict[str, Lease]:
        """The episode's leases, by served site."""
        return dict(self._leases)

    @property
    def instance_url(self) -> str | None:
        """The URL of the episode's (first) instance."""
        return next(iter(self._leases.values())).url if self._leases else None

    def base_urls(self) -> dict[str, str]:
        """Placeholder values: every task site name the leased instances answer."""
        return base_urls(self.runtime.task_sites, self._leases)

    def _roles(self, task_sites: list[str]) -> set[tuple[str, str]]:
        """(served site, role) of each task site name that has a login role."""
        roles = set()
        for name in task_sites:
            site, alias = self.runtime.resolve(name)
            if alias.role is not None:
                roles.add((site.name, alias.role))
        return roles

    async def _login(self, roles: set[tuple[str, str]]) -> Credentials:
        """Credentials for ``roles`` on the current instances (each login done once)."""
        wanted = sorted(key for key in roles if key not in self._credentials)
        logins = []
        for site_name, role in wanted:
            spec = self.runtime.sites[site_name].spec
            by_role = {login.role: login for login in spec.logins}
            if role not in by_role:
                raise KeyError(f"site {spec.name} documents no account for role {role!r}")
            logins.append(log_in(self.runtime.http, self._leases[site_name].url, by_role[role]))
        got = await asyncio.gather(*logins)
        self._credentials.update(zip(wanted, got, strict=True))
        return Credentials.merge(self._credentials[key] for key in sorted(roles))

    async def reset(
        self, task: TaskConfig, leases: Mapping[str, Lease] | None = None
    ) -> tuple[Observation, dict[str, Any]]:
        """Start an episode of ``task`` (unresolved, with placeholders) on fresh instances,
        one per distinct site the task names: those of ``leases`` where given (the caller
        acquired them, e.g. for a group), new ones for the rest."""
        started = time.perf_counter()
        await self._end_episode()
        await self._lease(task, leases or {})
        acquired_ms = _ms(started)
        resolved = task.resolve(self.base_urls())
        roles = self._roles(task.sites) if task.require_login else set()
        browser_config = self._episode_config(task)
        first, *others = resolved.start_urls
        prepared = await self._take_prepared(task, roles, first, browser_config)
        if prepared is not None:
            browser = self._browser = prepared.browser
            browser.goal, browser.config = task.intent, browser_config
            site = next(iter(self._leases))
            self._credentials.update({(site, r): c for r, c in prepared.credentials.items()})
        else:
            browser = await self._open_browser(roles, task.intent, browser_config)
        ready_ms = _ms(started)
        if prepared is not None and prepared.url == first:
            obs = await browser.observe()  # the page loaded and settled in standby
        else:
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
            "instance_url": self.instance_url,
            "lease": next(iter(self._leases.values())).id,
            "instances": {site: lease.url for site, lease in self._leases.items()},
            "isolated": all(self.runtime.isolated(site) for site in self._leases),
            "settle_ms": obs.settle_ms,
            "settled": obs.settled,
            "pending": obs.pending,
            "warm_start": prepared is not None,
            "timings": {
                "acquire_ms": acquired_ms,
                "login_and_browser_ms": round(ready_ms - acquired_ms, 1),
                "reset_ms": _ms(started),
            },
        }
        return obs, info

    async def _lease(self, task: TaskConfig, given: Mapping[str, Lease]) -> None:
        """Hold an instance of every site ``task`` names: those ``given``, new ones for the
        rest; on a failure, release them all and raise it."""
        sites = self.runtime.sites_of(task.sites)
        stray = set(given) - set(sites)
        if stray:
            raise ValueError(f"task {task.task_id} does not use sites {sorted(stray)}")
        self._leases = dict(given)
        acquired = await asyncio.gather(
            *(self.runtime.acquire(site) for site in sites if site not in given),
            return_exceptions=True,
        )
        # What was leased is the episode's, so that a failure releases it rather than leaks it.
        self._leases.update({a.instance.site: a for a in acquired if isinstance(a, Lease)})
        failed = [a for a in acquired if isinstance(a, BaseException)]
        if failed:
            await self._end_episode()
            raise failed[0]
        self._leases = {site: self._leases[site] for site in sites}

    def _episode_config(self, task: TaskConfig) -> SessionConfig:
        """The browser's config for an episode of ``task``: the env's, recording the
        network trace where the task is scored on it."""
        if "verified" not in task.eval.eval_types:
            return self.browser_config
        self._har_dir = Path(tempfile.mkdtemp(prefix="webserv-har-"))
        return self.browser_config.model_copy(update={"har_path": self._har_dir / "episode.har"})

    async def _take_prepared(
        self, task: TaskConfig, roles: set[tuple[str, str]], first: str, config: SessionConfig
    ) -> PreparedStart | None:
        """The start the runtime prepared for the episode's instance, if the episode can
        begin there: one pooled site, the same logins, a context made as this env's would
        be, and a browser whose traffic need not be recorded from its first request."""
        warmer = self.runtime.warmer
        if warmer is None or len(self._leases) != 1 or "verified" in task.eval.eval_types:
            return None
        if not fits(warmer.config, config):
            return None
        instance = next(iter(self._leases.values())).instance
        base = instance.url.rstrip("/")
        if first != base and not first.startswith(base + "/"):
            return None
        plan = StartPlan(tuple(sorted(role for _, role in roles)), first.removeprefix(base))
        return await warmer.take(instance, plan)

    async def _open_browser(
        self, roles: set[tuple[str, str]], goal: str, config: SessionConfig
    ) -> BrowserSession:
        """A new browser context logged in as ``roles`` (the logins run meanwhile)."""
        hosts = [urlsplit(lease.url).netloc for lease in self._leases.values()]
        credentials, browser = await asyncio.gather(
            self._login(roles),
            self.runtime.browsers.new_session(allowed_hosts=hosts, goal=goal, config=config),
            return_exceptions=True,
        )
        if isinstance(browser, BrowserSession):
            self._browser = browser  # closed with the leases by the next reset or close
        for outcome in (credentials, browser):
            if isinstance(outcome, BaseException):
                raise outcome
        assert isinstance(browser, BrowserSession) and isinstance(credentials, Credentials)
        await credentials.apply(browser)
        return browser

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
            "pending": obs.pending,
            "timings": {"step_ms": step_ms, **self._step_timings(obs)},
            "target": self._browser.last_target,
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

    def _step_timings(self, obs: Observation) -> dict[str, float]:
        """Where the step's time went in the browser (the session's ``StepTimings``); the
        screenshot's share only when the observation has one."""
        assert self._browser is not None
        timings = asdict(self._browser.timings)
        if obs.screenshot is None:
            del timings["screenshot_ms"], timings["screenshot_wait_ms"]
        return timings

    def _reader_roles(self, last_url: str) -> set[tuple[str, str]]:
        """The accounts the evaluator's pages need: those of the sites its URLs are on."""
        assert self.task is not None
        roles = set()
        for target in self.task.eval.program_html:
            url = last_url if target.url == "last" else target.url
            found = role_for_url(url, self.runtime.task_sites, self._leases)
            if found is not None:
                roles.add(found)
        return roles

    def _renew(self) -> None:
        try:
            for lease in self._leases.values():
                self.runtime.renew(lease)
        except UnknownLease as err:
            self.done = True
            raise EpisodeOver(f"the episode's instance was reclaimed: {err}") from err

    async def evaluate(self, obs: Observation) -> EvalResult:
        """Score the episode so far: the answer given with stop() and the state of the site."""
        assert self.task is not None
        if "verified" in self.task.eval.eval_types:
            return await self._evaluate_verified(obs)
        outcome = EpisodeOutcome(answer=obs.answer, last_url=obs.url)
        reader = None
        if "program_html" in self.task.eval.eval_types:
            agent_page = None
            if self._browser is not None:
                with contextlib.suppress(ActionError):  # every tab was closed
                    agent_page = self._browser.page
            reader = BrowserPageReader(
                self.runtime.browsers, await self._login(self._reader_roles(obs.url)), agent_page
            )
        helpers = self._evaluator_helpers()
        try:
            return await evaluate(
                self.task, outcome, reader=reader, judge=self.judge, helpers=helpers
            )
        except ValueError as err:
            return EvalResult(score=None, checks=[f"not evaluable: {err}"])
        finally:
            if reader is not None:
                await reader.close()

    async def observe(self, screenshot: bool | None = None) -> Observation:
        """The current page again (with a screenshot if asked), without acting."""
        if self._browser is None:
            raise EpisodeOver("no episode is running; call reset() first")
        return await self._browser.observe(screenshot=screenshot)

    async def _evaluate_verified(self, obs: Observation) -> EvalResult:
        """WebArena-Verified's rules: the answer and the episode's HAR, which the browser
        writes as its context closes (the episode is over)."""
        assert self.task is not None and self._har_dir is not None
        browser, self._browser = self._browser, None
        if browser is not None:
            await browser.close()
        har = self._har_dir / "episode.har"
        try:
            return await asyncio.to_thread(
                evaluate_verified, self.task, obs.answer, har, self.base_urls()
            )
        except NotEvaluable as err:
            return EvalResult(score=None, checks=[f"not evaluable: {err}"])

    def _evaluator_helpers(self) -> dict[str, Any]:
        """The ``func:`` helpers of the sites the episode runs on."""
        helpers: dict[str, Any] = {}
        for site, lease in self._leases.items():
            site_helpers = self.runtime.sites[site].evaluator_helpers(lease.url, self.runtime.http)
            helpers.update(site_helpers)
        return helpers

    async def _end_episode(self) -> None:
        browser, leases = self._browser, list(self._leases.values())
        self._browser, self._leases, self._credentials = None, {}, {}
        if self._har_dir is not None:
            shutil.rmtree(self._har_dir, ignore_errors=True)
            self._har_dir = None
        self.done, self.task = True, None
        if browser is not None:
            await browser.close()
        for lease in leases:
            with contextlib.suppress(UnknownLease):  # already reclaimed by the reaper
                await self.runtime.release(lease)

    async def park(self) -> None:
        """Let go of the episode's pages while it waits (see ``BrowserSession.park``); the
        next step reopens them. Nothing to do between episodes."""
        if self._browser is not None:
            await self._browser.park()

    async def close(self) -> None:
        """End the episode: close the browser context, hand the instance back for recycling."""
        await self._end_episode()
