"""The Backend protocol: what the pool asks of a way to run site instances."""

from __future__ import annotations

import random
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from webserv.sites.spec import SiteSpec

#: Label/tag every backend puts on what it starts, so a restarted manager finds its own.
OWNER_LABEL = "webserv.owner"
INSTANCE_LABEL = "webserv.instance"
SITE_LABEL = "webserv.site"


@dataclass
class Instance:
    """One running site: its own port, its own data dir (a clone of the golden snapshot)."""

    id: str
    site: str
    backend: str
    port: int
    data_dir: Path
    handle: str  # pid for processes, container id for docker
    url: str = ""
    labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.url = self.url or f"http://127.0.0.1:{self.port}"


class Backend(Protocol):
    name: str

    @property
    def chooses_port(self) -> bool:
        """Whether launches should leave the port to the backend (``start(..., port=None)``),
        e.g. because a pre-started container already publishes one."""
        ...

    async def prepare(self, spec: SiteSpec) -> None:
        """Get ready to launch ``spec`` fast (start a zygote, pre-start containers)."""
        ...

    async def start(
        self, spec: SiteSpec, instance_id: str, data_dir: Path, port: int | None
    ) -> Instance:
        """Start the site serving ``data_dir`` on ``port`` (``None``: a port of the backend's
        choosing, see ``Instance.port``); return without waiting for health."""
        ...

    async def stop(self, instance: Instance) -> None:
        """Stop the instance and free its port. Idempotent."""
        ...

    async def alive(self, instance: Instance) -> bool:
        """Whether the process or container is still running (not whether it is healthy)."""
        ...

    async def owned(self, owner: str) -> list[Instance]:
        """Instances labelled with ``owner`` that are still around, for reconciliation."""
        ...

    async def memory_bytes(self, instance: Instance) -> int:
        """Resident memory of the instance (process tree RSS or container cgroup usage)."""
        ...

    async def exec(self, instance: Instance, argv: list[str]) -> str:
        """Run ``argv`` where the instance runs (its container; the host with the data dir
        as working directory); return its output; raise :class:`ExecError` on failure."""
        ...

    async def close(self) -> None:
        """Let go of what the backend itself holds (helper processes, clients); the
        instances are the pool's to stop."""
        ...


class ExecError(RuntimeError):
    """A command run in or beside an instance failed."""


#: Where :func:`free_port` looks: below the kernel's ephemeral range (32768-60999 by
#: default), so that no outgoing connection can be holding the port it picks.
FREE_PORTS = range(30000, 32768)


def free_port() -> int:
    """A port free on 127.0.0.1 now, for a launch that leaves the port to the backend.

    A published container port stays held by the engine's proxy once the container runs."""
    start = random.randrange(len(FREE_PORTS))
    for i in range(len(FREE_PORTS)):
        port = FREE_PORTS[(start + i) % len(FREE_PORTS)]
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise OSError(f"no free port in {FREE_PORTS.start}-{FREE_PORTS.stop - 1}")
