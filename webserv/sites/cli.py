"""``webserv site ...``: the registered sites: list them, make their data, serve one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from webserv.options import Json

if TYPE_CHECKING:
    from webserv.sites.plugin import Site

app = typer.Typer(help="The registered sites: list, seed and serve them.", no_args_is_help=True)


def _site(name: str) -> Site:
    from webserv.sites.registry import UnknownSite, get

    try:
        return get(name)
    except UnknownSite as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from err


def parse_params(items: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; a value that reads as JSON (a number, true) is taken as such."""
    params: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--param")
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return params


@app.command("list")
def list_sites(as_json: Json = False) -> None:
    """Every registered site: backends, WebArena names it serves, golden recipe, suites."""
    from importlib.metadata import entry_points

    from webserv.sites.registry import GROUP, sites

    origin = {ep.name: ep.value for ep in entry_points(group=GROUP)}
    rows: list[dict[str, Any]] = [
        {
            "name": site.name,
            "version": site.spec.version,
            "backends": list(site.backends),
            "serves": sorted(site.served_names()),
            "golden": site.recipe.kind,
            "suites": sorted(site.suites()),
            "image": site.spec.image,
            "entry_point": origin.get(site.name, ""),
            "description": site.spec.description,
        }
        for site in sites().values()
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        typer.echo(
            f"{row['name']:<16} {','.join(row['backends']):<20} serves {','.join(row['serves'])}; "
            f"golden: {row['golden']}; suites: {','.join(row['suites']) or '-'}\n"
            f"{'':<16} {row['description']} ({row['entry_point']})"
        )


@app.command()
def seed(
    site: str = typer.Argument(..., help="A registered site whose data webserv generates."),
    out: Path = typer.Option(..., "--out", help="Data dir to create (must not exist or be empty)."),
    param: list[str] = typer.Option(
        [], "--param", help="A golden parameter KEY=VALUE, e.g. seed=42 or scale=0.05."
    ),
    seed: int | None = typer.Option(None, "--seed", help="Shorthand for --param seed=N."),
    scale: float | None = typer.Option(None, "--scale", help="Shorthand for --param scale=X."),
) -> None:
    """Generate a site's golden data dir deterministically (same parameters, same bytes);
    `webserv pool golden SITE DIR` then stores it under the name every tool looks for."""
    from webserv.pool.golden import data_checksum, seed_data
    from webserv.sites.plugin import GoldenUnavailable

    chosen = _site(site)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        typer.echo(f"error: {out} already exists and is not empty; choose another --out", err=True)
        raise typer.Exit(2)
    params = parse_params(param)
    params.update({k: v for k, v in (("seed", seed), ("scale", scale)) if v is not None})
    try:
        values = seed_data(chosen, out, params)
    except (GoldenUnavailable, ValueError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from err
    files, size, _ = data_checksum(out)
    shown = ", ".join(f"{k} {v}" for k, v in values.items())
    typer.echo(
        f"seeded {site} ({shown}) at {out}: {files} files, {size / 2**20:.1f} MiB; "
        f"golden name {chosen.golden_name(values)}"
    )


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def run(
    ctx: typer.Context,
    site: str = typer.Argument(..., help="A registered site with a command (process backend)."),
    data_dir: Path = typer.Option(..., "--data-dir", help="A seeded data dir (or a clone of it)."),
    port: int = typer.Option(..., "--port", min=1, max=65535),
) -> None:
    """Serve a site over a data dir until interrupted (its process-backend command); extra
    arguments go to the site, e.g. the shop's `--latency-ms 200 --jitter-ms 50`."""
    chosen = _site(site)
    if not chosen.spec.command:
        typer.echo(f"error: site {site} has no command; it runs on {chosen.backends}", err=True)
        raise typer.Exit(2)
    fill = {"port": port, "data_dir": str(data_dir)}
    argv = [part.format(**fill) for part in chosen.spec.command] + list(ctx.args)
    try:
        raise typer.Exit(subprocess.call(argv))
    except KeyboardInterrupt:
        sys.exit(130)
