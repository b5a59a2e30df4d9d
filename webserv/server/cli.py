"""``webserv serve``: the HTTP env server on uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from webserv.browser.chromium import BrowserBuild
from webserv.options import (
    DEFAULT_MAX_INSTANCES,
    BindHost,
    BindPort,
    BrowserBuildOption,
    EnvTtl,
    ExtraSuites,
    MaxEnvs,
    MaxInstances,
    NameCompareOption,
    RedisUrl,
    Reward,
    RewardChoice,
    Rules,
    RulesChoice,
    Sites,
    SnapshotDriver,
    SnapshotRoot,
    Standby,
    Token,
)
from webserv.server.config import ReplayConfig, ServerConfig

# The serve command's own options.
ServerId = Annotated[
    str | None,
    typer.Option(help="Owner of this server's envs and instances (default: host and port)."),
]
WarmStarts = Annotated[
    bool,
    typer.Option(
        "--warm-starts/--no-warm-starts",
        help="Prepare each standby instance's next episode start (login, browser, first page).",
    ),
]
MergeMemory = Annotated[
    bool,
    typer.Option(
        "--merge-memory/--no-merge-memory",
        help="Mark site processes and containers and the browser for the kernel's same-page "
        "merging (KSM): envs share identical pages where the host runs the KSM daemon.",
    ),
]
ParkIdleAfter = Annotated[
    float | None,
    typer.Option(
        min=1,
        help="Seconds without a call before an env lets go of its pages (its renderer's "
        "memory); the next call reopens them at their URLs. Default: never.",
    ),
]
RequestTimeout = Annotated[float, typer.Option(min=1, help="Longest one env call may take (s).")]
GoldenSource = Annotated[
    Path | None,
    typer.Option(help="A seeded data dir of the (first) site to store as its golden if absent."),
]
AccessLog = Annotated[bool, typer.Option(help="Log every request.")]
Replays = Annotated[
    list[str],
    typer.Option(
        "--replay",
        help="[NAME=]PATH: recorded sessions (a steps.jsonl or its run dir) served as site "
        "NAME (default: replay), each session a task, each step scored (repeatable). "
        "Without --site, only replays are served.",
    ),
]
View = Annotated[
    Path | None,
    typer.Option(
        "--view", help="Records to show at /ui beside the dashboard (webserv view's pages)."
    ),
]


def serve(
    site: Sites = [],  # noqa: B006 - typer reads the default, never mutates it
    suite: ExtraSuites = [],  # noqa: B006
    host: BindHost = "127.0.0.1",
    port: BindPort = 8100,
    token: Token = None,
    redis_url: RedisUrl = None,
    server_id: ServerId = None,
    standby: Standby = 2,
    warm_starts: WarmStarts = True,
    browser: BrowserBuildOption = None,
    merge_memory: MergeMemory = True,
    max_instances: MaxInstances = DEFAULT_MAX_INSTANCES,
    max_envs: MaxEnvs = 64,
    env_ttl: EnvTtl = 300.0,
    park_idle_after: ParkIdleAfter = None,
    request_timeout: RequestTimeout = 120.0,
    snapshot_root: SnapshotRoot = None,
    snapshot_driver: SnapshotDriver = None,
    golden_source: GoldenSource = None,
    access_log: AccessLog = False,
    replay: Replays = [],  # noqa: B006
    reward: Reward = RewardChoice.shop_r1,
    rules: Rules = RulesChoice.opera,
    name_compare: NameCompareOption = None,
    view: View = None,
) -> None:
    """Serve web envs over HTTP (/v1, /healthz, /metrics, the dashboard at /ui; OpenAPI at
    /docs)."""
    from webserv.options import reward_of

    scoring = {"reward": reward_of(reward, name_compare).model_dump(), "rules": rules.value}
    if view is not None and not view.is_dir():
        typer.echo(f"error: --view {view}: not a directory", err=True)
        raise typer.Exit(2)
    config = server_config(
        view_dir=view.resolve() if view else None,
        replay=[replay_config(text, **scoring) for text in replay],
        site=site,
        suite=suite,
        host=host,
        port=port,
        token=token,
        redis_url=redis_url,
        server_id=server_id,
        standby=standby,
        warm_starts=warm_starts,
        browser=browser,
        merge_memory=merge_memory,
        max_instances=max_instances,
        max_envs=max_envs,
        env_ttl_s=env_ttl,
        park_after_s=park_idle_after,
        request_timeout_s=request_timeout,
        snapshot_root=snapshot_root,
        snapshot_driver=snapshot_driver,
        golden_source=golden_source,
    )
    run_server(config, access_log)


def run_server(config: ServerConfig, access_log: bool) -> None:
    """Serve ``config`` on uvicorn in the foreground; replays that do not load exit with 2."""
    import uvicorn

    from webserv.behaviour.replay import ReplayError
    from webserv.server.app import create_app

    try:
        app = create_app(config)
    except ReplayError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from err
    served = [f"{s.name} ({s.backend})" for s in config.runtime.sites]
    served += [f"{r.name} (replay of {r.steps})" for r in config.replay]
    typer.echo(
        f"webserv server {config.owner} on http://{config.host}:{config.port} serving "
        f"{', '.join(served)} (store: {config.redis_url or 'memory'})"
    )
    uvicorn.run(
        app,
        host=config.host,
        port=config.port,
        log_level="warning",
        access_log=access_log,
        timeout_keep_alive=30,
    )


def replay_config(text: str, **scoring: Any) -> ReplayConfig:
    """``[NAME=]PATH`` of ``--replay`` with the scoring options; a bad one exits with 2."""
    from pydantic import ValidationError

    name, sep, path = text.partition("=")
    if not sep or "/" in name:
        name, path = "", text
    try:
        return ReplayConfig.model_validate(
            {"steps": path, **scoring} | ({"name": name} if name else {})
        )
    except ValidationError as err:
        messages = "; ".join(e["msg"] for e in err.errors())
        typer.echo(f"error: --replay {text}: {messages}", err=True)
        raise typer.Exit(2) from err


def server_config(
    *,
    site: list[str],
    replay: list[ReplayConfig] | None = None,
    suite: list[str],
    standby: int,
    warm_starts: bool = True,
    browser: BrowserBuild | None,
    merge_memory: bool = True,
    max_instances: int,
    snapshot_root: Path | None,
    snapshot_driver: str | None,
    golden_source: Path | None = None,
    token: str | None,
    redis_url: str | None,
    **server: Any,
) -> ServerConfig:
    """The ServerConfig of the command-line options (``server``: the rest of its fields);
    a bad option ends the command with a message and exit code 2."""
    from pydantic import ValidationError

    from webserv.browser.chromium import pick_build
    from webserv.env.config import RuntimeConfig, SiteConfig
    from webserv.sites.registry import UnknownSite, default_site, get

    try:
        live = site or ([] if replay else [default_site()])
        sites = [SiteConfig.parse(text, standby=standby) for text in live]
        for entry in sites:
            if entry.backend not in (backends := get(entry.name).backends):
                raise ValueError(
                    f"site {entry.name} runs on {', '.join(backends)}, not {entry.backend}"
                )
        pick_build(browser)  # a build asked for must be installed: fail here, not later
        if golden_source is not None:
            sites[0] = sites[0].model_copy(update={"golden_source": golden_source})
        config = ServerConfig(
            token=token or None,
            redis_url=redis_url or None,
            suites=suite,
            replay=replay or [],
            runtime=RuntimeConfig(
                sites=sites,
                max_instances=max_instances,
                snapshot_root=snapshot_root,
                snapshot_driver=snapshot_driver,
                warm_starts=warm_starts,
                browser=browser,
                merge_memory=merge_memory,
            ),
            **server,
        )
        config.load_suites()  # a bad --suite fails here, not in the lifespan
    except ValidationError as err:
        messages = "; ".join(e["msg"].removeprefix("Value error, ") for e in err.errors())
        typer.echo(f"error: {messages}", err=True)
        raise typer.Exit(2) from err
    except (UnknownSite, KeyError, ValueError, FileNotFoundError) as err:
        typer.echo(f"error: {err.args[0] if err.args else err}", err=True)
        raise typer.Exit(2) from err
    return config


def build_image(
    force: bool = typer.Option(False, "--force", help="Rebuild even when up to date."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show every build step."),
) -> None:
    """Build the server image webserv/server:latest (for docker-compose.yml) on the base."""
    from webserv.pool.cli import run_image_build
    from webserv.server.image import build_server

    run_image_build(build_server, force, verbose)
