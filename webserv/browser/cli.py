"""``webserv observe URL``: one compact observation of a page."""

from __future__ import annotations

import typer


def observe(url: str = typer.Argument(..., help="Page to observe.")) -> None:
    """Print the compact observation of URL."""
    raise typer.Exit(code=2)
