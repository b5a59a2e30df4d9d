"""``webserv pool ...`` and ``webserv images ...``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import typer

from webserv.pool.commands import pool_app

if TYPE_CHECKING:
    from webserv.pool.images.build import BuiltImage

__all__ = ["images_app", "pool_app"]

images_app = typer.Typer(
    help="Build the local Docker images from containers/ (one folder per image).",
    no_args_is_help=True,
)


def _build_log(verbose: bool) -> Callable[[str], None]:
    def log(line: str) -> None:
        if verbose:
            typer.echo(f"  {line}")

    return log


def run_image_build(build: Callable[..., list[BuiltImage]], force: bool, verbose: bool) -> None:
    """Run an image build (``build(client, force=, log=)``) and print one line per image."""
    from webserv.pool.backends.docker import DockerError, docker_client
    from webserv.pool.images.build import ImageBuildError

    log = _build_log(verbose)
    try:
        results = build(docker_client(), force=force, log=log)
    except (DockerError, ImageBuildError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    for image in results:
        what = "built" if image.built else "up to date"
        size = image.size_bytes / 2**20
        typer.echo(f"{image.tag:24} {what:10} {image.seconds:7.1f} s  {size:6.0f} MiB")


@images_app.command("build")
def images_build(
    names: list[str] = typer.Argument(
        None, help="Images to build on the base (default: shop), e.g. wordpress redmine."
    ),
    force: bool = typer.Option(False, "--force", help="Rebuild even when up to date."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show every build step."),
) -> None:
    """Build the Debian base and the named images (their wheels first), reusing whichever is
    up to date."""
    from functools import partial

    from webserv.pool.images.build import build_all

    run_image_build(partial(build_all, names=names or ["shop"]), force, verbose)


@images_app.command("wheels")
def images_wheels(
    names: list[str] = typer.Argument(
        None, help="Folders of containers/ to fill (default: every image that takes wheels)."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show every step."),
) -> None:
    """Write containers/NAME/wheels/: webserv's wheel and its pinned dependencies, which
    `docker build containers/NAME` installs."""
    from webserv.pool.images.build import PINS, ImageBuildError, write_wheels

    for name in names or list(PINS):
        try:
            wheels = write_wheels(name, _build_log(verbose))
        except ImageBuildError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
        count = sum(1 for _ in wheels.rglob("*.whl"))
        typer.echo(f"{name:8} {count:3} wheels in {wheels}")


@images_app.command("list")
def images_list() -> None:
    """The locally built webserv images, and whether each matches the current sources."""
    from webserv.pool.backends.docker import DockerError, docker_client
    from webserv.pool.images.build import HASH_LABEL, ImageBuildError, expected_hashes

    try:
        client = docker_client()
        images = client.images.list(filters={"label": HASH_LABEL})
        want = expected_hashes(client)
    except (DockerError, ImageBuildError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if not images:
        typer.echo("no webserv images; build them with `webserv images build`")
    for image in images:
        for tag in image.tags or ["<untagged>"]:
            current = want.get(tag) == image.labels.get(HASH_LABEL)
            state = "current" if current else "outdated"
            size = image.attrs.get("Size", 0) / 2**20
            created = image.attrs.get("Created", "")[:19].replace("T", " ")
            typer.echo(f"{tag:24} {image.short_id[7:]:12} {size:6.0f} MiB  {created}  {state}")
