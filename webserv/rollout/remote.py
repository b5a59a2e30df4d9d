"""Rollout envs on a ``webserv serve`` server, over its ``/v1`` HTTP API.

The same calls as :class:`webserv.client.RemoteWebEnv`, made asynchronously (one
``httpx.AsyncClient`` for every env of a run, so hundreds of envs step from one event loop)
and keeping the observation as the server sent it (the screenshot stays a PNG, which is
what the run records). A group is created with ``POST /v1/groups``: the server starts every
member's first episode from identical instances. Retries follow the synchronous client's
rules (:func:`webserv.client.retry_rules`): a request is sent again only when that cannot
act twice, so a step is never sent twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from tenacity import AsyncRetrying

from webserv.client import ENDED_CODES, RemoteEnvError, answer_error, attempt_failure, retry_rules
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
        """The JSON answer of one request, retried as :func:`webserv.client.retry_rules` say."""
        wait = self.retry_for_s if retry_for_s is None else retry_for_s
        return await AsyncRetrying(**retry_rules(wait))(self._attempt, method, path, body)

    async def _attempt(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        try:
            response = await self.http.request(method, path, json=body)
        except httpx.HTTPError as err:
            where = f"{self.http.base_url}{path}"
            raise attempt_failure(err, method in ("GET", "DELETE"), where) from err
        if response.status_code >= 400:
            raise answer_error(response)
        return response.json()

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
