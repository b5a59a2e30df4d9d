"""ClusterConfig: what every node agent serves, and where the router listens."""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

from webserv.server.config import ServerConfig, is_loopback

#: The Ray node label that makes a host a webserv node; its value names the node.
NODE_LABEL = "webserv-node"
#: The Ray namespace of the node agents.
NAMESPACE = "webserv"


class ClusterConfig(BaseModel):
    """The cluster: ``node`` is the server each node agent runs (sites, limits, token, the
    shared Redis; its host is where agents bind, its port is picked per node), the router
    listens on ``host``:``port``."""

    node: ServerConfig
    host: str = "127.0.0.1"
    port: int = Field(8100, ge=0, le=65535)
    ray_address: str | None = Field(
        None, description="The Ray cluster to join (default: RAY_ADDRESS, else a running one)."
    )

    @model_validator(mode="after")
    def _shared_store(self) -> ClusterConfig:
        if not self.node.redis_url:
            raise ValueError(
                "a cluster keeps leases and ownership in Redis: set its URL "
                "(--redis redis://HOST:PORT/0)"
            )
        if not is_loopback(self.host) and not self.node.token:
            raise ValueError(
                f"the router on {self.host} is reachable beyond this machine: set a token"
            )
        return self

    def for_node(self, name: str, port: int, public_host: str) -> ServerConfig:
        """The server of node ``name``: its envs owned by the node, its address registered."""
        return self.node.model_copy(
            update={"server_id": name, "port": port, "public_url": f"http://{public_host}:{port}"}
        )


def agent_name(node: str) -> str:
    """The Ray actor name of node ``node``'s agent."""
    return f"webserv-node-{node}"
