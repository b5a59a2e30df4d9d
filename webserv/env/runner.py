"""Run a task suite with a policy: N envs in parallel on one runtime, one report.

Each worker owns an :class:`EnvSession` and takes tasks from a shared queue; every episode
starts on a fresh instance. The report has one result per task (score, steps, timings, the
evaluator's checks) and the suite's success rate with reset/step latency percentiles.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import Callable, Sequence
from typing import Any
from xml.etree import ElementTree

from pydantic import BaseModel, Field

from webserv.env.runtime import EnvRuntime, UnservedSite, runtime_for
from webserv.env.session import EnvSession
from webserv.policy.base import Turn
from webserv.policy.factory import make_policy
from webserv.stats import percentile
from webserv.tasks.config import InvalidTask, TaskConfig
from webserv.tasks.evaluators import Judge
from webserv.tasks.suite import Suite


class TaskResult(BaseModel):
    """One episode of one task."""

    task_id: int | str
    template_id: int | str | None = None
    sites: list[str] = Field(default_factory=list, description="The task's site names.")
    intent: str
    score: float | None = Field(description="None: not evaluable (no judge for fuzzy_match).")
    success: bool
    steps: int
    answer: str | None = None
    reset_ms: float | None = None
    acquire_ms: float | None = Field(None, description="Part of reset_ms spent leasing.")
    step_ms: list[float] = Field(default_factory=list)
    settle_ms: list[float] = Field(default_factory=list)
    eval_ms: float | None = None
    checks: list[str] = Field(default_factory=list)
    action_errors: list[str] = Field(default_factory=list)
    error: str = ""
    last_url: str = ""
    last_text: str = Field("", description="The final observation, kept when the task failed.")


class Latency(BaseModel):
    p50: float
    p95: float
    n: int


class Tally(BaseModel):
    """Successes of a group of tasks (a site name, a template)."""

    tasks: int = 0
    successes: int = 0
    not_evaluable: int = 0

    @property
    def success_rate(self) -> float:
        return round(self.successes / self.tasks, 4) if self.tasks else 0.0


class SuiteReport(BaseModel):
    """The outcome of one suite run, in an order that diffs cleanly between runs."""

    suite: str
    policy: str
    rules: str = Field(
        "webarena",
        description="Whose scoring rules: webarena (WebArena's evaluation harness), "
        "webarena-verified, or both joined by '+'.",
    )
    parallel: int
    max_steps: int
    tasks: int
    successes: int
    not_evaluable: int
    success_rate: float
    wall_s: float
    latency: dict[str, Latency]
    by_site: dict[str, Tally] = Field(default_factory=dict)
    by_template: dict[str, Tally] = Field(default_factory=dict)
    invalid: list[InvalidTask] = Field(
        default_factory=list, description="Tasks of the file that did not load."
    )
    results: list[TaskResult]

    def not_evaluable_reasons(self) -> dict[str, str]:
        """Task id to why it could not be scored."""
        return {
            str(r.task_id): next(
                (c.removeprefix("not evaluable: ") for c in r.checks if "not evaluable" in c),
                r.error,
            )
            for r in self.results
            if r.score is None
        }

    def junit_xml(self) -> str:
        """The report as JUnit XML: a test case per task (failed, or skipped when not
        evaluable), one suite per site name, for CI systems that show test reports."""
        root = ElementTree.Element("testsuites", name=self.suite)
        reasons = self.not_evaluable_reasons()
        for site in self.by_site:
            cases = [r for r in self.results if site_key(r) == site]
            suite = ElementTree.SubElement(
                root,
                "testsuite",
                name=f"{self.suite}.{site}",
                tests=str(len(cases)),
                failures=str(sum(not r.success and r.score is not None for r in cases)),
                skipped=str(sum(r.score is None for r in cases)),
            )
            for result in cases:
                case = ElementTree.SubElement(
                    suite,
                    "testcase",
                    classname=f"{self.suite}.{site}.template{result.template_id}",
                    name=f"task {result.task_id}",
                    time=f"{((result.reset_ms or 0) + sum(result.step_ms)) / 1000:.3f}",
                )
                if result.score is None:
                    ElementTree.SubElement(case, "skipped", message=reasons[str(result.task_id)])
                elif not result.success:
                    why = result.error or next((c for c in result.checks if "FAIL" in c), "")
                    failure = ElementTree.SubElement(case, "failure", message=why[:500])
                    failure.text = "\n".join(result.checks + result.action_errors)
        ElementTree.indent(root)
        return ElementTree.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def site_key(result: TaskResult) -> str:
    """The group of a task in per-site reports: its site names joined by "+"."""
    return "+".join(result.sites) or "-"


def tally(results: Sequence[TaskResult], key: Callable[[TaskResult], str]) -> dict[str, Tally]:
    groups: dict[str, Tally] = {}
    for result in results:
        group = groups.setdefault(key(result), Tally())
        group.tasks += 1
        group.successes += result.success
        group.not_evaluable += result.score is None
    # Numeric names (template ids) in numeric order, so 2 comes before 11.
    return dict(sorted(groups.items(), key=lambda kv: (not kv[0].isdigit(), kv[0].zfill(12))))


def _latency(values: list[float]) -> Latency:
    if not values:
        return Latency(p50=0.0, p95=0.0, n=0)
    return Latency(
        p50=round(percentile(values, 50), 1), p95=round(percentile(values, 95), 1), n=len(values)
    )


async def run_episode(
    env: EnvSession, task: TaskConfig, policy_kind: str, seed: int = 0
) -> TaskResult:
    """One episode of ``task`` driven by the policy; errors end up in the result."""
    observation: dict[str, Any] = {}
    result = TaskResult(
        task_id=task.task_id,
        template_id=task.intent_template_id,
        sites=list(task.sites),
        intent=task.intent,
        score=0.0,
        success=False,
        steps=0,
    )
    try:
        obs, info = await env.reset(task)
        assert env.task is not None
        # env.task, not task: the reference policy needs the task with its URLs resolved.
        policy = make_policy(policy_kind, seed=seed, task=env.task)
        result.reset_ms = info["timings"]["reset_ms"]
        result.acquire_ms = info["timings"]["acquire_ms"]
        observation = obs.to_dict()
        history: list[Turn] = []
        while True:
            decision = await policy.act(observation, history)
            # A decision without an action goes to the env as written: the env says why it is
            # not one, and the step counts towards max_steps.
            step = await env.step(
                decision.action if decision.action is not None else decision.raw_output
            )
            history.append(Turn.of(observation, decision, step.observation.last_action_error))
            observation = step.observation.to_dict()
            result.steps += 1
            result.step_ms.append(step.info["timings"]["step_ms"])
            result.settle_ms.append(step.observation.settle_ms)
            if step.observation.last_action_error:
                error = step.observation.last_action_error
                result.action_errors.append(
                    f"{step.observation.last_action} on {step.observation.url}: {error}"
                )
            result.last_url = step.observation.url
            if step.terminated or step.truncated:
                evaluation = step.info["evaluation"]
                result.score = evaluation["score"]
                result.checks = evaluation["checks"]
                result.eval_ms = step.info["timings"]["eval_ms"]
                result.answer = step.observation.answer
                break
    except UnservedSite as err:  # the run serves other sites: this task says nothing
        result.error = str(err)
        result.score = None
        result.checks = [f"not evaluable: {err}"]
    except Exception as err:  # one broken episode must not stop the suite
        result.error = f"{type(err).__name__}: {err}"
        result.score = 0.0
    result.success = result.score == 1.0
    if not result.success and observation:
        result.last_text = str(observation.get("text", ""))[:4000]
    return result


async def run_suite(
    suite: Suite,
    *,
    policy: str = "reference",
    parallel: int = 4,
    max_steps: int = 20,
    task_ids: Sequence[int | str] | None = None,
    runtime: EnvRuntime | None = None,
    sites: Sequence[str] | None = None,
    judge: Judge | None = None,
    on_result: Callable[[TaskResult], None] | None = None,
) -> SuiteReport:
    """Run the suite's tasks (or ``task_ids`` of them) with ``parallel`` envs at once.

    Without a ``runtime``, one is started for ``sites`` (``NAME[:BACKEND]``; default: the
    suite's own) with the suite's golden data, and closed after; each task leases an
    instance of every site it names.
    ``judge`` grades ``fuzzy_match`` answers; without one such tasks are not evaluable.
    """
    if parallel < 1:
        raise ValueError("parallel must be at least 1")
    tasks = [suite.task(t) for t in task_ids] if task_ids is not None else list(suite.tasks)
    owned = runtime is None
    if runtime is None:
        config = runtime_for(suite, sites, {"max_instances": 2 * parallel + 2}, standby=parallel)
        runtime = await EnvRuntime(config).start()
    started = time.perf_counter()
    queue: asyncio.Queue[TaskConfig] = asyncio.Queue()
    for task in tasks:
        queue.put_nowait(task)
    results: list[TaskResult] = []

    async def worker() -> None:
        env = EnvSession(runtime, max_steps=max_steps, judge=judge)
        try:
            while not queue.empty():
                task = queue.get_nowait()
                seed = zlib.crc32(str(task.task_id).encode())
                result = await run_episode(env, task, policy, seed)
                results.append(result)
                if on_result is not None:
                    on_result(result)
        finally:
            await env.close()

    try:
        await asyncio.gather(*(worker() for _ in range(min(parallel, len(tasks)))))
    finally:
        if owned:
            await runtime.close()
    order = {str(task.task_id): i for i, task in enumerate(tasks)}
    results.sort(key=lambda r: order[str(r.task_id)])
    return suite_report(suite, tasks, results, policy, parallel, max_steps, started)


def suite_report(
    suite: Suite,
    tasks: Sequence[TaskConfig],
    results: list[TaskResult],
    policy: str,
    parallel: int,
    max_steps: int,
    started: float,
) -> SuiteReport:
    """The report of a suite run that began at ``started`` (``time.perf_counter``)."""
    successes = sum(r.success for r in results)
    rules = {"webarena-verified" if "verified" in t.eval.eval_types else "webarena" for t in tasks}
    return SuiteReport(
        suite=suite.manifest.name,
        policy=policy,
        rules="+".join(sorted(rules)),
        parallel=parallel,
        max_steps=max_steps,
        tasks=len(results),
        successes=successes,
        not_evaluable=sum(r.score is None for r in results),
        success_rate=round(successes / len(results), 4) if results else 0.0,
        wall_s=round(time.perf_counter() - started, 1),
        latency={
            "reset_ms": _latency([r.reset_ms for r in results if r.reset_ms is not None]),
            "acquire_ms": _latency([r.acquire_ms for r in results if r.acquire_ms is not None]),
            "step_ms": _latency([ms for r in results for ms in r.step_ms]),
            "settle_ms": _latency([ms for r in results for ms in r.settle_ms]),
            "eval_ms": _latency([r.eval_ms for r in results if r.eval_ms is not None]),
        },
        by_site=tally(results, site_key),
        by_template=tally(results, lambda r: str(r.template_id)),
        invalid=list(suite.invalid),
        results=results,
    )
