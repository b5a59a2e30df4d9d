"""The chaos run: faults injected mid-episode into a live server with Redis, then leftovers.

Everything runs on loopback in a temporary directory of its own: a redis-server, one
``webserv serve --redis`` (its own ``WEBSERV_HOME``, snapshot root and owner label), and
the envs the run drives over HTTP. Each round injects, in turn, one fault of each kind
while an episode runs:

* ``client``: a trainer process (:mod:`benchmarks.soak_client`) is SIGKILLed; its env must
  end with its TTL (410).
* ``instance``: the leased site instance's process is SIGKILLed; the env's next step must
  answer a documented status, and the pool must start the instance again on its clone.
* ``chromium``: the server's browser process is SIGKILLed; the env's next step must answer
  (the browser is launched again) and a new env must work.
* ``server``: ``webserv serve`` is SIGKILLed and started again on the same Redis; the old
  env ids must answer 410 ``restarted`` and nothing of the old run may stay.
* ``redis``: Redis is SIGKILLed; calls answer 503 ``store_unavailable`` with Retry-After;
  once Redis is back (empty), the same step, sent again, must be applied once.

Every answer is checked against the documented (status, error code) pairs of its route:
the statuses of the server's OpenAPI spec, the codes of its error model. Every 2xx step's
``info["step"]`` must be one more than the steps the run saw answered, and the env's
summary must agree: more is a step applied twice, fewer a step lost. After each fault
(its envs closed) no instance may run that the pool does not know, none may stay leased,
no env record may stay in Redis; after the end and a clean stop, no instance, process,
snapshot clone, mount or Redis key (bar the 410 tombstones, which expire) may be left.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import redis

from benchmarks.report import Report
from benchmarks.serving import RedisProcess, server_process
from benchmarks.soak import Trainers, is_running, known_instances, live_instances, site_count, until
from webserv.pool.backends.process import ProcessBackend
from webserv.server.errors import error_codes

FAULTS = ("client", "instance", "chromium", "server", "redis")
#: The counters of a fault; the target of each is zero.
COUNTERS = (
    "undocumented_status",
    "steps_lost",
    "steps_applied_twice",
    "unrecovered",
    "leaked_instances",
    "leaked_processes",
    "leaked_clones",
    "leaked_mounts",
    "leaked_env_records",
)
#: Environment variable that marks every process of one run (inherited by all it starts).
RUN_MARK = "WEBSERV_CHAOS_RUN"
STEP = 'scroll("down")'
#: How long after a step is sent a fault "during the step" hits (a step takes 150-400 ms).
IN_FLIGHT_S = 0.1


@dataclass
class Probe:
    """An env the run drives, with the steps of its episode the run saw answered 2xx."""

    env_id: str
    steps: int = 0


class Chaos:
    """One run: its Redis, its server, its envs and what it counted."""

    def __init__(
        self, workdir: Path, env_ttl_s: float, golden_source: Path | None, log: Any
    ) -> None:
        self.workdir, self.env_ttl_s, self.log = workdir, env_ttl_s, log
        self.home = workdir / "home"
        self.snapshots = workdir / "snapshots"
        self.mark = f"{os.getpid()}-{time.time()}"
        env = {"WEBSERV_HOME": str(self.home), RUN_MARK: self.mark}
        self.redis = RedisProcess(workdir, env={**os.environ, **env})
        options = ["--env-ttl", str(env_ttl_s), "--standby", "1", "--max-instances", "8"]
        options += ["--snapshot-root", str(self.snapshots)]
        if golden_source is not None:
            options += ["--golden-source", str(golden_source)]
        self.server = server_process(
            "--redis",
            self.redis.url,
            *options,
            server_id=f"chaos{os.getpid()}",
            log=workdir / "server.log",
            env=env,
        )
        self.state_dir = self.home / "pool" / "process"
        self.api = httpx.Client(base_url=self.server.url, timeout=180)
        self.trainers = Trainers(self.server.url, workdir, think_s=0.5)
        self.fault = "start"
        self.injected_at = 0.0
        self.counts: dict[str, Counter[str]] = {f: Counter() for f in ("start", *FAULTS)}
        self.answers: dict[str, Counter[str]] = {f: Counter() for f in ("start", *FAULTS)}
        self.recovery_s: dict[str, list[float]] = {f: [] for f in FAULTS}
        self.problems: list[str] = []
        self._routes: list[tuple[re.Pattern[str], dict[str, Any]]] = []
        self._errors = error_codes()

    # -- answers ---------------------------------------------------------------------

    def problem(self, counter: str, what: str, n: int = 1) -> None:
        self.counts[self.fault][counter] += n
        self.problems.append(f"{self.fault}: {counter}: {what}")
        self.log(f"  ! {counter}: {what}")

    def load_spec(self) -> None:
        spec = self.api.get("/openapi.json").json()
        self._routes = [
            (re.compile(re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), methods)
            for path, methods in spec["paths"].items()
        ]

    def documented(self, method: str, path: str, answer: httpx.Response) -> bool:
        """Whether the spec lists the answer's status for the route and, for an error, the
        error model has its code with that status."""
        route = next((m for pattern, m in self._routes if pattern.match(path)), {})
        statuses = route.get(method.lower(), {}).get("responses", {})
        if str(answer.status_code) not in statuses:
            return False
        return answer.is_success or (answer.status_code, error_code(answer)) in self._errors

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        answer = self.api.request(method, path, json=body)
        code = "" if answer.is_success else f" {error_code(answer)}"
        self.answers[self.fault][f"{answer.status_code}{code}"] += 1
        if not self.documented(method, path, answer):
            self.problem(
                "undocumented_status",
                f"{method} {path}: {answer.status_code} {answer.text[:300]}",
            )
        return answer

    def create(self) -> Probe:
        """A new env, waiting out refusals that say when to ask again (a pool refilling)."""
        deadline = time.monotonic() + 180
        while True:
            answer = self.call("POST", "/v1/envs", {"options": {"max_steps": 1000}})
            if answer.status_code == 201:
                return Probe(answer.json()["env_id"])
            retry_after = answer.headers.get("retry-after")
            if retry_after is None or time.monotonic() > deadline:
                raise RuntimeError(f"no env: {answer.status_code} {answer.text[:300]}")
            time.sleep(float(retry_after))  # the server said when to ask again

    def step(self, probe: Probe, action: str = STEP) -> httpx.Response:
        answer = self.call("POST", f"/v1/envs/{probe.env_id}/step", {"action": action})
        if answer.is_success:
            self.agree(probe, answer.json()["info"]["step"], "step answer")
        return answer

    def during_step(self, probe: Probe, kill: Callable[[], object]) -> httpx.Response:
        """``kill`` while a step of ``probe`` is in flight; that step's answer."""
        with ThreadPoolExecutor(1) as pool:
            answer = pool.submit(self.step, probe)
            time.sleep(IN_FLIGHT_S)  # the step has reached the env by now
            kill()
            self.injected_at = time.monotonic()
            return answer.result()

    def check_summary(self, probe: Probe) -> None:
        answer = self.call("GET", f"/v1/envs/{probe.env_id}")
        if answer.is_success:
            self.agree(probe, answer.json()["steps"], "summary", answered=0)

    def agree(self, probe: Probe, server_steps: int, where: str, answered: int = 1) -> None:
        """Compare the server's step count with the steps the run saw answered (plus the one
        just answered); then follow the server's count, so that one slip counts once."""
        expected = probe.steps + answered
        if server_steps > expected:
            self.problem(
                "steps_applied_twice",
                f"{where} of {probe.env_id}: {server_steps} steps, {expected} answered",
                server_steps - expected,
            )
        elif server_steps < expected:
            self.problem(
                "steps_lost",
                f"{where} of {probe.env_id}: {server_steps} steps, {expected} answered",
                expected - server_steps,
            )
        probe.steps = server_steps

    def close(self, *probes: Probe) -> None:
        for probe in probes:
            self.call("DELETE", f"/v1/envs/{probe.env_id}")

    # -- the faults ------------------------------------------------------------------

    def inject(self, fault: str) -> None:
        self.fault = fault
        self.counts[fault]["injections"] += 1
        recovered_at = getattr(self, f"_{fault}")()
        if recovered_at is None:
            self.problem("unrecovered", "the documented recovery did not happen")
        else:
            self.recovery_s[fault].append(round(recovered_at - self.injected_at, 2))
        self.settle()

    def _client(self) -> float | None:
        seed = self.trainers.start()
        if not until(lambda: self.trainers.status(seed)["env_id"], 180):
            self.trainers.kill(seed)
            return None
        time.sleep(1.5)  # a few steps into the episode
        env_id = self.trainers.kill(seed)
        self.injected_at = time.monotonic()

        def ended() -> bool:
            return self.call("GET", f"/v1/envs/{env_id}").status_code == 410

        return time.monotonic() if until(ended, self.env_ttl_s + 30) else None

    def _instance(self) -> float | None:
        probe = self.create()
        self.step(probe)
        url = self.call("GET", f"/v1/envs/{probe.env_id}").json()["instance_url"]
        (instance,) = [i for i in self.instances() if i.url == url.rstrip("/")]
        # The site goes away under a step, then the next one finds it gone: any documented
        # answer will do for both.
        self.during_step(probe, lambda: os.kill(int(instance.handle), signal.SIGKILL))
        self.step(probe)

        def restarted() -> bool:
            again = [i for i in self.instances() if i.id == instance.id]
            return bool(again) and again[0].handle != instance.handle and healthy(instance.url)

        recovered = until(restarted, 90)
        at = time.monotonic()
        answer = self.step(probe, f'goto("{instance.url}/")')
        self.check_summary(probe)
        self.close(probe)
        reached = answer.is_success and not answer.json()["observation"]["last_action_error"]
        return at if recovered and reached else None

    def _chromium(self) -> float | None:
        probe = self.create()
        self.step(probe)
        browsers = [p for p in self.server.process().children(recursive=True) if chromium(p)]
        pids = {p.pid for p in browsers}
        main = [p for p in browsers if p.ppid() not in pids]
        answered = self.during_step(probe, lambda: [p.kill() for p in main]).is_success
        answered = self.step(probe).is_success and answered
        fresh = self.create()
        answered = self.step(fresh).is_success and answered
        at = time.monotonic()
        self.check_summary(probe)
        self.close(probe, fresh)
        if not until(lambda: not [p for p in browsers if is_running(p)], 30):
            left = [p for p in browsers if is_running(p)]
            self.problem("leaked_processes", f"{len(left)} of the killed browser", len(left))
        return at if main and answered else None

    def _server(self) -> float | None:
        probes = [self.create(), self.create()]
        for probe in probes:
            self.step(probe)
        tree = self.server.process().children(recursive=True)
        self.server.kill()
        self.injected_at = time.monotonic()
        self.server.start()
        at = time.monotonic()
        ended = 0
        for probe in probes:
            answer = self.step(probe)
            if answer.status_code == 410 and "restarted" in answer.json()["message"]:
                ended += 1
        adopted = {int(i.handle) for i in self.instances()}

        def survivors() -> list[psutil.Process]:
            return [p for p in tree if p.pid not in adopted and is_running(p)]

        if not until(lambda: not survivors(), 60):
            left = [" ".join(p.cmdline())[:100] for p in survivors()]
            self.problem("leaked_processes", f"the killed server's {left}", len(left))
        return at if ended == len(probes) else None

    def _redis(self) -> float | None:
        probe = self.create()
        self.during_step(probe, self.redis.kill)
        refused = [self.step(probe), self.call("POST", "/v1/envs", {})]
        store_down = all(
            a.status_code == 503
            and error_code(a) == "store_unavailable"
            and "retry-after" in a.headers
            for a in refused
        )
        self.redis.start()
        deadline = time.monotonic() + 60
        while not (answer := self.step(probe)).is_success and time.monotonic() < deadline:
            time.sleep(float(answer.headers.get("retry-after", 1)))  # as the server asks
        at = time.monotonic()
        self.check_summary(probe)
        self.close(probe)
        return at if store_down and answer.is_success else None

    # -- leftovers -------------------------------------------------------------------

    def instances(self) -> list[Any]:
        backend = ProcessBackend(owner=self.server.server_id, state_dir=self.state_dir)
        return asyncio.run(backend.owned(self.server.server_id))

    def settle(self) -> None:
        """Once the fault's envs are gone and the pool is still: what it left. An instance
        being recycled is briefly in no list while its clone goes: the strays must be gone
        within a grace period, not at once."""

        def still() -> bool:
            pool = self.api.get("/v1/pool").json()
            idle = not pool["envs"] and not site_count(pool, "leased")
            return idle and not site_count(pool, "launching")

        until(still, self.env_ttl_s + 90)
        until(lambda: not any(self.strays().values()), 30)
        for counter, found in self.strays().items():
            if found:
                self.problem(counter, str(found), len(found))

    def strays(self) -> dict[str, list[str]]:
        """What no open env and no instance of the pool accounts for, per counter."""
        pool = self.api.get("/v1/pool").json()
        known = known_instances(pool)
        clones = {clone.name: clone for clone in self.snapshots.glob("*/clones/*")}
        kept = tuple(f"{clones[c].resolve()}/" for c in set(clones) & known)
        live = live_instances(self.server.server_id, self.state_dir)
        leased = [i["id"] for s in pool["pools"] for i in s["instances"] if i["state"] == "leased"]
        with redis.Redis.from_url(self.redis.url, decode_responses=True) as store:
            records = store.keys("webserv:env:*")
        return {
            "leaked_instances": sorted(live - known) + leased,
            "leaked_clones": sorted(set(clones) - known),
            "leaked_mounts": [m for m in mounts_under(self.snapshots) if not m.startswith(kept)],
            "leaked_env_records": records,
        }

    def leftovers(self) -> dict[str, int]:
        """After a clean stop of the server: everything of the run that is still there."""
        store = redis.Redis.from_url(self.redis.url, decode_responses=True)
        keys = [k for k in store.keys("*") if not k.startswith("webserv:gone:")]
        store.close()
        self.redis.stop()
        until(lambda: not self.processes(), 30)
        found = {
            "instances": len(live_instances(self.server.server_id, self.state_dir)),
            "processes": len(self.processes()),
            "clones": len(list(self.snapshots.glob("*/clones/*"))),
            "mounts": len(mounts_under(self.workdir)),
            "redis_keys": len(keys),
        }
        if keys:
            self.problems.append(f"end: Redis keys left: {keys}")
        return found

    def processes(self) -> list[psutil.Process]:
        """The processes this run started, wherever they are now."""
        found = []
        for proc in psutil.process_iter():
            try:
                if proc.environ().get(RUN_MARK) == self.mark and is_running(proc):
                    found.append(proc)
            except psutil.Error:
                continue
        return found


def error_code(answer: httpx.Response) -> str | None:
    try:
        return answer.json().get("error")
    except ValueError:
        return None


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def chromium(proc: psutil.Process) -> bool:
    try:
        return proc.name().startswith(("chrom", "headless_shell"))
    except psutil.Error:
        return False


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below ``path`` (from ``/proc/self/mountinfo``)."""
    root = str(path.resolve())
    with open("/proc/self/mountinfo") as mountinfo:
        points = [line.split()[4] for line in mountinfo]
    return [p for p in points if p == root or p.startswith(root + "/")]


def run(
    rounds: int = 3,
    env_ttl_s: float = 10.0,
    golden_source: Path | None = None,
    log: Any = print,
) -> Report:
    """``rounds`` rounds of every fault; the report's rows hold each fault's counters."""
    report = Report(
        benchmark="chaos",
        params={"rounds": rounds, "env_ttl_s": env_ttl_s, "store": "redis", "backend": "process"},
    )
    workdir = Path(tempfile.mkdtemp(prefix="webserv-chaos-"))
    chaos = Chaos(workdir, env_ttl_s, golden_source, log)
    try:
        chaos.redis.start()
        chaos.server.start()
        chaos.load_spec()
        for round_no in range(1, rounds + 1):
            for fault in FAULTS:
                log(f"round {round_no}: {fault}")
                chaos.inject(fault)
    finally:
        chaos.trainers.stop_all()
        chaos.server.stop()
        chaos.api.close()
        left = chaos.leftovers()
        if not mounts_under(workdir):  # never delete through a mount still in place
            shutil.rmtree(workdir, ignore_errors=True)
    for fault in FAULTS:
        counts = chaos.counts[fault]
        report.add(
            fault,
            "recovery_s",
            chaos.recovery_s[fault] or [0.0],
            injections=counts["injections"],
            **{name: counts[name] for name in COUNTERS},
            answers=dict(sorted(chaos.answers[fault].items())),
        )
    totals = {name: sum(c[name] for c in chaos.counts.values()) for name in COUNTERS}
    report.add("end", "leftovers", [sum(left.values())], **left, **totals)
    report.notes.append("leftovers after the clean stop: " + str(left))
    report.notes.extend(chaos.problems)
    return report
