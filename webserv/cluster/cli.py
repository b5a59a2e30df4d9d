"""``webserv cluster``: node agents and the router on a Ray cluster, or on one machine."""

from __future__ import annotations

import contextlib
import socket
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from webserv.cluster.config import ClusterConfig
from webserv.options import (
    DEFAULT_MAX_INSTANCES,
    BrowserBuildOption,
    EnvTtl,
    ExtraSuites,
    MaxEnvs,
    MaxInstances,
    RedisUrl,
    Sites,
    SnapshotDriver,
    SnapshotRoot,
    Standby,
    Token,
)

if TYPE_CHECKING:
    from webserv.cluster.agent import NodeInfo
    from webserv.server.config import ServerConfig

app = typer.Typer(
    help="Many hosts on Ray: a node agent per host, a router with the /v1 API.",
    no_args_is_help=True,
)

#: ``--address``: the Ray cluster to join.
Address = Annotated[
    str | None,
    typer.Option(
        "--address", envvar="RAY_ADDRESS", help="The Ray cluster (default: the running one)."
    ),
]

# The up command's own options.
RouterHost = Annotated[str, typer.Option(help="Address the router binds.")]
RouterPort = Annotated[int, typer.Option(help="Port the router binds.")]
NodeHost = Annotated[
    str,
    typer.Option(
        help="Address the node agents bind (0.0.0.0 when the router runs on another host)."
    ),
]
LocalNodes = Annotated[
    int,
    typer.Option(
        min=0,
        help="Try it on one machine: start a Ray cluster of this many webserv nodes here "
        "(and a Redis unless --redis is given); all of it stops with the router.",
    ),
]
RouterOnly = Annotated[
    bool, typer.Option(help="Serve one more router; leave the agents to the first `up`.")
]


@app.command()
def up(
    site: Sites = [],  # noqa: B006 - typer reads the default, never mutates it
    suite: ExtraSuites = [],  # noqa: B006
    host: RouterHost = "127.0.0.1",
    port: RouterPort = 8100,
    node_host: NodeHost = "127.0.0.1",
    token: Token = None,
    redis_url: RedisUrl = None,
    standby: Standby = 2,
    browser: BrowserBuildOption = None,
    max_instances: MaxInstances = DEFAULT_MAX_INSTANCES,
    max_envs: MaxEnvs = 64,
    env_ttl: EnvTtl = 300.0,
    snapshot_root: SnapshotRoot = None,
    snapshot_driver: SnapshotDriver = None,
    address: Address = None,
    local_nodes: LocalNodes = 0,
    router_only: RouterOnly = False,
) -> None:
    """Start a node agent on every webserv node (a Ray node labelled webserv-node=NAME) and
    serve the router in the foreground."""
    from webserv.cluster.local import local_cluster
    from webserv.server.cli import server_config

    with contextlib.ExitStack() as stack:
        if local_nodes:
            names = [f"{socket.gethostname()}-{i + 1}" for i in range(local_nodes)]
            local = stack.enter_context(local_cluster(names, redis_url))
            address, redis_url = local.address, local.redis_url
        node = server_config(
            site=site,
            suite=suite,
            standby=standby,
            browser=browser,
            max_instances=max_instances,
            snapshot_root=snapshot_root,
            snapshot_driver=snapshot_driver,
            token=token,
            redis_url=redis_url,
            host=node_host,
            max_envs=max_envs,
            env_ttl_s=env_ttl,
        )
        config = cluster_config(node, host, port, address)
        _join(address)
        serve_router(config, router_only)


def cluster_config(node: ServerConfig, host: str, port: int, address: str | None) -> ClusterConfig:
    """The cluster of the nodes' server and the router's address; one without a shared
    Redis, or with a router off loopback and no token, ends the command (exit 2)."""
    from pydantic import ValidationError

    try:
        return ClusterConfig(node=node, host=host, port=port, ray_address=address)
    except ValidationError as err:
        messages = "; ".join(e["msg"].removeprefix("Value error, ") for e in err.errors())
        typer.echo(f"error: {messages}", err=True)
        raise typer.Exit(2) from err


def serve_router(config: ClusterConfig, router_only: bool) -> None:
    """Start the node agents (unless ``router_only``: the first ``up`` did) and serve the
    router in the foreground."""
    import uvicorn

    from webserv.cluster.router import create_router_app

    if not router_only:
        for info in _start_agents(config):
            typer.echo(f"node {info.node}: {info.url} serving {', '.join(info.sites)}")
    typer.echo(
        f"webserv router on http://{config.host}:{config.port} (store: {config.node.redis_url})"
    )
    uvicorn.run(
        create_router_app(config),
        host=config.host,
        port=config.port,
        log_level="warning",
        timeout_keep_alive=30,
    )


@app.command()
def status(address: Address = None) -> None:
    """The webserv nodes of the Ray cluster: alive or not, their server, envs and pool."""
    import ray
    from rich.console import Console
    from rich.table import Table

    from webserv.cluster import nodes

    _join(address)
    table = Table("node", "alive", "server", "envs", "standby", "leased")
    for node in sorted(nodes.read_nodes().values(), key=lambda n: n.name):
        row = [node.name, "yes" if node.alive else "no", "-", "-", "-", "-"]
        if node.alive:
            try:
                handle = nodes.agent(node.name)
                info, pool = ray.get([handle.info.remote(), handle.pool.remote()], timeout=30)
                sites = [s for status in pool.pools for s in status["sites"].values()]
                row[2:] = [
                    info.url,
                    str(len(pool.envs)),
                    str(sum(s["standby"] for s in sites)),
                    str(sum(s["leased"] for s in sites)),
                ]
            except (ValueError, ray.exceptions.RayError) as err:
                row[2] = f"no agent ({type(err).__name__})"
        table.add_row(*row)
    Console().print(table)


@app.command()
def down(address: Address = None) -> None:
    """Stop every node agent: its envs end, its instances and browser go."""
    from webserv.cluster import nodes

    _join(address)
    for name in nodes.stop_agents():
        typer.echo(f"node {name}: stopped")


def _join(address: str | None) -> None:
    import ray

    from webserv.cluster import nodes

    if ray.is_initialized():
        return
    problem = _unreachable(address)
    if problem is None:
        try:
            nodes.join(address)
            return
        except ConnectionError as err:
            problem = str(err)
    typer.echo(
        f"error: no Ray cluster to join ({problem}); start one with `ray start --head` "
        "or try one machine with `webserv cluster up --local-nodes N`",
        err=True,
    )
    raise typer.Exit(2)


def _unreachable(address: str | None) -> str | None:
    """Why the cluster at ``address`` (default: the one ``ray start`` recorded here) cannot
    be reached, if it cannot: Ray itself waits minutes on a stale address."""
    import os

    address = address or os.environ.get("RAY_ADDRESS")
    if not address or address == "auto":
        recorded = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
        if not recorded.exists():
            return "none is running on this machine"
        address = recorded.read_text().strip()
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return None
    except (OSError, ValueError) as err:
        return f"{address}: {err}"


def _start_agents(config: ClusterConfig) -> list[NodeInfo]:
    """Every alive webserv node's agent, started and serving."""
    import ray

    from webserv.cluster import nodes

    alive = [node.name for node in nodes.read_nodes().values() if node.alive]
    if not alive:
        typer.echo(
            "error: no Ray node is labelled webserv-node=NAME; start the hosts with "
            "`ray start ... --labels webserv-node=NAME`",
            err=True,
        )
        raise typer.Exit(2)
    handles = [nodes.start_agent(config, name) for name in alive]
    return ray.get([handle.info.remote() for handle in handles])
