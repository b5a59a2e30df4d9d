"""The soak: a server with Redis under trainers for a bounded time, memory and leaks tracked.

Loopback only. ``clients`` trainer processes (:mod:`benchmarks.soak_client`) run episodes
against one ``webserv serve --redis`` process. Every ``sample_s`` the server's RSS, the RSS
of everything it started (browser, instances), the live instances labelled with its
owner and the open envs are sampled. A third of the way in, one trainer is killed with
SIGKILL mid-episode (and replaced): its env must end after the TTL. Past half-way the
server itself is killed with SIGKILL and started again: the envs it had must answer 410
and their instances must go. At the end the trainers stop, and once the TTLs have run out
nothing may be left: no open env, no leased instance, no env record in Redis, no instance
the pool does not know; after a clean stop, no instance and no browser process at all.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import redis

from benchmarks.report import Report
from benchmarks.serving import ServerProcess, redis_server, server_process
from webserv import paths
from webserv.pool.backends.process import ProcessBackend

OWNER = "soak"


def live_instances(owner: str = OWNER, state_dir: Path | None = None) -> set[str]:
    """Ids of the instances labelled ``owner`` whose process runs (recorded under
    ``state_dir``, default the process backend's under ``WEBSERV_HOME``)."""
    backend = ProcessBackend(owner=owner, state_dir=state_dir)
    return {i.id for i in asyncio.run(backend.owned(owner))}


def known_instances(pool: dict[str, Any]) -> set[str]:
    """Ids of the instances a ``GET /v1/pool`` answer's pools know (one pool per backend)."""
    return {i["id"] for status in pool["pools"] for i in status["instances"]}


def site_count(pool: dict[str, Any], key: str) -> int:
    """``leased``, ``launching`` or ``standby`` instances of every site, over every pool."""
    return sum(site[key] for status in pool["pools"] for site in status["sites"].values())


def tree_rss(proc: psutil.Process) -> int:
    total = 0
    for child in proc.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.Error:
            continue
    return total


def slope_mib_per_h(points: list[tuple[float, int]]) -> float:
    """Least-squares slope of RSS over time, in MiB per hour."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    cov = sum((t - mean_t) * (v - mean_v) for t, v in points)
    return round(cov / var * 3600 / 2**20, 2) if var else 0.0


class Trainers:
    """The trainer processes and their status files."""

    def __init__(self, url: str, workdir: Path, think_s: float) -> None:
        self.url, self.workdir, self.think_s = url, workdir, think_s
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self._next = 0

    def start(self) -> int:
        seed = self._next
        self._next += 1
        argv = [sys.executable, "-m", "benchmarks.soak_client", self.url]
        argv += [str(self.status_file(seed)), str(seed), str(self.think_s)]
        log = open(self.workdir / f"client-{seed}.log", "wb")
        self.procs[seed] = subprocess.Popen(argv, stdout=log, stderr=log)
        log.close()
        return seed

    def status_file(self, seed: int) -> Path:
        return self.workdir / f"client-{seed}.json"

    def status(self, seed: int) -> dict[str, Any]:
        try:
            return json.loads(self.status_file(seed).read_text())
        except (OSError, ValueError):
            return {"steps": 0, "episodes": 0, "errors": 0, "env_id": None}

    def totals(self) -> dict[str, int]:
        keys = ("steps", "episodes", "errors")
        return {k: sum(int(self.status(seed)[k]) for seed in self.procs) for k in keys}

    def kill(self, seed: int) -> str | None:
        """SIGKILL a trainer mid-episode; the env id it held."""
        env_id = self.status(seed)["env_id"]
        self.procs[seed].send_signal(signal.SIGKILL)
        self.procs[seed].wait()
        return env_id

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def until(condition: Any, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(1.0)  # poll interval while envs run out their TTL
    return bool(condition())


def run(
    duration_s: float = 1800.0,
    clients: int = 3,
    sample_s: float = 20.0,
    env_ttl_s: float = 60.0,
    think_s: float = 0.5,
    log: Any = print,
) -> Report:
    report = Report(
        benchmark="soak",
        params={
            "duration_s": duration_s,
            "clients": clients,
            "sample_s": sample_s,
            "env_ttl_s": env_ttl_s,
            "think_s": think_s,
            "store": "redis",
            "backend": "process",
        },
    )
    workdir = paths.home() / "bench" / f"soak-{os.getpid()}"
    workdir.mkdir(parents=True, exist_ok=True)
    with redis_server(workdir) as redis_url:
        server = server_process(
            "--redis",
            redis_url,
            "--env-ttl",
            str(env_ttl_s),
            "--standby",
            "2",
            "--max-instances",
            str(clients * 2 + 4),
            server_id=OWNER,
            log=workdir / "server.log",
        )
        store = redis.Redis.from_url(redis_url, decode_responses=True)
        api = httpx.Client(base_url=server.url, timeout=60)
        trainers = Trainers(server.url, workdir, think_s)
        try:
            _soak(
                report, server, trainers, api, store, clients, duration_s, sample_s, env_ttl_s, log
            )
        finally:
            trainers.stop_all()
            server.stop()
            api.close()
            store.close()
    return report


def _soak(
    report: Report,
    server: ServerProcess,
    trainers: Trainers,
    api: httpx.Client,
    store: redis.Redis,
    clients: int,
    duration_s: float,
    sample_s: float,
    env_ttl_s: float,
    log: Any,
) -> None:
    server.start()
    for _ in range(clients):
        trainers.start()
    samples: list[dict[str, Any]] = []
    run_no, killed_env, restart_s = 1, None, None
    kill_at, restart_at = duration_s * 0.3, duration_s * 0.55
    killed = restarted = False
    started = time.monotonic()
    next_sample = started
    while (elapsed := time.monotonic() - started) < duration_s:
        if not killed and elapsed >= kill_at:
            killed_env = trainers.kill(0)
            trainers.start()
            killed = True
            log(f"[{elapsed:6.0f} s] killed trainer 0 mid-episode (env {killed_env})")
        if not restarted and elapsed >= restart_at:
            began = time.monotonic()
            server.kill()
            server.start()
            restart_s = round(time.monotonic() - began, 1)
            run_no, restarted = 2, True
            log(f"[{elapsed:6.0f} s] server killed and started again in {restart_s} s")
        proc = server.process()
        pool = api.get("/v1/pool").json()
        known = known_instances(pool)
        live = live_instances()
        sample = {
            "t_s": round(elapsed, 1),
            "run": run_no,
            "server_rss": proc.memory_info().rss,
            "children_rss": tree_rss(proc),
            "live_instances": len(live),
            "unknown_instances": len(live - known),
            "open_envs": len(pool["envs"]),
            **trainers.totals(),
        }
        samples.append(sample)
        log(
            f"[{elapsed:6.0f} s] run {run_no} rss {sample['server_rss'] / 2**20:6.1f} MiB "
            f"children {sample['children_rss'] / 2**20:7.1f} MiB instances {len(live):2d} "
            f"envs {sample['open_envs']:2d} steps {sample['steps']} errors {sample['errors']}"
        )
        next_sample += sample_s
        time.sleep(max(0.0, next_sample - time.monotonic()))  # the sampling period

    totals = trainers.totals()
    killed_answer = api.get(f"/v1/envs/{killed_env}").json() if killed_env else {}
    trainers.stop_all()

    def drained() -> bool:
        pool = api.get("/v1/pool").json()
        return not pool["envs"] and site_count(pool, "leased") == 0

    until(drained, env_ttl_s + 60)
    until(lambda: not site_count(api.get("/v1/pool").json(), "launching"), 120)
    pool = api.get("/v1/pool").json()
    known = known_instances(pool)
    leased_left = site_count(pool, "leased")
    unknown_left = len(live_instances() - known)
    records_left = len(store.keys("webserv:env:*"))
    tree = server.process().children(recursive=True)
    server.stop()

    def all_gone() -> bool:
        return not live_instances() and not [p for p in tree if is_running(p)]

    until(all_gone, 60)
    after_stop = len(live_instances())
    processes_left = len([p for p in tree if is_running(p)])

    memory_rows(report, samples)
    leaks = {
        "leased_after_ttl": leased_left,
        "open_envs_after_ttl": len(pool["envs"]),
        "unknown_instances": unknown_left,
        "redis_env_records": records_left,
        "instances_after_stop": after_stop,
        "processes_after_stop": processes_left,
    }
    report.add("end", "leaked_instances", [leased_left + unknown_left + after_stop], **leaks)
    elapsed = samples[-1]["t_s"] if samples else duration_s
    report.add("all-trainers", "steps_per_s", [totals["steps"] / elapsed], **totals)
    report.params["samples"] = samples
    report.notes.append(
        f"trainer 0 killed at {kill_at:.0f} s holding env {killed_env}; afterwards the server "
        f"answered: {killed_answer.get('error')}: {killed_answer.get('message')}"
    )
    report.notes.append(
        f"server killed with SIGKILL at {restart_at:.0f} s and up again in {restart_s} s; "
        f"trainer errors over the run (mostly calls during the restart): {totals['errors']}"
    )
    report.notes.append("leaks at the end: " + json.dumps(leaks))


def memory_rows(report: Report, samples: list[dict[str, Any]]) -> None:
    """RSS rows per server run (the server process, and what it started), after warm-up.

    The first minutes fill caches (Chromium, imports, allocator pools), so growth is judged
    after them: the slope over the settled samples, and over their second half, where a
    leak would keep rising while a warm-up has levelled off.
    """
    for run_no in sorted({s["run"] for s in samples}):
        for key, variant in (("server_rss", "server"), ("children_rss", "children")):
            points = [(s["t_s"], s[key]) for s in samples if s["run"] == run_no]
            settled = [p for p in points if p[0] - points[0][0] >= 180]
            if len(settled) < 4:
                continue
            half = settled[len(settled) // 2 :]
            report.add(
                f"{variant}-run{run_no}",
                "rss_bytes",
                [v for _, v in settled],
                first_mib=round(settled[0][1] / 2**20, 1),
                last_mib=round(settled[-1][1] / 2**20, 1),
                max_mib=round(max(v for _, v in settled) / 2**20, 1),
                slope_mib_per_h=slope_mib_per_h(settled),
                second_half_slope_mib_per_h=slope_mib_per_h(half),
                second_half_s=round(half[-1][0] - half[0][0]),
            )


def is_running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
