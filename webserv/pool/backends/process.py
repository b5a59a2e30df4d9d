"""The process backend: one OS process per instance, its own port, clone and process group.

A command of the form ``[python, "-m", module, ...]`` is launched through a zygote (see
``zygote.py``) that has imported the site's code once, so a launch costs a fork and a bind.
Any other command, or ``zygote=False``, is started as a fresh process (the cold path).

Every instance is recorded in ``<state_dir>/<owner>/<instance id>.json`` (pid, process start
time, port, data dir, labels), so a restarted manager finds what a previous one left running.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import psutil

from webserv import paths
from webserv.ksm import children_merged
from webserv.pool.backends.base import (
    INSTANCE_LABEL,
    OWNER_LABEL,
    SITE_LABEL,
    ExecError,
    Instance,
    free_port,
)
from webserv.pool.backends.zygote import MODULE
from webserv.sites.spec import SiteSpec

STARTED_LABEL = "webserv.started"


class LaunchError(RuntimeError):
    """An instance could not be started."""


class Zygote:
    """A running pre-forked launcher for one Python module (see ``zygote.py``)."""

    def __init__(
        self,
        python: str,
        module: str,
        preload: Sequence[str],
        log: Path,
        merge_memory: bool = False,
    ) -> None:
        self.python = python
        self.merge_memory = merge_memory
        self.args = [module, *preload]
        self.log = log
        self.proc: asyncio.subprocess.Process | None = None
        self.lock = asyncio.Lock()
        self.start_s: float | None = None

    async def ready(self) -> None:
        """Start the zygote unless it runs; return once it has imported everything."""
        async with self.lock:
            await self._ensure()

    async def _ensure(self) -> asyncio.subprocess.Process:
        if self.proc is not None and self.proc.returncode is None:
            return self.proc
        loop = asyncio.get_running_loop()
        began = loop.time()
        # The launcher dies with this process, whichever thread runs this loop.
        argv = [self.python, "-m", MODULE, "--parent", str(os.getpid()), *self.args]
        errors = os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            with children_merged(self.merge_memory):  # the instances it forks inherit it
                self.proc = await asyncio.create_subprocess_exec(
                    *argv,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=errors,
                    start_new_session=True,
                )
        finally:
            os.close(errors)
        assert self.proc.stdout is not None
        try:
            line = await self.proc.stdout.readline()
        except BaseException:
            # Cancelled while it imports: its "ready" line would be read as a launch's answer.
            self._kill()
            raise
        if not line:
            self._kill()
            raise LaunchError(f"zygote {' '.join(argv)} exited at start; see {self.log}")
        self.start_s = loop.time() - began
        return self.proc

    async def spawn(self, args: list[str], env: dict[str, str], log: Path) -> int:
        """Fork a child running the module with ``args``; return its pid."""
        async with self.lock:
            proc = await self._ensure()
            request: dict[str, object] = {
                "args": args,
                "env": env,
                "cwd": os.getcwd(),
                "log": str(log),
            }
            exchange = asyncio.ensure_future(self._request(proc, request))
            try:
                return await asyncio.shield(exchange)
            except asyncio.CancelledError:
                # The launcher forks as soon as it reads the request. Its answer is read
                # before the lock is released (else the next launch would take this pid for
                # its own) and the child, which no caller will record or stop, is stopped.
                await asyncio.wait([exchange])
                if not exchange.cancelled() and exchange.exception() is None:
                    _kill_group(exchange.result())
                raise

    async def _request(self, proc: asyncio.subprocess.Process, request: dict[str, object]) -> int:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps(request).encode() + b"\n")
        await proc.stdin.drain()
        line = await proc.stdout.readline()
        if not line:
            raise LaunchError("zygote died while launching an instance")
        return int(json.loads(line)["pid"])

    def _kill(self) -> None:
        """Kill the launcher; asyncio's child watcher reaps it."""
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        self.proc = None

    async def close(self) -> None:
        """Stop the launcher (its instances run on).

        Killed rather than sent EOF: it holds nothing to flush, and a process forked from
        this one (a training job's data workers) may hold its stdin open, so EOF may never
        come.
        """
        async with self.lock:
            proc = self.proc
            self._kill()
            if proc is not None:
                await proc.wait()


def _kill_group(pid: int) -> None:
    """Kill the process group of instance ``pid``, or the process itself if it has not yet
    made its own group (a launched child calls setsid first)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _spawn_cold(
    argv: list[str], env: dict[str, str], log: Path, merge_memory: bool
) -> subprocess.Popen[bytes]:
    """Start ``argv`` as a fresh process in a new session, output to ``log``."""
    with open(log, "wb") as out, children_merged(merge_memory):
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
            start_new_session=True,
        )


def _live_process(pid: int, started: float | None) -> psutil.Process | None:
    """The process ``pid`` if it is running and (when known) started at ``started``."""
    try:
        proc = psutil.Process(pid)
        if started is not None and abs(proc.create_time() - started) > 0.01:
            return None  # the pid was reused by an unrelated process
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc
    except psutil.Error:
        return None


def _exited(pid: int) -> bool:
    """Whether every thread of ``pid`` has exited, so its sockets and files are released.

    A killed multi-threaded server's main thread turns zombie before its worker threads
    are gone; the listening port is free only once the last thread has exited.
    """
    try:
        return len(os.listdir(f"/proc/{pid}/task")) <= 1 and (
            psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        )
    except (FileNotFoundError, ProcessLookupError, psutil.NoSuchProcess):
        return True


class ProcessBackend:
    """Runs site instances as local processes, each in its own session/process group."""

    name = "process"
    chooses_port = False

    def __init__(
        self,
        owner: str = "default",
        state_dir: Path | None = None,
        zygote: bool = True,
        preload: Mapping[str, Sequence[str]] | None = None,
        stop_timeout_s: float = 0.0,
        merge_memory: bool = False,
    ) -> None:
        """``preload`` maps a site name to the modules its zygote imports before forking.
        With ``merge_memory``, the instances are marked for the kernel's same-page merging
        (see :mod:`webserv.ksm`).

        ``stop_timeout_s`` is the grace period after SIGTERM; the default 0 kills at once,
        since a stopped instance's clone is thrown away and nothing needs flushing.
        """
        self.owner = owner
        self.state_dir = (state_dir or paths.home() / "pool" / "process") / owner
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.use_zygote = zygote
        self.preload = dict(preload or {})
        self.stop_timeout_s = stop_timeout_s
        self.merge_memory = merge_memory
        self.zygotes: dict[tuple[str, ...], Zygote] = {}
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    def _zygote_for(self, spec: SiteSpec) -> tuple[Zygote, list[str]] | None:
        command = spec.command or []
        if not self.use_zygote or len(command) < 3 or command[1] != "-m":
            return None
        python, module = command[0], command[2]
        preload = self.preload.get(spec.name, [])
        key = (python, module, *preload)
        if key not in self.zygotes:
            log = self.state_dir / f"zygote-{spec.name}.log"
            self.zygotes[key] = Zygote(python, module, preload, log, self.merge_memory)
        return self.zygotes[key], command[3:]

    async def prepare(self, spec: SiteSpec) -> None:
        """Start the site's zygote now rather than in its first launch."""
        via = self._zygote_for(spec)
        if via is not None:
            await via[0].ready()

    async def start(
        self, spec: SiteSpec, instance_id: str, data_dir: Path, port: int | None
    ) -> Instance:
        if not spec.command:
            raise LaunchError(f"site {spec.name!r} has no command for the process backend")
        port = port or free_port()
        labels = {OWNER_LABEL: self.owner, INSTANCE_LABEL: instance_id, SITE_LABEL: spec.name}
        fill = {"port": port, "data_dir": str(data_dir)}
        env = {"WEBSERV_INSTANCE": instance_id, "WEBSERV_OWNER": self.owner}
        log = self.state_dir / f"{instance_id}.log"
        via = self._zygote_for(spec)
        if via is not None:
            zygote, args = via
            pid = await zygote.spawn([a.format(**fill) for a in args], env, log)
        else:
            argv = [a.format(**fill) for a in spec.command]
            child = _spawn_cold(argv, env, log, self.merge_memory)
            pid = child.pid
            self._children[pid] = child
        try:
            labels[STARTED_LABEL] = repr(psutil.Process(pid).create_time())
        except psutil.NoSuchProcess as exc:
            raise LaunchError(f"{spec.name} instance exited at once; see {log}") from exc
        instance = Instance(
            id=instance_id,
            site=spec.name,
            backend=self.name,
            port=port,
            data_dir=data_dir,
            handle=str(pid),
            labels=labels,
        )
        self._state_file(instance_id).write_text(
            json.dumps(
                {
                    "id": instance_id,
                    "site": spec.name,
                    "port": port,
                    "data_dir": str(data_dir),
                    "pid": pid,
                    "labels": labels,
                }
            )
        )
        return instance

    def _state_file(self, instance_id: str) -> Path:
        return self.state_dir / f"{instance_id}.json"

    def _process(self, instance: Instance) -> psutil.Process | None:
        started = instance.labels.get(STARTED_LABEL)
        return _live_process(int(instance.handle), float(started) if started else None)

    async def alive(self, instance: Instance) -> bool:
        self._reap()
        return self._process(instance) is not None

    async def exec(self, instance: Instance, argv: list[str]) -> str:
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                cwd=instance.data_dir,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
        except OSError as err:
            raise ExecError(f"cannot run {argv[0]!r} for instance {instance.id}: {err}") from err
        out, _ = await proc.communicate()
        text = out.decode(errors="replace")
        if proc.returncode != 0:
            raise ExecError(
                f"{' '.join(argv)} exited {proc.returncode} for instance {instance.id}: "
                f"{text.strip()[-500:]}"
            )
        return text

    async def stop(self, instance: Instance) -> None:
        proc = self._process(instance)
        if proc is not None:
            steps = [(signal.SIGTERM, self.stop_timeout_s)] if self.stop_timeout_s > 0 else []
            for sig, grace in [*steps, (signal.SIGKILL, 5.0)]:
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                if await self._gone(instance, grace):
                    break
        self._state_file(instance.id).unlink(missing_ok=True)
        (self.state_dir / f"{instance.id}.log").unlink(missing_ok=True)

    async def _gone(self, instance: Instance, timeout_s: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while loop.time() < deadline:
            self._reap()
            if _exited(int(instance.handle)):
                return True
            await asyncio.sleep(0.005)
        return False

    def _reap(self) -> None:
        for pid, child in list(self._children.items()):
            if child.poll() is not None:
                del self._children[pid]

    async def owned(self, owner: str) -> list[Instance]:
        found = []
        for path in sorted((self.state_dir.parent / owner).glob("*.json")):
            try:
                state = json.loads(path.read_text())
            except (OSError, ValueError):
                path.unlink(missing_ok=True)
                continue
            instance = Instance(
                id=state["id"],
                site=state["site"],
                backend=self.name,
                port=state["port"],
                data_dir=Path(state["data_dir"]),
                handle=str(state["pid"]),
                labels=state["labels"],
            )
            if self._process(instance) is None:
                path.unlink(missing_ok=True)
            else:
                found.append(instance)
        return found

    async def memory_bytes(self, instance: Instance) -> int:
        proc = self._process(instance)
        if proc is None:
            return 0
        procs = [proc, *proc.children(recursive=True)]
        return sum(p.memory_info().rss for p in procs if p.is_running())

    async def memory_detail(self, instance: Instance) -> dict[str, int]:
        """RSS, PSS and USS of the instance's process (forked children share pages)."""
        proc = self._process(instance)
        if proc is None:
            return {"rss": 0, "pss": 0, "uss": 0}
        info = proc.memory_full_info()
        return {"rss": info.rss, "pss": info.pss, "uss": info.uss}

    async def close(self) -> None:
        """Stop the zygotes (instances keep running until stopped)."""
        for zygote in self.zygotes.values():
            await zygote.close()
        self.zygotes.clear()
