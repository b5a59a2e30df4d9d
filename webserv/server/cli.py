"""``webserv serve``: the HTTP env server on uvicorn."""

from __future__ import annotations

from pathlib import Path

import typer


def serve(
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
    standby: int = typer.Option(2, min=0, help="Ready shop instances kept warm."),
    max_instances: int = typer.Option(16, min=1, help="Shop instances at most."),
    max_envs: int = typer.Option(64, min=1, help="Open envs at most (beyond: 429)."),
    env_ttl: float = typer.Option(300.0, min=1, help="Seconds without a call before an env ends."),
    request_timeout: float = typer.Option(120.0, min=1, help="Longest one env call may take (s)."),
    snapshot_root: Path | None = typer.Option(None, help="Snapshot store root (default: auto)."),
    snapshot_driver: str | None = typer.Option(None, help="btrfs, reflink, overlay or copy."),
    golden_source: Path | None = typer.Option(
        None, help="An already seeded shop data dir (of the suite's seed and scale) to use."
    ),
    access_log: bool = typer.Option(False, help="Log every request."),
) -> None:
    """Serve web envs over HTTP (/v1, /healthz, /metrics; OpenAPI at /docs)."""
    import uvicorn
    from pydantic import ValidationError

    from webserv.env.runtime import RuntimeConfig
    from webserv.server.app import create_app
    from webserv.server.config import ServerConfig
    from webserv.tasks.suite import load_suite

    manifest = load_suite("shop").manifest
    try:
        config = ServerConfig(
            host=host,
            port=port,
            token=token or None,
            redis_url=redis_url or None,
            server_id=server_id,
            max_envs=max_envs,
            env_ttl_s=env_ttl,
            request_timeout_s=request_timeout,
            runtime=RuntimeConfig(
                seed=manifest.seed,
                scale=manifest.scale,
                standby=standby,
                max_instances=max_instances,
                snapshot_root=snapshot_root,
                snapshot_driver=snapshot_driver,
                golden_source=golden_source,
            ),
        )
    except ValidationError as err:
        messages = "; ".join(e["msg"].removeprefix("Value error, ") for e in err.errors())
        typer.echo(f"error: {messages}", err=True)
        raise typer.Exit(2) from err
    typer.echo(
        f"webserv server {config.owner} on http://{host}:{port} (store: {redis_url or 'memory'})"
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
