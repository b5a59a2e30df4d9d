"""``webserv view DIR``: the trajectory viewer over the records under a directory."""

from __future__ import annotations

from pathlib import Path

import typer

from webserv.options import BindHost, BindPort, Token


def view(
    directory: Path = typer.Argument(
        ...,
        help="Where the records are: a rollout's run directory, a directory of runs, "
        "evaluations and suite reports (looked for up to 4 levels down).",
    ),
    host: BindHost = "127.0.0.1",
    port: BindPort = 8200,
    token: Token = None,
) -> None:
    """Browse runs, episodes, evaluations and suite reports in a web browser (read-only).

    Serves only files inside DIRECTORY. With a token, the pages ask for it once and keep a
    session cookie."""
    import uvicorn

    from webserv.server.config import is_loopback
    from webserv.view.app import create_view_app
    from webserv.view.sources import discover

    if not directory.is_dir():
        typer.echo(f"error: {directory}: not a directory", err=True)
        raise typer.Exit(2)
    if not is_loopback(host) and not token:
        typer.echo(
            f"error: binding {host} shows the records beyond this machine: "
            "set a token (--token or WEBSERV_TOKEN)",
            err=True,
        )
        raise typer.Exit(2)
    root = directory.resolve()
    found = discover(root)
    names = {"run": "run directories", "eval": "evaluations", "suite": "suite reports"}
    counts = ", ".join(
        f"{sum(s.kind == kind for s in found)} {name}" for kind, name in names.items()
    )
    typer.echo(f"webserv view of {root} ({counts}) on http://{host}:{port}/ui/")
    if not found:
        typer.echo("nothing to show yet: the pages list records as they appear")
    uvicorn.run(create_view_app(root, token or None), host=host, port=port, log_level="warning")
