"""Reset as a trainer's loop sees it, and what screenshots cost a rollout.

``reset_ms``: ``env.reset(options={"task_id": ...})`` until the first observation is back,
on a storefront task of the shop (customer login, the shop's home page). In-process through
``gymnasium.make("webserv/Shop-v0")`` and over HTTP through ``webserv serve`` and
``RemoteWebEnv``, as before (``cold``: the full Chromium build; login, browser context, first
page and its settle after the hand-over) and now (``warm``: the headless shell; all of it
prepared while the instance waited in standby). Each env keeps one standby instance, and
``gap_s`` passes between resets, as an episode would: long enough for the pool to refill and
prepare the next start. The first reset of each variant (runtime or server start) is not counted.

``steps_per_s``: one env of the scripted shopper (``webserv rollout`` in-process) on the
storefront tasks, steps over wall time with resets included, as before (cold starts, the full
Chromium build, elements found through Playwright locators, Playwright's fill, Playwright's PNG
screenshots after the DOM capture) and now (warm starts, the headless shell, one evaluation per
element, JPEG or WebP through DevTools started during the settle wait's quiet window; JPEG on
the full build too, to tell the two apart), with and without
screenshots, each variant run ``rounds`` times in turns. The ``steps_per_s`` row
says where the runs' wall time went (``reset_s``, ``step_s``, ``policy_s``, ``other_s``);
``screenshot_ms`` is what one screenshot took and ``screenshot_bytes`` its size.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import gymnasium
import httpx

from benchmarks.report import Report
from webserv.browser import actions
from webserv.browser.screenshot import Screenshots
from webserv.browser.session import SessionConfig
from webserv.env.config import runtime_for
from webserv.pool.backends.base import free_port
from webserv.rollout.envs import InProcessFleet
from webserv.rollout.records import read_jsonl
from webserv.rollout.runner import RolloutConfig, run_rollouts
from webserv.tasks.suite import load_suite

#: How sessions ran before: the full Chromium build (now: the headless shell).
BEFORE_BROWSER = "chromium"

#: The rollout variants: (name, warm starts, screenshot settings or None, steps as before (see
#: ``_as_before``), Chromium build or None for the default).
ROLLOUTS: tuple[tuple[str, bool, dict[str, Any] | None, bool, str | None], ...] = (
    ("before-no-screenshots", False, None, True, BEFORE_BROWSER),
    ("before-png-screenshots", False, {"screenshot_format": "png"}, True, BEFORE_BROWSER),
    ("now-no-screenshots", True, None, False, None),
    ("now-png-screenshots", True, {"screenshot_format": "png"}, False, None),
    ("now-jpeg-screenshots", True, {"screenshot_format": "jpeg"}, False, None),
    ("now-jpeg-screenshots-full-chromium", True, {"screenshot_format": "jpeg"}, False, "chromium"),
    ("now-webp-screenshots", True, {"screenshot_format": "webp"}, False, None),
    (
        "now-jpeg-half-screenshots",
        True,
        {"screenshot_format": "jpeg", "screenshot_scale": 0.5},
        False,
        None,
    ),
)


#: How a rollout's wall time splits (besides the steps per second).
PARTS = ("reset_s", "step_s", "policy_s", "other_s", "failed_episodes")


def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def _storefront_tasks() -> list[Any]:
    suite = load_suite("shop")
    return [t for t in suite.tasks if t.sites == ["shopping"]]


def _timed_resets(
    env: gymnasium.Env, task_id: int | str, n: int, gap_s: float
) -> tuple[list[float], int]:
    """``n`` timed resets after an untimed first one; how many of them started warm."""
    env.reset(options={"task_id": task_id})
    samples, warm = [], 0
    for _ in range(n):
        time.sleep(gap_s)
        began = time.perf_counter()
        _, info = env.reset(options={"task_id": task_id})
        samples.append((time.perf_counter() - began) * 1000)
        warm += bool(info.get("warm_start"))
    return samples, warm


def _in_process(warm: bool, task_id: int | str, n: int, gap_s: float) -> tuple[list[float], int]:
    env = gymnasium.make(
        "webserv/Shop-v0",
        runtime_config={
            "warm_starts": warm,
            "browser": None if warm else BEFORE_BROWSER,
            "owner": f"bench-reset-{os.getpid()}",
        },
    )
    try:
        return _timed_resets(env, task_id, n, gap_s)
    finally:
        env.close()


@contextmanager
def _server(warm: bool) -> Iterator[str]:
    """``webserv serve`` with one standby instance, warm starts on or off; its base URL."""
    port = free_port()
    flag = "--warm-starts" if warm else "--no-warm-starts"
    webserv = str(Path(sys.executable).with_name("webserv"))
    argv = [webserv, "serve", "--port", str(port), "--standby", "1", flag]
    if not warm:
        argv += ["--browser", BEFORE_BROWSER]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None:
                raise RuntimeError(f"webserv serve exited with {process.returncode}")
            time.sleep(0.5)
        else:
            raise TimeoutError("webserv serve did not come up")
        yield url
    finally:
        process.send_signal(signal.SIGINT)  # uvicorn's shutdown closes the runtime
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _over_http(warm: bool, task_id: int | str, n: int, gap_s: float) -> tuple[list[float], int]:
    from webserv.client import RemoteWebEnv

    with _server(warm) as url:
        env = RemoteWebEnv(url, site="shop")
        try:
            return _timed_resets(env, task_id, n, gap_s)
        finally:
            env.close()


@contextmanager
def _as_before(enabled: bool) -> Iterator[None]:
    """Steps as before: every element found through a Playwright locator (whose first use on
    a page injects its selector engine), typing through Playwright's fill, and screenshots as
    Playwright's PNG of the viewport (its own waits, zlib at its default level) taken after
    the DOM capture, instead of one DevTools call started during the quiet window."""
    if not enabled:
        yield
        return
    originals = Screenshots.take, actions._probe, actions._select_text

    async def take(self: Screenshots, page: Any, kind: str, quality: int, scale: float) -> bytes:
        return await page.screenshot(type="png")

    async def probe(controls: Any, element_id: str, arm: bool) -> Any:
        return await controls.element(element_id).evaluate_all(actions._PROBE, arm)

    async def select_text(controls: Any, element_id: str, text: str) -> bool:
        return False

    Screenshots.take = take  # type: ignore[method-assign]
    actions._probe, actions._select_text = probe, select_text
    try:
        yield
    finally:
        Screenshots.take, actions._probe, actions._select_text = originals  # type: ignore[method-assign]


async def _rollout(
    warm: bool,
    screenshots: dict[str, Any] | None,
    before: bool,
    browser: str | None,
    episodes: int,
    max_steps: int,
) -> dict[str, list[float]]:
    """One run of one env; its samples by metric (``steps_per_s``: one per run, and where
    its wall time went: resets, steps, the policy and the rest, in s)."""
    suite = load_suite("shop")
    owner = f"bench-rollout-{os.getpid()}"
    runtime = runtime_for(
        suite,
        None,
        {"max_instances": 4, "warm_starts": warm, "browser": browser, "owner": owner},
        standby=1,
    )
    browser_config = SessionConfig(
        screenshot=screenshots is not None, screenshot_early=not before, **(screenshots or {})
    )
    fleet = InProcessFleet(runtime, max_steps=max_steps, browser_config=browser_config)
    with (
        tempfile.TemporaryDirectory(prefix="webserv-bench-rollout-") as out,
        _as_before(before),
    ):
        config = RolloutConfig(
            policy="scripted", envs=1, episodes=episodes, max_steps=max_steps, out=Path(out)
        )
        summary = await run_rollouts(config, fleet, _storefront_tasks())
        steps = read_jsonl(Path(out) / "steps.jsonl")
        episodes_out = read_jsonl(Path(out) / "episodes.jsonl")
        sizes = [p.stat().st_size for p in (Path(out) / "screenshots").rglob("*.*")]
    totals = summary.totals
    env_ms = [s["timings"]["env_ms"] for s in steps if s["timings"]["env_ms"] is not None]
    resets = [e["reset_ms"] for e in episodes_out if e["reset_ms"]]
    reset_s, step_s = sum(resets) / 1000, sum(env_ms) / 1000
    return {
        "steps_per_s": [totals.steps_per_s],
        "step_ms": env_ms,
        "reset_ms": resets,
        "screenshot_ms": [
            s["timings"]["screenshot_ms"] for s in steps if s["timings"].get("screenshot_ms")
        ],
        "screenshot_bytes": [float(size) for size in sizes],
        "reset_s": [reset_s],
        "step_s": [step_s],
        "policy_s": [totals.policy_s_total],
        "other_s": [totals.wall_s - reset_s - step_s - totals.policy_s_total],
        "failed_episodes": [float(totals.episode_errors)],
    }


def _rollouts(report: Report, rounds: int, episodes: int, max_steps: int) -> None:
    """Every rollout variant ``rounds`` times, in turns (forward, then backward), so that a
    change of the machine's load meanwhile weighs on all of them alike."""
    samples: dict[str, dict[str, list[float]]] = {name: {} for name, *_ in ROLLOUTS}
    for turn in range(rounds):
        order = ROLLOUTS if turn % 2 == 0 else tuple(reversed(ROLLOUTS))
        for name, warm, screenshots, before, browser in order:
            got = asyncio.run(_rollout(warm, screenshots, before, browser, episodes, max_steps))
            for metric, values in got.items():
                samples[name].setdefault(metric, []).extend(values)
    for name, metrics in samples.items():
        # Where the wall time of the runs went (s, summed over the runs).
        split = {key: round(sum(metrics.pop(key)), 3) for key in PARTS}
        for metric, values in metrics.items():
            if values:
                report.add(name, metric, values, **(split if metric == "steps_per_s" else {}))


def run(
    n: int = 15,
    gap_s: float = 4.0,
    episodes: int = 6,
    max_steps: int = 15,
    http: bool = True,
    rounds: int = 2,
) -> Report:
    """Reset to first observation (cold vs warm, in-process and over HTTP) and rollout
    throughput per env with and without screenshots, before and now, in one report."""
    task_id = _storefront_tasks()[0].task_id
    report = Report(
        benchmark="reset-trainer",
        params={
            "site": "shop",
            "task_id": task_id,
            "n": n,
            "gap_s": gap_s,
            "standby": 1,
            "rollout": {
                "envs": 1,
                "episodes": episodes,
                "max_steps": max_steps,
                "rounds": rounds,
            },
            "load_average_start": _load(),
        },
    )
    for warm in (False, True):
        variant = "warm" if warm else "cold"
        samples, warm_count = _in_process(warm, task_id, n, gap_s)
        report.add(f"in-process-{variant}", "reset_ms", samples, warm_starts=warm_count)
    report.compare("reset_ms", "in-process-warm", "in-process-cold")
    if http:
        for warm in (False, True):
            variant = "warm" if warm else "cold"
            samples, warm_count = _over_http(warm, task_id, n, gap_s)
            report.add(f"http-{variant}", "reset_ms", samples, warm_starts=warm_count)
        report.compare("reset_ms", "http-warm", "http-cold")
    report.params["load_average_after_resets"] = _load()
    _rollouts(report, rounds, episodes, max_steps)
    report.compare("steps_per_s", "now-jpeg-screenshots", "before-png-screenshots")
    report.compare("steps_per_s", "now-no-screenshots", "before-no-screenshots")
    report.compare("steps_per_s", "now-jpeg-screenshots", "now-jpeg-screenshots-full-chromium")
    report.compare("screenshot_ms", "now-jpeg-screenshots", "before-png-screenshots")
    report.params["load_average_end"] = _load()
    return report
