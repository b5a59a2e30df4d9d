"""One trainer of the soak: episodes on a RemoteWebEnv until stopped, counts in a JSON file.

Run as ``python -m benchmarks.soak_client URL STATUS_FILE SEED``. Each episode takes a
random task, steps a few times (clicking links it sees, scrolling, going back) with a
think time between steps that stands in for a policy, and ends with ``stop``. Errors from
a restarting server are counted and the next reset carries on (with a new env if the old
one is gone). SIGTERM closes the env and exits; SIGKILL leaves it to the server's TTL.
"""

from __future__ import annotations

import json
import random
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from webserv.client import RemoteEnvError, RemoteWebEnv

STEPS = 6
LINK = re.compile(r"^\[(\d+)\] link", re.MULTILINE)


class Stop(Exception):
    """SIGTERM arrived."""


def _stop(signum: int, frame: Any) -> None:
    raise Stop


def pick(rng: random.Random, text: str) -> str:
    links = LINK.findall(text)
    roll = rng.random()
    if links and roll < 0.5:
        return f'click("{rng.choice(links)}")'
    if roll < 0.8:
        return f'scroll("{rng.choice(["down", "up"])}")'
    return "back()"


def main(url: str, status_file: Path, seed: int, think_s: float) -> None:
    signal.signal(signal.SIGTERM, _stop)
    rng = random.Random(seed)
    counts = {"steps": 0, "episodes": 0, "errors": 0, "env_id": None}
    env = RemoteWebEnv(url, max_steps=STEPS + 1, retry_for_s=600, client_id=f"soak{seed}")

    def publish() -> None:
        counts["env_id"] = env.env_id
        tmp = status_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(counts))
        tmp.replace(status_file)

    try:
        while True:
            try:
                obs, _ = env.reset(seed=rng.randrange(2**31))
                publish()
                for _ in range(STEPS):
                    time.sleep(think_s)  # the policy's thinking time
                    obs, _, terminated, truncated, _ = env.step(pick(rng, obs["text"]))
                    counts["steps"] += 1
                    if terminated or truncated:
                        break
                else:
                    env.step('stop("done")')
                    counts["steps"] += 1
                counts["episodes"] += 1
            except (RemoteEnvError, httpx.HTTPError):
                counts["errors"] += 1
            publish()
    except Stop:
        publish()
        env.close()


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
