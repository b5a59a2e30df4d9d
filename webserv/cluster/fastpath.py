"""The fast path: a trainer inside the Ray cluster calls the node agents directly (no HTTP,
no router), through the same Gymnasium API as :class:`webserv.client.RemoteWebEnv`.

Usage (in a Ray driver or task of the cluster)::

    from webserv.cluster.fastpath import ClusterWebEnv

    env = ClusterWebEnv(site="shop")
    obs, info = env.reset(options={"task_id": 3})
    obs, reward, terminated, truncated, info = env.step('click("12")')
    env.close()

Creates go where the router would send them (the node with the most room for the site);
every later call goes to the env's node. An env whose node died raises
:class:`RemoteEnvError` ``410 env_lost``; the next ``reset`` creates a new env elsewhere.
"""

from __future__ import annotations

import time
from typing import Any

from webserv.client import RemoteEnvError, RemoteWebEnv
from webserv.cluster import nodes
from webserv.server import errors
from webserv.wire import ResetOut, StepOut

#: How long a node may take to say how much room it has.
ROOM_TIMEOUT_S = 2.0


class ActorCalls:
    """The calls of a :class:`ClusterWebEnv`, as node agents' methods."""

    def __init__(self, client_id: str, retry_for_s: float) -> None:
        self.client_id = client_id
        self.retry_for_s = retry_for_s
        self._nodes: dict[str, nodes.Node] = {}
        self._handles: dict[str, Any] = {}

    def create(self, body: dict[str, Any]) -> ResetOut:
        """On the node with the most room for the site; when every node is full, asked again
        after the Retry-After a node gives, for up to ``retry_for_s``."""
        deadline = time.monotonic() + self.retry_for_s
        while True:
            try:
                return self._create(body)
            except RemoteEnvError as err:
                wait = err.retry_after_s
                if wait is None or time.monotonic() + wait > deadline:
                    raise
                time.sleep(wait)

    def _create(self, body: dict[str, Any]) -> ResetOut:
        import ray

        self._nodes = nodes.read_nodes()
        alive = [node.name for node in self._nodes.values() if node.alive]
        handles = {name: self._handle(name) for name in alive}
        site = body.get("site")
        if site is None:  # the first site the nodes serve, as a server's default
            infos = ray.get([handle.info.remote() for handle in handles.values()])
            site = body["site"] = next((info.sites[0] for info in infos), "shop")
        refs = {name: handle.room.remote(site) for name, handle in handles.items()}
        ready, _ = ray.wait(list(refs.values()), num_returns=len(refs), timeout=ROOM_TIMEOUT_S)
        rooms = {name: ray.get(ref) for name, ref in refs.items() if ref in ready}
        refused: RemoteEnvError | None = None
        for name in nodes.rank(rooms):
            try:
                return self._call(name, handles[name].create_env.remote(body, self.client_id))
            except RemoteEnvError as err:
                if err.status not in (429, 503):
                    raise
                refused = err
        raise refused or RemoteEnvError(
            503,
            "pool_full",
            f"no node has room for an env of {site} (room by node: {rooms})",
            retry_after_s=5.0,
        )

    def reset(self, env_id: str, body: dict[str, Any]) -> ResetOut:
        name = self._node_of(env_id)
        return self._call(name, self._handle(name).reset_env.remote(env_id, body))

    def step(self, env_id: str, action: str) -> StepOut:
        name = self._node_of(env_id)
        return self._call(name, self._handle(name).step_env.remote(env_id, action))

    def screenshot(self, env_id: str) -> bytes:
        name = self._node_of(env_id)
        return self._call(name, self._handle(name).screenshot.remote(env_id))

    def close(self, env_id: str) -> None:
        name = self._node_of(env_id)
        self._call(name, self._handle(name).close_env.remote(env_id))

    def shutdown(self) -> None:
        self._handles.clear()

    def _node_of(self, some_id: str) -> str:
        key = nodes.key_of(some_id)
        if key not in self._nodes:
            self._nodes = nodes.read_nodes()
        node = self._nodes.get(key)
        if node is None:
            raise RemoteEnvError(404, "not_found", f"unknown env or group {some_id!r}")
        return node.name

    def _handle(self, name: str) -> Any:
        handle = self._handles.get(name)
        if handle is None:
            handle = self._handles[name] = nodes.agent(name)
        return handle

    def _call(self, node: str, ref: Any) -> Any:
        """The answer of an agent's call; its API error, or ``env_lost`` if the node died."""
        import ray
        from ray import exceptions

        try:
            return ray.get(ref)
        except exceptions.RayTaskError as err:
            cause = err.cause
            if isinstance(cause, errors.ApiError):
                after = cause.headers.get("Retry-After")
                raise RemoteEnvError(
                    cause.status,
                    cause.code,
                    cause.message,
                    retry_after_s=float(after) if after else None,
                ) from None
            raise
        except (exceptions.ActorDiedError, exceptions.ActorUnavailableError) as err:
            message = f"lost with node {node}, which left the cluster; create a new env"
            raise RemoteEnvError(410, errors.Lost.code, message) from err


class ClusterWebEnv(RemoteWebEnv):
    """A webserv env on the cluster's nodes, called as Ray actors; the arguments are those
    of :class:`RemoteWebEnv` without the HTTP ones. Ray is joined (``address``, default: the
    running cluster) if this process has not joined it yet."""

    def __init__(
        self,
        site: str | None = None,
        suite: str | None = None,
        task: int | str | None = None,
        max_steps: int = 30,
        screenshot: bool = False,
        token_budget: int = 2_000,
        render_mode: str | None = None,
        retry_for_s: float = 120.0,
        client_id: str = "fastpath",
        address: str | None = None,
    ) -> None:
        nodes.join(address)
        self.base_url = "ray://" + (address or "auto")
        calls = ActorCalls(client_id, retry_for_s)
        self._setup(calls, site, suite, task, max_steps, screenshot, token_budget, render_mode)
