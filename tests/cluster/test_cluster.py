"""webserv on a local multi-node Ray cluster (three webserv nodes on this machine): envs spread
over the nodes, groups on one node, the router's routing (also after a restart), the fast
path, the SkyRL adapter through the router, backpressure, and a node removed mid-episode
(410 at once, its leftovers reaped when it comes back, nothing left at the end)."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import env_fixtures
import httpx
import psutil
import pytest
import ray
import uvicorn

from webserv.client import RemoteEnvError
from webserv.cluster import nodes
from webserv.cluster.agent import NodeInfo
from webserv.cluster.config import ClusterConfig
from webserv.cluster.local import LocalCluster, local_cluster
from webserv.cluster.router import create_router_app
from webserv.env.config import RuntimeConfig, SiteConfig
from webserv.pool.backends.base import free_port
from webserv.pool.snapshot import SnapshotStore
from webserv.server.config import ServerConfig

pytestmark = [pytest.mark.cluster, pytest.mark.browser, pytest.mark.redis, pytest.mark.slow]

NODES = ["wsn-a", "wsn-b", "wsn-c"]
#: Envs one node opens at most: the cluster is full at 3 x MAX_ENVS.
MAX_ENVS = 4


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The webserv home and snapshot store of every node (they share this machine)."""
    return tmp_path_factory.mktemp("cluster-home")


@pytest.fixture(scope="module")
def cluster(shop_golden: Path, home: Path) -> Iterator[LocalCluster]:
    # The node agents' processes inherit these from the Ray nodes this process starts.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("WEBSERV_HOME", str(home / "home"))
        env.setenv("WEBSERV_SNAPSHOT_ROOT", str(home / "snapshots"))
        with local_cluster(NODES) as local:
            yield local


@pytest.fixture(scope="module")
def config(cluster: LocalCluster, shop_golden: Path) -> ClusterConfig:
    shop = SiteConfig(
        name="shop",
        golden=env_fixtures.suite_params(),
        golden_source=shop_golden,
        standby=1,
    )
    node = ServerConfig(
        redis_url=cluster.redis_url,
        max_envs=MAX_ENVS,
        runtime=RuntimeConfig(
            sites=[shop], max_instances=2 * MAX_ENVS, snapshot_driver="copy", warm_starts=False
        ),
    )
    config = ClusterConfig(node=node, port=free_port(), ray_address=cluster.address)
    for name in NODES:
        nodes.start_agent(config, name)
    return config


def _all_serving(pool: dict) -> bool:
    """Every node is in the registry and answers the router (one site: a pool per node)."""
    return len(pool["servers"]) == len(NODES) and len(pool["pools"]) >= len(NODES)


@contextmanager
def serving_router(config: ClusterConfig) -> Iterator[httpx.Client]:
    """The router on its port in a thread of its own; a client of it."""
    server = uvicorn.Server(
        uvicorn.Config(
            create_router_app(config), host="127.0.0.1", port=config.port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 600  # the agents start their pools and browsers
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the router did not start"
            time.sleep(0.05)
        with httpx.Client(base_url=f"http://127.0.0.1:{config.port}", timeout=180) as client:
            # Registered in the store and serving in the router's own view of the nodes (which
            # it refreshes on a timer): a create before that finds no node.
            until(lambda: _all_serving(client.get("/v1/pool").json()))
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=60)


@pytest.fixture(scope="module")
def router(config: ClusterConfig) -> Iterator[httpx.Client]:
    with serving_router(config) as client:
        yield client


def until(condition, timeout_s: float = 120.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def node_of(env_id: str) -> str:
    return nodes.read_nodes()[nodes.key_of(env_id)].name


def create(router: httpx.Client, **body: object) -> dict:
    answer = router.post("/v1/envs", json={"site": "shop", **body})
    assert answer.status_code == 201, answer.text
    return answer.json()


def close_all(router: httpx.Client, env_ids: list[str]) -> None:
    for env_id in env_ids:
        assert router.delete(f"/v1/envs/{env_id}").status_code == 200


def test_envs_spread_over_the_nodes_and_every_call_reaches_its_own(router: httpx.Client):
    made = [create(router, task=1) for _ in range(6)]
    ids = [env["env_id"] for env in made]
    try:
        placed = Counter(node_of(env_id) for env_id in ids)
        assert set(placed) == set(NODES) and max(placed.values()) == 2, placed
        for env_id in ids:
            step = router.post(f"/v1/envs/{env_id}/step", json={"action": 'scroll("down")'})
            assert step.status_code == 200, step.text
            # The node's timing and the router's, both passed back.
            assert "env;dur=" in step.headers["server-timing"]
            assert "app;dur=" in step.headers["server-timing"]
            assert "router;dur=" in step.headers["server-timing"]
            assert router.get(f"/v1/envs/{env_id}").json()["steps"] == 1
        listed = {env["env_id"] for env in router.get("/v1/pool").json()["envs"]}
        assert set(ids) <= listed
    finally:
        close_all(router, ids)
    gone = router.post(f"/v1/envs/{ids[0]}/step", json={"action": 'scroll("down")'})
    assert gone.status_code == 410 and gone.json()["error"] == "env_gone"


def test_a_group_lives_on_one_node_from_identical_instances(router: httpx.Client):
    answer = router.post("/v1/groups", json={"site": "shop", "n": 3, "task": 1})
    assert answer.status_code == 201, answer.text
    group = answer.json()
    ids = [env["env_id"] for env in group["envs"]]
    assert len({node_of(env_id) for env_id in ids}) == 1
    assert len({env["observation"]["text"] for env in group["envs"]}) == 1
    reset = router.post(f"/v1/groups/{group['group']}/reset", json={"task": 2})
    assert reset.status_code == 200, reset.text
    assert [env["env_id"] for env in reset.json()["envs"]] == ids
    closed = router.delete(f"/v1/groups/{group['group']}")
    assert closed.status_code == 200 and sorted(closed.json()["closed"]) == sorted(ids)


def test_bad_requests_get_the_servers_own_answers(router: httpx.Client):
    unknown_site = router.post("/v1/envs", json={"site": "nowhere"})
    assert unknown_site.status_code == 400 and unknown_site.json()["error"] == "bad_request"
    too_big = router.post("/v1/groups", json={"site": "shop", "n": 10_000})
    assert too_big.status_code == 400
    assert router.post("/v1/envs", content=b"{not json").status_code == 400
    unknown = router.post("/v1/envs/00000000-00000000-00/step", json={"action": "noop()"})
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"
    assert router.get("/v1/nothing").json()["error"] == "not_found"


def test_a_full_cluster_answers_503_with_retry_after(router: httpx.Client):
    ids = []
    try:
        while True:
            answer = router.post("/v1/envs", json={"site": "shop", "task": 1})
            if answer.status_code != 201:
                break
            ids.append(answer.json()["env_id"])
            assert len(ids) <= len(NODES) * MAX_ENVS, "the cluster took more than it holds"
        assert len(ids) == len(NODES) * MAX_ENVS
        assert answer.status_code in (429, 503), answer.text
        assert int(answer.headers["retry-after"]) >= 1
        group = router.post("/v1/groups", json={"site": "shop", "n": 2})
        assert group.status_code in (429, 503)
    finally:
        close_all(router, ids)


def test_a_restarted_router_routes_the_envs_it_did_not_create(
    router: httpx.Client, config: ClusterConfig
):
    env_id = create(router, task=1)["env_id"]
    second = config.model_copy(update={"port": free_port()})
    with serving_router(second) as other:
        step = other.post(f"/v1/envs/{env_id}/step", json={"action": 'scroll("down")'})
        assert step.status_code == 200, step.text
        assert other.delete(f"/v1/envs/{env_id}").status_code == 200


def test_the_fast_path_drives_an_env_without_http(router: httpx.Client):
    from webserv.cluster.fastpath import ClusterWebEnv

    env = ClusterWebEnv(site="shop", task=1, max_steps=5)
    try:
        obs, _info = env.reset()
        assert "/admin/" in obs["url"]
        env_id = env.env_id
        assert env_id is not None and node_of(env_id) in NODES
        obs, reward, terminated, _, _ = env.step('scroll("down")')
        assert "/admin/" in obs["url"] and reward == 0.0 and not terminated
        # The router sees the env the fast path made.
        assert router.get(f"/v1/envs/{env_id}").json()["steps"] == 1
        with pytest.raises(RemoteEnvError) as bad:
            env.calls.step("00000000-00000000-00", "noop()")
        assert bad.value.code == "not_found"
    finally:
        env.close()
    assert router.get(f"/v1/envs/{env_id}").status_code == 410


def test_the_skyrl_adapter_drives_an_env_through_the_router(router: httpx.Client):
    skyrl_gym = pytest.importorskip("skyrl_gym")
    import webserv.cluster.skyrl  # noqa: F401 (registers the env)

    base_url = str(router.base_url).rstrip("/")
    env = skyrl_gym.make(
        "webserv", env_config={"base_url": base_url, "max_steps": 3}, extras={"task_id": 1}
    )
    chat, _ = env.init([{"role": "user", "content": "Work in the shop's admin."}])
    assert "Dashboard" in chat[-1]["content"]
    reply = {"rationale": "Look further down.", "action": 'scroll("down")'}
    out = env.step(json.dumps(reply))
    assert not out["done"]
    env.close()


def test_a_lost_node_answers_410_at_once_and_leaves_nothing_when_it_returns(
    router: httpx.Client, cluster: LocalCluster, home: Path
):
    from webserv.cluster.fastpath import ClusterWebEnv

    made = [create(router, task=1)["env_id"] for _ in range(len(NODES))]
    victim = node_of(made[0])
    lost = [env_id for env_id in made if node_of(env_id) == victim]
    kept = [env_id for env_id in made if node_of(env_id) != victim]
    agent = nodes.agent(victim)
    old_pid = ray.get(agent.info.remote()).pid
    fast = ClusterWebEnv(site="shop", task=1)
    for env_id in lost:  # mid-episode
        step = router.post(f"/v1/envs/{env_id}/step", json={"action": 'scroll("down")'})
        assert step.status_code == 200

    removed_at = time.monotonic()
    cluster.remove(victim)
    for env_id in lost:
        answer = router.post(f"/v1/envs/{env_id}/step", json={"action": 'scroll("down")'})
        assert answer.status_code == 410 and answer.json()["error"] == "env_lost"
    assert time.monotonic() - removed_at < 10, "410 came late"
    with pytest.raises(RemoteEnvError) as gone:
        fast.calls.step(lost[0], 'scroll("down")')
    assert gone.value.status == 410
    # The others are untouched, and new envs go to the nodes left.
    for env_id in kept:
        step = router.post(f"/v1/envs/{env_id}/step", json={"action": 'scroll("down")'})
        assert step.status_code == 200, step.text
    replacement = create(router, task=1)["env_id"]
    assert node_of(replacement) != victim
    close_all(router, [*kept, replacement])

    # The host comes back: Ray restarts its agent there, which reaps what the first left.
    cluster.add(victim)
    until(lambda: nodes.read_nodes()[nodes.key_of(lost[0])].alive)
    restarted: list[NodeInfo] = []
    until(lambda: restarted.append(_info(victim)) or restarted[-1] is not None, timeout_s=600)
    assert restarted[-1] is not None and restarted[-1].pid != old_pid
    # What the first incarnation started is gone, or adopted by the second (a pristine
    # standby instance is reused), and no clone is left that no instance owns.
    until(lambda: not _leftovers(victim, old_pid, home), timeout_s=60)
    # Its envs stay lost (503 "starting" until the router reads the node's new address).
    answers: list[httpx.Response] = []
    step = {"action": 'scroll("down")'}
    until(
        lambda: (
            answers.append(router.post(f"/v1/envs/{lost[0]}/step", json=step))
            or answers[-1].status_code != 503
        )
    )
    assert answers[-1].status_code == 410, answers[-1].text
    fresh = [create(router, task=1)["env_id"] for _ in range(len(NODES))]
    assert victim in {node_of(env_id) for env_id in fresh}
    close_all(router, fresh)
    fast.close()


def _info(node: str) -> NodeInfo | None:
    """What the agent of ``node`` says of itself, or None while Ray is restarting it."""
    try:
        return ray.get(nodes.agent(node).info.remote(), timeout=60)
    except ray.exceptions.ActorUnavailableError:
        return None


def _leftovers(node: str, old_pid: int, home: Path) -> list[str]:
    """The processes of agent process ``old_pid`` that node ``node``'s pool does not own
    now, and the clones no node's instance owns."""
    instances = {
        instance["id"]: name
        for name in NODES
        for pool in ray.get(nodes.agent(name).pool.remote(), timeout=60).pools
        for instance in pool["instances"]
    }
    records = (home / "home" / "pool" / "process" / node).glob("*.json")
    owned = {json.loads(path.read_text())["pid"] for path in records if path.stem in instances}
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        started_by = cmdline[cmdline.index("--parent") + 1] if "--parent" in cmdline else None
        if started_by == str(old_pid) and proc.pid not in owned:
            found.append(f"process {proc.pid}")
    store = SnapshotStore(home / "snapshots", "copy")
    found += [f"clone {clone}" for clone in store.clones() if clone not in instances]
    return found
