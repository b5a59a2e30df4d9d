"""Rollout envs on a ``webserv serve`` server, over its ``/v1`` HTTP API.

The same calls as :class:`webserv.client.RemoteWebEnv`, made asynchronously (one
``httpx.AsyncClient`` for every env of a run, so hundreds of envs step from one event loop)
and keeping the observation as the server sent it (the screenshot stays a PNG, which is
what the run records). A group is created with ``POST /v1/groups``: the server starts every
member's first episode from identical instances. Requests the server refused with 429/503
and Retry-After, and connections that could not be made, are retried until ``retry_for_s``;
nothing else is, so a step is never sent twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import httpx

from webserv.client import ENDED_CODES, RemoteEnvError
from webserv.rollout.envs import EnvStep, RolloutEnv
from webserv.tasks.config import TaskConfig
from webserv.wire import ObservationOut

#: How long the first contact waits for a server that does not answer yet.
START_WAIT_S = 10.0


def _observation(wire: dict[str, Any]) -> dict[str, Any]:
    return ObservationOut.model_validate(wire).to_observation().to_dict()


class _Api:
    """The server's HTTP API: JSON in and out, its errors as :class:`RemoteEnvError`."""

    def __init__(self, base_url: str, token: str | None, timeout_s: float, retry_for_s: float):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers=headers,
            timeout=timeout_s,
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
        )
        self.retry_for_s = retry_for_s

    async def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        retry_for_s: float | None = None,
    ) -> Any:
        deadline = time.monotonic() + (self.retry_for_s if retry_for_s is None else retry_for_s)
        pause = 0.2
        while True:
            try:
                response = await self.http.request(method, path, json=body)
            except httpx.ConnectError as err:  # nothing was sent: safe to try again
                if time.monotonic() + pause > deadline:
                    raise RemoteEnvError(
                        503, "unreachable", f"cannot connect to {self.http.base_url}: {err}"
                    ) from err
                await asyncio.sleep(pause)  # back off before connecting again
                pause = min(pause * 2, 5.0)
                continue
            if response.status_code < 400:
                return response.json()
            retry_after = response.headers.get("retry-after")
            if response.status_code in (429, 503) and retry_after is not None:
                wait = float(retry_after)
                if time.monotonic() + wait <= deadline:
                    await asyncio.sleep(wait)  # the server asked us to come back then
                    continue
            try:
                error = response.json()
                raise RemoteEnvError(response.status_code, error["error"], error["message"])
            except (ValueError, KeyError, TypeError):
                raise RemoteEnvError(
                    response.status_code, "http_error", response.text[:500]
                ) from None

    async def close(self) -> None:
        await self.http.aclose()


class RemoteEnv:
    """One env on the server; created by its first reset (or already, as a group member)."""

    def __init__(
        self,
        api: _Api,
        create_body: dict[str, Any],
        env_id: str | None = None,
        first: tuple[dict[str, Any], dict[str, Any]] | None = None,
    ) -> None:
        self.api, self.create_body, self.env_id = api, create_body, env_id
        self._first = first  # a group member's first episode, started by the server

    async def reset(self, task: TaskConfig) -> tuple[dict[str, Any], dict[str, Any]]:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        body: dict[str, Any] = {"task": task.task_id}
        if self.env_id is None:
            data = await self.api.call("POST", "/v1/envs", {**body, **self.create_body})
            self.env_id = data["env_id"]
        else:
            data = await self.api.call("POST", f"/v1/envs/{self.env_id}/reset", body)
        return _observation(data["observation"]), data["info"]

    async def step(self, action: str) -> EnvStep:
        if self.env_id is None:
            raise RemoteEnvError(409, "episode_over", "no episode is running; call reset() first")
        data = await self.api.call("POST", f"/v1/envs/{self.env_id}/step", {"action": action})
        return EnvStep(
            _observation(data["observation"]),
            float(data["reward"]),
            bool(data["terminated"]),
            bool(data["truncated"]),
            data["info"],
        )

    async def close(self) -> None:
        env_id, self.env_id = self.env_id, None
        if env_id is None:
            return
        try:
            await self.api.call("DELETE", f"/v1/envs/{env_id}")
        except RemoteEnvError as err:
            if err.code not in ENDED_CODES:
                raise


class RemoteFleet:
    """Envs on a webserv server, on ``site`` with tasks of ``suite`` (sent by id, so the
    server must offer the same suite; default: the site's first). ``screenshots`` are the
    env options saying which screenshots each step takes (default: a PNG each)."""

    def __init__(
        self,
        base_url: str,
        *,
        site: str,
        suite: str | None = None,
        token: str | None = None,
        max_steps: int = 30,
        screenshots: Mapping[str, Any] | None = None,
        timeout_s: float = 180.0,
        retry_for_s: float = 120.0,
    ) -> None:
        self.target = base_url
        # What every create call carries: where the env runs and how it behaves.
        self.create_body: dict[str, Any] = {
            "site": site,
            "suite": suite,
            "options": {"max_steps": max_steps, **(screenshots or {"screenshot": True})},
        }
        self._settings = (base_url, token, timeout_s, retry_for_s)
        self._api: _Api | None = None

    async def start(self) -> None:
        self._api = _Api(*self._settings)
        # A server that is not up within seconds is most likely a wrong URL: say so early.
        await self._api.call("GET", "/healthz", retry_for_s=min(self._settings[3], START_WAIT_S))

    async def close(self) -> None:
        if self._api is not None:
            await self._api.close()
            self._api = None

    def _started(self) -> _Api:
        if self._api is None:
            raise RuntimeError("the fleet is not started")
        return self._api

    def env(self) -> RolloutEnv:
        return RemoteEnv(self._started(), self.create_body)

    async def group(self, task: TaskConfig, n: int) -> list[RolloutEnv]:
        """``n`` envs whose first episodes of ``task`` the server started identically."""
        api = self._started()
        body = {"task": task.task_id, **self.create_body, "n": n}
        data = await api.call("POST", "/v1/groups", body)
        return [
            RemoteEnv(
                api,
                self.create_body,
                env_id=member["env_id"],
                first=(_observation(member["observation"]), member["info"]),
            )
            for member in data["envs"]
        ]
