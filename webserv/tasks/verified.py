"""WebArena-Verified's rules, for the tasks of its dataset.

WebArena-Verified (the ``webarena-verified`` package) deliberately changes how WebArena
scores: the agent answers with a JSON object (``task_type``, ``status``, ``retrieved_data``)
compared type-aware and exactly, and navigation and changes are checked on the episode's
network trace (a HAR) instead of pages read after the episode. webserv records the HAR of
a Verified task's episode and hands both to the package's own evaluator, so a Verified run
scores as Verified does; reports say which rules scored them. The package pins its own
dependencies, so it is not installed with webserv: ``pip install webarena-verified``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from webserv.tasks.config import PLACEHOLDERS, TaskConfig
from webserv.tasks.evaluators import EvalResult, NotEvaluable

RULES = "webarena-verified"


def evaluate_verified(
    task: TaskConfig, answer: str | None, har: Path, base_urls: Mapping[str, str]
) -> EvalResult:
    """Score a Verified task (blocking: run it in a thread) on the agent's answer and the
    episode's HAR; ``base_urls`` are the instances' URLs per WebArena site name."""
    try:
        from webarena_verified.api import WebArenaVerified
        from webarena_verified.types.config import WebArenaVerifiedConfig
    except ImportError as err:
        raise NotEvaluable(
            "a WebArena-Verified task needs the webarena-verified package to be scored "
            "(pip install webarena-verified)"
        ) from err
    environments = {
        PLACEHOLDERS.get(site, f"__{site.upper()}__"): {"urls": [url.rstrip("/")]}
        for site, url in base_urls.items()
    }
    verified = WebArenaVerified(config=WebArenaVerifiedConfig(environments=environments))
    try:
        result = verified.evaluate_task(
            task_id=int(task.task_id), agent_response=answer, network_trace=har
        )
    except (KeyError, ValueError) as err:
        raise NotEvaluable(f"WebArena-Verified could not score task {task.task_id}: {err}") from err
    checks = [
        f"{part.evaluator_name}: {part.status} (score {part.score:g})"
        for part in result.evaluators_results
    ]
    return EvalResult(score=float(result.score), checks=[f"rules {RULES}", *checks])
