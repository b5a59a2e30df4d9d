"""``webserv site ...``: seed and serve the embedded sites."""

from __future__ import annotations

import typer

app = typer.Typer(help="Seed and serve the embedded sites.", no_args_is_help=True)
