"""``webserv behaviour``: score predicted next actions and evaluate a policy offline."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from webserv.behaviour.aligned import fit_aligned_command, score_text_command
from webserv.behaviour.judging import judge_command, personas_command
from webserv.behaviour.opera import import_opera
from webserv.behaviour.twins import compare_command
from webserv.options import (
    Json,
    NameCompareOption,
    Reward,
    RewardChoice,
    Rules,
    RulesChoice,
    reward_of,
)
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
    endpoint_config,
    fail,
    model_config,
)

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from webserv.behaviour.calibration import CalibrationReport
    from webserv.behaviour.distribution import (
        Comparison,
        DistributionFidelity,
        PurchaseComparison,
    )
    from webserv.behaviour.metrics import (
        BehaviourReport,
        ClickTypeMetrics,
        FidelityMetrics,
        GroupMetrics,
    )
    from webserv.behaviour.refine import RefineConfig, Refinement
    from webserv.behaviour.replay import AlignedTermConfig, EvalConfig, EvalSummary, RewardMeans
    from webserv.policy.persona import Persona

app = typer.Typer(
    help="Behaviour simulation: Shop-R1 rewards, fidelity metrics, offline evaluation.",
    no_args_is_help=True,
)

app.command("import-opera")(import_opera)
app.command("fit-aligned")(fit_aligned_command)
app.command("score-text")(score_text_command)
app.command("compare")(compare_command)
app.command("judge")(judge_command)
app.command("personas")(personas_command)

#: Per-session rows printed; the JSON output has them all.
SESSION_ROWS = 30


def pct(value: float | None) -> str:
    """A fraction as a percentage with two decimals; ``-`` when there is none."""
    return "-" if value is None else f"{100 * value:.2f}"


def num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(title: str, columns: list[str], rows: list[list[str]], first_width: int = 0) -> Table:
    """A table whose first column is a left-aligned label and the rest right-aligned values."""
    from rich.table import Table

    made = Table(title=title)
    made.add_column(columns[0], no_wrap=True, min_width=first_width)
    for column in columns[1:]:
        made.add_column(column, justify="right")
    for row in rows:
        made.add_row(*row)
    return made


def print_metrics(metrics: FidelityMetrics, title: str, console: Console | None = None) -> None:
    """The per-step metrics: overall, per gold action type, per click type; as percentages."""
    from rich.console import Console

    from webserv.behaviour.metrics import RULES

    console = console or Console()
    clicks = metrics.click_type
    rows = [
        ["pairs", str(metrics.n)],
        ["exact %", pct(metrics.exact_accuracy)],
        ["type acc %", pct(metrics.type_accuracy)],
        ["fine-grained type acc %", pct(metrics.fine_type_accuracy)],
        ["type macro F1 %", pct(metrics.type_macro_f1)],
        ["type weighted F1 %", pct(metrics.type_weighted_f1)],
        ["click-type acc %", pct(clicks.accuracy if clicks else None)],
        ["click-type weighted F1 %", pct(clicks.weighted_f1 if clicks else None)],
    ]
    console.print(table(title, ["metric", "value"], rows))
    console.print(f"exact match by {RULES[metrics.rules]}", highlight=False)
    per_class = [
        [
            kind,
            str(m.support),
            str(m.predicted),
            pct(m.exact_accuracy),
            pct(m.type_accuracy),
            pct(m.precision),
            pct(m.f1),
        ]
        for kind, m in metrics.per_class.items()
    ]
    per_class.append(["none", "-", str(metrics.unusable), "-", "-", "-", "-"])
    columns = ["type", "gold", "predicted", "exact %", "type acc %", "precision %", "F1 %"]
    console.print(table("per gold action type", columns, per_class, first_width=15))
    if clicks is not None:
        _print_click_types(console, clicks)


def _print_click_types(console: Console, clicks: ClickTypeMetrics) -> None:
    rows = [
        [kind, str(m.support), str(m.predicted), pct(m.precision), pct(m.recall), pct(m.f1)]
        for kind, m in clicks.per_type.items()
        if m.support or m.predicted
    ]
    rows += [[k, "-", str(v), "-", "-", "-"] for k, v in clicks.unmatched_predictions.items()]
    columns = ["click type", "gold", "predicted", "precision %", "recall %", "F1 %"]
    title = f"per click type ({clicks.n} gold clicks; {clicks.unknown_gold} of unknown type)"
    console.print(table(title, columns, rows, first_width=16))


def group_rows(groups: dict[str, GroupMetrics], sessions: bool) -> list[list[str]]:
    """Rows of step metrics per group (user or session; ``sessions``: with their count),
    under :data:`GROUP_COLUMNS`."""
    return [
        [
            key,
            *([str(g.sessions)] if sessions else []),
            str(g.steps),
            pct(g.exact_accuracy),
            pct(g.type_accuracy),
            pct(g.fine_type_accuracy),
            pct(g.format_valid_rate),
            num(g.rationale_rouge_l),
        ]
        for key, g in groups.items()
    ]


#: Columns of :func:`group_rows` after the group's name (and its session count).
GROUP_COLUMNS = ["steps", "exact %", "type %", "fine type %", "format valid %", "rationale RL"]


def print_report(report: BehaviourReport, title: str) -> None:
    """Every table of a report: step metrics, report lines, outcomes, breakdowns, fidelity."""
    from rich.console import Console

    console = Console()
    print_metrics(report.metrics, title, console)
    overall = report.overall
    console.print(
        f"format valid {pct(overall.format_valid_rate)}% of replies; rationale ROUGE-L "
        f"{num(overall.rationale_rouge_l)} over {report.rationale_pairs} recorded rationales",
        highlight=False,
    )
    _print_outcomes(console, report)
    if report.per_user:
        rows = group_rows(report.per_user, sessions=True)
        console.print(table("per user", ["user", "sessions", *GROUP_COLUMNS], rows))
    rows = group_rows(report.per_session, sessions=False)
    shown = f" (first {SESSION_ROWS} of {len(rows)}; --json has all)"
    title = "per session" + (shown if len(rows) > SESSION_ROWS else "")
    console.print(table(title, ["session", *GROUP_COLUMNS], rows[:SESSION_ROWS]))
    _print_distribution(console, report.distribution.population)
    for label, groups in (
        ("user", report.distribution.per_user),
        ("persona", report.distribution.per_persona),
    ):
        if groups:
            rows = [_group_fidelity_row(key, g) for key, g in groups.items()]
            columns = [label, "sessions", "action JS", "click JS", "length real/pred"]
            columns += ["purchase % real/pred", "quit early"]
            console.print(table(f"predicted vs real behaviour per {label}", columns, rows))
    if report.calibration is not None:
        _print_calibration(console, report.calibration)


def _print_outcomes(console: Console, report: BehaviourReport) -> None:
    judged = {rule: m for rule, m in report.session_outcome.items() if m is not None}
    if not judged:
        console.print("session outcome: no session's purchase can be judged (click types unknown)")
        return
    rows = [
        [
            rule,
            f"{m.sessions} ({m.unjudged})",
            f"{m.real_purchases} / {m.predicted_purchases}",
            pct(m.accuracy),
            pct(m.purchase_f1),
            pct(m.weighted_f1),
        ]
        for rule, m in judged.items()
    ]
    columns = ["rule", "sessions (unjudged)", "purchases real/pred", "acc %", "purchase F1 %"]
    columns += ["weighted F1 %"]
    console.print(table("session outcome (purchase or not)", columns, rows))
    for rule, m in judged.items():
        console.print(f"{rule}: {m.description}", highlight=False)


def _print_distribution(console: Console, population: DistributionFidelity) -> None:
    """Shares of each outcome, how far apart the distributions are, where terminate falls."""
    columns = ["share of", "real %", "predicted %"]
    title = "behaviour, real vs predicted (population)"
    console.print(table(title, columns, share_rows(population)))
    columns = ["distribution", "JS divergence", "total variation", "real", "predicted"]
    title = "how far apart (JS base 2 and TV, both in [0, 1])"
    console.print(table(title, columns, divergence_rows(population)))
    end = population.terminate
    console.print(
        f"sessions the policy quits early {end.early}, on time {end.on_time}, late {end.late}, "
        f"never {end.missed} (neither side quits {end.neither}); terminate at (1 = last "
        f"step) real {num(end.real_relative, 2)}, predicted {num(end.predicted_relative, 2)}; "
        f"steps before the end real {num(end.real_steps_before_end, 1)}, predicted "
        f"{num(end.predicted_steps_before_end, 1)}",
        highlight=False,
    )


def share_rows(population: DistributionFidelity) -> list[list[str]]:
    """Rows of each outcome's share, real and predicted: action types, click types, session
    length bins."""
    from webserv.behaviour.distribution import LENGTH_BIN_LABELS

    compared = [
        ("action", population.action_types, None),
        ("click", population.click_types, None),
        ("length", population.session_length.bins, LENGTH_BIN_LABELS),
    ]
    rows = []
    for name, c, order in compared:
        if c is None:
            continue
        keys = c.real.keys() | c.predicted.keys()
        for key in [k for k in order if k in keys] if order else sorted(keys):
            rows.append(
                [f"{name} {key}", pct(c.real.get(key, 0.0)), pct(c.predicted.get(key, 0.0))]
            )
    return rows


def divergence_rows(population: DistributionFidelity) -> list[list[str]]:
    """Rows of how far apart the real and predicted distributions are (JS divergence, total
    variation), with the real and predicted length and purchase rate."""

    def apart(c: Comparison | PurchaseComparison | None) -> list[str]:
        return [num(c.js_divergence), num(c.total_variation)] if c else ["-", "-"]

    length, purchase = population.session_length, population.purchase
    return [
        ["action types", *apart(population.action_types), "", ""],
        ["click types", *apart(population.click_types), "", ""],
        [
            "session length",
            *apart(length.bins),
            f"mean {length.real_mean:.1f}, median {length.real_median:g}",
            f"mean {length.predicted_mean:.1f}, median {length.predicted_median:g}",
        ],
        [
            "purchase rate",
            *apart(purchase),
            f"{pct(purchase.real_rate)}%" if purchase else "-",
            f"{pct(purchase.predicted_rate)}%" if purchase else "-",
        ],
    ]


def _group_fidelity_row(key: str, g: DistributionFidelity) -> list[str]:
    clicks, purchase = g.click_types, g.purchase
    rates = (
        "-"
        if purchase is None
        else f"{100 * purchase.real_rate:.0f} / {100 * purchase.predicted_rate:.0f}"
    )
    return [
        key,
        str(g.sessions),
        num(g.action_types.js_divergence),
        num(clicks.js_divergence if clicks else None),
        f"{g.session_length.real_mean:.1f} / {g.session_length.predicted_mean:.1f}",
        rates,
        str(g.terminate.early),
    ]


def _print_calibration(console: Console, c: CalibrationReport) -> None:
    rows = [
        ["ATB classwise (truthful)", num(c.atb_classwise, 5)],
        *[[f"  ATB {k}", num(v, 5)] for k, v in c.atb_per_class.items()],
        [
            f"l2-qECE classwise, {c.qece_bins} equal-mass bins (truthful)",
            num(c.l2_qece_classwise, 5),
        ],
        [f"l1-ECE classwise, {c.ece_bins} bins (not truthful)", num(c.l1_ece_classwise, 5)],
        [f"top-label ECE, {c.ece_bins} bins (not truthful)", num(c.top_label_ece, 5)],
    ]
    title = f"calibration of the action-type probabilities ({c.n} steps; 0 = calibrated)"
    console.print(table(title, ["measure", "value"], rows))


@app.command("score")
def score(
    predictions: Path = typer.Argument(
        ..., help="JSONL with session_id, step and predicted (or action) in OPeRA form."
    ),
    gold: Path = typer.Argument(..., help="Recorded steps (steps.jsonl of a rollout)."),
    rules: Rules = RulesChoice.opera,
    reward: Reward = RewardChoice.shop_r1,
    name_compare: NameCompareOption = None,
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    plot: Path | None = typer.Option(
        None, "--plot", help="Also draw predicted vs real distributions into this PNG."
    ),
) -> None:
    """Pair predictions with gold steps by session_id and step; print the fidelity metrics."""
    from webserv.behaviour.replay import ReplayError
    from webserv.behaviour.replay import score as score_files

    try:
        result = score_files(predictions, gold, reward_of(reward, name_compare), rules.value)
    except ReplayError as err:
        raise fail(str(err)) from err
    if plot is not None:
        _plot(result.report, plot)
    if json_output:
        typer.echo(result.model_dump_json(indent=2))
        return
    print_report(result.report, f"{predictions} against {gold}")
    typer.echo(
        f"{result.paired} paired ({result.from_model_output} read from the raw reply, "
        f"{result.format_errors} without a readable action), {result.missing} gold steps "
        f"without a prediction (wrong), {result.unmatched} predictions of no gold step, "
        f"{result.not_scored} gold steps outside the OPeRA action space"
    )
    if result.reward is not None:
        typer.echo(_reward_line(result.reward))
    if plot is not None:
        typer.echo(f"distributions plotted to {plot}")


def _plot(report: BehaviourReport, path: Path) -> None:
    from webserv.behaviour.plot import plot_distributions

    try:
        plot_distributions(report, path)
    except OSError as err:
        raise fail(f"cannot write the plot {path}: {err}") from err


def _reward_line(reward: RewardMeans) -> str:
    terms = [f"format {reward.format:.3f}", f"action {reward.action:.3f}"]
    if reward.type is not None:
        terms.append(f"type {reward.type:.3f}")
    if reward.similarity is not None:
        terms.append(f"similarity {reward.similarity:.3f}")
    if reward.aligned_rationale:
        terms.append(f"aligned rationale {reward.aligned_rationale:.3f}")
    if reward.name_compare is not None:
        terms.append(f"names by {reward.name_compare}")
    wrong = "" if reward.wrong_share is None else f"; wrong actions earn {pct(reward.wrong_share)}%"
    return f"mean {reward.scheme} reward {reward.total:.3f} ({', '.join(terms)}){wrong}"


# The options of both commands that replay recorded steps, eval and refine-persona.
Concurrency = Annotated[int, typer.Option(min=1, help="Sessions replayed at once.")]
RecordedScreenshots = Annotated[
    bool,
    typer.Option("--screenshots/--no-screenshots", help="Send the recorded screenshot, if any."),
]

# The eval command's own options.
RecordedSteps = Annotated[Path, typer.Argument(help="Recorded steps (steps.jsonl of a rollout).")]
EvalPolicy = Annotated[PolicyChoice, typer.Option(help="The policy to evaluate.")]
EvalDir = Annotated[
    Path | None,
    typer.Option(
        "--out", help="Where predictions.jsonl and summary.json go (default: STEPS/../eval)."
    ),
]
Sessions = Annotated[int | None, typer.Option(min=1, help="Replay only the first N sessions.")]
EvalSeed = Annotated[int, typer.Option(help="Seed of the baselines (plus the recorded episode).")]
SummaryJson = Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")]
EvalPlot = Annotated[
    Path | None,
    typer.Option(
        "--plot",
        help="The PNG of predicted vs real distributions (default: OUT/distributions.png).",
    ),
]
AlignedRule = Annotated[
    Path | None,
    typer.Option(
        "--aligned-rule",
        help="Add the aligned-rationale term to the rewards, with this fitted rule "
        "(webserv behaviour fit-aligned).",
    ),
]
AlignedWeight = Annotated[float, typer.Option("--aligned-weight", min=0, help="Its weight.")]
AlignedEndpoint = Annotated[
    str | None,
    typer.Option(
        "--aligned-endpoint", help="The endpoint scoring rationales (default: --endpoint)."
    ),
]
AlignedModel = Annotated[
    str | None, typer.Option("--aligned-model", help="Its model (default: --model).")
]


@app.command("eval")
def evaluate(
    steps: RecordedSteps,
    policy: EvalPolicy = PolicyChoice.vlm,
    endpoint: Endpoint = None,
    model: ModelName = "",
    api_key: ApiKey = "EMPTY",
    out: EvalDir = None,
    concurrency: Concurrency = 4,
    sessions: Sessions = None,
    screenshots: RecordedScreenshots = True,
    history_pages: HistoryPages = 3,
    token_budget: TokenBudget = 16_000,
    temperature: Temperature = 0.6,
    max_tokens: MaxTokens = 512,
    json_mode: JsonMode = False,
    seed: EvalSeed = 0,
    rules: Rules = RulesChoice.opera,
    reward: Reward = RewardChoice.shop_r1,
    name_compare: NameCompareOption = None,
    json_output: SummaryJson = False,
    plot: EvalPlot = None,
    aligned_rule: AlignedRule = None,
    aligned_weight: AlignedWeight = 1.0,
    aligned_endpoint: AlignedEndpoint = None,
    aligned_model: AlignedModel = None,
) -> None:
    """Predict each recorded step's next action offline and score it against the recorded one."""
    from webserv.behaviour.replay import EvalConfig
    from webserv.policy.prompt import PromptConfig

    model_settings = model_config(
        policy, endpoint, model, api_key, temperature, max_tokens, json_mode
    )
    scorer = (aligned_endpoint or endpoint, aligned_model or model, api_key)
    aligned = aligned_term(aligned_rule, aligned_weight, *scorer)
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
        reward=reward_of(reward, name_compare),
        rules=rules.value,
        concurrency=concurrency,
        max_sessions=sessions,
        seed=seed,
        aligned=aligned,
    )
    summary = run_evaluation(config, quiet=json_output)
    show_evaluation(summary, config, plot or config.out / "distributions.png", json_output)


def aligned_term(
    rule: Path | None, weight: float, endpoint: str | None, model: str | None, api_key: str
) -> AlignedTermConfig | None:
    """The aligned-rationale reward term of ``--aligned-rule``, scored on ``endpoint`` by
    ``model``; without both, the command ends (exit 2)."""
    from webserv.behaviour.replay import AlignedTermConfig
    from webserv.policy.vlm import ModelConfig

    if rule is None:
        return None
    if not (endpoint and model):
        raise fail("--aligned-rule needs an endpoint and a model (--aligned-endpoint/-model)")
    return AlignedTermConfig(
        rule=rule,
        weight=weight,
        model=ModelConfig(endpoint=endpoint, model=model, api_key=api_key),
    )


def run_evaluation(config: EvalConfig, quiet: bool) -> EvalSummary:
    """Replay the recorded sessions with a progress bar (none when ``quiet``); a failing
    replay, model or rationale scorer ends the command (exit 2)."""
    import asyncio

    from rich.progress import Progress

    from webserv.behaviour.aligned import AlignedError
    from webserv.behaviour.replay import ReplayError, evaluate
    from webserv.policy.vlm import ModelError

    with Progress(transient=True, disable=quiet) as progress:
        bar = progress.add_task(f"eval ({config.policy})", total=None)
        try:
            return asyncio.run(evaluate(config, lambda p: progress.advance(bar)))
        except (ReplayError, ModelError, AlignedError) as err:
            raise fail(str(err)) from err


def show_evaluation(summary: EvalSummary, config: EvalConfig, plot: Path, as_json: bool) -> None:
    """Plot the distributions to ``plot``; print the summary as JSON (without secrets) or as
    the report's tables and a closing line."""
    from webserv.behaviour.replay import SECRETS

    _plot(summary.report, plot)
    if as_json:
        typer.echo(summary.model_dump_json(indent=2, exclude=SECRETS))
        return
    print_report(summary.report, f"{config.policy} on {config.steps}")
    typer.echo(
        f"{summary.sessions} sessions, {summary.steps} steps replayed, {summary.scored} scored "
        f"in {summary.wall_s:.1f} s; format ok {100 * summary.format_ok_rate:.1f}%; "
        f"{_reward_line(summary.reward)}; written to {config.out}"
    )
    typer.echo(f"distributions plotted to {plot}")


class AnalysisChoice(StrEnum):
    free = "free"
    bdi = "bdi"


class ObjectiveChoice(StrEnum):
    exact = "exact"
    type_f1 = "type-f1"
    distribution = "distribution"


# The refine-persona command's own options.
OperaSteps = Annotated[Path, typer.Argument(help="Recorded steps (an OPeRA import's steps.jsonl).")]
Shopper = Annotated[
    str,
    typer.Option(
        "--user", help="The shopper: a recorded persona value (an OPeRA user id, a name)."
    ),
]
RefineDir = Annotated[
    Path, typer.Option("--out", help="Where every round's runs and the result go.")
]
AnalystModel = Annotated[
    str | None,
    typer.Option("--analyst-model", help="Model for analysis and rewrite (same endpoint)."),
]
StartPersona = Annotated[
    Path | None,
    typer.Option("--persona", help="A persona JSON to start from (default: the recorded one)."),
]
Iterations = Annotated[int, typer.Option(min=1, help="Rounds of analysis and rewrite.")]
HeldOut = Annotated[
    int,
    typer.Option(
        "--held-out",
        min=1,
        help="The shopper's last N sessions decide whether a rewrite stays.",
    ),
]
Analysis = Annotated[
    AnalysisChoice,
    typer.Option(help="free-form, or bdi (beliefs, goals, intentions, emotions, knowledge)."),
]
Objective = Annotated[
    ObjectiveChoice,
    typer.Option(help="The fidelity a rewrite must improve on held-out sessions."),
]


@app.command("refine-persona")
def refine_persona_command(
    steps: OperaSteps,
    user: Shopper,
    out: RefineDir,
    endpoint: Endpoint = None,
    model: ModelName = "",
    api_key: ApiKey = "EMPTY",
    analyst_model: AnalystModel = None,
    persona: StartPersona = None,
    iterations: Iterations = 3,
    held_out: HeldOut = 1,
    analysis: Analysis = AnalysisChoice.free,
    objective: Objective = ObjectiveChoice.exact,
    screenshots: RecordedScreenshots = True,
    temperature: Temperature = 0.6,
    max_tokens: MaxTokens = 512,
    concurrency: Concurrency = 4,
    rules: Rules = RulesChoice.opera,
    json_output: Json = False,
) -> None:
    """Refine a recorded shopper's persona (DPRF): simulate, analyse the divergence, rewrite,
    keep a rewrite only when it acts more like the shopper on held-out sessions."""
    from webserv.behaviour.refine import RefineConfig
    from webserv.behaviour.replay import EvalConfig
    from webserv.policy.prompt import PromptConfig

    shopper = endpoint_config("refine-persona", endpoint, model, api_key, temperature, max_tokens)
    config = RefineConfig(
        steps=steps,
        user=user,
        out=out,
        model=shopper,
        analyst=shopper.model_copy(update={"model": analyst_model}) if analyst_model else None,
        persona=starting_persona(persona),
        iterations=iterations,
        held_out=held_out,
        analysis=analysis.value,
        objective=objective.value,
        eval=EvalConfig(
            steps=steps,
            out=out,
            prompt=PromptConfig(screenshot=screenshots),
            rules=rules.value,
            concurrency=concurrency,
        ),
    )
    result = run_refinement(config)
    if json_output:
        typer.echo(result.model_dump_json(indent=2, exclude={"config"}))
        return
    print_refinement(result, f"{objective.value} fidelity of {user}'s persona per round")
    typer.echo(f"persona in {out / 'persona.json'}, every round in {out / 'refinement.json'}")


def starting_persona(path: Path | None) -> Persona | None:
    """The persona JSON of ``--persona``, if given; one that does not read ends the command
    (exit 2)."""
    from pydantic import ValidationError

    from webserv.policy.persona import Persona

    try:
        return Persona.model_validate_json(path.read_text()) if path else None
    except (OSError, ValidationError) as err:
        raise fail(f"--persona {path}: {err}") from err


def run_refinement(config: RefineConfig) -> Refinement:
    """Run the refinement, a line per round; a failing replay or model ends the command
    (exit 2)."""
    import asyncio

    from rich.console import Console

    from webserv.behaviour.refine import Iteration, refine_persona
    from webserv.behaviour.replay import ReplayError
    from webserv.policy.vlm import ModelError

    console = Console()

    def on_round(r: Iteration) -> None:
        console.print(
            f"round {r.iteration}: refine {r.fidelity.refine:.3f}, held-out "
            f"{r.fidelity.held_out:.3f} -> {'kept' if r.kept else 'dropped'}"
        )

    try:
        return asyncio.run(refine_persona(config, on_round))
    except (ReplayError, ModelError) as err:
        raise fail(str(err)) from err


def print_refinement(result: Refinement, title: str) -> None:
    """The fidelity of the starting persona and of each round's rewrite, kept or dropped."""
    from rich.console import Console

    rows = [["start", f"{result.initial.refine:.3f}", f"{result.initial.held_out:.3f}", ""]]
    rows += [
        [str(r.iteration), f"{r.fidelity.refine:.3f}", f"{r.fidelity.held_out:.3f}",
         "kept" if r.kept else "dropped"]
        for r in result.iterations
    ]  # fmt: skip
    Console().print(table(title, ["round", "refine", "held-out", "rewrite"], rows))
