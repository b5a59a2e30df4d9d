"""RemoteWebEnv: the Gymnasium env of a ``webserv serve`` server, over HTTP.

Usage::

    from webserv.client import RemoteWebEnv

    env = RemoteWebEnv("http://127.0.0.1:8100", token=None, site="shop", task=None)
    # or: gymnasium.make("webserv/Remote-v0", base_url="http://127.0.0.1:8100")
    obs, info = env.reset(seed=0)                      # or options={"task_id": 3}
    obs, reward, terminated, truncated, info = env.step('click("12")')
    env.close()

It has the observation and action spaces, observations and info keys of the in-process
:class:`webserv.env.WebEnv` (``webserv/Shop-v0``), and works inside
``gymnasium.vector.AsyncVectorEnv`` (each worker process makes its own HTTP connection).

The env is created on the server at the first ``reset``; later resets start a new episode
on it (a fresh site instance each time). An env the server no longer has (its TTL ran out,
the server restarted) is replaced at the next ``reset``; ``step`` on it raises
:class:`RemoteEnvError` with code ``env_gone``, ``env_lost`` (its cluster node left) or
``not_found``.

Retries: a call is repeated only when repeating it cannot act twice: when the connection
could not be made (nothing was sent), when the server refused it with 429/503 and
Retry-After (it did nothing), and for idempotent requests (GET, DELETE) after a read error.
A ``step`` or ``reset`` whose answer was lost is never sent again.

The env talks to its one server over one kept-alive HTTP/1.1 connection through an httpx
transport: it needs none of ``httpx.Client``'s cookie jar, redirects, auth flows or URL
merging, which cost about as much per call as the rest of the client's work together.
``last_response`` is the server's latest answer (its ``Server-Timing`` header says how long
the server and its env took).
"""

from __future__ import annotations

from typing import Any, Protocol

import gymnasium
import httpx
import numpy as np
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_before_delay

from webserv.env.spaces import action_space, image, observation_space, to_gym
from webserv.wire import GroupOut, ObservationOut, ResetOut, StepOut

REMOTE_ENV_ID = "webserv/Remote-v0"
#: Viewport of the server's browser contexts (the screenshot's shape is height x width).
VIEWPORT = (720, 1280)
#: How long an idle connection is kept for the next call: below the server's keep-alive
#: (``webserv serve`` keeps 30 s), so the client never sends on a connection being closed.
KEEPALIVE_S = 25.0


class RemoteEnvError(RuntimeError):
    """The server answered with an error: ``status``, its ``code`` and its message."""

    def __init__(
        self, status: int, code: str, message: str, retry_after_s: float | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.retry_after_s = retry_after_s


class Unreachable(RemoteEnvError):
    """The request did not get an answer: the connection could not be made, or (an idempotent
    request) its answer was lost."""

    def __init__(self, message: str) -> None:
        super().__init__(503, "unreachable", message)


#: Read errors after which only an idempotent request may be sent again.
LOST_ANSWER = (httpx.ReadError, httpx.RemoteProtocolError, httpx.ReadTimeout)


def _retriable(error: BaseException) -> bool:
    """Whether sending again cannot act twice: nothing was done (no connection, or the server
    refused with Retry-After), or the request is idempotent (see ``attempt_failure``)."""
    return isinstance(error, Unreachable) or (
        isinstance(error, RemoteEnvError) and error.retry_after_s is not None
    )


def _wait(state: RetryCallState) -> float:
    """What the server asked for (Retry-After), else 0.2 s doubling up to 5 s."""
    error = state.outcome.exception() if state.outcome else None
    if isinstance(error, RemoteEnvError) and error.retry_after_s is not None:
        return error.retry_after_s
    return min(0.2 * 2 ** (state.attempt_number - 1), 5.0)


def retry_rules(retry_for_s: float) -> dict[str, Any]:
    """The retries of both clients (tenacity's settings): the retriable failures of
    :func:`_retriable` until the next wait would pass ``retry_for_s``; then the last failure
    is raised as it is."""
    return {
        "retry": retry_if_exception(_retriable),
        "wait": _wait,
        "stop": stop_before_delay(retry_for_s),
        "reraise": True,
    }


def attempt_failure(error: httpx.HTTPError, idempotent: bool, where: str) -> Exception:
    """What a transport error of one attempt is: :class:`Unreachable` when sending again is
    safe (no connection was made; an idempotent request's answer was lost), else itself."""
    if isinstance(error, httpx.ConnectError):
        return Unreachable(f"cannot connect to {where}: {error}")
    if idempotent and isinstance(error, LOST_ANSWER):
        return Unreachable(f"{where}: {error}")
    return error


def answer_error(response: httpx.Response) -> RemoteEnvError:
    """A 4xx/5xx answer as the error it says (its Retry-After kept for a 429 or 503)."""
    retry_after = response.headers.get("retry-after")
    wait = float(retry_after) if retry_after and response.status_code in (429, 503) else None
    try:
        body = response.json()
        return RemoteEnvError(response.status_code, body["error"], body["message"], wait)
    except (ValueError, KeyError, TypeError):
        return RemoteEnvError(response.status_code, "http_error", response.text[:500], wait)


class EnvCalls(Protocol):
    """How a :class:`RemoteWebEnv` reaches its env: over HTTP (:class:`HttpCalls`), or
    straight to a cluster's node agents (:mod:`webserv.cluster.fastpath`). Failures raise
    :class:`RemoteEnvError`."""

    def create(self, body: dict[str, Any]) -> ResetOut: ...

    def reset(self, env_id: str, body: dict[str, Any]) -> ResetOut: ...

    def step(self, env_id: str, action: str) -> StepOut: ...

    def screenshot(self, env_id: str) -> bytes: ...

    def close(self, env_id: str) -> None: ...

    def shutdown(self) -> None:
        """Let go of connections; the env is not used again."""
        ...


#: Error codes of an env the server no longer has: the next reset starts a new one.
ENDED_CODES = ("env_gone", "env_lost", "not_found")


class RemoteWebEnv(gymnasium.Env[dict[str, Any], str]):
    """One env on a webserv server; actions are strings in the action grammar. Its spaces,
    observations, rewards and info keys are :class:`webserv.env.WebEnv`'s.

    Args:
        base_url: the server, e.g. ``http://127.0.0.1:8100``.
        token: its bearer token, if it has one.
        site: a site it serves (default: its first; a replay site serves recorded sessions).
        suite: a suite it offers (default: the site's).
        task: the task of every episode (else ``reset(options={"task_id": ...})`` or the
            server's seeded choice picks it).
        max_steps: steps after which an episode is truncated.
        screenshot: add an RGB ``screenshot`` to each observation.
        token_budget: cl100k tokens the page text is fitted into.
        render_mode: ``ansi`` or ``rgb_array``.
        timeout_s: bounds each HTTP call.
        retry_for_s: bounds how long refused or unreachable calls are retried (a call is
            sent again only when that cannot act twice).
        client_id: who you are, in the server's env list (``X-Webserv-Client``).
        transport: replaces the HTTP connection (e.g. ``httpx.MockTransport``).

    Raises:
        RemoteEnvError: what the server answered (its status, ``code`` and message), e.g.
            ``env_gone`` for an env whose TTL ran out.
    """

    # An instance attribute in Gymnasium's Env, read from the class as Gymnasium does.
    metadata: dict[str, Any] = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}  # noqa: RUF012

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        site: str | None = None,
        suite: str | None = None,
        task: int | str | None = None,
        max_steps: int = 30,
        screenshot: bool = False,
        token_budget: int = 2_000,
        render_mode: str | None = None,
        timeout_s: float = 180.0,
        retry_for_s: float = 120.0,
        client_id: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        calls = HttpCalls(self.base_url, token, timeout_s, retry_for_s, client_id, transport)
        self._setup(calls, site, suite, task, max_steps, screenshot, token_budget, render_mode)

    def _setup(
        self,
        calls: EnvCalls,
        site: str | None,
        suite: str | None,
        task: int | str | None,
        max_steps: int,
        screenshot: bool,
        token_budget: int,
        render_mode: str | None,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}")
        self.calls = calls
        self.site = site
        self.suite = suite
        self.task = task
        self.options = {
            "max_steps": max_steps,
            "screenshot": screenshot,
            "token_budget": token_budget,
        }
        self.screenshot = screenshot
        self.render_mode = render_mode
        self.observation_space = observation_space(screenshot, *VIEWPORT)
        self.action_space = action_space()
        self.env_id: str | None = None
        self._last_text: str | None = None

    @property
    def last_response(self) -> httpx.Response | None:
        """The server's latest answer (HTTP only)."""
        return getattr(self.calls, "last_response", None)

    # ---- Gymnasium API ---------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Start an episode: ``options={"task_id": ...}`` picks the task, else the seed does."""
        super().reset(seed=seed)
        options = options or {}
        task = options.get("task_id", self.task)
        body: dict[str, Any] = {"task": task, "seed": seed}
        out = None
        if self.env_id is not None:
            try:
                out = self.calls.reset(self.env_id, body)
            except RemoteEnvError as err:
                if err.code not in ENDED_CODES:
                    raise
                self.env_id = None  # the server ended it: start over with a new one
        if out is None:
            # Without a site the server uses the first it serves (and that site's suite).
            where = {"site": self.site, "suite": self.suite}
            body.update({k: v for k, v in where.items() if v is not None}, options=self.options)
            out = self.calls.create(body)
        self.env_id = out.env_id
        return self._observation(out.observation), out.info

    def step(self, action: str) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        if self.env_id is None:
            raise RemoteEnvError(409, "episode_over", "no episode is running; call reset() first")
        out = self.calls.step(self.env_id, action)
        return (
            self._observation(out.observation),
            out.reward,
            out.terminated,
            out.truncated,
            out.info,
        )

    def render(self) -> str | np.ndarray | None:
        """``ansi``: the observation text; ``rgb_array``: a screenshot of the active tab."""
        if self.render_mode is None or self.env_id is None:
            return None
        if self.render_mode == "ansi":
            return self._last_text
        return image(self.calls.screenshot(self.env_id))

    def close(self) -> None:
        """Close the env on the server (its instance is recycled) and the connection."""
        env_id, self.env_id = self.env_id, None
        try:
            if env_id is not None:
                try:
                    self.calls.close(env_id)
                except RemoteEnvError as err:
                    if err.code not in ENDED_CODES:
                        raise
        finally:
            self.calls.shutdown()
        super().close()

    def _observation(self, wire: ObservationOut) -> dict[str, Any]:
        obs = wire.to_observation()
        self._last_text = obs.text
        return to_gym(obs, self.screenshot)


class HttpCalls:
    """The calls of a :class:`RemoteWebEnv` over HTTP, retried only where that cannot act
    twice (see the module doc)."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        timeout_s: float,
        retry_for_s: float,
        client_id: str | None,
        transport: httpx.BaseTransport | None,
    ) -> None:
        self.base_url = base_url
        self.retry_for_s = retry_for_s
        self.last_response: httpx.Response | None = None
        headers = {"User-Agent": "webserv-client"}
        if client_id:
            headers["X-Webserv-Client"] = client_id
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._headers = headers
        self._timeout = httpx.Timeout(timeout_s).as_dict()
        self._urls: dict[str, httpx.URL] = {}
        self._http = transport or httpx.HTTPTransport(
            limits=httpx.Limits(max_keepalive_connections=1, keepalive_expiry=KEEPALIVE_S)
        )

    def create(self, body: dict[str, Any]) -> ResetOut:
        self._urls.clear()  # a new env: the paths of the last one are not asked again
        return ResetOut.model_validate_json(self._request("POST", "/v1/envs", body).content)

    def create_group(self, body: dict[str, Any]) -> GroupOut:
        """``body["n"]`` envs on one task from identical instances (``POST /v1/groups``)."""
        return GroupOut.model_validate_json(self._request("POST", "/v1/groups", body).content)

    def reset(self, env_id: str, body: dict[str, Any]) -> ResetOut:
        response = self._request("POST", f"/v1/envs/{env_id}/reset", body)
        return ResetOut.model_validate_json(response.content)

    def step(self, env_id: str, action: str) -> StepOut:
        response = self._request("POST", f"/v1/envs/{env_id}/step", {"action": action})
        return StepOut.model_validate_json(response.content)

    def screenshot(self, env_id: str) -> bytes:
        return self._request("GET", f"/v1/envs/{env_id}/screenshot").content

    def close(self, env_id: str) -> None:
        self._request("DELETE", f"/v1/envs/{env_id}")

    def shutdown(self) -> None:
        self._urls.clear()
        self._http.close()

    def _url(self, path: str) -> httpx.URL:
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = httpx.URL(self.base_url + path)
        return url

    def _send(self, method: str, path: str, body: dict[str, Any] | None) -> httpx.Response:
        request = httpx.Request(
            method,
            self._url(path),
            headers=self._headers,
            json=body,
            extensions={"timeout": self._timeout},
        )
        response = self._http.handle_request(request)
        try:
            response.read()
        finally:
            response.close()
        self.last_response = response
        return response

    def _request(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> httpx.Response:
        """Send one request, retrying only where that cannot act twice (see the module doc)."""
        retrying = Retrying(**retry_rules(self.retry_for_s))
        return retrying(self._attempt, method, path, body)

    def _attempt(self, method: str, path: str, body: dict[str, Any] | None) -> httpx.Response:
        try:
            response = self._send(method, path, body)
        except httpx.HTTPError as err:
            raise attempt_failure(err, method in ("GET", "DELETE"), self.base_url + path) from err
        if response.status_code >= 400:
            raise answer_error(response)
        return response


if REMOTE_ENV_ID not in gymnasium.registry:
    # Timings and instance URLs in the observations make episodes nondeterministic.
    gymnasium.register(
        id=REMOTE_ENV_ID,
        entry_point="webserv.client:RemoteWebEnv",
        nondeterministic=True,
        disable_env_checker=False,
    )
