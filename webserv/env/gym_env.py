"""WebEnv: the Gymnasium env of a task suite, a sync face on :class:`EnvSession`.

Usage::

    import gymnasium
    import webserv.env  # registers webserv/Web-v0 and one id per registered site

    env = gymnasium.make("webserv/Shop-v0", max_steps=20)  # or site="shop:docker"
    obs, info = env.reset(seed=0, options={"task_id": 3})
    obs, reward, terminated, truncated, info = env.step('click("12")')
    env.close()

Every ``reset`` starts the episode on a fresh site instance. Observations and rewards carry
timings (``settle_ms``), so the env is registered as nondeterministic; the site state and
the task chosen for a seed are deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np

from webserv.browser.observation import Observation
from webserv.browser.session import SessionConfig
from webserv.env.config import RuntimeConfig, SiteConfig, runtime_for
from webserv.env.loop import LoopThread, acquire_runtime, release_runtime
from webserv.env.session import EnvSession
from webserv.env.spaces import action_space, image, observation_space, to_gym
from webserv.sites.registry import default_suite
from webserv.tasks.evaluators import Judge
from webserv.tasks.suite import load_suite


class WebEnv(gymnasium.Env[dict[str, Any], str]):
    """One environment over a task suite; actions are strings in the action grammar.

    Args:
        suite: a suite name, a suite directory or a WebArena task file; without it, the
            suite of ``site``.
        site: ``NAME``, ``NAME:BACKEND`` or ``NAME:url=BASE_URL`` (or a list of them): the
            sites that serve the tasks; without it, the suite's own sites on the process
            backend.
        task_ids: the tasks a seeded reset draws from (default: all of the suite's).
        max_steps: steps after which an episode is truncated.
        screenshot: add an RGB ``screenshot`` of the viewport to each observation.
        token_budget: cl100k tokens the page text is fitted into.
        render_mode: ``ansi`` (the page text) or ``rgb_array`` (a screenshot).
        runtime_config: the sites' backends, golden data and pools
            (:class:`~webserv.env.config.RuntimeConfig` or its dict).
        judge: the ``fuzzy_match`` judge of WebArena's evaluators (none: those checks are
            reported not evaluable).
    """

    # An instance attribute in Gymnasium's Env, read from the class as Gymnasium does.
    metadata: dict[str, Any] = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}  # noqa: RUF012

    def __init__(
        self,
        suite: str | Path | None = None,
        site: str | Sequence[str] | None = None,
        task_ids: Sequence[int | str] | None = None,
        max_steps: int = 30,
        screenshot: bool = False,
        token_budget: int = 2_000,
        render_mode: str | None = None,
        runtime_config: RuntimeConfig | dict[str, Any] | None = None,
        judge: Judge | None = None,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}")
        sites = [site] if isinstance(site, str) else list(site) if site is not None else None
        if suite is None:
            first = SiteConfig.parse(sites[0]).name if sites else _first_site(runtime_config)
            if first is None:
                raise ValueError("give a suite (name, directory or task file) or a site")
            suite = default_suite(first)
        self.suite = load_suite(suite)
        self.tasks = [self.suite.task(t) for t in task_ids] if task_ids else self.suite.tasks
        if not self.tasks:
            raise ValueError("no tasks to run")
        config = runtime_for(self.suite, sites, runtime_config, standby=1)
        self.render_mode = render_mode
        self.max_steps = max_steps
        self.screenshot = screenshot
        self.browser_config = SessionConfig(
            token_budget=token_budget,
            screenshot=screenshot,
            viewport_width=1280,
            viewport_height=720,
        )
        self.judge = judge
        self._config = config
        self._loop: LoopThread | None = None
        self._session: EnvSession | None = None
        self._last: Observation | None = None
        self.observation_space = observation_space(
            screenshot, self.browser_config.viewport_height, self.browser_config.viewport_width
        )
        self.action_space = action_space()

    # ---- Gymnasium API ---------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Start an episode on fresh site instances.

        Args:
            seed: seeds the task drawn when ``options`` names none.
            options: ``{"task_id": ID}`` picks the task.

        Returns:
            The first observation (url, title, tabs, text, goal, last_action,
            last_action_error, token_count, settle_ms; screenshot if asked) and the info
            (task_id, intent, instance_url, lease, settled, pending, warm_start, timings).
        """
        super().reset(seed=seed)
        options = options or {}
        if options.get("task_id") is not None:
            task = self.suite.task(options["task_id"])
        else:
            task = self.tasks[int(self.np_random.integers(len(self.tasks)))]
        loop, session = self._ensure()
        obs, info = loop.run(session.reset(task))
        self._last = obs
        return self._convert(obs), info

    def step(self, action: str) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        """Carry out one action and wait for the page to settle.

        Args:
            action: one call of the action grammar (``click("12")``, ``type("7", "shoes",
                submit=True)``, ``stop("answer")``, ...) or an OPeRA action object.

        Returns:
            The observation; the reward (the task's score when the episode ends, else 0);
            terminated (``stop`` was called); truncated (``max_steps`` reached); the info
            (step, last_action_error, settle_ms, settled, pending, target, timings, and at
            the end the evaluation). A bad action is reported in ``last_action_error``.
        """
        loop, session = self._ensure()
        result = loop.run(session.step(action))
        self._last = result.observation
        return (
            self._convert(result.observation),
            float(result.reward),
            result.terminated,
            result.truncated,
            result.info,
        )

    def render(self) -> str | np.ndarray | None:
        """``ansi``: the observation text; ``rgb_array``: a screenshot of the active tab."""
        if self.render_mode is None or self._session is None or self._last is None:
            return None
        if self.render_mode == "ansi":
            return self._last.text
        assert self._loop is not None
        obs = self._loop.run(self._session.observe(screenshot=True))
        return image(obs.screenshot)

    def close(self) -> None:
        """End the episode and give the instance back; stops the runtime if last to close."""
        session, self._session = self._session, None
        if session is not None and self._loop is not None:
            try:
                self._loop.run(session.close())
            finally:
                self._loop = None
                release_runtime(self._config)
        super().close()

    # ---- internals -------------------------------------------------------------------------

    def _ensure(self) -> tuple[LoopThread, EnvSession]:
        if self._session is None or self._loop is None:
            self._loop, runtime = acquire_runtime(self._config)
            self._session = EnvSession(
                runtime,
                max_steps=self.max_steps,
                browser_config=self.browser_config,
                judge=self.judge,
            )
        return self._loop, self._session

    def _convert(self, obs: Observation) -> dict[str, Any]:
        return to_gym(obs, self.screenshot)


def _first_site(config: RuntimeConfig | dict[str, Any] | None) -> str | None:
    """The first site a runtime config names, if it names any."""
    if isinstance(config, RuntimeConfig):
        return config.sites[0].name
    listed = (config or {}).get("sites") or []
    if not listed:
        return None
    first = listed[0]
    return first.name if isinstance(first, SiteConfig) else SiteConfig.model_validate(first).name
