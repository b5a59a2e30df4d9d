"""``webserv pool ...`` and ``webserv images ...``."""

from __future__ import annotations

import typer

from webserv.pool.commands import pool_app

__all__ = ["images_app", "pool_app"]

images_app = typer.Typer(help="Build the local Docker images.", no_args_is_help=True)
