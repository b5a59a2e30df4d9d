"""``webserv behaviour``: score predicted next actions and evaluate a policy offline."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from webserv.rollout.cli import (
    ApiKey,
    Endpoint,
    HistoryPages,
    JsonMode,
    MaxTokens,
    ModelName,
    PolicyChoice,
    Temperature,
    TokenBudget,
    fail,
    model_config,
)

if TYPE_CHECKING:
    from webserv.behaviour.metrics import FidelityMetrics
    from webserv.behaviour.replay import RewardMeans

app = typer.Typer(
    help="Behaviour simulation: Shop-R1 rewards, fidelity metrics, offline evaluation.",
    no_args_is_help=True,
)


def print_metrics(metrics: FidelityMetrics, title: str) -> None:
    """The overall metrics and the per-type table, as percentages."""
    from rich.console import Console
    from rich.table import Table

    def pct(value: float) -> str:
        return f"{100 * value:.2f}"

    overall = Table(title=title)
    for column in ("pairs", "exact %", "type acc %", "type macro F1 %", "type weighted F1 %"):
        overall.add_column(column, justify="right")
    overall.add_row(
        str(metrics.n),
        pct(metrics.exact_accuracy),
        pct(metrics.type_accuracy),
        pct(metrics.type_macro_f1),
        pct(metrics.type_weighted_f1),
    )
    per_class = Table(title="per gold action type")
    per_class.add_column("type", no_wrap=True, min_width=15)
    for column in ("gold", "predicted", "exact %", "type acc %", "precision %", "F1 %"):
        per_class.add_column(column, justify="right")
    for kind, m in metrics.per_class.items():
        per_class.add_row(
            kind,
            str(m.support),
            str(m.predicted),
            pct(m.exact_accuracy),
            pct(m.type_accuracy),
            pct(m.precision),
            pct(m.f1),
        )
    per_class.add_row("none", "-", str(metrics.unusable), "-", "-", "-", "-")
    console = Console()
    console.print(overall)
    console.print(per_class)


@app.command("score")
def score(
    predictions: Path = typer.Argument(
        ..., help="JSONL with session_id, step and predicted (or action) in OPeRA form."
    ),
    gold: Path = typer.Argument(..., help="Recorded steps (steps.jsonl of a rollout)."),
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Pair predictions with gold steps by session_id and step; print the fidelity metrics."""
    from webserv.behaviour.replay import ReplayError
    from webserv.behaviour.replay import score as score_files

    try:
        result = score_files(predictions, gold)
    except ReplayError as err:
        raise fail(str(err)) from err
    if json_output:
        typer.echo(result.model_dump_json(indent=2))
        return
    print_metrics(result.metrics, f"{predictions} against {gold}")
    typer.echo(
        f"{result.paired} paired, {result.missing} gold steps without a prediction (wrong), "
        f"{result.unmatched} predictions of no gold step, "
        f"{result.not_scored} gold steps outside the OPeRA action space"
    )
    if result.reward is not None:
        typer.echo(_reward_line(result.reward))


def _reward_line(reward: RewardMeans) -> str:
    return (
        f"mean Shop-R1 reward {reward.total:.3f} (format {reward.format:.3f}, "
        f"type {reward.type:.3f}, similarity {reward.similarity:.3f})"
    )


@app.command("eval")
def evaluate(
    steps: Path = typer.Argument(..., help="Recorded steps (steps.jsonl of a rollout)."),
    policy: PolicyChoice = typer.Option(PolicyChoice.vlm, help="The policy to evaluate."),
    endpoint: Endpoint = None,
    model: ModelName = "",
    api_key: ApiKey = "EMPTY",
    out: Path | None = typer.Option(
        None, "--out", help="Where predictions.jsonl and summary.json go (default: STEPS/../eval)."
    ),
    concurrency: int = typer.Option(4, min=1, help="Sessions replayed at once."),
    sessions: int | None = typer.Option(None, min=1, help="Replay only the first N sessions."),
    screenshots: bool = typer.Option(
        True, "--screenshots/--no-screenshots", help="Send the recorded screenshot, if any."
    ),
    history_pages: HistoryPages = 3,
    token_budget: TokenBudget = 16_000,
    temperature: Temperature = 0.6,
    max_tokens: MaxTokens = 512,
    json_mode: JsonMode = False,
    seed: int = typer.Option(0, help="Seed of the baselines (plus the recorded episode)."),
    json_output: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Predict each recorded step's next action offline and score it against the recorded one."""
    import asyncio

    from rich.progress import Progress

    from webserv.behaviour.replay import EvalConfig, ReplayError
    from webserv.behaviour.replay import evaluate as run_evaluation
    from webserv.policy.prompt import PromptConfig
    from webserv.policy.vlm import ModelError

    model_settings = model_config(
        policy, endpoint, model, api_key, temperature, max_tokens, json_mode
    )
    config = EvalConfig(
        steps=steps,
        out=out or steps.parent / "eval",
        policy=policy.value,
        model=model_settings,
        prompt=PromptConfig(
            mode="opera",
            screenshot=screenshots,
            history_pages=history_pages,
            token_budget=token_budget,
        ),
        concurrency=concurrency,
        max_sessions=sessions,
        seed=seed,
    )
    with Progress(transient=True, disable=json_output) as progress:
        bar = progress.add_task(f"eval ({policy.value})", total=None)
        try:
            summary = asyncio.run(run_evaluation(config, lambda p: progress.advance(bar)))
        except (ReplayError, ModelError) as err:
            raise fail(str(err)) from err
    if json_output:
        typer.echo(summary.model_dump_json(indent=2, exclude={"config": {"model": {"api_key"}}}))
        return
    print_metrics(summary.metrics, f"{policy.value} on {steps}")
    typer.echo(
        f"{summary.sessions} sessions, {summary.steps} steps replayed, {summary.scored} scored "
        f"in {summary.wall_s:.1f} s; format ok {100 * summary.format_ok_rate:.1f}%; "
        f"{_reward_line(summary.reward)}; written to {config.out}"
    )
