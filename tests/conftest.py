"""Shared fixtures: a small seeded shop, fresh copies of it, an in-process client, a server."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from webserv.pool.backends.base import free_port

# The shared fixtures, each defined once for the whole run: a session-scoped one is built
# once, whichever modules use it.
pytest_plugins = [
    "browser_fixtures",
    "docker_fixtures",
    "env_fixtures",
    "pool_fixtures",
    "server_fixtures",
]


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 120.0) -> None:
    """Poll ``url`` until it answers < 400; fail early if ``proc`` exits."""
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode} before becoming ready")
            try:
                if client.get(url).status_code < 400:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.02)  # poll interval while the port is not yet open
    raise TimeoutError(f"{url} not healthy after {timeout_s} s")


@pytest.fixture(scope="session")
def shop_golden(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small shop, seeded once per run as the shop suite's manifest says (its tasks'
    answers hold on it); every store and data dir of the tests copies it. Never mutate it."""
    from env_fixtures import suite_params

    from webserv.sites.shop.seed import seed

    params = suite_params()
    out = tmp_path_factory.mktemp("shop-golden") / "data"
    seed(out, seed=params["seed"], scale=params["scale"])
    return out


@pytest.fixture
def shop_data_dir(shop_golden: Path, tmp_path: Path) -> Path:
    """A fresh, mutable copy of :func:`shop_golden`."""
    return Path(shutil.copytree(shop_golden, tmp_path / "shop-data"))


@pytest.fixture
def shop_server(shop_data_dir: Path) -> Iterator[str]:
    """A real shop process on a free 127.0.0.1 port over a fresh data dir; yields its base URL."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "webserv.sites.shop",
            "--data-dir",
            str(shop_data_dir),
            "--port",
            str(port),
        ],
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(f"{base}/healthz", proc)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- Session end: the tests leave no processes behind ------------------------------------
#
# A process a test started and did not stop (a pre-forked launcher, a site instance, a
# `webserv serve`, a redis-server, a Chromium) fails the run, and is killed. Looked at: every
# process descended from this pytest process, and the orphans (re-parented to pid 1) that
# this session started, known by their creation time, their command line and a mark in
# their environment: other test runs on the same machine (CI, other checkouts) have their
# own processes, which are not this run's to judge or kill.

_SESSION_MARK = "WEBSERV_TEST_SESSION"
_session_began = pytest.StashKey[float]()
_left_running = pytest.StashKey[list[str]]()
#: How long processes that are on their way out (killed, stdin closed) get to be gone.
_LEFTOVER_GRACE_S = 5.0


def pytest_sessionstart(session: pytest.Session) -> None:
    began = time.time()
    session.config.stash[_session_began] = began
    # Inherited by everything the tests start, also by what outlives its parent.
    os.environ[_SESSION_MARK] = f"{os.getpid()}-{began}"


def _webserv_process(argv: list[str]) -> bool:
    """Whether ``argv`` is webserv's launcher (or an instance it forked, which keeps the
    launcher's command line), a site, a server, or a redis-server or Chromium."""
    program, script = (os.path.basename(arg) for arg in [*argv, "", ""][:2])
    if program.startswith(("redis-server", "chrom")) or "webserv" in (program, script):
        return True
    return any(a == "-m" and b.startswith("webserv") for a, b in itertools.pairwise(argv))


def _multiprocessing_helper(proc: psutil.Process) -> bool:
    """multiprocessing's forkserver and resource tracker (the shop's seeding starts them):
    they live as long as this process does, and exit with it."""
    cmdline = " ".join(proc.cmdline())
    return proc.ppid() == os.getpid() and "from multiprocessing." in cmdline


def _leftover_processes(began: float) -> list[psutil.Process]:
    mark = os.environ[_SESSION_MARK]
    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if proc.status() != psutil.STATUS_ZOMBIE and not _multiprocessing_helper(proc):
                found.append(proc)
        except psutil.NoSuchProcess:
            continue
    for proc in psutil.process_iter(["ppid", "create_time", "cmdline"]):
        info = proc.info
        if (
            info["ppid"] != 1
            or info["create_time"] < began
            or not _webserv_process(info["cmdline"] or [])
        ):
            continue
        try:
            if proc.environ().get(_SESSION_MARK) == mark:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def _describe(proc: psutil.Process) -> str:
    try:
        age_s = time.time() - proc.create_time()
        return f"{proc.pid} (parent {proc.ppid()}, {age_s:.0f} s old): {' '.join(proc.cmdline())}"
    except psutil.NoSuchProcess:
        return f"{proc.pid} (gone)"


def pytest_sessionfinish(session: pytest.Session) -> None:
    began = session.config.stash[_session_began]
    deadline = time.monotonic() + _LEFTOVER_GRACE_S
    leftovers = _leftover_processes(began)
    while leftovers and time.monotonic() < deadline:
        time.sleep(0.1)  # polling until processes that are exiting are gone
        leftovers = _leftover_processes(began)
    if not leftovers:
        return
    session.config.stash[_left_running] = [_describe(proc)[:300] for proc in leftovers]
    for proc in leftovers:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(leftovers, timeout=_LEFTOVER_GRACE_S)
    if session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    left = config.stash.get(_left_running, [])
    if left:
        terminalreporter.write_sep("=", "processes the tests left running (now killed)", red=True)
        for line in left:
            terminalreporter.write_line(line)
