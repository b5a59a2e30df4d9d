"""``webserv pool ...``: pool status, golden snapshots, cleanup of leftovers."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from webserv.options import Json, SnapshotDriver, SnapshotRoot

if TYPE_CHECKING:
    import psutil

    from webserv.pool.backends.base import Backend
    from webserv.pool.snapshot import SnapshotStore

pool_app = typer.Typer(help="Inspect and manage the site instance pool.", no_args_is_help=True)


def _store(root: Path | None, snapshot: str | None) -> SnapshotStore:
    from webserv.pool.snapshot import SnapshotError, SnapshotStore

    try:
        return SnapshotStore(root, snapshot)
    except SnapshotError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


@pool_app.command()
def status(as_json: Json = False) -> None:
    """Show every running pool manager: standby/leased per site, instances, counters."""
    import psutil

    from webserv.pool.manager import PoolStatus, status_dir

    pools = []
    for path in sorted(status_dir().glob("*.json")) if status_dir().is_dir() else []:
        state = PoolStatus.model_validate_json(path.read_text())
        if not psutil.pid_exists(state.pid):
            continue  # the manager is gone; `webserv pool clean` removes what it left
        pools.append(state)
    if as_json:
        typer.echo(json.dumps([p.model_dump() for p in pools], indent=2))
        return
    if not pools:
        typer.echo("no pool manager is running")
        return
    for pool in pools:
        typer.echo(
            f"pool {pool.owner} (pid {pool.pid}): backend {pool.backend}, snapshots "
            f"{pool.snapshot_driver}, max {pool.max_instances} instances, "
            f"{pool.available_memory_bytes / 2**30:.1f} GiB available"
        )
        for name, site in pool.sites.items():
            typer.echo(
                f"  {name}: {site.standby}/{site.standby_target} standby, "
                f"{site.leased} leased, {site.launching} launching"
            )
        for inst in pool.instances:
            lease = f" lease {inst.lease[:8]} expires in {inst.expires_in_s}s" if inst.lease else ""
            typer.echo(f"    {inst.id} {inst.url} {inst.state}{lease}")
        typer.echo("  " + ", ".join(f"{k} {v}" for k, v in pool.counters.items()))


@pool_app.command()
def golden(
    site: str = typer.Argument(..., help="A registered site (`webserv site list`)."),
    source: Path = typer.Argument(..., help="Its data dir: from `webserv site seed`, or exported."),
    param: list[str] = typer.Option(
        [], "--param", help="Golden parameters KEY=VALUE (default: what `site seed` recorded)."
    ),
    snapshot_driver: SnapshotDriver = None,
    snapshot_root: SnapshotRoot = None,
    replace: bool = typer.Option(False, "--replace", help="Replace an existing golden."),
    manifest_out: Path | None = typer.Option(
        None, "--manifest-out", help="Also write the manifest here (snapshots/SITE/snapshot.json)."
    ),
) -> None:
    """Store SOURCE as SITE's golden snapshot, under the name the runtime looks for, with
    its manifest (recipe, version, parameters, size, checksum)."""
    from webserv.pool.golden import store_golden
    from webserv.pool.snapshot import SnapshotError
    from webserv.sites.cli import parse_params
    from webserv.sites.registry import UnknownSite, get

    store = _store(snapshot_root, snapshot_driver)
    try:
        manifest = store_golden(store, get(site), source, parse_params(param) or None, replace)
    except (UnknownSite, SnapshotError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if manifest_out is not None:
        shared = manifest.model_copy(update={"created_at": None})  # the same bytes every time
        manifest_out.parent.mkdir(parents=True, exist_ok=True)
        manifest_out.write_text(shared.model_dump_json(indent=2, exclude_none=True) + "\n")
    typer.echo(
        f"golden {manifest.name} ({store.driver.name}) at {store.golden_path(manifest.name)}: "
        f"{manifest.files} files, {(manifest.size_bytes or 0) / 2**20:.1f} MiB, "
        f"sha256 {(manifest.checksum or '')[:16]}"
    )


@pool_app.command()
def clean(
    owner: str = typer.Option("default", "--owner", help="Pool owner whose leftovers to remove."),
    backend: str = typer.Option("process", "--backend", help="process or docker."),
    snapshot_driver: SnapshotDriver = None,
    snapshot_root: SnapshotRoot = None,
) -> None:
    """Remove what a dead pool manager left behind: its instances (processes, or containers
    with their runtime slots and mounts), its clones and its pristine marks; and any
    pre-forked launcher whose pool is gone, whoever owned it."""
    import asyncio

    import psutil

    from webserv.pool.manager import PoolManager, PoolStatus, status_dir

    published = status_dir() / f"{owner}.json"
    if published.exists():
        pid = PoolStatus.model_validate_json(published.read_text()).pid
        if psutil.pid_exists(pid):
            typer.echo(f"error: pool {owner} is running (pid {pid}); stop it first", err=True)
            raise typer.Exit(2)
    launchers = stop_orphaned_launchers()
    if backend == "process":
        from webserv.pool.backends.process import ProcessBackend

        chosen: Backend = ProcessBackend(owner=owner)
    elif backend == "docker":
        from webserv.pool.backends.docker import DockerBackend

        chosen = DockerBackend(owner=owner)
    else:
        typer.echo(f"error: unknown backend {backend!r}; choose process or docker", err=True)
        raise typer.Exit(2)
    manager = PoolManager(chosen, _store(snapshot_root, snapshot_driver), [], owner=owner)

    async def run() -> dict[str, int]:
        try:
            return await manager.reconcile()  # a pool of no sites adopts nothing
        finally:
            await manager.close(destroy=False)
            await chosen.close()

    try:
        done = asyncio.run(run())
    except (RuntimeError, OSError) as exc:  # engine unreachable, snapshot errors
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(
        f"stopped {done['instances']} {backend} instances, destroyed {done['clones']} clones "
        f"of {owner}; stopped {launchers} orphaned launchers"
    )


def _pipe(pid: int, fd: int | str) -> str | None:
    """What fd ``fd`` of process ``pid`` points at (``pipe:[inode]`` for a pipe), or None."""
    try:
        return os.readlink(f"/proc/{pid}/fd/{fd}")
    except OSError:
        return None


def _holds(pid: int, link: str) -> bool:
    """Whether process ``pid`` has ``link`` open (also when its files cannot be read)."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return True  # not ours to judge
    return any(_pipe(pid, fd) == link for fd in fds)


def orphaned_launchers() -> list[psutil.Process]:
    """Pre-forked launchers (without ``--control``) that can take no request any more: their
    parent does not hold their stdin pipe, having died (older launchers outlived a killed
    pool when another process kept that pipe open). Forked instances read /dev/null, so they
    are never counted."""
    import psutil

    from webserv.pool.backends.zygote import MODULE

    found = []
    for proc in psutil.process_iter(["cmdline", "ppid"]):
        argv = proc.info["cmdline"] or []
        if argv[1:3] != ["-m", MODULE] or "--control" in argv:
            continue
        stdin = _pipe(proc.pid, 0)
        if stdin is not None and stdin.startswith("pipe:") and not _holds(proc.info["ppid"], stdin):
            found.append(proc)
    return found


def stop_orphaned_launchers(timeout_s: float = 5.0) -> int:
    """Kill the pre-forked launchers no pool can use any more; return how many are gone."""
    import time

    import psutil

    def gone(proc: psutil.Process) -> bool:
        try:
            return proc.status() == psutil.STATUS_ZOMBIE  # dead, its parent not reaped yet
        except psutil.NoSuchProcess:
            return True

    procs = []
    for proc in orphaned_launchers():
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            continue
        procs.append(proc)
    deadline = time.monotonic() + timeout_s
    while not all(map(gone, procs)) and time.monotonic() < deadline:
        time.sleep(0.02)  # polling the kernel until the killed processes are gone
    return sum(map(gone, procs))
