"""The cluster mode on one machine: the router's cost, placement, a lost node, and a model.

One run grows a local Ray cluster (:func:`webserv.cluster.local.local_cluster`: a Ray head,
one Ray node per webserv node, a Redis) from the smallest to the largest node count asked
for, with the router in a process of its own (as deployed), and at each count measures:

* ``create_ms``: ``POST /v1/envs`` through the router, one after another, ``envs_per_node``
  per node; then ``envs_per_node``: how many of those creates each node took.
* per-step cost, one env stepped by turns (router, direct, fast path, round after round, so
  that machine noise hits all three alike) with a cheap action that does not navigate
  (``scroll`` down and up): through the router, against the env's node's own server (its
  URL from the agent's ``info``), and as an actor call (:class:`ActorCalls`, the fast path).
  ``step_ms`` is the client's round trip; ``overhead_ms`` that minus the env's own step
  time (the node's ``Server-Timing`` ``env`` entry, the fast path's ``info.timings``);
  ``router_overhead_ms`` the router's round's overhead minus the direct one's, per round
  (the target: at most 2 ms p50). A call without env work (``GET /v1/envs/{id}``) through
  the router and direct gives the floor (``describe_ms``).
* ``steps_per_s``: every env of the cluster stepped through the router at once (a thread
  each) for ``duration_s``, with the CPU seconds the nodes' processes (each agent and all it
  started) and the router spent per step.
* ``co_located``: groups of ``GROUP_N`` created through the router, the share whose envs all
  sit on one node.

At the largest count, a node is removed mid-episode (SIGTERM to its Ray processes, then
SIGKILL with ``--kill``): the time from the removal call until a client of the router and a
fast-path client get 410 ``env_lost`` on one of its envs; the other nodes' envs must still
step; then the node comes back, Ray restarts its agent, and what the first incarnation left
(processes no pool owns now, clones no instance owns) is counted. At the end no process of
the run may be left (every process it starts carries ``RUN_MARK`` in its environment).

Last, ``nodes_needed``: how many hosts a trainer with N concurrent rollouts needs, from the
per-env memory in ``density-live.json`` and the CPU per step measured here (see
:func:`model`).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

from benchmarks.http import server_timing
from benchmarks.report import RESULTS_DIR, Report
from webserv.client import RemoteEnvError
from webserv.cluster import nodes
from webserv.cluster.agent import NodeInfo
from webserv.cluster.config import ClusterConfig
from webserv.cluster.local import LocalCluster, local_cluster
from webserv.pool.backends.base import free_port
from webserv.server.service import server_key

SITE = "shop"
TASK = 1  # an admin task of the shop's suite: its start page has enough to scroll
ACTIONS = ('scroll("down")', 'scroll("up")')
GROUP_N = 3
#: A step's answers as the failure's watchers note them.
OK, LOST = "200", "410 env_lost"
#: Names of the webserv nodes, in the order they join.
NODE_PREFIX = "wsbench"
#: Marks every process of a run (inherited by Ray's processes and all they start).
RUN_MARK = "WEBSERV_BENCH_CLUSTER_RUN"
#: The router's overhead target per step, p50 (ms).
TARGET_OVERHEAD_MS = 2.0
#: How long a failure may take to show, and the restarted agent to reap the leftovers.
LOST_TIMEOUT_S = 90.0
REAP_TIMEOUT_S = 120.0
#: The model: concurrent rollouts, hosts (name, memory GiB, cores), and its assumptions.
MODEL_ROLLOUTS = (256, 1024, 4096)
MODEL_HOSTS = (("64GiB-16cores", 64, 16), ("24GiB-2cores", 24, 2))
MODEL_POLICY_S = 3.0  # the trainer's time between two steps of one rollout (generation)
MODEL_CPU_SHARE = 0.8  # of a host's cores the envs may use
MODEL_RESERVE_GIB = 2.0  # kept free on a host: the OS, Ray's own processes, the memory floor
REPO = Path(__file__).resolve().parent.parent
MIB = 2**20

Log = Callable[[str], None]


def node_counts(text: str) -> list[int]:
    """``"1,2,3"`` as the node counts, ascending (the run grows one cluster)."""
    try:
        counts = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError as err:
        raise ValueError(f"a comma-separated list of node counts, got {text!r}") from err
    if not counts or counts[0] < 1:
        raise ValueError(f"node counts are at least 1, got {text!r}")
    return counts


# -- the cluster, the router, the run's environment -----------------------------------


@dataclass
class Bench:
    """The running cluster as the phases use it."""

    local: LocalCluster
    config: ClusterConfig
    home: Path
    snapshots: Path
    log: Log
    router: str = ""
    router_pid: int = 0
    names: list[str] = field(default_factory=list)
    fast: Any = None  # ActorCalls

    def node_of(self, env_id: str) -> str:
        return {server_key(name): name for name in self.names}[nodes.key_of(env_id)]

    def info(self, name: str, timeout_s: float = 60.0) -> NodeInfo:
        import ray

        return ray.get(nodes.agent(name).info.remote(), timeout=timeout_s)

    def grow(self, count: int) -> None:
        """Nodes joined and their agents serving until there are ``count``; the router
        routes to all of them."""
        while len(self.names) < count:
            name = f"{NODE_PREFIX}-{len(self.names) + 1}"
            started = time.monotonic()
            self.local.add(name)
            nodes.start_agent(self.config, name)
            self.names.append(name)
            self.info(name, timeout_s=600)
            self.log(f"node {name} serving after {time.monotonic() - started:.1f} s")
        with httpx.Client(base_url=self.router, timeout=60) as client:
            until(lambda: len(_pool_owners(client)) == len(self.names), 120, "router sees nodes")

    def settle(self) -> None:
        """Wait until every node's standby is full again and nothing is launching."""

        def full() -> bool:
            with httpx.Client(base_url=self.router, timeout=60) as client:
                pools = client.get("/v1/pool").json()["pools"]
            sites = [s for pool in pools for s in pool["sites"].values()]
            return all(s["standby"] >= s["standby_target"] and not s["launching"] for s in sites)

        until(full, 180, "standby refilled")


def _pool_owners(client: httpx.Client) -> set[str]:
    return {pool["owner"] for pool in client.get("/v1/pool").json()["pools"]}


def until(condition: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Poll ``condition`` until true; the seconds it took (TimeoutError past ``timeout_s``)."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"{what}: not after {timeout_s:.0f} s")
        time.sleep(0.05)  # poll interval
    return time.monotonic() - started


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """``values`` in this process's environment (inherited by the Ray nodes it starts, so by
    the agents), restored on exit."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def cluster_config(local: LocalCluster, golden_source: Path, envs_per_node: int) -> ClusterConfig:
    from webserv.env.config import RuntimeConfig, SiteConfig
    from webserv.server.config import ServerConfig
    from webserv.tasks.suite import load_suite

    golden = load_suite(SITE).manifest.golden[SITE]
    shop = SiteConfig(name=SITE, golden=golden, golden_source=golden_source, standby=1)
    max_envs = envs_per_node + GROUP_N + 2  # the phase's envs, a group, the failure's two
    node = ServerConfig(
        redis_url=local.redis_url,
        max_envs=max_envs,
        env_ttl_s=900,
        runtime=RuntimeConfig(sites=[shop], max_instances=max_envs + 2, snapshot_driver="copy"),
    )
    return ClusterConfig(node=node, port=free_port(), ray_address=local.address)


@contextlib.contextmanager
def router_process(config: ClusterConfig, workdir: Path) -> Iterator[tuple[str, int]]:
    """The router in a process of its own (``python -m benchmarks.cluster CONFIG``); its URL
    and pid. Stopped (SIGTERM, then SIGKILL) on exit."""
    path = workdir / "router.json"
    path.write_text(config.model_dump_json())
    url = f"http://127.0.0.1:{config.port}"
    with open(workdir / "router.log", "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.cluster", str(path)],
            cwd=REPO,
            stdout=out,
            stderr=out,
        )
    try:

        def healthy() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"the router exited with {proc.returncode}; see router.log")
            with contextlib.suppress(httpx.TransportError):
                return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
            return False

        until(healthy, 120, "router healthy")
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def serve_router(config_path: Path) -> None:
    """The router of ``config_path``'s ClusterConfig, in the foreground."""
    import uvicorn

    from webserv.cluster.router import create_router_app

    config = ClusterConfig.model_validate_json(config_path.read_text())
    uvicorn.run(
        create_router_app(config),
        host=config.host,
        port=config.port,
        log_level="warning",
        timeout_keep_alive=30,
    )


def marked_processes(mark: str) -> list[psutil.Process]:
    """The live processes whose environment carries ``RUN_MARK=mark``."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.pid != os.getpid() and proc.environ().get(RUN_MARK) == mark:
                if proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc)
        except psutil.Error:
            continue  # gone, or not ours to read
    return found


# -- envs through the router ----------------------------------------------------------


def create_body(**extra: Any) -> dict[str, Any]:
    return {"site": SITE, "task": TASK, "options": {"max_steps": 1000}, **extra}


def create_envs(client: httpx.Client, k: int) -> tuple[list[str], list[float]]:
    """``k`` envs created one after another through the router; their ids and times (ms)."""
    ids, times = [], []
    for _ in range(k):
        began = time.perf_counter()
        answer = client.post("/v1/envs", json=create_body())
        times.append((time.perf_counter() - began) * 1000)
        if answer.status_code != 201:
            raise RuntimeError(f"create: {answer.status_code} {answer.text[:300]}")
        ids.append(answer.json()["env_id"])
    return ids, times


def close_envs(client: httpx.Client, env_ids: list[str]) -> None:
    """Close through the router; an env already ended (410, 404) is fine."""
    for env_id in env_ids:
        answer = client.delete(f"/v1/envs/{env_id}")
        if answer.status_code not in (200, 404, 410):
            raise RuntimeError(f"close {env_id}: {answer.status_code} {answer.text[:300]}")


def step_http(client: httpx.Client, env_id: str, action: str) -> tuple[float, dict[str, float]]:
    """One step over HTTP: the round trip (ms) and the answer's ``Server-Timing`` entries
    (``env``: the env's own step; ``app``: the node's server; ``router``: the router)."""
    began = time.perf_counter()
    answer = client.post(f"/v1/envs/{env_id}/step", json={"action": action})
    rtt = (time.perf_counter() - began) * 1000
    if answer.status_code != 200:
        raise RuntimeError(f"step {env_id}: {answer.status_code} {answer.text[:300]}")
    return rtt, server_timing(answer)


# -- phases at one node count ---------------------------------------------------------


def placement(bench: Bench, report: Report, n: int, env_ids: list[str], times: list[float]) -> None:
    report.add(f"router-{n}-nodes", "create_ms", times)
    placed = Counter(bench.node_of(env_id) for env_id in env_ids)
    per_node = [placed.get(name, 0) for name in bench.names]
    report.add(
        f"{n}-nodes",
        "envs_per_node",
        per_node,
        creates=len(env_ids),
        by_node=dict(zip(bench.names, per_node, strict=True)),
        max_over_min=round(max(per_node) / min(per_node), 2) if min(per_node) else None,
    )


def overhead(bench: Bench, report: Report, n: int, env_id: str, steps: int) -> None:
    """Router, direct and fast path by turns on one env (see the module doc)."""
    node_url = bench.info(bench.node_of(env_id)).url
    rtt: dict[str, list[float]] = {"router": [], "direct": [], "fastpath": []}
    own: dict[str, list[float]] = {name: [] for name in rtt}
    routing: list[float] = []  # the router's time minus the node's, per router step
    describe: dict[str, list[float]] = {"router": [], "direct": []}
    turn = 0
    with (
        httpx.Client(base_url=bench.router, timeout=180) as via_router,
        httpx.Client(base_url=node_url, timeout=180) as direct,
    ):
        clients = {"router": via_router, "direct": direct}
        for _ in range(steps):
            for variant in ("router", "direct", "fastpath"):
                action = ACTIONS[turn % 2]
                turn += 1
                if variant == "fastpath":
                    began = time.perf_counter()
                    out = bench.fast.step(env_id, action)
                    rtt[variant].append((time.perf_counter() - began) * 1000)
                    own[variant].append(out.info["timings"]["step_ms"])
                else:
                    trip, timings = step_http(clients[variant], env_id, action)
                    rtt[variant].append(trip)
                    own[variant].append(timings["env"])
                    if variant == "router":
                        routing.append(timings["router"] - timings["app"])
            for variant, client in clients.items():
                began = time.perf_counter()
                client.get(f"/v1/envs/{env_id}").raise_for_status()
                describe[variant].append((time.perf_counter() - began) * 1000)
    _overhead_rows(report, n, rtt, own, describe)
    report.add(f"router-server-side-{n}-nodes", "overhead_ms", routing)


def _overhead_rows(
    report: Report,
    n: int,
    rtt: dict[str, list[float]],
    own: dict[str, list[float]],
    describe: dict[str, list[float]],
) -> None:
    name = {v: f"{v}-{n}-nodes" for v in rtt}
    extra = {}
    for variant, trips in rtt.items():
        report.add(name[variant], "step_ms", trips)
        extra[variant] = [t - e for t, e in zip(trips, own[variant], strict=True)]
        report.add(name[variant], "overhead_ms", extra[variant])
    for variant, trips in describe.items():
        report.add(name[variant], "describe_ms", trips)
    paired = [r - d for r, d in zip(extra["router"], extra["direct"], strict=True)]
    row = report.add(f"router-minus-direct-{n}-nodes", "router_overhead_ms", paired)
    row.extra.update(target_ms=TARGET_OVERHEAD_MS, target_met=row.p50 <= TARGET_OVERHEAD_MS)
    raw = [r - d for r, d in zip(rtt["router"], rtt["direct"], strict=True)]
    report.add(f"router-minus-direct-{n}-nodes-raw", "router_overhead_ms", raw)
    floor = [r - d for r, d in zip(describe["router"], describe["direct"], strict=True)]
    report.add(f"router-minus-direct-{n}-nodes-describe", "router_overhead_ms", floor)
    report.compare("overhead_ms", name["router"], name["direct"])
    report.compare("overhead_ms", name["fastpath"], name["router"])
    report.compare("step_ms", name["router"], name["direct"])
    report.compare("step_ms", name["fastpath"], name["router"])


def _cpu_seconds(pids: list[int]) -> dict[tuple[int, float], float]:
    """CPU seconds so far of each process in the trees under ``pids``, by (pid, start)."""
    seen: dict[tuple[int, float], float] = {}
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        for proc in procs:
            try:
                times = proc.cpu_times()
                seen[(proc.pid, proc.create_time())] = times.user + times.system
            except psutil.Error:
                continue  # ended meanwhile
    return seen


def _spent(before: dict[tuple[int, float], float], after: dict[tuple[int, float], float]) -> float:
    return sum(cpu - before.get(key, 0.0) for key, cpu in after.items())


def throughput(bench: Bench, report: Report, n: int, env_ids: list[str], duration_s: float) -> None:
    """Every env stepped through the router at once for ``duration_s``; steps/s, and the
    CPU the nodes and the router spent per step."""
    agents = [bench.info(name).pid for name in bench.names]
    counts, errors, latencies = [0] * len(env_ids), Counter[str](), []
    stop = threading.Event()

    def trainer(index: int) -> None:
        with httpx.Client(base_url=bench.router, timeout=180) as client:
            while not stop.is_set():
                try:
                    trip, _ = step_http(client, env_ids[index], ACTIONS[counts[index] % 2])
                except (RuntimeError, httpx.HTTPError) as err:
                    errors[type(err).__name__] += 1
                    time.sleep(0.1)  # a refused step: do not spin on it
                    continue
                counts[index] += 1
                latencies.append(trip)

    nodes_before, router_before = _cpu_seconds(agents), _cpu_seconds([bench.router_pid])
    machine_before = psutil.cpu_times()
    began = time.perf_counter()
    with ThreadPoolExecutor(len(env_ids)) as pool:
        futures = [pool.submit(trainer, i) for i in range(len(env_ids))]
        stop.wait(duration_s)
        stop.set()
        for future in futures:
            future.result()
    elapsed = time.perf_counter() - began
    machine = psutil.cpu_times()
    steps = sum(counts)
    node_cpu = _spent(nodes_before, _cpu_seconds(agents))
    router_cpu = _spent(router_before, _cpu_seconds([bench.router_pid]))
    idle = (machine.idle + machine.iowait) - (machine_before.idle + machine_before.iowait)
    total = sum(machine) - sum(machine_before)
    report.add(
        f"router-{n}-nodes",
        "steps_per_s",
        [steps / elapsed],
        steps=steps,
        envs=len(env_ids),
        seconds=round(elapsed, 1),
        errors=dict(errors),
        node_cpu_s_per_step=round(node_cpu / steps, 4) if steps else None,
        router_cpu_ms_per_step=round(router_cpu / steps * 1000, 2) if steps else None,
        machine_busy=round(1 - idle / total, 3) if total else None,
    )
    report.add(f"router-{n}-nodes-loaded", "step_ms", latencies or [0.0])


def groups(bench: Bench, report: Report, n: int, count: int) -> None:
    """``count`` groups of ``GROUP_N`` through the router: how many sit whole on one node."""
    whole, times = 0, []
    with httpx.Client(base_url=bench.router, timeout=300) as client:
        for _ in range(count):
            began = time.perf_counter()
            answer = client.post("/v1/groups", json=create_body(n=GROUP_N))
            times.append((time.perf_counter() - began) * 1000)
            if answer.status_code != 201:
                raise RuntimeError(f"group: {answer.status_code} {answer.text[:300]}")
            group = answer.json()
            whole += len({bench.node_of(env["env_id"]) for env in group["envs"]}) == 1
            client.delete(f"/v1/groups/{group['group']}").raise_for_status()
    report.add(f"router-{n}-nodes", "group_create_ms", times, n=GROUP_N)
    report.add(f"{n}-nodes", "co_located", [whole / count], groups=count, on_one_node=whole)


def memory(bench: Bench, report: Report, n: int, envs: int) -> None:
    """PSS of each node's agent and all it started, per live env; and of Ray's own
    processes of a node (raylet, idle workers, its agents), beside it."""
    agent_mib, ray_mib = 0.0, 0.0
    for name in bench.names:
        agent = psutil.Process(bench.info(name).pid)
        tree = {agent, *agent.children(recursive=True)}
        agent_mib += _pss(tree)
        ray_procs = set()
        for infos in bench.local.nodes[name].all_processes.values():
            for info in infos:
                with contextlib.suppress(psutil.Error):
                    root = psutil.Process(info.process.pid)
                    ray_procs |= {root, *root.children(recursive=True)}
        ray_mib += _pss(ray_procs - tree)
    report.add(
        f"{n}-nodes",
        "node_pss_per_env_mib",
        [agent_mib / envs],
        envs=envs,
        agents_mib=round(agent_mib, 1),
        ray_per_node_mib=round(ray_mib / n, 1),
    )


def _pss(procs: set[psutil.Process]) -> float:
    total = 0.0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_full_info().pss / MIB
    return total


# -- a node lost ----------------------------------------------------------------------


@dataclass
class Watch:
    """A client stepping one env until it gets 410 ``env_lost``: when, and every answer it
    saw (``"200"``, ``"503 pool_full"``, ``"410 env_lost"``, an exception's name)."""

    name: str
    call: Callable[[str], str]  # one step; its answer
    env_id: str
    armed: threading.Event = field(default_factory=threading.Event)
    seen: Counter[str] = field(default_factory=Counter)
    lost_at: float | None = None

    def run(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            try:
                answer = self.call(self.env_id)
            except Exception as err:  # an unexpected failure is an answer too
                answer = type(err).__name__
            self.seen[answer] += 1
            if answer == OK:
                self.armed.set()
            elif answer == LOST and self.armed.is_set():
                self.lost_at = time.monotonic()
                return
            else:
                time.sleep(0.02)  # poll interval after a refusal


def _router_step(client: httpx.Client) -> Callable[[str], str]:
    def call(env_id: str) -> str:
        answer = client.post(f"/v1/envs/{env_id}/step", json={"action": ACTIONS[0]})
        if answer.status_code == 200:
            return OK
        return f"{answer.status_code} {answer.json().get('error')}"

    return call


def _fast_step(bench: Bench) -> Callable[[str], str]:
    def call(env_id: str) -> str:
        try:
            bench.fast.step(env_id, ACTIONS[0])
        except RemoteEnvError as err:
            return f"{err.status} {err.code}"
        return OK

    return call


def direct_envs(bench: Bench, node: str, k: int) -> list[str]:
    """``k`` envs created on ``node``'s own server (not placed by the router)."""
    with httpx.Client(base_url=bench.info(node).url, timeout=180) as direct:
        made = [direct.post("/v1/envs", json=create_body()) for _ in range(k)]
    return [answer.raise_for_status().json()["env_id"] for answer in made]


def lose_node(bench: Bench, report: Report, victim: str, graceful: bool) -> None:
    """``victim`` removed mid-episode (two of its envs being stepped, one through the router,
    one by the fast path), an env on every other node stepped after it; then it comes back."""
    mode = "graceful" if graceful else "kill"
    lost = direct_envs(bench, victim, 2)
    kept = [env for node in bench.names if node != victim for env in direct_envs(bench, node, 1)]
    old = bench.info(victim)
    old_tree = _tree(old.pid)
    with httpx.Client(base_url=bench.router, timeout=180) as client:
        watches = [
            Watch("router", _router_step(client), lost[0]),
            Watch("fastpath", _fast_step(bench), lost[1]),
        ]
        deadline = time.monotonic() + LOST_TIMEOUT_S
        threads = [threading.Thread(target=w.run, args=(deadline,), daemon=True) for w in watches]
        for thread in threads:
            thread.start()
        for watch in watches:
            if not watch.armed.wait(60):
                raise RuntimeError(f"{watch.name}: no step answered before the removal")
        removed_at = time.monotonic()
        bench.local.remove(victim, graceful=graceful)
        remove_s = time.monotonic() - removed_at
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        survivors = Counter(_router_step(client)(env_id) for env_id in kept)
        close_envs(client, kept)
    bench.log(f"{victim} removed ({mode}): {[dict(w.seen) for w in watches]}")
    for watch in watches:
        answered = watch.lost_at is not None
        took = (watch.lost_at or time.monotonic()) - removed_at  # else: how long it waited
        report.add(
            f"{mode}-{watch.name}",
            "lost_410_s",
            [took],
            answered_410=answered,
            answers=dict(watch.seen),
            remove_call_s=round(remove_s, 2),
        )
    report.add(f"{mode}-other-nodes", "steps_ok", [survivors.get(OK, 0)], answers=dict(survivors))
    _come_back(bench, report, victim, mode, lost[0], old, old_tree)


def _tree(pid: int) -> set[tuple[int, float]]:
    root = psutil.Process(pid)
    return {(p.pid, p.create_time()) for p in [root, *root.children(recursive=True)]}


def _come_back(
    bench: Bench,
    report: Report,
    victim: str,
    mode: str,
    lost: str,
    old: NodeInfo,
    old_tree: set[tuple[int, float]],
) -> None:
    """The node joins again; how long until its agent serves, until the router routes to it
    again (the lost env's id then answers for good), and what the first incarnation left."""
    import ray

    survived = len(_alive(old_tree))  # what the node's removal itself did not end
    started = time.monotonic()
    bench.local.add(victim)

    def restarted() -> bool:
        try:
            return bool(bench.info(victim, timeout_s=30).pid != old.pid)
        except (ray.exceptions.RayError, ValueError):
            return False  # Ray is still restarting it

    until(restarted, 600, f"{victim}'s agent restarted")
    back_s = time.monotonic() - started
    answers: list[str] = []
    with httpx.Client(base_url=bench.router, timeout=60) as client:
        step = _router_step(client)  # 503 "starting" until the router has the node's address

        def routed() -> bool:
            answers.append(step(lost))
            return not answers[-1].startswith("503")

        routed_s = until(routed, 120, f"the router routing to {victim}")
    left: list[str] = []

    def reaped() -> bool:
        left[:] = leftovers(bench, victim, old_tree)
        return not left

    with contextlib.suppress(TimeoutError):
        until(reaped, REAP_TIMEOUT_S, "leftovers reaped")
    report.add(
        f"{mode}-comeback",
        "agent_back_s",
        [back_s],
        routed_after_s=round(routed_s, 2),
        lost_env_answer=answers[-1],
        reaped_after_s=round(time.monotonic() - started - back_s - routed_s, 1),
        first_processes=len(old_tree),
        alive_after_removal=survived,
    )
    report.add(f"{mode}-comeback", "leaked", [len(left)], leftovers=left[:20])
    bench.log(f"{victim} back after {back_s:.1f} s; leaked: {left}")


def _alive(tree: set[tuple[int, float]]) -> list[psutil.Process]:
    alive = []
    for pid, started in tree:
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(pid)
            if proc.create_time() == started and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
    return alive


def leftovers(bench: Bench, node: str, old_tree: set[tuple[int, float]]) -> list[str]:
    """What the first incarnation of ``node``'s agent started that is alive and that no
    pool owns now, and the clones no node's instance owns."""
    import ray

    from webserv.pool.snapshot import SnapshotStore

    instances = set()
    for name in bench.names:
        for pool in ray.get(nodes.agent(name).pool.remote(), timeout=60).pools:
            instances |= {instance["id"] for instance in pool["instances"]}
    records = (bench.home / "pool" / "process" / node).glob("*.json")
    owned = {json.loads(path.read_text())["pid"] for path in records if path.stem in instances}
    found = [f"process {p.pid} {p.name()}" for p in _alive(old_tree) if p.pid not in owned]
    store = SnapshotStore(bench.snapshots, "copy")
    found += [f"clone {clone}" for clone in store.clones() if clone not in instances]
    return found


# -- the model ------------------------------------------------------------------------


def density_figures(path: Path = RESULTS_DIR / "density-live.json") -> dict[str, dict[str, float]]:
    """Per live env (MiB, marginal) and a host's fixed part, from a density --live run (the
    shop's by default): the headless shell keeping its pages, and parked where the run took
    parked envs to the target too."""
    data = json.loads(path.read_text())
    rows = {(row["variant"], row["metric"]): row for row in data["rows"]}
    figures = {}
    for mode, variant in (("pages", "headless-shell-max"), ("parked", "headless-shell-parked-max")):
        if mode == "parked" and (variant, "marginal_mib") not in rows:
            continue
        marginal = rows[(variant, "marginal_mib")]
        top = marginal["extra"]["between"][1]
        level = rows[(f"{variant}@{top}", "pss_per_env_mib")]
        total = sum(level["extra"]["pss_mib"].values())
        figures[mode] = {
            "per_env_mib": marginal["p50"],
            "fixed_mib": round(total - marginal["p50"] * top, 1),
            "at_envs": top,
        }
    return figures


def site_density_runs(results: Path = RESULTS_DIR) -> dict[str, Path]:
    """The density --live runs of sites other than the shop, by site."""
    prefix = "density-live-"
    return {
        path.stem.removeprefix(prefix): path for path in sorted(results.glob(f"{prefix}*.json"))
    }


def site_plan(path: Path) -> tuple[dict[str, dict[str, float]], float, float]:
    """A site's density --live figures, CPU seconds per step and step time (s): the last two
    at the top level of its comparison, headless shell keeping pages."""
    data = json.loads(path.read_text())
    rows = {(row["variant"], row["metric"]): row for row in data["rows"]}
    level = f"headless-shell@{data['params']['compare_at'][-1]}"
    cpu_ms = rows[(level, "pss_per_env_mib")]["extra"]["cpu_ms_per_step"]
    return density_figures(path), cpu_ms / 1000, rows[(level, "step_ms")]["p50"] / 1000


def model(
    report: Report,
    cpu_s_per_step: float,
    step_s: float,
    ray_node_mib: float,
    router_cpu_s_per_step: float = 0.0,
) -> list[str]:
    """Rows ``nodes_needed`` per site, host and rollout count, and the table as lines.

    The shop's figures are the cluster's (``cpu_s_per_step`` and ``step_s`` measured on its
    nodes) with its live-env memory; every other site with a density --live run
    (``results/density-live-<site>.json``) is modelled from that run alone. By memory a host
    holds ``(memory - reserve - fixed - Ray's node) / per_env`` live envs (pages kept, or
    parked); by CPU, with each rollout stepping once per ``MODEL_POLICY_S + step_s`` at
    ``cpu_s_per_step`` of the node's processes a step, ``MODEL_CPU_SHARE`` of its cores hold
    ``cores * share / (cpu_s_per_step * steps per s per env)``. Nodes needed: the rollouts
    over the lesser of the two (parked: the same CPU per step, so optimistic: a parked env's
    step reopens its page). Router cores: the steps per second of all the rollouts at
    ``router_cpu_s_per_step``, on the hosts' cores or beside them."""
    plans = {"shop": (density_figures(), cpu_s_per_step, step_s)}
    skipped = []
    for site, path in site_density_runs().items():
        try:
            plans[site] = site_plan(path)
        except KeyError:  # a run of the comparison alone, never taken to the target
            skipped.append(f"{site}: {path.name} has no run to the target; not modelled")
    lines = [
        "nodes a trainer needs (envs per host by memory with pages kept / parked, by CPU):",
        f"{'site':<10} {'host':<14} {'rollouts':>8} {'mem kept':>9} {'mem parked':>10} "
        f"{'cpu':>6} {'nodes kept':>10} {'nodes parked':>12} {'router cores':>12}",
    ]
    for site, (figures, cpu_s, step) in plans.items():
        lines += _site_model(
            report, site, figures, cpu_s, step, ray_node_mib, router_cpu_s_per_step
        )
    report.params["model"] = {
        "policy_s": MODEL_POLICY_S,
        "cpu_share": MODEL_CPU_SHARE,
        "reserve_gib": MODEL_RESERVE_GIB,
        "cpu_s_per_step": round(cpu_s_per_step, 4),
        "router_cpu_s_per_step": round(router_cpu_s_per_step, 5),
        "step_s": round(step_s, 3),
        "ray_node_mib": round(ray_node_mib, 1),
        "density_live": plans["shop"][0],
        "sites": {
            site: {"density_live": figures, "cpu_s_per_step": round(cpu_s, 4), "step_s": step}
            for site, (figures, cpu_s, step) in plans.items()
            if site != "shop"
        },
        "sites_basis": "each other site from its own density --live run: memory per env and "
        "a host's fixed part as the shop's; CPU per step and step time at the top level of its "
        "comparison, where every env scrolls once (the browser's work, no request to the site): "
        "a lower bound for steps that load pages",
    }
    return lines


def _site_model(
    report: Report,
    site: str,
    figures: dict[str, dict[str, float]],
    cpu_s_per_step: float,
    step_s: float,
    ray_node_mib: float,
    router_cpu_s_per_step: float,
) -> list[str]:
    """One site's rows (``model-[<site>-]<host>-<rollouts>``; the shop's unprefixed) and
    lines of :func:`model`."""
    per_env_steps_per_s = 1 / (MODEL_POLICY_S + step_s)
    lines = []
    for host, mem_gib, cores in MODEL_HOSTS:
        by_cpu = int(cores * MODEL_CPU_SHARE / (cpu_s_per_step * per_env_steps_per_s))
        by_mem = {}
        for mode, fig in figures.items():
            free = (mem_gib - MODEL_RESERVE_GIB) * 1024 - fig["fixed_mib"] - ray_node_mib
            by_mem[mode] = max(0, int(free / fig["per_env_mib"]))
        for rollouts in MODEL_ROLLOUTS:
            needed = {
                mode: math.ceil(rollouts / min(envs, by_cpu)) if min(envs, by_cpu) else -1
                for mode, envs in by_mem.items()
            }
            parked = (by_mem.get("parked", "-"), needed.get("parked", "-"))
            router_cores = rollouts * per_env_steps_per_s * router_cpu_s_per_step
            report.add(
                f"model-{host}-{rollouts}" if site == "shop" else f"model-{site}-{host}-{rollouts}",
                "nodes_needed",
                [needed["pages"]],
                site=site,
                nodes_parked=needed.get("parked"),
                envs_per_host_by_memory=by_mem,
                envs_per_host_by_cpu=by_cpu,
                binds="memory" if by_mem["pages"] < by_cpu else "cpu",
                router_cores=round(router_cores, 2),
            )
            lines.append(
                f"{site:<10} {host:<14} {rollouts:>8} {by_mem['pages']:>9} {parked[0]:>10} "
                f"{by_cpu:>6} {needed['pages']:>10} {parked[1]:>12} {router_cores:>12.1f}"
            )
    return lines


# -- the run --------------------------------------------------------------------------


def run(
    counts: list[int] | None = None,
    steps: int = 100,
    envs_per_node: int = 4,
    duration_s: float = 20.0,
    group_count: int = 4,
    kill: bool = True,
    golden_source: Path | None = None,
    log: Log = print,
) -> Report:
    """The whole run at ``counts`` nodes (see the module doc); ``golden_source``: the shop's
    seeded data dir (default: seeded once under the webserv home, as the suite's manifest
    says)."""
    counts = sorted(set(counts or [1, 2, 3]))
    report = Report(
        benchmark="cluster",
        params={
            "nodes": counts,
            "steps": steps,
            "envs_per_node": envs_per_node,
            "duration_s": duration_s,
            "groups": group_count,
            "group_n": GROUP_N,
            "task": TASK,
            "actions": list(ACTIONS),
            "standby_per_node": 1,
            "snapshot_driver": "copy",
            "router": "its own process, loopback",
            "load_average_start": [round(v, 2) for v in os.getloadavg()],
        },
    )
    mark = f"{os.getpid()}-{time.time()}"
    left: list[str] = []
    try:
        sizes = (steps, envs_per_node, duration_s, group_count)
        _measure(report, counts, sizes, kill, golden_source, mark, log)
    finally:
        left = [f"{p.pid} {p.name()}" for p in marked_processes(mark)]
        for proc in marked_processes(mark):  # ours (the run's mark): never leave them running
            with contextlib.suppress(psutil.Error):
                proc.kill()
    report.add("end", "leftover_processes", [len(left)], processes=left[:20])
    report.params["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    for line in _model(report, counts[-1]):
        log(line)
    _notes(report, counts, kill)
    return report


def _measure(
    report: Report,
    counts: list[int],
    sizes: tuple[int, int, float, int],
    kill: bool,
    golden: Path | None,
    mark: str,
    log: Log,
) -> None:
    from webserv.cluster.fastpath import ActorCalls
    from webserv.pool.golden import seeded_source
    from webserv.sites.registry import get
    from webserv.tasks.suite import load_suite

    if golden is None:  # seeded once under the user's webserv home, before the run's is set
        golden = seeded_source(get(SITE), load_suite(SITE).manifest.golden[SITE])
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="wsbench-")))
        home, snapshots = workdir / "home", workdir / "snapshots"
        # Ray's Cluster records its address in $RAY_TMPDIR/ray/ray_current_cluster (default
        # /tmp/ray): in the run's dir, so a Ray cluster already running here keeps its record.
        (workdir / "ray").mkdir()
        run_env = {"WEBSERV_HOME": str(home), "WEBSERV_SNAPSHOT_ROOT": str(snapshots)}
        run_env.update({RUN_MARK: mark, "RAY_TMPDIR": str(workdir)})
        stack.enter_context(environment(run_env))
        log("starting the local cluster")
        local = stack.enter_context(local_cluster([]))
        config = cluster_config(local, golden, envs_per_node=sizes[1])
        bench = Bench(local, config, home, snapshots, log)
        bench.router, bench.router_pid = stack.enter_context(router_process(config, workdir))
        bench.fast = ActorCalls("bench-cluster", retry_for_s=0)
        for n in counts:
            _at(bench, report, n, sizes, kill, counts)


def _at(
    bench: Bench,
    report: Report,
    n: int,
    sizes: tuple[int, int, float, int],
    kill: bool,
    counts: list[int],
) -> None:
    """Every measure at ``n`` nodes; at the largest count, the node failures too."""
    steps, envs_per_node, duration_s, group_count = sizes
    bench.grow(n)
    bench.settle()
    bench.log(f"{n} nodes: creates")
    with httpx.Client(base_url=bench.router, timeout=300) as client:
        env_ids, times = create_envs(client, envs_per_node * n)
        try:
            placement(bench, report, n, env_ids, times)
            bench.settle()
            bench.log(f"{n} nodes: per-step overhead, {steps} rounds")
            overhead(bench, report, n, env_ids[0], steps)
            bench.log(f"{n} nodes: {len(env_ids)} envs stepping for {duration_s:.0f} s")
            throughput(bench, report, n, env_ids, duration_s)
            memory(bench, report, n, len(env_ids))
            if n > 1:
                bench.log(f"{n} nodes: {group_count} groups of {GROUP_N}")
                groups(bench, report, n, group_count)
            if n == counts[-1] and n > 1:
                _failures(bench, report, kill)
        finally:
            close_envs(client, env_ids)
    if n > 1:
        report.compare("steps_per_s", f"router-{n}-nodes", f"router-{counts[0]}-nodes")


def _failures(bench: Bench, report: Report, kill: bool) -> None:
    """A graceful removal of the last node; with ``kill``, a SIGKILL of the one before."""
    for turn, graceful in enumerate([True, False] if kill else [True]):
        victim = bench.names[-1 - turn]
        bench.log(f"removing {victim} ({'graceful' if graceful else 'SIGKILL'})")
        lose_node(bench, report, victim, graceful)


def _model(report: Report, top: int) -> list[str]:
    """The model from the figures measured at ``top`` nodes (none if they are missing)."""
    rows = {(r.variant, r.metric): r for r in report.rows}
    saturated = rows.get((f"router-{top}-nodes", "steps_per_s"))
    direct = rows.get((f"direct-{top}-nodes", "step_ms"))
    mem = rows.get((f"{top}-nodes", "node_pss_per_env_mib"))
    if saturated is None or direct is None or mem is None:
        return []
    cpu = saturated.extra["node_cpu_s_per_step"]
    if not cpu:
        return []
    router_s = saturated.extra["router_cpu_ms_per_step"] / 1000
    return model(report, cpu, direct.p50 / 1000, mem.extra["ray_per_node_mib"], router_s)


def remodel(path: Path = RESULTS_DIR / "cluster.json", log: Log = print) -> Report:
    """The run stored at ``path`` with its model derived again (density figures change more
    often than a cluster is worth running again); the time it was derived is in params."""
    report = Report.model_validate_json(path.read_text())
    report.rows = [row for row in report.rows if not row.variant.startswith("model-")]
    lines = _model(report, max(report.params["nodes"]))
    if not lines:
        raise ValueError(f"{path} lacks the measurements the model is derived from")
    for line in lines:
        log(line)
    report.params["model"]["derived_at"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return report


def _notes(report: Report, counts: list[int], kill: bool) -> None:
    top = counts[-1]
    rows = {(r.variant, r.metric): r for r in report.rows}
    over = rows.get((f"router-minus-direct-{top}-nodes", "router_overhead_ms"))
    if over is not None:
        met = "met" if over.p50 <= TARGET_OVERHEAD_MS else "NOT met"
        report.notes.append(
            f"router overhead per step at {top} nodes: p50 {over.p50:.2f} ms, p95 "
            f"{over.p95:.2f} ms over the node's own server (target <= {TARGET_OVERHEAD_MS} ms "
            f"p50: {met}); per round, the router's round trip minus the env's own step time, "
            "less the same for the direct step of that round"
        )
    saturated = rows.get((f"router-{top}-nodes", "steps_per_s"))
    if saturated is not None and saturated.extra["router_cpu_ms_per_step"]:
        router_ms = saturated.extra["router_cpu_ms_per_step"]
        report.notes.append(
            f"the router's process spends {router_ms:.2f} ms of CPU per forwarded step (at "
            f"{top} nodes, every env stepping): one router core forwards about "
            f"{1000 / router_ms:.0f} steps/s; the model's router cores follow from it"
        )
    rates = [
        f"{n} node{'s' * (n > 1)} {rate.p50:.1f} steps/s (machine "
        f"{rate.extra['machine_busy']:.0%} busy)"
        for n in counts
        if (rate := rows.get((f"router-{n}-nodes", "steps_per_s"))) is not None
    ]
    report.notes += [
        "aggregate steps through the router: " + ", ".join(rates) + "; one machine plays every "
        f"host, so the nodes share its {os.cpu_count()} cores: steps/s cannot grow with nodes "
        "here, it shows the cores saturating, not the cluster scaling",
        "what one machine can show: Ray's node table, placement by node label, the agents as "
        "Ray actors restarted on a node's return, the router's and the fast path's 410 from "
        "Ray's view of a dead node, failure detection of a killed raylet (Ray's own health "
        "checks), leftovers reaped; what it cannot: the network between hosts (all is "
        "loopback: a real router adds a network round trip per step), hosts' own cores and "
        "memory (shared here), a host dying with all its processes: a removed node's Ray "
        "processes end, its agent and browser with them, but its site instances (their own "
        "sessions, forked from the pool's launcher) live on, as they would after a raylet "
        "crash, until the node's agent starts again and adopts or stops them "
        "(alive_after_removal, leaked in the *-comeback rows)",
        "nodes are added to one growing cluster (the phases at each count share the Ray head, "
        "the router and Redis); every env of a phase is closed before the next",
        f"model (rows model-*, params.model): per live env the marginal PSS from density "
        f"--live (headless shell, pages kept or parked), a host's fixed part from the same "
        f"file, Ray's processes per node measured here; CPU per step of the nodes' processes "
        f"(each agent and all it started) measured at {top} nodes with every env stepping "
        f"through the router; each rollout steps once per {MODEL_POLICY_S} s of policy time "
        f"plus a step; {MODEL_CPU_SHARE:.0%} of a host's cores and all but "
        f"{MODEL_RESERVE_GIB} GiB of its memory go to envs; the router and the trainer run "
        "elsewhere (router cores: its CPU per step times the rollouts' steps/s); parked envs are "
        "only an option when rollouts idle longer than the park delay, and their step "
        "(reopening the page) costs more CPU than measured here",
    ]
    if not kill:
        report.notes.append("node failure measured with a graceful removal only (--no-kill)")


if __name__ == "__main__":
    serve_router(Path(sys.argv[1]))
