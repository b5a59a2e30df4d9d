"""A pre-forked launcher: imports a site's code once, then forks one child per instance.

Run as ``python -m webserv.pool.backends.zygote MODULE [PRELOAD ...]``. It imports each
PRELOAD module (and calls it if given as ``module:function``, a warm-up), freezes the heap
(so children share those pages copy-on-write), prints
``{"ready": pid}`` and then reads one JSON request per stdin line::

    {"args": [...], "env": {...}, "cwd": "...", "log": "..."}

For each it forks a child that starts a new session (its own process group), points
stdout/stderr at ``log``, and runs ``python -m MODULE *args`` in-process with the imports
already done; the zygote answers ``{"pid": N}``. Launching then costs a fork and a bind
instead of an interpreter start and every import. The zygote exits when stdin closes;
its children keep running.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import runpy
import signal
import sys
import traceback
from typing import Any


def _child(module: str, request: dict[str, Any]) -> None:
    code = 1
    try:
        os.setsid()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.environ.update(request.get("env", {}))
        os.chdir(request.get("cwd") or "/")
        sys.argv = [module, *request["args"]]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def main() -> None:
    module, *preload = sys.argv[1:]
    for name in preload:
        module_name, _, function = name.partition(":")
        loaded = importlib.import_module(module_name)
        if function:
            getattr(loaded, function)()
    gc.collect()
    gc.freeze()
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


if __name__ == "__main__":
    main()
