"""The HTTP server's cost and capacity: per-step overhead vs in-process, and throughput.

Overhead: the same task and actions through :class:`WebEnv` in process and through
:class:`RemoteWebEnv` against ``webserv serve`` on loopback. Page settling dominates a
step and varies from step to step, so the overhead is measured per step: the client's
round trip minus the step time the server's env reports for that very step (parsing,
routing, the lease store, JSON both ways, the socket). A call that does no env work
(``GET /v1/envs/{id}``) gives the floor. Throughput: ``clients`` trainers (threads, each a
RemoteWebEnv) step concurrently for ``duration_s``; the baseline is one trainer.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from benchmarks.report import Report
from benchmarks.serving import server_process
from webserv import paths
from webserv.client import RemoteWebEnv

SITE = "shop"
TASK = 1  # an admin task of the shop's suite: its start page has enough to scroll
ACTIONS = ('scroll("down")', 'scroll("up")')

Log = Callable[[str], None]


def _in_process(steps: int) -> list[float]:
    from webserv.env.gym_env import WebEnv

    env = WebEnv(site=SITE, task_ids=[TASK], max_steps=steps + 1)
    try:
        env.reset(options={"task_id": TASK})
        times = []
        for i in range(steps):
            began = time.perf_counter()
            env.step(ACTIONS[i % 2])
            times.append((time.perf_counter() - began) * 1000)
        return times
    finally:
        env.close()


def server_timing(response: httpx.Response) -> dict[str, float]:
    """The ``Server-Timing`` entries of a response, in ms by name."""
    timings = {}
    for header in response.headers.get_list("server-timing"):
        for entry in header.split(","):
            name, _, duration = entry.strip().partition(";dur=")
            timings[name] = float(duration)
    return timings


def _over_http(url: str, steps: int) -> dict[str, list[float]]:
    """Per step (ms): the client's round trip, the env's step time, the server's handling
    time, and the round trip of a call that does no env work."""
    env = RemoteWebEnv(url, site=SITE, task=TASK, max_steps=steps + 1)
    try:
        env.reset()
        times: dict[str, list[float]] = {"rtt": [], "env": [], "app": [], "noop": []}
        with httpx.Client(base_url=url) as plain:
            for i in range(steps):
                began = time.perf_counter()
                env.step(ACTIONS[i % 2])
                times["rtt"].append((time.perf_counter() - began) * 1000)
                # The server's timings of that very step, off the client's own response.
                assert env.last_response is not None
                seen = server_timing(env.last_response)
                times["env"].append(seen["env"])
                times["app"].append(seen["app"])
                began = time.perf_counter()
                plain.get(f"/v1/envs/{env.env_id}").raise_for_status()
                times["noop"].append((time.perf_counter() - began) * 1000)
        return times
    finally:
        env.close()


def _throughput(url: str, clients: int, duration_s: float, log: Log) -> tuple[int, float]:
    """Steps that ``clients`` concurrent trainers made in ``duration_s``; and that time."""
    envs = [
        RemoteWebEnv(url, site=SITE, task=TASK, max_steps=1000, retry_for_s=600)
        for _ in range(clients)
    ]
    # Envs are created a few at a time: creating them is not what is measured here.
    with ThreadPoolExecutor(4) as starting:
        list(starting.map(lambda env: env.reset(), envs))
    log(f"{clients} envs ready")
    with ThreadPoolExecutor(clients) as pool:
        counts = [0] * clients
        stop = threading.Event()

        def trainer(index: int) -> None:
            env = envs[index]
            while not stop.is_set():
                env.step(ACTIONS[counts[index] % 2])
                counts[index] += 1

        began = time.perf_counter()
        futures = [pool.submit(trainer, i) for i in range(clients)]
        stop.wait(duration_s)
        stop.set()
        for future in futures:
            future.result()
        elapsed = time.perf_counter() - began
        list(pool.map(lambda env: env.close(), envs))
    return sum(counts), elapsed


def run(steps: int = 100, clients: int = 32, duration_s: float = 60.0, log: Log = print) -> Report:
    report = Report(
        benchmark="http",
        params={
            "steps": steps,
            "clients": clients,
            "duration_s": duration_s,
            "task": TASK,
            "actions": list(ACTIONS),
            "transport": "loopback",
            "store": "memory",
        },
    )
    load_at_start = os.getloadavg()
    log("in-process steps")
    report.add("in-process", "step_ms", _in_process(steps))
    workdir = paths.home() / "bench" / f"http-{os.getpid()}"
    workdir.mkdir(parents=True, exist_ok=True)
    server = server_process(
        "--site",
        SITE,
        "--standby",
        "2",
        "--max-instances",
        str(clients + 4),
        "--max-envs",
        str(clients * 2),
        server_id=f"benchhttp{os.getpid()}",
        log=Path(workdir / "server.log"),
    )
    server.start()
    try:
        log("HTTP steps")
        times = _over_http(server.url, steps)
        report.add("http", "step_ms", times["rtt"])
        pairs = zip(times["rtt"], times["env"], strict=True)
        report.add("http", "http_overhead_ms", [rtt - env for rtt, env in pairs])
        pairs = zip(times["app"], times["env"], strict=True)
        report.add("http-server-side", "http_overhead_ms", [app - env for app, env in pairs])
        report.add("http-noop-call", "http_overhead_ms", times["noop"])
        report.compare("step_ms", "http", "in-process")
        for n in (1, clients):
            log(f"throughput with {n} trainers")
            total, elapsed = _throughput(server.url, n, duration_s, log)
            report.add(f"http-{n}-clients", "steps_per_s", [total / elapsed], steps=total)
        report.compare("steps_per_s", f"http-{clients}-clients", "http-1-clients")
    finally:
        server.stop()
    start, end = (" / ".join(f"{x:.1f}" for x in load) for load in (load_at_start, os.getloadavg()))
    report.notes.append(
        f"load average at the start {start}, at the end {end} on {os.cpu_count()} CPUs (the "
        "machine is shared); http_overhead_ms is per step: the client's round trip minus the "
        "server env's own step time (http), the server's handling time minus the env's "
        "(http-server-side), a call without env work through a plain httpx.Client (noop)"
    )
    return report
