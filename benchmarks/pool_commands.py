"""``webserv bench launch|reset|storage|density``: the site pool benchmarks."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from benchmarks.report import emit


class BackendName(StrEnum):
    process = "process"
    docker = "docker"


class DriverName(StrEnum):
    btrfs = "btrfs"
    reflink = "reflink"
    overlay = "overlay"
    copy = "copy"


BACKEND = typer.Option(BackendName.process, "--backend", help="Where instances run.")
SNAPSHOT = typer.Option(
    None,
    "--snapshot",
    help="Snapshot driver(s): btrfs, reflink, overlay, copy; repeat for several "
    "(default: every driver the store root supports).",
)
DATA_DIR = typer.Option(
    None, "--data-dir", help="A seeded shop data dir (default: seeded once at --scale)."
)
SCALE = typer.Option(1.0, "--scale", min=0.001, max=10.0, help="Seed scale (1.0 = golden data).")
ROOT = typer.Option(None, "--root", help="Snapshot store root (default: the btrfs mount).")
JSON = typer.Option(False, "--json", help="Print the report as JSON.")


def _name(benchmark: str, backend: str, suffix: str = "") -> str:
    return f"{benchmark}-{backend}{suffix}"


def _drivers(snapshot: list[DriverName] | None) -> list[str] | None:
    return [str(d) for d in snapshot] if snapshot else None


def launch(
    backend: BackendName = BACKEND,
    snapshot: list[DriverName] | None = SNAPSHOT,
    n: int = typer.Option(20, "--n", min=1, help="Launches per variant."),
    cold_cache: bool = typer.Option(
        False, "--cold-cache", help="Drop the page cache before every launch (root)."
    ),
    data_dir: Path | None = DATA_DIR,
    scale: float = SCALE,
    root: Path | None = ROOT,
    as_json: bool = JSON,
) -> None:
    """Cold launch (request to health < 400) per driver vs a full copy + fresh process."""
    from benchmarks.launch import run

    report = run(str(backend), _drivers(snapshot), n, data_dir, scale, root, cold_cache)
    emit(report, as_json, _name("launch", backend, "-cold-cache" if cold_cache else ""))


def reset(
    backend: BackendName = BACKEND,
    snapshot: list[DriverName] | None = SNAPSHOT,
    n: int = typer.Option(20, "--n", min=1, help="Episodes per variant."),
    data_dir: Path | None = DATA_DIR,
    scale: float = SCALE,
    root: Path | None = ROOT,
    as_json: bool = JSON,
) -> None:
    """Standby hand-over and background recycle vs recreating on a full copy."""
    from benchmarks.reset import run

    report = run(str(backend), _drivers(snapshot), n, data_dir, scale, root)
    emit(report, as_json, _name("reset", backend))


def storage(
    backend: BackendName = BACKEND,
    snapshot: list[DriverName] | None = SNAPSHOT,
    repeats: int = typer.Option(3, "--repeats", min=1, help="Instances per driver."),
    data_dir: Path | None = DATA_DIR,
    scale: float = SCALE,
    root: Path | None = ROOT,
    as_json: bool = JSON,
) -> None:
    """Exclusive bytes per instance after a 20-request shopping episode vs a full copy."""
    from benchmarks.storage import run

    report = run(str(backend), _drivers(snapshot), repeats, data_dir, scale, root)
    emit(report, as_json, _name("storage", backend))


def density(
    backend: BackendName = BACKEND,
    snapshot: list[DriverName] | None = SNAPSHOT,
    target: int = typer.Option(200, "--target", min=1, help="Instances to run at once."),
    cold: int = typer.Option(5, "--cold", min=0, help="Cold processes measured for memory."),
    data_dir: Path | None = DATA_DIR,
    scale: float = SCALE,
    root: Path | None = ROOT,
    as_json: bool = JSON,
) -> None:
    """Healthy concurrent instances and memory per instance (RSS, PSS, USS)."""
    from benchmarks.density import run

    driver = str(snapshot[0]) if snapshot else None
    report = run(str(backend), driver, target, cold, data_dir, scale, root)
    emit(report, as_json, _name("density", backend))


def register(app: typer.Typer) -> None:
    """Mount the pool benchmarks on ``webserv bench``."""
    for command in (launch, reset, storage, density):
        app.command()(command)
