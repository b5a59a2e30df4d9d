"""Live envs per host: a site instance, a browser context and its first page, as a trainer
holds them between steps.

For each browser setup, one in-process runtime (warm starts off: nothing prepared beyond the
live envs) creates live envs on a site's own tasks (the shop's storefront by default; any
registered site with a suite, on the backend its suite names) in levels up to ``target``, or
until the host's available memory falls under ``floor_gib``. At each level every env takes one
step (``scroll("down")``); an env counts as healthy if the step came back without an error and
with a page. Memory is PSS (shared pages split between the processes that share them), read
from every process of the run and split four ways:

* ``browser``: Chromium's own processes (browser, GPU, network and storage services, zygote);
* ``renderer``: Chromium's renderer processes, one per page's site and context;
* ``site``: the site instances and the zygote they are forked from, or every process of the
  run's containers;
* ``engine``: on the docker backend, Docker's daemons (dockerd, containerd) and each
  container's runtime shim and port proxy;
* ``server``: this process (the runtime) and Playwright's driver.

Every setup but ``full-chromium`` and the ``-unmerged``/``-unwarmed`` ones marks its site
processes and browser for the kernel's same-page merging (``merge_memory``, the default; see
``webserv.ksm``). The run starts the KSM daemon with :data:`KSM_SETTINGS` where it can (root,
Linux 6.4+) and puts the host's settings back afterwards; memory of a merged setup is read
once the daemon has scanned everything twice since the level's envs stepped (``ksm`` in each
level's row: its counters, and its CPU share over the level). ``headless-shell-unmerged`` is
the headless shell without the mark, ``headless-shell-unwarmed`` that with the shop's
launcher warmed the way it was before its instances bound one prebuilt, warmed app
(``benchmarks/site_warmup.py``): each instance builds its own app and fills its own caches.
The second is the shop's alone. On the docker backend the mark reaches the site's containers
where their images can set it (``DockerBackend(merge_memory=True)``).

``-parked`` variants park every env once it has stepped (its pages close, its context stays;
the next step reopens them), as ``webserv serve --park-idle-after`` does to envs left idle:
memory is read parked, and ``step_ms`` includes reopening the page.

``cpu_ms_per_step`` (in each level's row) is the CPU the run's processes used during the
level's health round per healthy step: site, engine, browser and server together (processes
that ended within the round, such as a parked env's renderer, are not counted).

``pss_per_env_mib`` is all of it divided by the live envs (the host's fixed costs included,
so it falls as envs are added); ``marginal_mib`` is what one more env added between the first
and the last level, by part.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psutil

from benchmarks.report import Report
from webserv import ksm
from webserv.browser.session import SessionConfig
from webserv.env.config import runtime_for
from webserv.env.runtime import EnvRuntime
from webserv.env.session import EnvSession
from webserv.pool.backends.base import OWNER_LABEL
from webserv.pool.backends.docker import PORT_LABEL, docker_client
from webserv.sites.registry import default_suite
from webserv.sites.registry import get as get_site
from webserv.tasks.suite import load_suite

MIB = 2**20
PARTS = ("browser", "renderer", "site", "engine", "server")
#: The name a suite's tasks give a site where it is not the site's own.
TASK_SITE = {"shop": "shopping"}
#: Docker's daemons, whose memory grows with every container they run.
ENGINE_DAEMONS = ("dockerd", "containerd")
#: The shop launcher's warm-up as it was before its instances bound a prebuilt app.
UNWARMED = "benchmarks.site_warmup:build_and_discard"
#: The shop launcher's own warm-up (builds the app its instances bind, serves its pages).
SHOP_WARMUP = "webserv.sites.shop.serve:warm"


@dataclass(frozen=True)
class Setup:
    """One way of holding live envs, measured side by side with the others."""

    variant: str
    build: str  # the Chromium build
    park: bool = False  # envs parked while idle
    merge: bool = True  # processes marked for KSM (merged when the daemon runs)
    warmup: str | None = None  # the launcher preload replacing the shop's own warm-up
    shop_only: bool = False  # a comparison only the shop's forked instances make


SETUPS = (
    Setup("full-chromium", "chromium", merge=False),
    Setup("headless-shell", "headless-shell"),
    Setup("headless-shell-unmerged", "headless-shell", merge=False),
    Setup("headless-shell-parked", "headless-shell", park=True),
    Setup(
        "headless-shell-unwarmed",
        "headless-shell",
        merge=False,
        warmup=UNWARMED,
        shop_only=True,
    ),
)
#: Setups then taken on to the target.
TO_THE_TARGET = ("headless-shell", "headless-shell-unmerged", "headless-shell-parked")
#: The KSM daemon's settings during the run (the host's own are restored afterwards): about
#: 490 MiB scanned per second, a full scan of 400 live envs in well under a minute.
KSM_SETTINGS = {"pages_to_scan": "2500", "sleep_millisecs": "20", "run": "1"}
#: Full scans the daemon completes before memory is read (a page merges on its second).
KSM_SCANS = 2
#: The longest wait for them.
KSM_WAIT_S = 240.0
#: How long parked pages may take to let their renderers exit before memory is read.
PARKED_EXIT_S = 10.0
#: Envs created at once (login, context, first page and its settle).
CREATE_CONCURRENCY = 4
#: Envs stepping at once in a health round.
STEP_CONCURRENCY = 8


def _part(proc: psutil.Process) -> str:
    name = proc.name()
    if name.startswith("chrom"):
        return "renderer" if "--type=renderer" in proc.cmdline() else "browser"
    if name == "node" or "playwright" in " ".join(proc.cmdline()[:2]):
        return "server"
    return "site"


def _host_port(cmdline: list[str]) -> str | None:
    """The host port a ``docker-proxy`` process forwards."""
    if "-host-port" in cmdline[:-1]:
        return cmdline[cmdline.index("-host-port") + 1]
    return None


def engine_processes(owner: str) -> Iterator[tuple[str, psutil.Process]]:
    """Every process of the containers of a runtime owned by ``owner`` (part ``site``; its
    backends label them with owners derived from it), each one's runtime shim and port
    proxy, and Docker's daemons (part ``engine``)."""
    client = docker_client()
    try:
        containers = [
            container
            for container in client.containers.list(
                filters={"label": OWNER_LABEL}, ignore_removed=True
            )
            if container.labels[OWNER_LABEL].startswith(owner)
        ]
    finally:
        client.close()
    ports = set()
    for container in containers:
        try:
            init = psutil.Process(container.attrs["State"]["Pid"])
            shim = init.parent()
            inside = [init, *init.children(recursive=True)]
        except psutil.Error:
            continue  # stopped since it was listed
        yield from (("site", proc) for proc in inside)
        if shim is not None:
            yield "engine", shim
        ports.add(container.labels.get(PORT_LABEL))
    for proc in psutil.process_iter(["name", "cmdline"]):
        name, cmdline = proc.info["name"], proc.info["cmdline"] or []
        if name in ENGINE_DAEMONS or (name == "docker-proxy" and _host_port(cmdline) in ports):
            yield "engine", proc


def _processes(docker_owner: str | None) -> list[tuple[str | None, psutil.Process]]:
    """The run's processes with their part where it is known without asking them (None:
    :func:`_part` tells): this one and everything under it; with ``docker_owner``, also the
    containers of the runtime owned so and what the engine runs for them."""
    me = psutil.Process()
    processes: list[tuple[str | None, psutil.Process]] = [("server", me)]
    processes += [(None, proc) for proc in me.children(recursive=True)]
    if docker_owner is not None:
        processes += engine_processes(docker_owner)
    return processes


def pss_by_part(docker_owner: str | None = None) -> dict[str, float]:
    """PSS (MiB) of the run's processes (see :func:`_processes`), by part."""
    totals = dict.fromkeys(PARTS, 0.0)
    for part, proc in _processes(docker_owner):
        try:
            totals[part or _part(proc)] += proc.memory_full_info().pss / MIB
        except psutil.Error:
            continue  # ended meanwhile
    return totals


def cpu_s(docker_owner: str | None = None) -> float:
    """CPU seconds (user and system) the run's processes have used so far; processes that
    ended since are not counted."""
    total = 0.0
    for _, proc in _processes(docker_owner):
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


@dataclass
class Level:
    envs: int
    healthy: int
    pss_mib: dict[str, float]
    step_ms: list[float] = field(default_factory=list)
    create_s: float = 0.0
    available_gib: float = 0.0
    #: The KSM daemon's counters when memory was read, and its CPU share since the last level.
    ksm: dict[str, float] = field(default_factory=dict)
    #: CPU of the run's processes (site, engine, browser, server) per healthy step of the
    #: level's health round.
    cpu_ms_per_step: float = 0.0

    @property
    def total_mib(self) -> float:
        return sum(self.pss_mib.values())


def _renderers() -> int:
    count = 0
    for proc in psutil.Process().children(recursive=True):
        try:
            count += _part(proc) == "renderer"
        except psutil.Error:
            continue  # exited (a zombie until its parent reaps it)
    return count


async def _renderers_gone(timeout_s: float) -> None:
    """Wait until the parked envs' renderer processes have exited (at most ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if not _renderers() or time.monotonic() > deadline:
            return
        await asyncio.sleep(0.1)


@contextmanager
def ksm_daemon() -> Iterator[bool]:
    """The KSM daemon running with :data:`KSM_SETTINGS` (yields False where it cannot: no
    KSM in this kernel, or not root); the previous settings are restored afterwards."""
    if not ksm.supported():
        yield False
        return
    before = {}
    try:
        for name, value in KSM_SETTINGS.items():
            before[name] = (ksm.KSM_DIR / name).read_text().strip()
            (ksm.KSM_DIR / name).write_text(value)
    except OSError:
        for name, value in before.items():
            (ksm.KSM_DIR / name).write_text(value)
        yield False
        return
    try:
        yield True
    finally:
        for name in reversed(list(before)):
            (ksm.KSM_DIR / name).write_text(before[name])


def _ksmd_cpu_s() -> float:
    """CPU seconds the KSM daemon (a kernel thread) has used."""
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] == "ksmd":
            times = proc.cpu_times()
            return times.user + times.system
    return 0.0


async def _merged() -> dict[str, int]:
    """Wait for the daemon's next :data:`KSM_SCANS` full scans (at most
    :data:`KSM_WAIT_S`); its counters then."""
    start = ksm.stats().get("full_scans", 0)
    deadline = time.monotonic() + KSM_WAIT_S
    while True:
        counters = ksm.stats()
        if counters.get("full_scans", 0) >= start + KSM_SCANS or time.monotonic() > deadline:
            return counters
        await asyncio.sleep(1.0)  # the daemon's progress has no event to wait on


async def _health(envs: list[EnvSession], park: bool) -> tuple[int, list[float]]:
    """Every env steps (``STEP_CONCURRENCY`` at a time; with ``park``, each parks again at
    once, so that only the stepping ones hold pages); how many were fine, and their times."""
    gate = asyncio.Semaphore(STEP_CONCURRENCY)

    async def step(env: EnvSession) -> float | None:
        async with gate:
            started = time.perf_counter()
            try:
                result = await env.step('scroll("down")')
                if park:
                    await env.park()
            except Exception:  # any failure means the env is not healthy
                return None
            elapsed = (time.perf_counter() - started) * 1000
            return (
                elapsed
                if result.observation.text and not result.info["last_action_error"]
                else None
            )

    times = await asyncio.gather(*(step(env) for env in envs))
    return sum(t is not None for t in times), [t for t in times if t is not None]


@contextmanager
def shop_warmup(replacement: str | None) -> Iterator[None]:
    """The shop's launcher preloads ``replacement`` instead of its own warm-up (None: as is)."""
    shop = get_site("shop")
    own = shop.preload
    if replacement is not None:
        shop.preload = tuple(replacement if entry == SHOP_WARMUP else entry for entry in own)
    try:
        yield
    finally:
        shop.preload = own


def setups_for(site: str, only: Sequence[str] = ()) -> tuple[Setup, ...]:
    """The setups measured on ``site`` (those named in ``only``, if any)."""
    unknown = set(only) - {setup.variant for setup in SETUPS}
    if unknown:
        raise ValueError(
            f"unknown setups {sorted(unknown)}; known: {', '.join(s.variant for s in SETUPS)}"
        )
    return tuple(
        setup
        for setup in SETUPS
        if (site == "shop" or not setup.shop_only) and (not only or setup.variant in only)
    )


async def _measure(
    site: str, setup: Setup, levels: list[int], floor_gib: float, max_steps: int
) -> tuple[list[Level], str]:
    """Live envs level by level on one setup; the levels reached and why it stopped.
    With ``park``, every env is parked when created and after each step (memory is read
    parked; a step reopens the env's pages first, so its time includes the restore). With
    ``merge`` and the daemon running, memory is read once it has scanned everything twice."""
    build, park = setup.build, setup.park
    merging = setup.merge and ksm.daemon_running()
    suite = load_suite(default_suite(site))
    tasks = [t for t in suite.tasks if t.sites == [TASK_SITE.get(site, site)]]
    owner = f"bench-density-live-{os.getpid()}"
    config = runtime_for(
        suite,
        None,
        {
            "max_instances": levels[-1] + 4,
            "warm_starts": False,
            "browser": build,
            "merge_memory": setup.merge,
            "owner": owner,
        },
        standby=0,
    )
    docker_owner = owner if any(s.backend == "docker" for s in config.sites) else None
    browser_config = SessionConfig(screenshot=False)
    envs: list[EnvSession] = []
    reached: list[Level] = []
    stopped = "target reached"
    async with EnvRuntime(config) as runtime:
        gate = asyncio.Semaphore(CREATE_CONCURRENCY)

        async def create(i: int) -> EnvSession:
            env = EnvSession(runtime, max_steps=max_steps, browser_config=browser_config)
            async with gate:
                await env.reset(tasks[i % len(tasks)])
                if park:
                    await env.park()
            return env

        try:
            for level in levels:
                available = psutil.virtual_memory().available / 2**30
                if available < floor_gib:
                    stopped = f"memory floor: {available:.1f} GiB available < {floor_gib} GiB"
                    break
                started = time.perf_counter()
                made = await asyncio.gather(
                    *(create(i) for i in range(len(envs), level)), return_exceptions=True
                )
                envs += [env for env in made if isinstance(env, EnvSession)]
                failed = [err for err in made if isinstance(err, BaseException)]
                create_s = time.perf_counter() - started
                ksmd_before, wall_before = _ksmd_cpu_s(), time.monotonic()
                cpu_before = cpu_s(docker_owner)
                healthy, step_ms = await _health(envs, park)
                step_cpu_s = cpu_s(docker_owner) - cpu_before
                if park:
                    await _renderers_gone(PARKED_EXIT_S)
                merged = await _merged() if merging else {}
                ksmd_share = (_ksmd_cpu_s() - ksmd_before) / (time.monotonic() - wall_before)
                reached.append(
                    Level(
                        envs=len(envs),
                        healthy=healthy,
                        pss_mib=pss_by_part(docker_owner),
                        step_ms=step_ms,
                        create_s=create_s,
                        available_gib=psutil.virtual_memory().available / 2**30,
                        ksm={**merged, "ksmd_cpu_share": round(ksmd_share, 3)},
                        cpu_ms_per_step=1000 * step_cpu_s / max(healthy, 1),
                    )
                )
                if failed:
                    stopped = f"{len(failed)} envs could not be created: {failed[0]!r}"[:300]
                    break
        finally:
            await asyncio.gather(*(env.close() for env in envs), return_exceptions=True)
    return reached, stopped


def _report(report: Report, variant: str, levels: list[Level], stopped: str) -> None:
    for level in levels:
        report.add(
            f"{variant}@{level.envs}",
            "pss_per_env_mib",
            [level.total_mib / level.envs],
            envs=level.envs,
            healthy=level.healthy,
            pss_mib={k: round(v, 1) for k, v in level.pss_mib.items()},
            create_s=round(level.create_s, 1),
            available_gib=round(level.available_gib, 2),
            ksm=level.ksm,
            cpu_ms_per_step=round(level.cpu_ms_per_step, 1),
        )
        if level.step_ms:
            report.add(f"{variant}@{level.envs}", "step_ms", level.step_ms)
    if len(levels) >= 2:
        first, last = levels[0], levels[-1]
        added = last.envs - first.envs
        marginal = {
            part: round((last.pss_mib[part] - first.pss_mib[part]) / added, 1) for part in PARTS
        }
        report.add(
            variant,
            "marginal_mib",
            [sum(marginal.values())],
            by_part=marginal,
            between=[first.envs, last.envs],
        )
    top = levels[-1] if levels else None
    report.notes.append(
        f"{variant}: {top.healthy if top else 0} of {top.envs if top else 0} live envs healthy "
        f"at the last level; stopped: {stopped}"
    )


def run(
    levels: list[int],
    compare_at: list[int],
    floor_gib: float = 1.0,
    max_steps: int = 1000,
    site: str = "shop",
    only: Sequence[str] = (),
) -> Report:
    """Every setup of ``site`` (or those named in ``only``) up to ``compare_at`` side by side,
    then those of :data:`TO_THE_TARGET` up to ``levels``."""
    setups = setups_for(site, only)
    report = Report(
        benchmark="density-live",
        params={
            "site": site,
            "setups": [setup.variant for setup in setups],
            "levels": levels,
            "compare_at": compare_at,
            "floor_gib": floor_gib,
            "create_concurrency": CREATE_CONCURRENCY,
            "step_concurrency": STEP_CONCURRENCY,
            "load_average_start": [round(v, 2) for v in os.getloadavg()],
        },
    )
    results: dict[str, Any] = {}
    # A run stopped with SIGTERM closes its envs and restores the host's KSM settings, as
    # one stopped with Ctrl-C does.
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    with contextlib.ExitStack() as stack:
        stack.callback(signal.signal, signal.SIGTERM, previous)
        daemon = stack.enter_context(ksm_daemon())
        report.params["ksm"] = {"daemon": daemon, **(KSM_SETTINGS if daemon else {})}
        for setup in setups:
            with shop_warmup(setup.warmup):
                reached, stopped = asyncio.run(
                    _measure(site, setup, compare_at, floor_gib, max_steps)
                )
            _report(report, setup.variant, reached, stopped)
            results[setup.variant] = reached
        top = f"@{compare_at[-1]}"
        for ours, baseline in (
            ("headless-shell", "full-chromium"),
            ("headless-shell-parked", "full-chromium"),
            ("headless-shell", "headless-shell-unmerged"),
            ("headless-shell-unmerged", "headless-shell-unwarmed"),
        ):
            if results.get(ours) and results.get(baseline):
                report.compare("pss_per_env_mib", f"{ours}{top}", f"{baseline}{top}")
        if levels and levels[-1] > compare_at[-1]:
            for setup in setups:
                if setup.variant in TO_THE_TARGET:
                    reached, stopped = asyncio.run(
                        _measure(site, setup, levels, floor_gib, max_steps)
                    )
                    _report(report, f"{setup.variant}-max", reached, stopped)
    report.params["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    return report
