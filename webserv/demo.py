"""``webserv demo``: the README's main job."""

from __future__ import annotations

import typer


def demo(
    serve: bool = typer.Option(True, help="Keep the instance running until Ctrl-C."),
) -> None:
    """Seed the shop's golden data if absent, launch one instance on a fresh clone, print it."""
    raise typer.Exit(code=2)
