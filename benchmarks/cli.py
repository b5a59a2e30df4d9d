"""``webserv bench ...``: every benchmark, each against its baseline in the same run."""

from __future__ import annotations

import typer

from benchmarks.pool_commands import register as register_pool_benchmarks
from benchmarks.serve_commands import register as register_serve_benchmarks
from webserv.options import Json

app = typer.Typer(help="Benchmarks with side-by-side baselines.", no_args_is_help=True)
register_pool_benchmarks(app)
register_serve_benchmarks(app)


@app.command()
def step(
    as_json: Json = False,
    latency_ms: int = typer.Option(
        2_500, "--latency-ms", min=0, help="API latency of the shop in the completeness pass."
    ),
) -> None:
    """Step latency and observation tokens: webserv vs a fixed 2 s sleep vs BrowserGym."""
    from benchmarks.report import emit
    from benchmarks.step import run

    emit(run(latency_ms=latency_ms), as_json)


@app.command()
def observe(
    sites: list[str] = typer.Option(
        [],
        "--site",
        help="A corpus: wordpress, redmine, python-doc (repeatable; default all three).",
    ),
    browsergym: bool = typer.Option(
        True, "--browsergym/--no-browsergym", help="Also count BrowserGym's AXTree tokens."
    ),
    as_json: Json = False,
) -> None:
    """Observation quality on real apps and shipped docs: field recall, tokens vs BrowserGym's
    AXTree and raw HTML, observations that change after settle, stale element ids."""
    from benchmarks.observe import SITES, run
    from benchmarks.report import emit

    chosen = list(dict.fromkeys(sites))
    if unknown := [site for site in chosen if site not in SITES]:
        raise typer.BadParameter(
            f"no corpus for {', '.join(unknown)}; corpora: {', '.join(SITES)}", param_hint="--site"
        )
    whole = not chosen or set(chosen) == set(SITES)
    emit(run(chosen or None, browsergym), as_json, None if whole else "observe-" + "-".join(chosen))


@app.command()
def rollout(
    envs: list[int] = typer.Option([], "--envs", min=1, help="Env counts (default 1, 8, 32)."),
    episodes_per_env: int = typer.Option(2, "--episodes-per-env", min=1),
    max_steps: int = typer.Option(15, "--max-steps", min=1),
    screenshots: bool = typer.Option(False, "--screenshots", help="A PNG per step as well."),
    as_json: Json = False,
) -> None:
    """Rollout throughput of the scripted shopper on N envs; env vs policy time per step."""
    from benchmarks.report import emit
    from benchmarks.rollout import run

    emit(run(envs or None, episodes_per_env, max_steps, screenshots), as_json)


@app.command()
def cluster(
    nodes: str = typer.Option("1,2,3", "--nodes", help="Node counts, comma-separated."),
    steps: int = typer.Option(100, min=2, help="Rounds of the router/direct/fast-path steps."),
    envs_per_node: int = typer.Option(4, "--envs-per-node", min=1, help="Envs on each node."),
    duration_s: float = typer.Option(20.0, min=1.0, help="Seconds of the throughput run."),
    groups: int = typer.Option(4, min=1, help="Groups of 3 created at each count above 1."),
    kill: bool = typer.Option(True, "--kill/--no-kill", help="Also SIGKILL a node."),
    model_only: bool = typer.Option(
        False,
        "--model-only",
        help="Run nothing: derive the node model again in results/cluster.json, from that "
        "run's measurements and the current results/density-live.json.",
    ),
    as_json: Json = False,
) -> None:
    """A local Ray cluster at 1-3 nodes: the router's per-step overhead against a node's own
    server and the fast path, creates, steps/s, balance, co-located groups, a node removed
    (410 times, leaks), and how many nodes a trainer needs."""
    from benchmarks.cluster import node_counts, remodel, run
    from benchmarks.report import emit

    if model_only:
        report = remodel(log=lambda line: typer.echo(line, err=as_json))
        emit(report, as_json)
        return

    try:
        counts = node_counts(nodes)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--nodes") from err
    report = run(
        counts,
        steps=steps,
        envs_per_node=envs_per_node,
        duration_s=duration_s,
        group_count=groups,
        kill=kill,
        log=lambda line: typer.echo(line, err=as_json),
    )
    emit(report, as_json)
