"""Gymnasium envs over the pool and the browser, and their async core.

Importing this package registers ``webserv/Web-v0`` (any suite or task file, ``site=`` picks
the sites and backends), one id per registered site that provides a suite
(``webserv/Shop-v0`` for the shop; see :func:`webserv.sites.registry.env_id`) and
``webserv/Replay-v0`` (recorded sessions, :mod:`webserv.behaviour.replay_env`). Its public
names are loaded when first used, so that importing a light sub-module (``spaces``, which the
HTTP client shares) does not load the browser and the pool.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

import gymnasium

if TYPE_CHECKING:
    from webserv.env.gym_env import WebEnv
    from webserv.env.runtime import EnvRuntime, RuntimeConfig
    from webserv.env.session import EnvSession, EpisodeOver, StepResult

_MODULES = {
    "EnvRuntime": "webserv.env.runtime",
    "RuntimeConfig": "webserv.env.runtime",
    "EnvSession": "webserv.env.session",
    "EpisodeOver": "webserv.env.session",
    "StepResult": "webserv.env.session",
    "WebEnv": "webserv.env.gym_env",
}

__all__ = ["EnvRuntime", "EnvSession", "EpisodeOver", "RuntimeConfig", "StepResult", "WebEnv"]

GENERIC_ENV_ID = "webserv/Web-v0"
#: Recorded sessions replayed for next-action prediction (``steps=`` a steps.jsonl).
REPLAY_ENV_ID = "webserv/Replay-v0"


def register_envs() -> list[str]:
    """Register the generic id and one id per registered site with a suite (idempotent)."""
    from webserv.sites import registry

    ids: dict[str, dict[str, object]] = {GENERIC_ENV_ID: {}}
    for name, site in registry.sites().items():
        # The site's first suite, served as its manifest says unless site= or the runtime
        # config says otherwise (e.g. site="shop:docker").
        for suite in list(site.suites())[:1]:
            ids[registry.env_id(name)] = {"suite": suite}
    for env_id, kwargs in ids.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(
                id=env_id,
                entry_point="webserv.env.gym_env:WebEnv",
                kwargs=kwargs,
                max_episode_steps=None,
                nondeterministic=True,
                disable_env_checker=False,
            )
    if REPLAY_ENV_ID not in gymnasium.registry:
        gymnasium.register(
            id=REPLAY_ENV_ID,
            entry_point="webserv.behaviour.replay_env:ReplayEnv",
            max_episode_steps=None,
        )
    return [*ids, REPLAY_ENV_ID]


register_envs()


def __getattr__(name: str) -> object:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(name)
    return getattr(importlib.import_module(module), name)
