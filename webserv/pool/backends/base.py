"""The Backend protocol: what the pool asks of a way to run site instances."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from webserv.pool.spec import SiteSpec

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

    async def start(self, spec: SiteSpec, instance_id: str, data_dir: Path, port: int) -> Instance:
        """Start the site on ``port`` serving ``data_dir``; return without waiting for health."""
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
