"""The cluster's nodes as Ray knows them, their agents, and where new envs go.

Shared by the router (HTTP) and the fast path (actor calls): which labelled nodes are alive
(Ray's node table, dead entries included, so a lost node's ids answer 410 rather than 404),
the agent of each, the node an env or group id belongs to (its first part is the node's
:func:`server_key`), and the placement rule: the node with the most room for the site,
a group whole on one node.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from webserv.cluster.config import NAMESPACE, NODE_LABEL, ClusterConfig, agent_name
from webserv.server.service import server_key


def join(address: str | None) -> None:
    """Join the Ray cluster at ``address`` (default: RAY_ADDRESS, else the one running
    here) in the agents' namespace, unless this process already has."""
    import logging

    import ray

    if not ray.is_initialized():
        ray.init(
            address=address or "auto",
            namespace=NAMESPACE,
            log_to_driver=False,
            logging_level=logging.WARNING,
        )


@dataclass(frozen=True)
class Node:
    name: str
    key: str
    alive: bool


def read_nodes() -> dict[str, Node]:
    """Every webserv node Ray has seen, by key; a name seen dead and alive again is alive."""
    import ray

    nodes: dict[str, Node] = {}
    for entry in ray.nodes():
        name = (entry.get("Labels") or {}).get(NODE_LABEL)
        if not name:
            continue
        key = server_key(name)
        if entry["Alive"] or key not in nodes:
            nodes[key] = Node(name, key, bool(entry["Alive"]))
    return nodes


def key_of(env_or_group_id: str) -> str:
    """The node key an env or group id starts with."""
    return env_or_group_id.split("-", 1)[0]


def agent(node: str) -> Any:
    """The handle of node ``node``'s agent (it raises ValueError when there is none)."""
    import ray

    return ray.get_actor(agent_name(node), namespace=NAMESPACE)


def start_agent(config: ClusterConfig, node: str) -> Any:
    """Node ``node``'s agent, started if it does not exist: pinned to the node's label,
    restarted by Ray whenever it dies (on the node's return if the node died with it), and
    never retrying a call (an action must not run twice)."""
    import ray

    from webserv.cluster.agent import NodeAgent

    return (
        ray.remote(NodeAgent)
        .options(
            name=agent_name(node),
            namespace=NAMESPACE,
            lifetime="detached",
            get_if_exists=True,
            max_restarts=-1,
            max_task_retries=0,
            num_cpus=0,
            label_selector={NODE_LABEL: node},
        )
        .remote(config.model_dump_json(), node)
    )


def stop_agents() -> list[str]:
    """Shut every agent down (its envs end, its instances and browser go), then remove it;
    the names of the nodes whose agent was stopped."""
    import ray

    stopped = []
    for node in read_nodes().values():
        try:
            handle = agent(node.name)
        except ValueError:
            continue  # no agent there
        with contextlib.suppress(ray.exceptions.RayError):
            ray.get(handle.shutdown.remote(), timeout=120)
        ray.kill(handle)
        stopped.append(node.name)
    return stopped


def rank(rooms: Mapping[str, int], n: int = 1) -> list[str]:
    """The nodes that can take ``n`` envs at once, the most room first."""
    fit = [name for name, room in rooms.items() if room >= n]
    return sorted(fit, key=lambda name: (-rooms[name], name))
