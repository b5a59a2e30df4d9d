"""SkyRL adapter: a webserv env as a SkyRL-Gym text env, driven over the ``/v1`` HTTP API of a
``webserv serve`` server or of the cluster router (``pip install 'webserv[skyrl]'``).

Usage (in the process that runs SkyRL's generator, e.g. its Ray entrypoint)::

    import webserv.cluster.skyrl  # registers the env id "webserv" with skyrl_gym

    env = skyrl_gym.make(
        "webserv",
        env_config={"base_url": "http://10.0.0.5:8100", "group_size": 8},
        extras={"extra_info": {"task_id": 3}, "trajectory_id": {"instance_id": "p7",
                                                               "repetition_id": 0}},
    )
    chat, metadata = env.init([{"role": "user", "content": "Shop for me."}])
    out = env.step('{"rationale": "I open the cart.", "action": "click(\\"12\\")"}')
    env.close()

``env_config`` (SkyRL's ``environment.skyrl_gym.webserv``) is :class:`WebservEnvConfig`.
``extras`` (the dataset row's columns; SkyRL adds ``max_turns``) give, each at the top level
or under ``extra_info``: ``task_id``, ``site`` and ``suite`` (else the config's), and who the
trajectory is: ``trajectory_id`` (SkyRL's ``TrajectoryID`` or a mapping with ``instance_id``
and ``repetition_id``), else ``instance_id`` (or ``uid``) with an optional ``repetition_id``.
SkyRL-Gym 0.4 passes none of these by itself: its generator keeps the ``TrajectoryID`` and
hands every repetition of a prompt the same extras, so a dataset or generator that wants
groups must put one there.

GRPO groups: with ``group_size`` n > 1 and a trajectory id, the n repetitions of one instance
id share ONE webserv group (``POST /v1/groups``: n envs, one task, identical start state).
The first repetition to ``init`` creates it while the others wait; each takes the member at
its repetition id (or the next free one when there is none). SkyRL runs a batch's envs in one
process, in a thread pool, so a lock-protected registry in this process is where they meet;
an entry is dropped once its n members are taken, so ``group_size`` must equal SkyRL's
``n_samples_per_prompt`` (members nobody takes end with the server's env TTL).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import skyrl_gym
from pydantic import BaseModel, ConfigDict, Field
from skyrl_gym.envs.base_text_env import BaseTextEnv, BaseTextEnvStepOutput, ConversationType

from webserv.browser.actions import ActionError, parse
from webserv.client import ENDED_CODES, HttpCalls, RemoteEnvError
from webserv.policy.parse import parse_output
from webserv.policy.prompt import PromptConfig, build_prompt, system_prompt
from webserv.wire import GroupOut, ObservationOut, ResetOut

#: The id :func:`register` gives the env in skyrl_gym's registry.
ENV_ID = "webserv"

NO_ACTION = (
    "Your reply held no action, so nothing was done ({error}). Reply with one JSON object "
    'such as {{"rationale": "I open the cart.", "action": "click(\\"12\\")"}}.'
)


class WebservEnvConfig(BaseModel):
    """The env's settings, from SkyRL's ``environment.skyrl_gym.webserv``."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(description="The webserv server or cluster router, http://host:port.")
    token: str | None = Field(None, description="Bearer token of the server, if it has one.")
    site: str | None = Field(None, description="Default site (else the server's first).")
    suite: str | None = Field(None, description="Default suite (else the site's first).")
    max_steps: int = Field(30, ge=1, description="Server steps before an episode is truncated.")
    token_budget: int = Field(2_000, ge=64, description="Most tokens of one page's text.")
    group_size: int = Field(1, ge=1, description="Repetitions per prompt (n_samples_per_prompt).")
    timeout_s: float = Field(180.0, gt=0, description="Bound of each HTTP call.")
    retry_for_s: float = Field(120.0, ge=0, description="How long refused calls are retried.")


@dataclass(frozen=True)
class Trajectory:
    """Which prompt a trajectory samples (``instance_id``) and which sample it is."""

    instance_id: str
    repetition_id: int | None


def _extra(extras: Mapping[str, Any], name: str) -> Any:
    """``extras[name]``, else ``extras["extra_info"][name]`` (where SkyRL datasets keep their
    own columns), else None."""
    if extras.get(name) is not None:
        return extras[name]
    info = extras.get("extra_info")
    return info.get(name) if isinstance(info, Mapping) else None


def trajectory_of(extras: Mapping[str, Any]) -> Trajectory | None:
    """The trajectory id in a sample's extras (see the module doc), or None if there is none.

    Args:
        extras: the per-sample dict SkyRL passes to the env.

    Returns:
        The instance id (as text) and the repetition id (None if not given).
    """
    given = extras.get("trajectory_id")
    if isinstance(given, Mapping):
        instance, repetition = given.get("instance_id"), given.get("repetition_id")
    elif given is not None:  # SkyRL's TrajectoryID dataclass
        instance = getattr(given, "instance_id", None)
        repetition = getattr(given, "repetition_id", None)
    else:
        instance = _extra(extras, "instance_id")
        if instance is None:
            instance = _extra(extras, "uid")
        repetition = _extra(extras, "repetition_id")
    if instance is None:
        return None
    # int(): a row read from Parquet holds numpy integers, which JSON cannot carry.
    return Trajectory(str(instance), None if repetition is None else int(repetition))


@dataclass(eq=False)
class _PendingGroup:
    """One webserv group being handed out to the repetitions of one prompt."""

    size: int
    taken: set[int] = field(default_factory=set)
    made: threading.Event = field(default_factory=threading.Event)
    out: GroupOut | None = None
    error: BaseException | None = None

    def free(self, repetition: int | None) -> int | None:
        """The member ``repetition`` may take: its own, or the first free one without an id."""
        if repetition is None:
            return next((i for i in range(self.size) if i not in self.taken), None)
        return None if repetition in self.taken else repetition


class GroupRegistry:
    """Where the repetitions of one prompt meet to share a webserv group (in this process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[tuple[str, str], list[_PendingGroup]] = {}

    def join(
        self, calls: HttpCalls, body: dict[str, Any], size: int, trajectory: Trajectory
    ) -> ResetOut:
        """This trajectory's member of its prompt's group, creating the group if it is first.

        Args:
            calls: the trajectory's own HTTP calls (the group is created with them).
            body: the creation request, as for ``POST /v1/envs``.
            size: the group's size, ``group_size``.
            trajectory: the trajectory's instance and repetition ids.

        Returns:
            The member's env, as ``POST /v1/envs`` would answer.

        Raises:
            RemoteEnvError: the group could not be created (every repetition gets it).
        """
        key = (calls.base_url, trajectory.instance_id)
        pending, member, first = self._claim(key, size, trajectory.repetition_id)
        if first:
            try:
                pending.out = calls.create_group({**body, "n": size})
            except BaseException as err:
                pending.error = err
                raise
            finally:
                pending.made.set()  # the waiting repetitions go on, with the group or the error
        pending.made.wait()
        if pending.out is None:
            raise _shared(pending.error)
        return pending.out.envs[member]

    def _claim(
        self, key: tuple[str, str], size: int, repetition: int | None
    ) -> tuple[_PendingGroup, int, bool]:
        """The group and member a repetition takes, and whether it is the first (the creator).
        A repetition whose member is taken in every open group (its prompt is in the batch
        twice) starts another group."""
        if repetition is not None and not 0 <= repetition < size:
            raise ValueError(f"repetition id {repetition} is outside a group of {size}")
        with self._lock:
            groups = self._open.setdefault(key, [])
            for pending in groups:
                member = pending.free(repetition)
                if member is not None:
                    break
            else:
                pending = _PendingGroup(size)
                groups.append(pending)
                member = pending.free(repetition)
                assert member is not None
            first = not pending.taken
            pending.taken.add(member)
            if len(pending.taken) == pending.size:
                groups.remove(pending)
                if not groups:
                    del self._open[key]
        return pending, member, first


def _shared(error: BaseException | None) -> Exception:
    """The creator's failure for a waiting repetition: a new exception per thread (one
    exception raised in several threads would share, and garble, its traceback)."""
    if isinstance(error, RemoteEnvError):
        message = f"the group could not be created: {error.message}"
        return RemoteEnvError(error.status, error.code, message, error.retry_after_s)
    return RuntimeError(f"the group could not be created: {error}")


_GROUPS = GroupRegistry()


def read_action(reply: str) -> tuple[str | None, str]:
    """The action a model's reply asks for, as call text, or None and why there is none.

    The reply is read as the project's policies read it (:func:`parse_output` in grammar mode:
    ``{"rationale": ..., "action": "click(\\"12\\")"}``, forgiving in form); failing that, the
    last line after any ``<think>`` block that is one action call by itself (``click("12")``,
    in backticks or not).
    """
    parsed = parse_output(reply, mode="grammar")
    if parsed.action is not None:
        return str(parsed.action), ""
    for line in reversed(reply.rpartition("</think>")[2].splitlines()):
        try:
            return str(parse(line.strip().strip("`"))), ""
        except ActionError:
            continue
    return None, parsed.error


class WebservTextEnv(BaseTextEnv):
    """One trajectory on a webserv env: replies in, pages out, the task's reward at the end.

    The chat gets the project's prompt (:mod:`webserv.policy.prompt`, grammar mode): its system
    prompt when the dataset's prompt has none, then each page as a user message. A reply is an
    action (:func:`read_action`); one without any is a turn too, answered with a message that
    says so. The episode ends when the server ends it (an answer, or ``max_steps`` actions,
    with the evaluator's reward) or after ``max_turns`` replies (SkyRL's, else ``max_steps``).
    """

    def __init__(self, env_config: Mapping[str, Any], extras: Mapping[str, Any]) -> None:
        """Check the config; nothing is created on the server before :meth:`init`.

        Args:
            env_config: :class:`WebservEnvConfig`'s fields (a dict or an omegaconf DictConfig).
            extras: the sample's extras (see the module doc).

        Raises:
            ValueError: the config is malformed (e.g. no ``base_url``).
        """
        super().__init__()
        self.config = WebservEnvConfig.model_validate(dict(env_config))
        self.max_turns = int(extras.get("max_turns") or self.config.max_steps)
        self.trajectory = trajectory_of(extras)
        task = _extra(extras, "task_id")
        self._body: dict[str, Any] = {
            "task": task if task is None or isinstance(task, str) else int(task),
            "options": {
                "max_steps": self.config.max_steps,
                "token_budget": self.config.token_budget,
                "screenshot": False,
            },
        }
        for name in ("site", "suite"):  # else the server's defaults
            value = _extra(extras, name) or getattr(self.config, name)
            if value is not None:
                self._body[name] = value
        self._prompt = PromptConfig(mode="grammar", screenshot=False, history_pages=0)
        self._calls = HttpCalls(
            self.config.base_url.rstrip("/"),
            self.config.token,
            self.config.timeout_s,
            self.config.retry_for_s,
            None,
            None,
        )
        self.env_id: str | None = None
        self.group: str | None = None
        self._closed = False
        self._steps = 0
        self._no_action = 0
        self._reward = 0.0

    def init(self, prompt: ConversationType) -> tuple[ConversationType, dict[str, Any]]:
        """Create the env (or take this trajectory's member of its group) and show its page.

        Args:
            prompt: the dataset's chat messages.

        Returns:
            The prompt with the system prompt (if it had none) and the first page appended,
            and ``{"env_id", "group", "info"}`` (``info``: the server's reset info).
        """
        if self.trajectory is None or self.config.group_size == 1:
            out = self._calls.create(self._body)
        else:
            out = _GROUPS.join(self._calls, self._body, self.config.group_size, self.trajectory)
        self.env_id, self.group = out.env_id, out.group
        messages = list(prompt)
        if not any(message.get("role") == "system" for message in messages):
            messages.insert(0, {"role": "system", "content": system_prompt(self._prompt, None)})
        messages.append(self._page(out.observation))
        return messages, {"env_id": out.env_id, "group": out.group, "info": out.info}

    def step(self, action: str) -> BaseTextEnvStepOutput:
        """Carry out the action in a model's reply.

        Args:
            action: the model's raw reply.

        Returns:
            The next page (none once done), the step's reward, whether the trajectory is
            done, and ``{"env_id", "group", "action", "error", "info"}``.
        """
        if self.env_id is None:
            raise RuntimeError("no env: call init() first (or the env was closed)")
        self.turns += 1
        chosen, error = read_action(action)
        if chosen is None:
            self._no_action += 1
            message = {"role": "user", "content": NO_ACTION.format(error=error)}
            return self._output(message, 0.0, self.turns >= self.max_turns, None, error, {})
        try:
            out = self._calls.step(self.env_id, chosen)
        except RemoteEnvError as err:
            if err.code not in ENDED_CODES:
                raise
            return self._output(None, 0.0, True, chosen, str(err), {})  # the server ended it
        self._steps += 1
        self._reward += out.reward
        done = out.terminated or out.truncated or self.turns >= self.max_turns
        page = self._page(out.observation)
        return self._output(page, out.reward, done, chosen, "", out.info)

    def close(self) -> None:
        """Close the env on the server (once; later calls do nothing) and the connection."""
        if self._closed:
            return
        self._closed = True
        env_id, self.env_id = self.env_id, None
        try:
            if env_id is not None:
                try:
                    self._calls.close(env_id)
                except RemoteEnvError as err:
                    if err.code not in ENDED_CODES:  # an env the server ended is closed already
                        raise
        finally:
            self._calls.shutdown()

    def get_metrics(self) -> dict[str, Any]:
        """The episode's actions sent, replies without an action and total reward."""
        return {"steps": self._steps, "no_action_replies": self._no_action, "reward": self._reward}

    def _page(self, observation: ObservationOut) -> dict[str, str]:
        """A page as the project's prompt shows the current one (task, tabs, the last action's
        error, the text), without the history: the chat holds it."""
        content = build_prompt(observation.model_dump(), [], self._prompt).messages[-1]["content"]
        assert isinstance(content, str)  # no screenshot, so no image part
        return {"role": "user", "content": content}

    def _output(
        self,
        message: dict[str, str] | None,
        reward: float,
        done: bool,
        action: str | None,
        error: str,
        info: dict[str, Any],
    ) -> BaseTextEnvStepOutput:
        metadata = {"env_id": self.env_id, "group": self.group, "action": action, "error": error}
        return BaseTextEnvStepOutput(
            # Nothing follows the last reply, so a finished trajectory gets no observation.
            observations=[message] if message is not None and not done else [],
            reward=reward,
            done=done,
            metadata={**metadata, "info": info},
        )


def register(env_id: str = ENV_ID) -> None:
    """Register :class:`WebservTextEnv` with skyrl_gym as ``env_id`` (importing this module
    does it for ``"webserv"``; again: nothing happens).

    Args:
        env_id: the id SkyRL configs name as ``env_class``.
    """
    if env_id not in skyrl_gym.registry:
        skyrl_gym.register(id=env_id, entry_point=f"{__name__}:WebservTextEnv")


register()
