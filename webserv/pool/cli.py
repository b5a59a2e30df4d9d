"""``webserv pool ...`` and ``webserv images ...``."""

from __future__ import annotations

import typer

pool_app = typer.Typer(help="Inspect and manage the site instance pool.", no_args_is_help=True)
images_app = typer.Typer(help="Build the local Docker images.", no_args_is_help=True)
