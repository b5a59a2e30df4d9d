"""``webserv suite ...``: list and run task suites."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from webserv.options import Json, Sites

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rich.console import Console

    from webserv.env.runner import SuiteReport
    from webserv.tasks.suite import Suite

app = typer.Typer(help="Run WebArena-format task suites.", no_args_is_help=True)


class PolicyKind(StrEnum):
    reference = "reference"
    random = "random"


def _load(suite: str) -> Suite:
    from webserv.tasks.suite import load_suite

    try:
        return load_suite(suite)
    except (KeyError, FileNotFoundError, ValueError) as err:
        typer.echo(f"error: {err.args[0] if err.args else err}", err=True)
        raise typer.Exit(2) from err


async def _run_with_judge(
    endpoint: str | None, model: str, key: str, suite: Suite, **options: Any
) -> SuiteReport:
    """``run_suite`` with a fuzzy_match judge on ``endpoint`` when one is given."""
    from webserv.env.runner import run_suite
    from webserv.tasks.judge import ChatJudge

    judge = ChatJudge(endpoint, model, api_key=key) if endpoint else None
    try:
        return await run_suite(suite, judge=judge, **options)
    finally:
        if judge is not None:
            await judge.close()


def deployments(mapping: str | None) -> list[str]:
    """``--site-url name=URL,name=URL`` as ``--site name:url=URL`` entries."""
    if not mapping:
        return []
    sites = []
    for pair in mapping.split(","):
        name, sep, url = pair.strip().partition("=")
        if not sep or not name or not url:
            raise typer.BadParameter(f"{pair!r} is not NAME=URL", param_hint="--site-url")
        sites.append(f"{name}:url={url}")
    return sites


#: The suite argument of list and run.
SuiteName = Annotated[str, typer.Argument(help="Suite name, directory or task file.")]


@app.command("list")
def list_tasks(suite: SuiteName = "shop") -> None:
    """List the tasks of a suite: id, template, sites, evaluators, intent."""
    loaded = _load(suite)
    manifest = loaded.manifest
    golden = "; ".join(
        f"{site} " + ", ".join(f"{k} {v}" for k, v in params.items())
        for site, params in manifest.golden.items()
    )
    typer.echo(
        f"suite {manifest.name}: {len(loaded.tasks)} tasks on "
        f"{', '.join(manifest.sites) or 'the sites you serve'}"
        + (f" (golden data: {golden})" if golden else "")
    )
    for task in loaded.tasks:
        evals = "+".join(task.eval.eval_types)
        typer.echo(
            f"{task.task_id:>4}  t{task.intent_template_id!s:<4} {','.join(task.sites):<15} "
            f"{evals:<13} {task.intent}"
        )
    for problem in loaded.invalid:
        typer.echo(f"invalid: {problem}")


def _print_summary(console: Console, report: SuiteReport) -> None:
    """The success rate, latencies, per-site and per-template results, and what failed to
    load or could not be evaluated."""
    lat = report.latency
    console.print(
        f"\n[bold]{report.suite}[/] with the {report.policy} policy: "
        f"{report.successes}/{report.tasks} passed ({report.success_rate:.1%}), "
        f"{report.not_evaluable} not evaluable, {report.wall_s:.0f} s with {report.parallel} "
        f"in parallel"
    )
    for name in ("reset_ms", "acquire_ms", "step_ms", "settle_ms", "eval_ms"):
        row = lat[name]
        console.print(f"  {name:<10} p50 {row.p50:>8.1f}  p95 {row.p95:>8.1f}  n {row.n}")
    for title, groups in (("site", report.by_site), ("template", report.by_template)):
        console.print(f"per {title}:")
        for name, group in groups.items():
            console.print(
                f"  {name:<28} {group.successes:>4}/{group.tasks:<4} ({group.success_rate:.1%})"
                + (f", {group.not_evaluable} not evaluable" if group.not_evaluable else "")
            )
    for task_id, reason in report.not_evaluable_reasons().items():
        console.print(f"  not evaluable: task {task_id}: {reason}")
    for problem in report.invalid:
        console.print(f"  [red]did not load[/]: {problem}")


def _write_reports(
    console: Console, report: SuiteReport, junit: Path | None, out: Path | None
) -> None:
    """The JUnit XML and JSON reports, where asked for."""
    if junit is not None:
        junit.parent.mkdir(parents=True, exist_ok=True)
        junit.write_text(report.junit_xml())
        console.print(f"JUnit report written to {junit}")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(report.model_dump_json(indent=2))
        console.print(f"report written to {out}")


# The run command's own options.
SiteUrls = Annotated[
    str | None,
    typer.Option(
        "--site-url",
        help="An existing deployment per site name: shopping=http://h:7770,gitlab=http://h:8023 "
        "(the same as --site NAME:url=URL for each).",
    ),
]
Policy = Annotated[PolicyKind, typer.Option(help="Who acts.")]
Parallel = Annotated[int, typer.Option("--parallel", min=1, max=32, help="Episodes at once.")]
MaxSteps = Annotated[int, typer.Option("--max-steps", min=1, help="Steps before truncation.")]
TaskIds = Annotated[list[str], typer.Option("--task", help="Run only these task ids (repeatable).")]
ReportFile = Annotated[
    Path | None, typer.Option("--out", help="Write the JSON report to this file.")
]
JunitFile = Annotated[Path | None, typer.Option("--junit", help="Write a JUnit XML report here.")]
JudgeEndpoint = Annotated[
    str | None,
    typer.Option(
        "--judge-endpoint",
        help="OpenAI-compatible base URL (e.g. http://127.0.0.1:8000/v1) of the model that "
        "grades fuzzy_match answers; without it such tasks are reported not evaluable.",
    ),
]
JudgeModel = Annotated[str, typer.Option("--judge-model", help="Model name for the judge.")]
JudgeKey = Annotated[
    str,
    typer.Option("--judge-key", envvar="WEBSERV_JUDGE_API_KEY", help="API key for the judge."),
]


@app.command()
def run(
    suite: SuiteName = "shop",
    site: Sites = [],  # noqa: B006 - typer reads the default, never mutates it
    site_url: SiteUrls = None,
    policy: Policy = PolicyKind.reference,
    parallel: Parallel = 4,
    max_steps: MaxSteps = 20,
    task: TaskIds = [],  # noqa: B006
    out: ReportFile = None,
    junit: JunitFile = None,
    as_json: Json = False,
    judge_endpoint: JudgeEndpoint = None,
    judge_model: JudgeModel = "",
    judge_key: JudgeKey = "EMPTY",
) -> None:
    """Run every task of SUITE with a policy; print per-task results and a summary.

    Each task leases an instance of every site it names, from the sites served (``--site``;
    default: the suite's own, on the process backend)."""
    import sys

    from rich.console import Console

    if judge_endpoint and not judge_model:
        typer.echo("error: --judge-endpoint needs --judge-model", err=True)
        raise typer.Exit(2)
    loaded = _load(suite)
    try:
        sites = [*site, *deployments(site_url)]
        ids = [loaded.task(t).task_id for t in task] if task else None
    except KeyError as err:
        typer.echo(f"error: {err.args[0]}", err=True)
        raise typer.Exit(2) from err
    console = Console(width=None if sys.stdout.isatty() else 120, stderr=as_json)
    report = _run_with_progress(
        console,
        loaded,
        policy,
        ids,
        judge=(judge_endpoint, judge_model, judge_key),
        parallel=parallel,
        max_steps=max_steps,
        sites=sites or None,
    )
    _print_summary(console, report)
    _write_reports(console, report, junit, out)
    if as_json:
        typer.echo(report.model_dump_json(indent=2))


def _run_with_progress(
    console: Console,
    suite: Suite,
    policy: PolicyKind,
    task_ids: Sequence[int | str] | None,
    judge: tuple[str | None, str, str],
    **options: Any,
) -> SuiteReport:
    """Run ``task_ids`` of the suite (default: all) with a progress bar and a line per
    result; ``judge``: the endpoint, model and key grading fuzzy_match answers; ``options``:
    the rest of ``run_suite``'s."""
    import asyncio

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from webserv.env.runner import TaskResult

    total = len(task_ids) if task_ids is not None else len(suite.tasks)
    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    passed = 0

    with progress:
        bar = progress.add_task(f"{suite.manifest.name} ({policy.value})", total=total)

        def on_result(result: TaskResult) -> None:
            nonlocal passed
            passed += result.success
            mark = "[green]PASS[/]" if result.success else "[red]FAIL[/]"
            if result.score is None:
                mark = "[yellow]N/A [/]"
            detail = result.error or next((c for c in result.checks if "FAIL" in c), "")
            progress.console.print(
                f"{mark} {result.task_id!s:>4} {result.steps:>2} steps  {result.intent[:70]}"
                + (f"\n          {detail[:150]}" if detail and not result.success else "")
            )
            progress.update(bar, advance=1, description=f"{suite.manifest.name}: {passed} passed")

        return asyncio.run(
            _run_with_judge(
                *judge,
                suite,
                policy=policy.value,
                task_ids=task_ids,
                on_result=on_result,
                **options,
            )
        )
