"""Gymnasium envs over the pool and the browser, and their async core.

Importing this package registers ``webserv/Shop-v0`` (the shop suite, up to 30 steps).
"""

from __future__ import annotations

import gymnasium

from webserv.env.runtime import EnvRuntime, RuntimeConfig
from webserv.env.session import EnvSession, EpisodeOver, StepResult

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
    # WebEnv pulls in numpy and gymnasium spaces; load it only when asked for.
    if name == "WebEnv":
        from webserv.env.gym_env import WebEnv

        return WebEnv
    raise AttributeError(name)
