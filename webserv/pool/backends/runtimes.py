"""Pre-started runtime containers of the docker backend: what a warm launch hands a clone to.

A runtime is a container of the site's image that has started, done what it can before
its data is there (webserv's launcher in ``--control`` mode imports the site's code; an
image's own agent, ``webserv-runtime`` of the base image, runs the image's warm commands)
and published its port on 127.0.0.1, but holds no site state: its data dir is an empty
directory of a per-runtime *slot* on the host, bind-mounted into the container with
``rslave`` propagation. Launching an instance on it
bind-mounts the instance's clone onto that slot directory (the mount propagates into this
container only) and sends the launcher one request over the slot's control socket; the
launcher then opens the data dir and serves. A runtime serves one instance and is removed
with it, never reused. Slots live under ``<root>/<owner>/<slot>``::

    data/           the container's data dir; the clone is mounted here at launch
    control/sock    the unix socket the launcher connects to (mounted at CONTROL_DIR)
    instance.json   which instance the runtime serves, once it serves one
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from webserv.pool import mounts

#: Label carrying the slot name of a container started as a runtime.
RUNTIME_LABEL = "webserv.runtime"
#: Where a runtime's control dir is mounted inside its container.
CONTROL_DIR = "/run/webserv"
SOCKET_NAME = "sock"
STATE_NAME = "instance.json"


@dataclass
class Runtime:
    """One pre-started container waiting for its instance, and its control connection."""

    slot: str
    site: str
    port: int
    directory: Path
    labels: dict[str, str]
    handle: str = ""
    server: asyncio.AbstractServer | None = None
    connected: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    @property
    def data_mount(self) -> Path:
        return self.directory / "data"

    @property
    def socket_path(self) -> Path:
        return self.directory / "control" / SOCKET_NAME

    def usable(self) -> bool:
        """Connected and not disconnected since (a dead container closes its connection)."""
        if not self.connected.done() or self.connected.exception() is not None:
            return False
        reader, writer = self.connected.result()
        return not (reader.at_eof() or writer.is_closing())

    async def listen(self) -> None:
        """Accept the launcher's one connection on the slot's control socket."""

        def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            if self.connected.done():
                writer.close()
            else:
                self.connected.set_result((reader, writer))

        self.server = await asyncio.start_unix_server(on_connect, path=str(self.socket_path))

    async def wait_ready(self, timeout_s: float) -> None:
        """Wait until the launcher has imported the site and said so."""
        reader, _ = await asyncio.wait_for(asyncio.shield(self.connected), timeout_s)
        line = await asyncio.wait_for(reader.readline(), timeout_s)
        if b"ready" not in line:
            raise ConnectionError(f"runtime {self.slot} closed its control socket at start")

    async def launch(self, request: dict[str, object]) -> None:
        """Send the launcher its one request, then let go of the control socket."""
        _, writer = self.connected.result()
        writer.write(json.dumps(request).encode() + b"\n")
        await writer.drain()
        writer.close()
        self.close_control()

    def close_control(self) -> None:
        if self.connected.done() and self.connected.exception() is None:
            self.connected.result()[1].close()
        elif not self.connected.done():
            self.connected.cancel()
        if self.server is not None:
            self.server.close()


def make_slot(root: Path, directory: Path) -> None:
    """Create a slot below ``root``, which is made a shared mount first."""
    mounts.ensure_shared(root)
    (directory / "data").mkdir(parents=True)
    (directory / "control").mkdir()


def mount_clone(runtime: Runtime, instance_id: str, data_dir: Path) -> Path:
    """Note in the slot which instance the runtime serves (for a restarted backend), then
    mount the clone at ``data_dir`` onto the slot's data dir; return the resolved clone."""
    source = Path(data_dir).resolve()
    state = {"id": instance_id, "site": runtime.site, "data_dir": str(source)}
    tmp = runtime.directory / f".{STATE_NAME}"
    tmp.write_text(json.dumps(state))
    tmp.replace(runtime.directory / STATE_NAME)
    mounts.bind(source, runtime.data_mount)
    return source


def recorded(directory: Path) -> dict[str, str] | None:
    """What :func:`mount_clone` noted, if anything."""
    try:
        state = json.loads((directory / STATE_NAME).read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def remove_slot(directory: Path) -> None:
    """Unmount the clone from a slot and delete the slot. The clone itself is untouched:
    the data dir is unmounted before anything below the slot is deleted."""
    data = directory / "data"
    for _ in range(8):  # a clone mounted twice over is unmounted twice
        if not mounts.mounted(data):
            break
        mounts.detach(data)
    if mounts.mounted(data):
        raise OSError(f"{data} stays mounted; slot {directory} is kept")
    shutil.rmtree(directory, ignore_errors=True)
    with contextlib.suppress(OSError):
        directory.parent.rmdir()  # the owner's directory, once its last slot is gone
