"""The Gymnasium spaces of the web envs and the conversion of an observation into them.

Shared by the in-process :class:`~webserv.env.gym_env.WebEnv` and the HTTP client
:class:`~webserv.client.RemoteWebEnv`, so both expose the same observation and action spaces.
Importing this module needs neither a browser nor a pool.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from gymnasium import spaces

from webserv.browser.observation import Observation

MAX_TEXT = 1_000_000
MAX_SETTLE_MS = 3_600_000.0
#: Longest action string an env accepts.
MAX_ACTION_CHARS = 4_096
#: What ``action_space.sample()`` draws from; any string is a valid action to send.
SAMPLE_CHARSET = "abcdefghijklmnopqrstuvwxyz0123456789()\"', _="
TEXT_FIELDS = ("url", "title", "tabs", "text", "goal", "last_action", "last_action_error")


class AnyText(spaces.Text):
    """A text space holding any string up to ``max_length`` (Gymnasium's ``Text`` admits only
    its charset, but pages and actions use all of Unicode). Samples use ``charset``."""

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length


def observation_space(screenshot: bool, height: int = 720, width: int = 1280) -> spaces.Dict:
    """The observation space; ``screenshot`` adds an RGB image of ``height`` x ``width``."""
    fields: dict[str, spaces.Space[Any]] = {
        name: AnyText(MAX_TEXT, min_length=0, charset=SAMPLE_CHARSET) for name in TEXT_FIELDS
    }
    fields["token_count"] = spaces.Box(0, np.iinfo(np.int64).max, shape=(), dtype=np.int64)
    fields["settle_ms"] = spaces.Box(0.0, MAX_SETTLE_MS, shape=(), dtype=np.float64)
    if screenshot:
        fields["screenshot"] = spaces.Box(0, 255, shape=(height, width, 3), dtype=np.uint8)
    return spaces.Dict(fields)


def action_space() -> AnyText:
    """Actions are strings in the action grammar, e.g. ``click("12")``."""
    return AnyText(MAX_ACTION_CHARS, min_length=1, charset=SAMPLE_CHARSET)


def to_gym(obs: Observation, screenshot: bool) -> dict[str, Any]:
    """``obs`` as an element of :func:`observation_space` (``screenshot`` as given there)."""
    converted: dict[str, Any] = {
        "url": obs.url,
        "title": obs.title,
        "tabs": "\n".join(
            f"{tab.index}{'*' if tab.active else ' '} {tab.title} <{tab.url}>" for tab in obs.tabs
        ),
        "text": obs.text,
        "goal": obs.goal,
        "last_action": obs.last_action,
        "last_action_error": obs.last_action_error,
        "token_count": np.array(obs.token_count, dtype=np.int64),
        "settle_ms": np.array(obs.settle_ms, dtype=np.float64),
    }
    if screenshot:
        converted["screenshot"] = image(obs.screenshot)
    return converted


def image(png: bytes | None) -> np.ndarray:
    """A PNG as an RGB array."""
    from PIL import Image

    if png is None:
        raise RuntimeError("the observation has no screenshot")
    with Image.open(io.BytesIO(png)) as img:
        return np.asarray(img.convert("RGB"), dtype=np.uint8)
