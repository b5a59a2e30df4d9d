"""A Ray cluster of webserv nodes on one machine: for trying the cluster, its tests and its
benchmark. Each node is a Ray node of its own (raylet, workers) with the node label, so the
agents, the router and node failure behave as on many hosts; what one machine cannot show
is the network between them and hosts' own limits (they share these cores and memory)."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from webserv.cluster.config import NODE_LABEL
from webserv.server.redis_local import RedisProcess


@dataclass
class LocalCluster:
    """The running cluster: its Ray address, its Redis, and its webserv nodes by name."""

    cluster: Any  # ray.cluster_utils.Cluster
    redis_url: str
    temp_dir: str
    nodes: dict[str, Any] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return str(self.cluster.address)

    def add(self, name: str) -> None:
        """Start webserv node ``name`` (again, after :meth:`remove`: the host comes back)."""
        self.nodes[name] = self.cluster.add_node(
            num_cpus=1, labels={NODE_LABEL: name}, temp_dir=self.temp_dir
        )

    def remove(self, name: str, graceful: bool = True) -> None:
        """Take node ``name`` out of the cluster: its Ray processes end (SIGTERM, or SIGKILL
        with ``graceful=False``), as when its host fails."""
        self.cluster.remove_node(self.nodes.pop(name), allow_graceful=graceful)


@contextlib.contextmanager
def local_cluster(names: list[str], redis_url: str | None = None) -> Iterator[LocalCluster]:
    """A Ray head and one node per name on this machine, and a Redis unless ``redis_url``
    is given; on exit the agents are stopped and all of it is gone, files included."""
    import ray
    from ray.cluster_utils import Cluster

    from webserv.cluster import nodes

    with contextlib.ExitStack() as stack:
        # Short: Ray's socket paths live below it.
        temp_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="wsray-"))
        # Ray records the head's address in <tmp>/ray for `address="auto"`, without making
        # the folder when its own files go elsewhere; the record goes with the cluster.
        ray_dir = Path(tempfile.gettempdir()) / "ray"
        record = ray_dir / "ray_current_cluster"
        earlier = record.read_text() if record.exists() else None
        stack.callback(_restore_address, ray_dir, earlier, made=not ray_dir.exists())
        ray_dir.mkdir(exist_ok=True)
        if redis_url is None:
            redis = RedisProcess(Path(temp_dir)).start()
            stack.callback(redis.stop)
            redis_url = redis.url
        cluster = Cluster(
            initialize_head=True,
            head_node_args={"num_cpus": 1, "include_dashboard": False, "temp_dir": temp_dir},
        )
        stack.callback(cluster.shutdown)
        local = LocalCluster(cluster, redis_url, temp_dir)
        for name in names:
            local.add(name)
        nodes.join(cluster.address)
        stack.callback(ray.shutdown)
        stack.callback(nodes.stop_agents)
        yield local


def _restore_address(ray_dir: Path, earlier: str | None, made: bool) -> None:
    """Put back the address record of the cluster that ran here before (if any)."""
    record = ray_dir / "ray_current_cluster"
    if earlier is not None:
        record.write_text(earlier)
        return
    record.unlink(missing_ok=True)
    if made:
        with contextlib.suppress(OSError):
            ray_dir.rmdir()  # only if nothing else of Ray's is in it
