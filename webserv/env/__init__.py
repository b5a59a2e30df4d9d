"""Gymnasium envs over the pool and the browser, and their async core.

Importing this package registers ``webserv/Shop-v0`` (the shop suite, up to 30 steps). Its
public names are loaded when first used, so that importing a light sub-module (``spaces``,
which the HTTP client shares) does not load the browser and the pool.
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

SHOP_ENV_ID = "webserv/Shop-v0"

if SHOP_ENV_ID not in gymnasium.registry:
    gymnasium.register(
        id=SHOP_ENV_ID,
        entry_point="webserv.env.gym_env:WebEnv",
        kwargs={"suite": "shop"},
        max_episode_steps=None,
        nondeterministic=True,
        disable_env_checker=False,
    )


def __getattr__(name: str) -> object:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(name)
    return getattr(importlib.import_module(module), name)
