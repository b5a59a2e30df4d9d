"""``webserv bench ...``: every benchmark, each against its baseline in the same run."""

from __future__ import annotations

import typer

app = typer.Typer(help="Benchmarks with side-by-side baselines.", no_args_is_help=True)
