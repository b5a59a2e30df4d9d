"""A pre-forked launcher: imports a site's code once, then starts instances without paying
for the interpreter start and the imports again.

Run as ``python -m webserv.pool.backends.zygote [--parent PID | --control SOCKET] MODULE
[PRELOAD ...]``.
It imports each PRELOAD module (and calls it if given as ``module:function``, a warm-up),
freezes the heap (so forked children share those pages copy-on-write) and then takes
requests of the form ``{"args": [...], "env": {...}, "cwd": "...", "log": "..."}``:

* Without ``--control`` (the process backend) it prints ``{"ready": pid}`` and reads one
  request per stdin line. For each it forks a child that starts a new session (its own
  process group), points stdout/stderr at ``log`` and runs ``python -m MODULE *args``
  in-process with the imports already done; it answers ``{"pid": N}``. It exits when stdin
  closes, and on Linux when the process PID (the pool's, which passes its own pid; by
  default the parent) exits, whichever of its threads started the launcher: a process
  forked from the pool's, such as a training job's data workers, may keep stdin open after
  the pool is killed. Its children keep running: they are the pool's instances, which a
  restarted pool adopts or ``webserv pool clean`` stops.
* With ``--control SOCKET`` (a pre-started container of the docker backend) it connects to
  the unix socket SOCKET, sends ``{"ready": pid}``, waits for exactly one request and runs
  the module in this very process: the container belongs to that one instance. If the
  connection closes before a request arrives, it exits.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import runpy
import signal
import socket
import sys
import traceback
from typing import Any

MODULE = "webserv.pool.backends.zygote"
#: prctl(2) option: the signal this process gets when the thread that forked it exits.
PR_SET_PDEATHSIG = 1
#: The parent-death signal: one this process handles, since the exit of one thread of the
#: pool's process is no reason to die.
PARENT_DEATH_SIGNAL = signal.SIGUSR1


def _run_module(module: str, request: dict[str, Any]) -> int:
    """Run ``python -m module *args`` in this process; return its exit code."""
    try:
        os.environ.update(request.get("env", {}))
        os.chdir(request.get("cwd") or "/")
        sys.argv = [module, *request["args"]]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        return 0
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
        return 1


def _child(module: str, request: dict[str, Any]) -> None:
    code = 1
    try:
        os.setsid()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(PARENT_DEATH_SIGNAL, signal.SIG_DFL)
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        code = _run_module(module, request)
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _preload(names: list[str]) -> None:
    for name in names:
        module_name, _, function = name.partition(":")
        loaded = importlib.import_module(module_name)
        if function:
            getattr(loaded, function)()
    gc.collect()
    gc.freeze()


def _serve_forks(module: str) -> None:
    # Children are reaped by the kernel; the pool watches them by pid.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    out = sys.stdout
    print(json.dumps({"ready": os.getpid()}), file=out, flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(module, request)
        print(json.dumps({"pid": pid}), file=out, flush=True)


def _serve_once(module: str, control: str) -> int:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(control)
        sock.sendall(json.dumps({"ready": os.getpid()}).encode() + b"\n")
        with sock.makefile("rb") as stream:
            line = stream.readline()
    if not line.strip():
        return 0  # the backend let this runtime go unused
    return _run_module(module, json.loads(line))


def _die_with(owner: int) -> None:
    """Exit when process ``owner``, this launcher's parent, exits (Linux; elsewhere stdin
    closing is what ends this launcher).

    The kernel sends the parent-death signal when the *thread* that forked this process
    exits, and then makes another thread of the same process the parent: a launcher started
    from a worker thread (``asyncio.to_thread``, the env loop's thread of the sync envs, a
    server's thread) would die with that thread. So the signal is handled, not fatal: the
    launcher exits only once its parent is no longer ``owner``. The signal stays armed and
    comes again when the new parent thread exits, the last one when the process exits.
    """
    import ctypes

    def on_parent_death(signum: int, frame: object) -> None:
        if os.getppid() != owner:
            os._exit(0)

    signal.signal(PARENT_DEATH_SIGNAL, on_parent_death)
    # A process started from a thread that blocks signals (as runtimes' and Ray's threads
    # may) inherits that mask: the signal would stay pending and this launcher outlive it.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {PARENT_DEATH_SIGNAL})
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return
    prctl(PR_SET_PDEATHSIG, PARENT_DEATH_SIGNAL, 0, 0, 0)
    # Compared with the pid the pool passed, not with the parent found at start: the pool
    # may have died while this interpreter started, and the launcher been re-parented
    # before the signal was armed.
    if os.getppid() != owner:
        os._exit(0)


def main() -> None:
    args = sys.argv[1:]
    control = None
    if args[:1] == ["--control"]:
        control, args = args[1], args[2:]
    elif args[:1] == ["--parent"]:
        _die_with(int(args[1]))
        args = args[2:]
    else:
        _die_with(os.getppid())
    module, *preload = args
    _preload(preload)
    if control is None:
        _serve_forks(module)
    else:
        sys.exit(_serve_once(module, control))


if __name__ == "__main__":
    main()
