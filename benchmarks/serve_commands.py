"""``webserv bench http|soak|chaos``: the HTTP server's benchmarks."""

from __future__ import annotations

import typer

from benchmarks.report import emit
from webserv.options import Json


def register(app: typer.Typer) -> None:
    @app.command()
    def http(
        steps: int = typer.Option(100, min=10, help="Steps in process and over HTTP."),
        clients: int = typer.Option(32, min=2, help="Concurrent trainers for throughput."),
        duration_s: float = typer.Option(60.0, min=5.0, help="Seconds each throughput run."),
        as_json: Json = False,
    ) -> None:
        """Per-step HTTP overhead vs in-process, and throughput of concurrent trainers."""
        from benchmarks.http import run

        report = run(
            steps=steps,
            clients=clients,
            duration_s=duration_s,
            log=lambda line: typer.echo(line, err=as_json),
        )
        emit(report, as_json)

    @app.command()
    def soak(
        minutes: float = typer.Option(30.0, min=1.0, help="How long the trainers run."),
        clients: int = typer.Option(3, min=1, help="Trainer processes."),
        sample_s: float = typer.Option(20.0, min=1.0, help="Seconds between samples."),
        env_ttl: float = typer.Option(60.0, min=5.0, help="Env TTL on the server (s)."),
        think_s: float = typer.Option(0.5, min=0.0, help="Trainer pause between steps (s)."),
        as_json: Json = False,
    ) -> None:
        """Server RSS over time and leaked instances, with a trainer and the server killed."""
        from benchmarks.soak import run

        report = run(
            duration_s=minutes * 60,
            clients=clients,
            sample_s=sample_s,
            env_ttl_s=env_ttl,
            think_s=think_s,
            log=lambda line: typer.echo(line, err=as_json),
        )
        emit(report, as_json)

    @app.command()
    def chaos(
        rounds: int = typer.Option(3, min=1, help="Rounds of every fault."),
        env_ttl: float = typer.Option(10.0, min=5.0, help="Env TTL on the server (s)."),
        as_json: Json = False,
    ) -> None:
        """Faults mid-episode (a client, an instance, Chromium, the server, Redis killed),
        then undocumented answers, lost or doubled steps and leftovers counted."""
        from benchmarks.chaos import run

        report = run(
            rounds=rounds, env_ttl_s=env_ttl, log=lambda line: typer.echo(line, err=as_json)
        )
        emit(report, as_json)
