"""Rollout throughput: steps per second of the scripted shopper on N in-process envs.

For each N, a fresh runtime (pool with N warm instances, one Chromium) runs ``episodes_per_env
* N`` episodes of the shop suite's storefront tasks with N envs at once, as ``webserv rollout``
does (JSONL written to a temporary directory). Screenshots are off by default, since the
scripted shopper reads only the page text; ``screenshots=True`` adds a PNG per step. Reported per N:
``steps_per_s`` over the whole run (resets included), and each step's time split into env
time (``step_ms``: act, settle, observe, evaluate) and policy time (``policy_ms``), plus
``reset_ms``. The ratios say how throughput scales against one env. The CPUs are shared, so
the load average at start and end is part of the params. The report is written after each N.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from benchmarks.report import Report
from webserv.browser.session import SessionConfig
from webserv.env.config import runtime_for
from webserv.rollout.envs import InProcessFleet
from webserv.rollout.records import read_jsonl
from webserv.rollout.runner import RolloutConfig, run_rollouts
from webserv.tasks.suite import load_suite


def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


async def _one(n: int, episodes: int, max_steps: int, screenshots: bool, report: Report) -> None:
    suite = load_suite("shop")
    tasks = [t for t in suite.tasks if t.sites == ["shopping"]]
    # The suite's sites with the golden data its answers came from, as `webserv rollout` runs.
    runtime = runtime_for(suite, None, {"max_instances": 2 * n + 2}, standby=n)
    fleet = InProcessFleet(
        runtime, max_steps=max_steps, browser_config=SessionConfig(screenshot=screenshots)
    )
    with tempfile.TemporaryDirectory(prefix="webserv-bench-rollout-") as out:
        config = RolloutConfig(
            policy="scripted", envs=n, episodes=episodes, max_steps=max_steps, out=Path(out)
        )
        summary = await run_rollouts(config, fleet, tasks)
        steps = read_jsonl(Path(out) / "steps.jsonl")
        episodes_out = read_jsonl(Path(out) / "episodes.jsonl")
    totals = summary.totals
    variant = f"scripted-{n}-envs"
    spent = totals.env_s_total + totals.policy_s_total
    report.add(
        variant,
        "steps_per_s",
        [totals.steps_per_s],
        envs=n,
        episodes=totals.episodes,
        steps=totals.steps,
        wall_s=totals.wall_s,
        env_s=totals.env_s_total,
        policy_s=totals.policy_s_total,
        env_share=round(totals.env_s_total / spent, 4) if spent else None,
        failed_episodes=totals.episode_errors,
        action_errors=totals.action_errors,
    )
    env_ms = [s["timings"]["env_ms"] for s in steps if s["timings"]["env_ms"] is not None]
    resets = [e["reset_ms"] for e in episodes_out if e["reset_ms"]]
    for metric, samples, part in (
        ("step_ms", env_ms, "env"),
        ("policy_ms", [s["timings"]["policy_ms"] for s in steps], "policy"),
        ("reset_ms", resets, "env"),
    ):
        if samples:
            report.add(variant, metric, samples, part=part)
    errors = sorted({e["error"] for e in episodes_out if e["error"]})
    if errors:
        report.notes.append(f"{variant}: {len(errors)} kinds of failed episodes, e.g. {errors[:3]}")


async def _run(envs: list[int], episodes_per_env: int, max_steps: int, screenshots: bool) -> Report:
    report = Report(
        benchmark="rollout",
        params={
            "policy": "scripted",
            "envs": envs,
            "episodes_per_env": episodes_per_env,
            "max_steps": max_steps,
            "screenshots": screenshots,
            "tasks": "shop suite, storefront tasks",
            "load_average_start": _load(),
        },
    )
    for n in envs:
        report.params[f"load_average_before_{n}"] = _load()
        await _one(n, episodes_per_env * n, max_steps, screenshots, report)
        report.params["load_average_end"] = _load()
        report.write()  # what is measured so far survives a run stopped in a later N
    base = f"scripted-{envs[0]}-envs"
    for n in envs[1:]:
        report.compare("steps_per_s", f"scripted-{n}-envs", base)
    return report


def run(
    envs: list[int] | None = None,
    episodes_per_env: int = 2,
    max_steps: int = 15,
    screenshots: bool = False,
) -> Report:
    """Run the rollout benchmark for each number of envs (default 1, 8, 32)."""
    return asyncio.run(_run(envs or [1, 8, 32], episodes_per_env, max_steps, screenshots))
