"""A background event loop for sync callers, and the runtimes shared through it.

Gymnasium's API is synchronous while the pool and the browser are async. A sync env hands
its coroutines to an event loop running on a daemon thread
(``asyncio.run_coroutine_threadsafe``), so ``gymnasium.make`` and ``check_env`` work from
plain code. All sync envs of a process with the same runtime config share one loop and one
:class:`EnvRuntime` (one pool, one Chromium); the last one to close stops them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures.thread  # noqa: F401 - registers its exit hook before ours
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from webserv.env.runtime import EnvRuntime, RuntimeConfig

T = TypeVar("T")


class LoopThread:
    """An asyncio event loop running forever on a daemon thread."""

    def __init__(self, name: str = "webserv-env-loop") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float | None = None) -> T:
        """Run ``coro`` on the loop and wait for its result (its exception is re-raised)."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("LoopThread.run called from its own loop; await instead")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


@dataclass
class _Shared:
    loop: LoopThread
    runtime: EnvRuntime
    users: int = 0


_lock = threading.Lock()
_shared: dict[str, _Shared] = {}


def acquire_runtime(config: RuntimeConfig) -> tuple[LoopThread, EnvRuntime]:
    """The loop and started runtime for ``config``, starting them on first use."""
    key = config.model_dump_json()
    with _lock:
        entry = _shared.get(key)
        if entry is None:
            loop = LoopThread()
            try:
                runtime = loop.run(EnvRuntime(config).start())
            except BaseException:
                loop.stop()
                raise
            entry = _shared[key] = _Shared(loop, runtime)
        entry.users += 1
        return entry.loop, entry.runtime


def release_runtime(config: RuntimeConfig) -> None:
    """One user fewer; the last one stops the runtime (instances, browser) and the loop."""
    key = config.model_dump_json()
    with _lock:
        entry = _shared.get(key)
        if entry is None:
            return
        entry.users -= 1
        if entry.users > 0:
            return
        del _shared[key]
    _stop(entry)


def _stop(entry: _Shared) -> None:
    try:
        entry.loop.run(entry.runtime.close())
    finally:
        entry.loop.stop()


def _stop_all() -> None:
    """Stop what envs that were never closed left running (their site processes above all)."""
    with _lock:
        entries = list(_shared.values())
        _shared.clear()
    for entry in entries:
        _stop(entry)


# Stopping a runtime needs worker threads (``asyncio.to_thread``), which the interpreter
# refuses once ``concurrent.futures`` has run its own exit hook; threading's exit hooks run
# in reverse order of registration, so registering after that module's runs first.
threading._register_atexit(_stop_all)  # type: ignore[attr-defined]
