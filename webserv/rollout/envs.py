"""The small async env interface the rollout runner drives, and its in-process implementation.

A :class:`RolloutEnv` is one environment: ``reset(task)`` starts an episode and returns the
first observation as a dict, ``step(action)`` returns an :class:`EnvStep`, ``close()`` hands
the instance back. An :class:`EnvFleet` makes them: ``env()`` one at a time, ``group(n)``
``n`` envs whose next reset starts from the identical state (a GRPO group).
:class:`InProcessFleet` runs them on this event loop over an :class:`EnvRuntime`; the
remote fleet (:mod:`webserv.rollout.remote`) does the same over HTTP.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Protocol

from webserv.browser.session import SessionConfig
from webserv.env.runtime import EnvRuntime, RuntimeConfig
from webserv.env.session import EnvSession, Session
from webserv.pool.manager import Lease, UnknownLease
from webserv.tasks.config import TaskConfig


@dataclass
class EnvStep:
    """What one step returned, in Gymnasium's order, with the observation as a dict."""

    observation: dict[str, Any]
    reward: float
    terminated: bool
    truncated: bool
    info: dict[str, Any] = field(default_factory=dict)


class RolloutEnv(Protocol):
    """One environment, driven one episode at a time."""

    async def reset(self, task: TaskConfig) -> tuple[dict[str, Any], dict[str, Any]]: ...

    async def step(self, action: str) -> EnvStep: ...

    async def close(self) -> None: ...


class EnvFleet(Protocol):
    """Where rollout envs come from."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def env(self) -> RolloutEnv: ...

    async def group(self, task: TaskConfig, n: int) -> list[RolloutEnv]: ...


class SessionEnv:
    """A :class:`Session` (a live :class:`EnvSession`, or a replay) seen through the rollout
    interface."""

    def __init__(self, session: Session) -> None:
        self.session = session

    async def reset(self, task: TaskConfig) -> tuple[dict[str, Any], dict[str, Any]]:
        obs, info = await self.session.reset(task)
        return obs.to_dict(), info

    async def step(self, action: str) -> EnvStep:
        result = await self.session.step(action)
        return EnvStep(
            result.observation.to_dict(),
            result.reward,
            result.terminated,
            result.truncated,
            result.info,
        )

    async def close(self) -> None:
        await self.session.close()


class _LeasedEnv(SessionEnv):
    """A member of a group: its first reset uses the leases taken with the group."""

    def __init__(self, session: EnvSession, leases: dict[str, Lease]) -> None:
        super().__init__(session)
        self._runtime = session.runtime
        self._leases = leases

    async def reset(self, task: TaskConfig) -> tuple[dict[str, Any], dict[str, Any]]:
        leases, self._leases = self._leases, {}
        obs, info = await self.session.reset(task, leases=leases)
        return obs.to_dict(), info

    async def close(self) -> None:
        await super().close()
        leases, self._leases = self._leases, {}
        for lease in leases.values():  # no reset took them; hand them back
            with contextlib.suppress(UnknownLease):
                await self._runtime.release(lease)


class InProcessFleet:
    """Envs on this event loop, sharing one :class:`EnvRuntime` (pool and browser)."""

    def __init__(
        self,
        runtime_config: RuntimeConfig,
        *,
        max_steps: int,
        browser_config: SessionConfig | None = None,
        runtime: EnvRuntime | None = None,
    ) -> None:
        self.runtime_config = runtime_config
        self.max_steps = max_steps
        self.browser_config = browser_config or SessionConfig()
        self.runtime = runtime
        self._owned = runtime is None

    async def start(self) -> None:
        if self.runtime is None:
            self.runtime = await EnvRuntime(self.runtime_config).start()

    async def close(self) -> None:
        if self._owned and self.runtime is not None:
            await self.runtime.close()
            self.runtime = None

    def _session(self, runtime: EnvRuntime) -> EnvSession:
        return EnvSession(runtime, max_steps=self.max_steps, browser_config=self.browser_config)

    def env(self) -> RolloutEnv:
        if self.runtime is None:
            raise RuntimeError("the fleet is not started")
        return SessionEnv(self._session(self.runtime))

    async def group(self, task: TaskConfig, n: int) -> list[RolloutEnv]:
        """``n`` envs on instances leased together from the same golden state (of every
        site the task names)."""
        if self.runtime is None:
            raise RuntimeError("the fleet is not started")
        sets = await self.runtime.acquire_sets(self.runtime.sites_of(task.sites), n)
        return [_LeasedEnv(self._session(self.runtime), leases) for leases in sets]
