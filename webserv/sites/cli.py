"""``webserv site ...``: seed and serve the embedded sites."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

app = typer.Typer(help="Seed and serve the embedded sites.", no_args_is_help=True)


class Site(StrEnum):
    shop = "shop"


@app.command()
def seed(
    site: Site = typer.Argument(..., help="Which site to seed."),
    out: Path = typer.Option(..., "--out", help="Data dir to create (must not exist or be empty)."),
    seed: int = typer.Option(42, "--seed", help="Random seed; the same seed gives the same data."),
    scale: float = typer.Option(
        1.0, "--scale", min=0.001, max=10.0, help="Multiplier of the entity counts."
    ),
) -> None:
    """Generate a site's golden data dir deterministically."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        typer.echo(f"error: {out} already exists and is not empty; choose another --out", err=True)
        raise typer.Exit(2)
    from webserv.sites.shop.seed import seed as seed_shop

    summary = seed_shop(out, seed=seed, scale=scale)
    typer.echo(
        f"seeded {site.value} at {summary.path} in {summary.seconds:.1f} s: "
        f"{summary.categories} categories, {summary.products} products, {summary.images} images, "
        f"{summary.customers} customers, {summary.orders} orders, {summary.reviews} reviews, "
        f"{summary.total_bytes / 2**20:.1f} MiB"
    )


@app.command()
def run(
    site: Site = typer.Argument(..., help="Which site to serve."),
    data_dir: Path = typer.Option(..., "--data-dir", help="A seeded data dir (or a clone of it)."),
    port: int = typer.Option(..., "--port", min=1, max=65535),
    host: str = typer.Option("127.0.0.1", "--host"),
    latency_ms: int = typer.Option(0, "--latency-ms", min=0, help="Delay of every API response."),
    jitter_ms: int = typer.Option(0, "--jitter-ms", min=0, help="Extra uniform random delay."),
) -> None:
    """Serve a site over a data dir until interrupted; /healthz answers 200 once ready."""
    if not (data_dir / "shop.db").is_file():
        typer.echo(
            f"error: {data_dir} holds no shop.db; run `webserv site seed shop` first", err=True
        )
        raise typer.Exit(2)
    from webserv.sites.shop.serve import serve

    serve(data_dir, port, host, latency_ms, jitter_ms)
