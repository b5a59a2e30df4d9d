"""``webserv serve``: the HTTP env server on uvicorn."""

from __future__ import annotations

from pathlib import Path

import typer

from webserv.options import (
    DEFAULT_MAX_INSTANCES,
    BrowserBuildOption,
    MaxInstances,
    Sites,
    SnapshotDriver,
    SnapshotRoot,
)


def serve(
    site: Sites = [],  # noqa: B006 - typer reads the default, never mutates it
    suite: list[str] = typer.Option(
        [], "--suite", help="A suite (name, dir or task file) besides the sites' own; repeatable."
    ),
    host: str = typer.Option(
        "127.0.0.1", help="Address to bind; off loopback a token is required."
    ),
    port: int = typer.Option(8100, help="Port to bind."),
    token: str | None = typer.Option(
        None, envvar="WEBSERV_TOKEN", help="Bearer token clients must send."
    ),
    redis_url: str | None = typer.Option(
        None,
        "--redis",
        envvar="WEBSERV_REDIS_URL",
        help="Lease store, e.g. redis://127.0.0.1:6379/0",
    ),
    server_id: str | None = typer.Option(
        None, help="Owner of this server's envs and instances (default: host and port)."
    ),
    standby: int = typer.Option(2, min=0, help="Ready instances kept warm per site."),
    warm_starts: bool = typer.Option(
        True,
        "--warm-starts/--no-warm-starts",
        help="Prepare each standby instance's next episode start (login, browser, first page).",
    ),
    browser: BrowserBuildOption = None,
    max_instances: MaxInstances = DEFAULT_MAX_INSTANCES,
    max_envs: int = typer.Option(64, min=1, help="Open envs at most (beyond: 429)."),
    env_ttl: float = typer.Option(300.0, min=1, help="Seconds without a call before an env ends."),
    park_idle_after: float | None = typer.Option(
        None,
        min=1,
        help="Seconds without a call before an env lets go of its pages (its renderer's "
        "memory); the next call reopens them at their URLs. Default: never.",
    ),
    request_timeout: float = typer.Option(120.0, min=1, help="Longest one env call may take (s)."),
    snapshot_root: SnapshotRoot = None,
    snapshot_driver: SnapshotDriver = None,
    golden_source: Path | None = typer.Option(
        None, help="A seeded data dir of the (first) site to store as its golden if absent."
    ),
    access_log: bool = typer.Option(False, help="Log every request."),
) -> None:
    """Serve web envs over HTTP (/v1, /healthz, /metrics; OpenAPI at /docs)."""
    import uvicorn
    from pydantic import ValidationError

    from webserv.browser.chromium import pick_build
    from webserv.env.config import RuntimeConfig, SiteConfig
    from webserv.server.app import create_app
    from webserv.server.config import ServerConfig
    from webserv.sites.registry import UnknownSite, default_site, get

    try:
        sites = [SiteConfig.parse(text, standby=standby) for text in site or [default_site()]]
        for entry in sites:
            if entry.backend not in (backends := get(entry.name).backends):
                raise ValueError(
                    f"site {entry.name} runs on {', '.join(backends)}, not {entry.backend}"
                )
        pick_build(browser)  # a build asked for must be installed: fail here, not later
        if golden_source is not None:
            sites[0] = sites[0].model_copy(update={"golden_source": golden_source})
        config = ServerConfig(
            host=host,
            port=port,
            token=token or None,
            redis_url=redis_url or None,
            server_id=server_id,
            max_envs=max_envs,
            env_ttl_s=env_ttl,
            park_after_s=park_idle_after,
            request_timeout_s=request_timeout,
            suites=suite,
            runtime=RuntimeConfig(
                sites=sites,
                max_instances=max_instances,
                snapshot_root=snapshot_root,
                snapshot_driver=snapshot_driver,
                warm_starts=warm_starts,
                browser=browser,
            ),
        )
        config.load_suites()  # a bad --suite fails here, not in the lifespan
    except ValidationError as err:
        messages = "; ".join(e["msg"].removeprefix("Value error, ") for e in err.errors())
        typer.echo(f"error: {messages}", err=True)
        raise typer.Exit(2) from err
    except (UnknownSite, KeyError, ValueError, FileNotFoundError) as err:
        typer.echo(f"error: {err.args[0] if err.args else err}", err=True)
        raise typer.Exit(2) from err
    served = ", ".join(f"{s.name} ({s.backend})" for s in sites)
    typer.echo(
        f"webserv server {config.owner} on http://{host}:{port} serving {served} "
        f"(store: {redis_url or 'memory'})"
    )
    uvicorn.run(
        create_app(config),
        host=host,
        port=port,
        log_level="warning",
        access_log=access_log,
        timeout_keep_alive=30,
    )


def build_image(
    force: bool = typer.Option(False, "--force", help="Rebuild even when up to date."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show every build step."),
) -> None:
    """Build the server image webserv/server:latest (for docker-compose.yml) on the base."""
    from webserv.pool.cli import run_image_build
    from webserv.server.image import build_server

    run_image_build(build_server, force, verbose)
