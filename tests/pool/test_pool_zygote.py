"""The pre-forked launcher dies with its pool's process (not with the thread that started
it), its instances do not; a cancelled launch leaves no instance; ``webserv pool clean``
stops launchers that older versions left behind."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from pool_fixtures import until
from typer.testing import CliRunner

from webserv.cli import app
from webserv.pool.backends.base import free_port
from webserv.pool.backends.process import ProcessBackend
from webserv.pool.backends.zygote import MODULE
from webserv.pool.snapshot import SnapshotStore
from webserv.sites.registry import get as get_site

OWNER = "zygotetest"

#: A process owning a process backend: it launches one instance through the launcher, then
#: forks a worker (as a training job's data loaders are forked) that keeps every pipe of
#: its parent open, the launcher's stdin included, reports the pids and waits to be killed.
_POOL_OWNER = """
import asyncio, json, os, signal, sys
from pathlib import Path

from webserv.pool.backends.process import ProcessBackend
from webserv.sites.registry import get as get_site


async def main(state_dir, data_dir, port):
    backend = ProcessBackend(owner=sys.argv[4], state_dir=Path(state_dir))
    instance = await backend.start(get_site("shop").spec, "z1", Path(data_dir), int(port))
    worker = os.fork()
    if worker == 0:
        signal.pause()
        os._exit(0)
    launcher = next(iter(backend.zygotes.values())).proc.pid
    pids = {"launcher": launcher, "instance": int(instance.handle), "worker": worker}
    print(json.dumps(pids), flush=True)
    await asyncio.Event().wait()


asyncio.run(main(*sys.argv[1:4]))
"""


def running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


async def test_a_killed_pool_takes_its_launcher_along_but_leaves_its_instances(
    copy_store: SnapshotStore, tmp_path: Path
):
    state = tmp_path / "backend"
    data_dir = copy_store.clone("shop", "z1")
    report = tmp_path / "pids.json"  # not a pipe: the worker would hold it open
    with report.open("wb") as out:
        pool = await asyncio.create_subprocess_exec(
            *[
                sys.executable,
                "-c",
                _POOL_OWNER,
                str(state),
                str(data_dir),
                str(free_port()),
                OWNER,
            ],
            stdout=out,
        )
    try:
        await until(lambda: report.read_text().endswith("\n") or pool.returncode is not None, 60)
    finally:
        pool.kill()
        await pool.wait()
    line = report.read_text()
    assert line, "the pool's process exited before reporting"
    pids = json.loads(line)
    backend = ProcessBackend(owner=OWNER, state_dir=state)
    try:
        await until(lambda: not running(pids["launcher"]), timeout_s=10)
        # The instance is the pool's to adopt when it restarts, or to stop now.
        assert running(pids["instance"])
        [instance] = await backend.owned(OWNER)
        assert int(instance.handle) == pids["instance"]
        await backend.stop(instance)
        assert not running(pids["instance"])
    finally:
        for pid in pids.values():
            kill(pid)


#: A process whose pool runs on an event loop in a worker thread (as a server's or the sync
#: env's loop thread does): it starts the launcher there, lets the thread exit, reports the
#: launcher's pid and waits to be killed.
_THREAD_OWNER = """
import asyncio, json, sys, threading
from pathlib import Path

from webserv.pool.backends.process import ProcessBackend
from webserv.sites.registry import get as get_site

backend = ProcessBackend(owner=sys.argv[2], state_dir=Path(sys.argv[1]))
thread = threading.Thread(target=asyncio.run, args=(backend.prepare(get_site("shop").spec),))
thread.start()
thread.join()
print(json.dumps({"launcher": next(iter(backend.zygotes.values())).proc.pid}), flush=True)
sys.stdin.read()
"""


async def test_a_launcher_outlives_the_thread_that_started_it_and_dies_with_its_process(
    tmp_path: Path,
):
    owner = await asyncio.create_subprocess_exec(
        *[sys.executable, "-c", _THREAD_OWNER, str(tmp_path / "backend"), OWNER],
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    launcher = None
    try:
        assert owner.stdout is not None
        line = await asyncio.wait_for(owner.stdout.readline(), 60)
        assert line, "the pool's process exited before reporting"
        launcher = json.loads(line)["launcher"]
        await asyncio.sleep(0.5)  # the parent-death signal of the thread's exit has come
        assert running(launcher)
        assert psutil.Process(launcher).ppid() == owner.pid
    finally:
        owner.kill()
        await owner.wait()
    await until(lambda: not running(launcher), timeout_s=10)


def test_a_launcher_whose_pool_died_before_it_armed_exits_at_once():
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    # Its stdin stays open (as a process forked from the pool's keeps it): only the pid
    # it was given tells it that its pool is gone.
    launcher = subprocess.Popen(
        [sys.executable, "-m", MODULE, "--parent", str(gone.pid), "webserv.sites.shop"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert launcher.wait(timeout=30) == 0
    finally:
        launcher.kill()
        launcher.wait()
        for pipe in (launcher.stdin, launcher.stdout):
            assert pipe is not None
            pipe.close()


#: A process that starts a launcher from a thread blocking the parent-death signal (as
#: threads of native libraries do), forks a worker that keeps the launcher's stdin open,
#: reports the launcher's pid and exits.
_BLOCKING_OWNER = """
import os, signal, subprocess, sys, threading, time

from webserv.pool.backends.zygote import MODULE, PARENT_DEATH_SIGNAL


def start():
    signal.pthread_sigmask(signal.SIG_BLOCK, {PARENT_DEATH_SIGNAL})
    launcher = subprocess.Popen(
        [sys.executable, "-m", MODULE, "--parent", str(os.getpid()), "json"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker = os.fork()
    if worker == 0:  # keeps the launcher's stdin, not this process's output
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        time.sleep(30)
        os._exit(0)
    print(launcher.pid, worker, flush=True)


thread = threading.Thread(target=start)
thread.start()
thread.join()
time.sleep(1)
"""


def test_a_launcher_started_with_the_signal_blocked_still_dies_with_its_pool():
    owner = subprocess.run(
        [sys.executable, "-c", _BLOCKING_OWNER], capture_output=True, text=True, timeout=60
    )
    launcher, worker = (int(pid) for pid in owner.stdout.split())
    try:
        asyncio.run(until(lambda: not running(launcher), timeout_s=10))
    finally:
        for pid in (launcher, worker):
            kill(pid)


async def test_a_cancelled_launch_leaves_no_instance_and_the_next_gets_its_own_pid(
    copy_store: SnapshotStore, tmp_path: Path
):
    spec = get_site("shop").spec
    backend = ProcessBackend(owner=OWNER, state_dir=tmp_path / "backend")
    await backend.prepare(spec)
    launcher = psutil.Process(next(iter(backend.zygotes.values())).proc.pid)
    try:
        # A busy machine: the launcher has the request but has not forked yet when the
        # launch is cancelled (as a pool's close() cancels a refill).
        launcher.suspend()
        launch = asyncio.ensure_future(
            backend.start(spec, "c1", copy_store.clone("shop", "c1"), free_port())
        )
        await asyncio.sleep(0.2)
        launch.cancel()
        launcher.resume()
        with pytest.raises(asyncio.CancelledError):
            await launch
        await until(lambda: not launcher.children(), timeout_s=10)

        instance = await backend.start(spec, "c2", copy_store.clone("shop", "c2"), free_port())
        assert [child.pid for child in launcher.children()] == [int(instance.handle)]
        await backend.stop(instance)
    finally:
        for leftover in launcher.children():
            kill(leftover.pid)
        await backend.close()


def _launcher(stdin: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", MODULE, "webserv.sites.shop"], stdin=stdin, stdout=subprocess.PIPE
    )
    assert proc.stdout is not None and b"ready" in proc.stdout.readline()
    return proc


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WEBSERV_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_pool_clean_stops_launchers_no_pool_can_reach(home: Path, tmp_path: Path):
    # An older launcher whose pool was killed: another process holds its stdin open, and
    # its parent, whoever that is now, does not.
    read, write = os.pipe()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"],
        stdin=subprocess.PIPE,
        pass_fds=(write,),
    )
    orphan = _launcher(read)
    os.close(read)
    os.close(write)
    live = _launcher(subprocess.PIPE)  # its pool (this process) can still use it
    try:
        result = CliRunner().invoke(
            app,
            [
                "pool",
                "clean",
                "--owner",
                OWNER,
                "--snapshot-driver",
                "copy",
                "--snapshot-root",
                str(tmp_path),
            ],
        )
        assert result.exit_code == 0, result.output
        assert "orphaned launchers" in result.output
        assert orphan.wait(timeout=10) == -signal.SIGKILL
        assert live.poll() is None
    finally:
        for proc in (orphan, live, holder):
            proc.kill()
            proc.wait()
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    pipe.close()
