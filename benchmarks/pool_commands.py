"""``webserv bench launch|reset|storage|density``: the site pool benchmarks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from benchmarks.report import emit
from webserv.options import Json, SnapshotDriver, SnapshotRoot

if TYPE_CHECKING:
    from benchmarks.pool_setup import Golden

#: The site the benchmarks launch unless ``--site`` says otherwise; its results keep the
#: plain file names (``launch-process.json``), another site's carry its name.
DEFAULT_SITE = "shop"


class BackendName(StrEnum):
    process = "process"
    docker = "docker"


class DriverName(StrEnum):
    btrfs = "btrfs"
    reflink = "reflink"
    overlay = "overlay"
    copy = "copy"


BACKEND = typer.Option(BackendName.process, "--backend", help="Where instances run.")
SITE = typer.Option(
    DEFAULT_SITE, "--site", help="The registered site to launch (`webserv site list`)."
)
#: ``--snapshot-driver`` as the shared option spells it, but repeatable: drivers side by side.
SnapshotDrivers = Annotated[
    list[DriverName] | None,
    typer.Option(
        "--snapshot-driver",
        help="Snapshot driver(s): btrfs, reflink, overlay, copy; repeat for several "
        "(default: every driver the store root supports).",
    ),
]
DATA_DIR = typer.Option(
    None,
    "--data-dir",
    help="The site's data dir (from `webserv site seed`, or exported; default: its golden).",
)
SCALE = typer.Option(
    None,
    "--scale",
    min=0.001,
    max=10.0,
    help="Seed scale of a seeded site's data (default: the recipe's; 1.0 = golden data).",
)


def _name(benchmark: str, backend: str, golden: Golden, suffix: str = "") -> str:
    """``<benchmark>-<backend>[-<site>][-<golden parameters off the defaults>]``: results on
    another site or another size of its data never overwrite the default's."""
    site = golden.site
    named = "" if site.name == DEFAULT_SITE else f"-{site.name}"
    default = site.golden_name()
    sized = golden.name.removeprefix(default) if golden.name.startswith(default) else ""
    return f"{benchmark}-{backend}{named}{sized}{suffix}"


def _drivers(snapshot: list[DriverName] | None) -> list[str] | None:
    return [str(d) for d in snapshot] if snapshot else None


@contextmanager
def _setup_errors() -> Iterator[None]:
    """An unknown site, a backend it does not run on, golden data that is missing (with how
    to make it) or a driver the store root lacks: one line and exit code 2, no traceback."""
    from webserv.pool.snapshot import SnapshotError
    from webserv.sites.plugin import GoldenUnavailable
    from webserv.sites.registry import UnknownSite

    try:
        yield
    except (UnknownSite, GoldenUnavailable, SnapshotError, FileNotFoundError, ValueError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from err


def _golden(
    site: str, backend: str, data_dir: Path | None, scale: float | None, root: Path | None
) -> Golden:
    from benchmarks.pool_setup import bench_golden

    with _setup_errors():
        return bench_golden(site, backend, data_dir, scale, root)


def launch(
    backend: BackendName = BACKEND,
    site: str = SITE,
    snapshot_driver: SnapshotDrivers = None,
    n: int = typer.Option(20, "--n", min=1, help="Launches per variant."),
    cold_cache: bool = typer.Option(
        False, "--cold-cache", help="Drop the page cache before every launch (root)."
    ),
    data_dir: Path | None = DATA_DIR,
    scale: float | None = SCALE,
    snapshot_root: SnapshotRoot = None,
    as_json: Json = False,
) -> None:
    """Cold launch (request to health < 400) per driver vs a full copy + fresh process."""
    from benchmarks.launch import run

    golden = _golden(site, backend, data_dir, scale, snapshot_root)
    report = run(golden, str(backend), _drivers(snapshot_driver), n, snapshot_root, cold_cache)
    emit(report, as_json, _name("launch", backend, golden, "-cold-cache" if cold_cache else ""))


def reset(
    backend: BackendName = BACKEND,
    site: str = SITE,
    snapshot_driver: SnapshotDrivers = None,
    n: int = typer.Option(20, "--n", min=1, help="Episodes per variant."),
    data_dir: Path | None = DATA_DIR,
    scale: float | None = SCALE,
    snapshot_root: SnapshotRoot = None,
    trainer: bool = typer.Option(
        False,
        "--trainer",
        help="The trainer's view instead: env.reset to first observation, cold vs warm starts, "
        "in-process and over HTTP; rollout steps/s per env with and without screenshots.",
    ),
    gap_s: float = typer.Option(
        4.0, "--gap-s", min=0, help="--trainer: seconds between resets (the episode)."
    ),
    http: bool = typer.Option(True, "--http/--no-http", help="--trainer: the HTTP rows too."),
    as_json: Json = False,
) -> None:
    """Standby hand-over and background recycle vs recreating on a full copy (``--trainer``:
    reset and rollout as a trainer's loop sees them, on the shop)."""
    if trainer:
        from benchmarks.trainer_reset import run as run_trainer

        emit(run_trainer(n, gap_s, http=http), as_json, "reset-trainer")
        return
    from benchmarks.reset import run

    golden = _golden(site, backend, data_dir, scale, snapshot_root)
    report = run(golden, str(backend), _drivers(snapshot_driver), n, snapshot_root)
    emit(report, as_json, _name("reset", backend, golden))


def storage(
    backend: BackendName = BACKEND,
    site: str = SITE,
    snapshot_driver: SnapshotDrivers = None,
    repeats: int = typer.Option(3, "--repeats", min=1, help="Instances per driver."),
    data_dir: Path | None = DATA_DIR,
    scale: float | None = SCALE,
    snapshot_root: SnapshotRoot = None,
    as_json: Json = False,
) -> None:
    """Exclusive bytes per instance after a 20-request shopping episode vs a full copy."""
    from benchmarks.storage import check_site, run

    with _setup_errors():
        check_site(site)
    golden = _golden(site, backend, data_dir, scale, snapshot_root)
    report = run(golden, str(backend), _drivers(snapshot_driver), repeats, snapshot_root)
    emit(report, as_json, _name("storage", backend, golden))


def density(
    backend: BackendName = BACKEND,
    site: str = SITE,
    snapshot_driver: SnapshotDriver = None,
    target: int = typer.Option(200, "--target", min=1, help="Instances to run at once."),
    cold: int = typer.Option(5, "--cold", min=0, help="Cold processes measured for memory."),
    data_dir: Path | None = DATA_DIR,
    scale: float | None = SCALE,
    snapshot_root: SnapshotRoot = None,
    live: bool = typer.Option(
        False,
        "--live",
        help="Live envs instead (instance + browser context + first page, on --site's own "
        "tasks and backend): PSS per env by part, each browser build side by side up to "
        "--compare-at, then the default build up to --target or the memory floor.",
    ),
    compare_at: str = typer.Option(
        "8,24", "--compare-at", help="--live: env counts at which all builds are measured."
    ),
    levels: str = typer.Option(
        "", "--levels", help="--live: env counts of the default build's run (default: to --target)."
    ),
    floor_gib: float = typer.Option(1.0, "--floor-gib", min=0, help="--live: stop below this."),
    setup: list[str] = typer.Option(
        [], "--setup", help="--live: only this browser setup (repeatable; default: all)."
    ),
    as_json: Json = False,
) -> None:
    """Healthy concurrent instances and memory per instance (RSS, PSS, USS); ``--live``: live
    envs and their memory by part."""
    if live:
        from benchmarks.density_live import run as run_live
        from benchmarks.density_live import setups_for

        compare = _counts(compare_at)
        steps = _counts(levels) if levels else [*compare, *range(50, target + 1, 50)]
        with _setup_errors():
            live_suite(site)
            setups_for(site, setup)
        report = run_live(sorted(set(steps)), compare, floor_gib, site=site, only=setup)
        emit(report, as_json, "density-live" if site == DEFAULT_SITE else f"density-live-{site}")
        return
    from benchmarks.density import pick_driver, run

    with _setup_errors():
        driver = pick_driver(snapshot_root, snapshot_driver)  # before any data is seeded
    golden = _golden(site, backend, data_dir, scale, snapshot_root)
    report = run(golden, str(backend), driver, target, cold, snapshot_root)
    emit(report, as_json, _name("density", backend, golden))


def live_suite(site: str) -> Path:
    """The suite whose tasks ``density --live`` runs on ``site``: the first it provides."""
    from webserv.sites.registry import UnknownSite, default_suite

    try:
        return default_suite(site)
    except UnknownSite:
        raise
    except KeyError as err:  # the site provides no suite
        raise ValueError(err.args[0]) from err


def _counts(text: str) -> list[int]:
    try:
        counts = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError as err:
        raise typer.BadParameter(f"a comma-separated list of env counts, got {text!r}") from err
    if not counts or counts[0] < 1:
        raise typer.BadParameter(f"env counts are at least 1, got {text!r}")
    return counts


def register(app: typer.Typer) -> None:
    """Mount the pool benchmarks on ``webserv bench``."""
    for command in (launch, reset, storage, density):
        app.command()(command)
