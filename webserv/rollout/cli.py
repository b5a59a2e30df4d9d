"""``webserv rollout``: run a shopper policy on many envs and record its trajectories."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from webserv.behaviour.safety import (
    LLAVASHIELD,
    AllowedHosts,
    PurchaseLimit,
    ScreenApiKey,
    ScreenChoice,
    ScreenEndpointOption,
    ScreenModelOption,
    ScreenOption,
    ScreenStop,
    ScreenUnavailable,
    UnavailableChoice,
)
from webserv.options import (
    NameCompareChoice,
    NameCompareOption,
    Reward,
    RewardChoice,
    Rules,
    RulesChoice,
    Sites,
    reward_of,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from webserv.behaviour.replay_env import ReplaySource
    from webserv.policy.persona import Persona
    from webserv.policy.vlm import ModelConfig
    from webserv.rollout.envs import EnvFleet
    from webserv.rollout.runner import JudgePanel, RolloutConfig, RunSummary
    from webserv.tasks.config import TaskConfig
    from webserv.tasks.suite import Suite


class PolicyChoice(StrEnum):
    vlm = "vlm"
    scripted = "scripted"
    random = "random"


class ImageChoice(StrEnum):
    png = "png"
    jpeg = "jpeg"
    webp = "webp"


class ModeChoice(StrEnum):
    opera = "opera"
    grammar = "grammar"


def fail(message: str) -> typer.Exit:
    """Print ``message`` as an error; the exit (code 2) to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


# The model and prompt options every command that runs a policy takes.
Endpoint = Annotated[
    str | None,
    typer.Option(
        help="OpenAI-compatible base URL for --policy vlm, e.g. http://127.0.0.1:8000/v1."
    ),
]
ModelName = Annotated[str, typer.Option(help="Model name the endpoint serves (--policy vlm).")]
ApiKey = Annotated[
    str, typer.Option("--api-key", envvar="WEBSERV_MODEL_API_KEY", help="API key of the endpoint.")
]
HistoryPages = Annotated[int, typer.Option("--history-pages", min=0, help="Earlier pages in full.")]
TokenBudget = Annotated[int, typer.Option("--token-budget", min=500, help="Prompt tokens.")]
Temperature = Annotated[float, typer.Option(min=0.0, help="Sampling temperature of the model.")]
MaxTokens = Annotated[int, typer.Option("--max-tokens", min=16, help="Tokens per reply.")]
JsonMode = Annotated[
    bool, typer.Option("--json-mode", help='Ask for response_format {"type": "json_object"}.')
]


def model_config(
    policy: PolicyChoice,
    endpoint: str | None,
    model: str,
    api_key: str,
    temperature: float,
    max_tokens: int,
    json_mode: bool,
) -> ModelConfig | None:
    """The endpoint --policy vlm calls (None for the baselines)."""
    if policy is not PolicyChoice.vlm:
        return None
    settings = (api_key, temperature, max_tokens, json_mode)
    return endpoint_config("--policy vlm", endpoint, model, *settings)


def endpoint_config(
    needed_by: str,
    endpoint: str | None,
    model: str | None,
    api_key: str,
    temperature: float,
    max_tokens: int,
    json_mode: bool = False,
) -> ModelConfig:
    """The model endpoint of the command-line options; both missing ends the command (exit 2)
    saying that ``needed_by`` needs them."""
    from webserv.policy.vlm import ModelConfig

    if not (endpoint and model):
        raise fail(f"{needed_by} needs --endpoint and --model")
    return ModelConfig(
        endpoint=endpoint,
        model=model,
        api_key=api_key,
        temperature=temperature,
        max_tokens=max_tokens,
        json_mode=json_mode,
    )


# The rollout command's own options.
Server = Annotated[
    str | None,
    typer.Option(help="A webserv server (webserv serve) to run the envs on; default: in-process."),
]
Token = Annotated[
    str | None,
    typer.Option(envvar="WEBSERV_TOKEN", help="Bearer token of the server, if it needs one."),
]
Envs = Annotated[int, typer.Option("--envs", min=1, max=256, help="Envs stepping at once.")]
Episodes = Annotated[int, typer.Option("--episodes", min=1, help="Episodes in all.")]
GroupSize = Annotated[
    int,
    typer.Option(
        "--group-size", min=1, help="GRPO group size: episodes sharing task and start state."
    ),
]
MaxSteps = Annotated[int, typer.Option("--max-steps", min=1, help="Policy turns per episode.")]
RunDir = Annotated[
    Path, typer.Option("--out", help="Run directory (JSONL + screenshots); a used one is added to.")
]
SuiteOption = Annotated[
    str | None,
    typer.Option(help="Task suite: name, dir or task file (default: the first site's suite)."),
]
TaskIds = Annotated[
    list[str], typer.Option("--task", help="Task ids to cycle through (repeatable).")
]
TaskSites = Annotated[
    list[str],
    typer.Option(
        "--task-site",
        help="Only the tasks on these site names, e.g. shopping (repeatable; default: all).",
    ),
]
PersonaNames = Annotated[
    list[str],
    typer.Option(
        "--persona", help="Built-in persona name or JSON file (repeatable; default: all)."
    ),
]
NoPersona = Annotated[bool, typer.Option("--no-persona", help="Prompt without a persona.")]
Mode = Annotated[
    ModeChoice,
    typer.Option(help="Action format asked of the model: OPeRA JSON or the env grammar."),
]
Screenshots = Annotated[
    bool,
    typer.Option(
        "--screenshots/--no-screenshots", help="Capture (and send) a screenshot each step."
    ),
]
ScreenshotFormat = Annotated[
    ImageChoice,
    typer.Option("--screenshot-format", help="png, jpeg or webp (slowest to encode)."),
]
ScreenshotQuality = Annotated[
    int, typer.Option("--screenshot-quality", min=1, max=100, help="JPEG and WebP quality.")
]
ScreenshotScale = Annotated[
    float,
    typer.Option("--screenshot-scale", min=0.05, max=1.0, help="Size relative to the viewport."),
]
Seed = Annotated[int, typer.Option(help="Seed of the baselines (episode i uses seed + i).")]
Replay = Annotated[
    Path | None,
    typer.Option(
        "--replay",
        help="Recorded sessions (a steps.jsonl or its run dir, e.g. an OPeRA import) to "
        "replay instead of live sites: each session a task, each reply scored against the "
        "recorded action. With --server, the server's replay site of that name.",
    ),
]
JudgePersonas = Annotated[
    Path | None,
    typer.Option(
        "--judge-personas",
        help="Judge every episode with this MAJ-EVAL panel (webserv behaviour personas): "
        "each record gets judge_score in [0, 1].",
    ),
]
JudgeEndpoint = Annotated[
    str | None, typer.Option("--judge-endpoint", help="The panel's endpoint (default: --endpoint).")
]
JudgeModel = Annotated[
    str | None, typer.Option("--judge-model", help="The panel's model (default: --model).")
]
JudgeRounds = Annotated[int, typer.Option("--judge-rounds", min=0, help="Debate rounds at most.")]


def rollout(
    out: RunDir,
    policy: Annotated[PolicyChoice, typer.Option(help="Who shops.")] = PolicyChoice.scripted,
    endpoint: Endpoint = None,
    model: ModelName = "",
    api_key: ApiKey = "EMPTY",
    server: Server = None,
    token: Token = None,
    envs: Envs = 4,
    episodes: Episodes = 8,
    group_size: GroupSize = 1,
    max_steps: MaxSteps = 20,
    site: Sites = [],  # noqa: B006 - typer reads the default, never mutates it
    suite: SuiteOption = None,
    task: TaskIds = [],  # noqa: B006
    task_site: TaskSites = [],  # noqa: B006
    persona: PersonaNames = [],  # noqa: B006
    no_persona: NoPersona = False,
    mode: Mode = ModeChoice.opera,
    screenshots: Screenshots = True,
    screenshot_format: ScreenshotFormat = ImageChoice.jpeg,
    screenshot_quality: ScreenshotQuality = 80,
    screenshot_scale: ScreenshotScale = 1.0,
    history_pages: HistoryPages = 3,
    token_budget: TokenBudget = 16_000,
    temperature: Temperature = 0.6,
    max_tokens: MaxTokens = 512,
    json_mode: JsonMode = False,
    seed: Seed = 0,
    replay: Replay = None,
    reward: Reward = RewardChoice.shop_r1,
    rules: Rules = RulesChoice.opera,
    name_compare: NameCompareOption = None,
    screen: ScreenOption = ScreenChoice.none,
    screen_endpoint: ScreenEndpointOption = None,
    screen_model: ScreenModelOption = LLAVASHIELD,
    screen_api_key: ScreenApiKey = "EMPTY",
    purchase_limit: PurchaseLimit = None,
    allowed_host: AllowedHosts = [],  # noqa: B006
    screen_stop: ScreenStop = [],  # noqa: B006
    screen_unavailable: ScreenUnavailable = UnavailableChoice.continue_,
    judge_personas: JudgePersonas = None,
    judge_endpoint: JudgeEndpoint = None,
    judge_model: JudgeModel = None,
    judge_rounds: JudgeRounds = 2,
) -> None:
    """Roll out a shopper policy on N envs for M episodes; add them to the run directory."""
    from webserv.behaviour.safety import safety_config
    from webserv.client import RemoteEnvError
    from webserv.policy.prompt import PromptConfig
    from webserv.rollout.runner import RolloutConfig

    model_settings = model_config(
        policy, endpoint, model, api_key, temperature, max_tokens, json_mode
    )
    if group_size > envs:
        raise fail(f"--group-size {group_size} needs at least as many --envs")
    try:
        source, loaded = episode_source(replay, site, suite, reward, name_compare, rules)
        tasks = select_tasks(loaded, task, task_site)
        # A replayed shopper is the recorded one: no built-in persona unless one is named.
        replaying = source is not None
        personas = None if no_persona or (replaying and not persona) else personas_named(persona)
    except (KeyError, FileNotFoundError, ValueError) as err:
        raise fail(str(err.args[0] if err.args else err)) from err
    try:
        safety = safety_config(
            screen,
            screen_endpoint,
            screen_model,
            screen_api_key,
            purchase_limit,
            allowed_host,
            screen_stop,
            screen_unavailable,
        )
    except ValueError as err:
        raise fail(str(err)) from err
    panel = judge_panel(
        judge_personas, judge_endpoint or endpoint, judge_model or model, api_key, judge_rounds
    )
    config = RolloutConfig(
        policy=policy.value,
        envs=envs,
        episodes=episodes,
        group_size=group_size,
        max_steps=max_steps,
        seed=seed,
        out=out,
        prompt=PromptConfig(
            mode=mode.value,
            screenshot=screenshots,
            history_pages=history_pages,
            token_budget=token_budget,
        ),
        model=model_settings,
        personas=personas,
        screenshot_format=screenshot_format.value,
        screenshot_quality=screenshot_quality,
        screenshot_scale=screenshot_scale,
        safety=safety,
        judge=panel,
    )
    try:
        fleet = fleet_for(config, loaded, site or None, server, token, source)
    except (KeyError, ValueError) as err:
        raise fail(str(err.args[0] if err.args else err)) from err
    try:
        run_with_progress(config, fleet, tasks)
    except RemoteEnvError as err:
        raise fail(f"the server failed: {err}") from err


def episode_source(
    replay: Path | None,
    sites: Sequence[str],
    suite: str | None,
    reward: RewardChoice,
    name_compare: NameCompareChoice | None,
    rules: RulesChoice,
) -> tuple[ReplaySource | None, Suite]:
    """Where episodes come from: recorded sessions to replay, scored with ``reward`` (and
    their suite), else the suite named (default: the first site's)."""
    from webserv.sites.registry import default_site, default_suite
    from webserv.tasks.suite import load_suite

    if replay is not None:
        from webserv.behaviour.replay_env import ReplaySource

        scoring = reward_of(reward, name_compare)
        source = ReplaySource(replay, sites[0] if sites else "replay", scoring, rules.value)
        return source, source.suite
    if suite is None:
        suite = str(default_suite(sites[0].split(":")[0] if sites else default_site()))
    return None, load_suite(suite)


def personas_named(names: Sequence[str]) -> list[Persona]:
    """Personas by built-in name or JSON file (none named: every built-in one)."""
    from webserv.policy.persona import BUILTIN, builtin, load_personas

    personas = []
    for name in names or [p.name.split()[0] for p in BUILTIN]:
        path = Path(name)
        personas += load_personas(path) if path.suffix == ".json" else [builtin(name)]
    return personas


def judge_panel(
    personas: Path | None, endpoint: str | None, model: str | None, api_key: str, rounds: int
) -> JudgePanel | None:
    """The judging panel of ``--judge-personas``; its file is read here, not mid-run."""
    from webserv.behaviour.judging import JudgeConfig, JudgingError, load_personas
    from webserv.policy.vlm import ModelConfig
    from webserv.rollout.runner import JudgePanel

    if personas is None:
        return None
    if not (endpoint and model):
        raise fail("--judge-personas needs an endpoint and a model (--judge-endpoint/-model)")
    try:
        load_personas(personas)
    except JudgingError as err:
        raise fail(str(err)) from err
    return JudgePanel(
        personas=personas,
        model=ModelConfig(endpoint=endpoint, model=model, api_key=api_key, temperature=0),
        judge=JudgeConfig(rounds=rounds),
    )


def select_tasks(
    suite: Suite, task_ids: Sequence[str] = (), task_sites: Sequence[str] = ()
) -> list[TaskConfig]:
    """The tasks ``task_ids`` names, else those whose sites are all among ``task_sites``
    (every task without either)."""
    if task_ids:
        return [suite.task(t) for t in task_ids]
    tasks = [t for t in suite.tasks if not task_sites or set(t.sites) <= set(task_sites)]
    if not tasks:
        raise ValueError(f"suite {suite.manifest.name} has no task on {', '.join(task_sites)}")
    return tasks


def run_with_progress(
    config: RolloutConfig, fleet: EnvFleet, tasks: list[TaskConfig]
) -> RunSummary:
    """Run the rollout with a progress bar, a line per episode and a summary at the end."""
    import asyncio
    import sys

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from webserv.rollout.records import EpisodeRecord
    from webserv.rollout.runner import run_rollouts

    console = Console(width=None if sys.stdout.isatty() else 120)
    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        "{task.fields[steps]} steps",
        TimeElapsedColumn(),
        console=console,
    )
    with progress:
        bar = progress.add_task(f"rollout ({config.policy})", total=config.episodes, steps=0)

        def on_step() -> None:
            progress.update(bar, steps=progress.tasks[bar].fields["steps"] + 1)

        def on_episode(record: EpisodeRecord) -> None:
            progress.advance(bar)
            outcome = f"[red]{record.error}[/]" if record.error else f"reward {record.reward:g}"
            if record.stopped_by_screen:
                outcome += f"; [red]stopped: {record.stop_flags[0].rationale}[/]"
            progress.console.print(
                f"{record.session_id} task {record.task_id} {record.persona or '-'}: "
                f"{record.steps} steps, {outcome}"
            )

        summary = asyncio.run(
            run_rollouts(config, fleet, tasks, on_step=on_step, on_episode=on_episode)
        )
    t = summary.totals
    console.print(
        f"{t.episodes} episodes, {t.steps} steps in {t.wall_s:.1f} s "
        f"({t.steps_per_s:.2f} steps/s); "
        f"mean reward {t.mean_reward:g}, {t.successes} successes; format errors "
        f"{t.format_errors}, action errors {t.action_errors}, failed episodes {t.episode_errors}"
        + (f"; screen flags {t.flags}, {t.screen_stops} stopped" if t.flags else "")
        + (f"; judged {t.judge_mean:.3f} on average" if t.judge_mean is not None else "")
    )
    console.print(
        f"per step p50: policy {t.policy_ms_p50:.1f} ms, env {t.env_ms_p50:.1f} ms; "
        f"run {summary.run_id} added to {config.out}"
    )
    return summary


def fleet_for(
    config: RolloutConfig,
    suite: Suite,
    sites: Sequence[str] | None = None,
    server: str | None = None,
    token: str | None = None,
    replay: ReplaySource | None = None,
) -> EnvFleet:
    """The envs to run on: a server's (on its first site, drawing from the suite of that
    name), in-process replays of ``replay``, or in-process ones over ``sites`` (default:
    the suite's) with its golden data."""
    from webserv.browser.session import SessionConfig
    from webserv.env.config import SiteConfig, runtime_for
    from webserv.rollout.envs import InProcessFleet

    if server is not None:
        from webserv.rollout.remote import RemoteFleet

        first = SiteConfig.parse(sites[0]).name if sites and replay is None else None
        return RemoteFleet(
            server,
            token=token,
            site=first or suite.manifest.sites[0],
            suite=suite.manifest.name,
            max_steps=config.max_steps,
            screenshots=config.screenshots(),
        )
    if replay is not None:
        from webserv.behaviour.replay_env import ReplayFleet

        return ReplayFleet(replay, max_steps=config.max_steps, screenshot=config.prompt.screenshot)
    envs = config.envs
    runtime = runtime_for(suite, sites, {"max_instances": 2 * envs + 2}, standby=envs)
    return InProcessFleet(
        runtime,
        max_steps=config.max_steps,
        browser_config=SessionConfig(**config.screenshots()),
    )
