"""Sites are plugins: a package installed by the tests adds a site that every entry point
serves (the CLI, Gymnasium, the in-process runtime, the HTTP server, rollouts) with no change
to webserv; a task on two sites leases both; the url backend drives a deployment that
already runs; a golden made with the CLI is the one the server uses."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import env_fixtures
import gymnasium
import httpx
import pytest

from benchmarks.serving import free_port, server_process
from webserv.client import RemoteEnvError, RemoteWebEnv
from webserv.env.config import RuntimeConfig, SiteConfig
from webserv.env.runtime import EnvRuntime
from webserv.env.session import EnvSession
from webserv.policy.reference import find_element
from webserv.pool.golden import seed_data
from webserv.sites import registry
from webserv.tasks.config import TaskConfig
from webserv.tasks.suite import load_suite


def webserv(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "webserv.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


@pytest.fixture(scope="module")
def hello_golden(hello_plugin: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hello-golden") / "data"
    seed_data(registry.get("hello"), out)
    return out


def hello_runtime(root: Path, golden: Path, **extra: object) -> RuntimeConfig:
    hello = SiteConfig(name="hello", standby=1, golden_source=golden)
    values = {"sites": [hello], "snapshot_root": root, "snapshot_driver": "copy", **extra}
    return RuntimeConfig.model_validate(values)


def click(obs_text: str, ref: str) -> str:
    element = find_element(obs_text, ref)
    assert element is not None, obs_text
    return f'click("{element}")'


def test_the_plugin_is_registered_without_touching_webserv(hello_plugin: Path):
    listed = webserv("site", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    hello = next(row for row in json.loads(listed.stdout) if row["name"] == "hello")
    assert hello["backends"] == ["process", "url"] and hello["suites"] == ["hello"]
    assert hello["entry_point"] == "webserv_hello.plugin:site"
    assert "webserv/Hello-v0" in gymnasium.registry
    assert [t.task_id for t in load_suite("hello").tasks] == [0, 1]


@pytest.mark.browser
def test_the_plugin_through_gymnasium(hello_golden: Path, tmp_path: Path):
    config = hello_runtime(tmp_path / "snapshots", hello_golden)
    env = gymnasium.make("webserv/Hello-v0", runtime_config=config, max_steps=5)
    try:
        obs, info = env.reset(options={"task_id": 1})
        assert info["isolated"] and "Signed in as ada" in obs["text"]  # logged in by form post
        for _ in range(2):
            obs, *_ = env.step(click(obs["text"], 'button "Increment"'))
        assert "Count: 2" in obs["text"]
        obs, reward, terminated, _, info = env.step("stop()")
        assert terminated and reward == 1.0, info["evaluation"]
        # A new episode starts on a fresh clone: the count is back to the golden's.
        obs, _ = env.reset(options={"task_id": 0})
        assert "Count: 0" in obs["text"]
    finally:
        env.close()


@pytest.mark.browser
async def test_a_task_on_two_sites_leases_one_instance_of_each(
    hello_golden: Path, shop_golden: Path, tmp_path: Path
):
    shop = SiteConfig(
        name="shop", standby=1, golden=env_fixtures.suite_params(), golden_source=shop_golden
    )
    config = hello_runtime(tmp_path / "snapshots", hello_golden)
    config = config.model_copy(update={"sites": [*config.sites, shop]})
    task = TaskConfig.model_validate(
        {
            "task_id": "two-sites",
            "sites": ["hello", "shopping"],
            "start_url": "__HELLO__/ |AND| __SHOPPING__/account",
            "intent": "Read the count, then look at your account.",
            "require_login": True,
            "eval": {
                "eval_types": ["program_html"],
                "program_html": [
                    {
                        # A func: helper of the hello site gives the URL to read.
                        "url": "func:hello_count_url('__HELLO__')",
                        "locator": "document.querySelector('#count').textContent",
                        "required_contents": {"exact_match": "0"},
                    },
                    {
                        "url": "__SHOPPING__/account",
                        "locator": "",
                        "required_contents": {"must_include": ["Emma"]},
                    },
                ],
            },
        }
    )
    async with EnvRuntime(config) as runtime:
        env = EnvSession(runtime, max_steps=3)
        try:
            obs, info = await env.reset(task)
            assert set(info["instances"]) == {"hello", "shop"}
            hello_url, shop_url = info["instances"]["hello"], info["instances"]["shop"]
            assert len(obs.tabs) == 2 and obs.url == hello_url + "/"
            assert "Signed in as ada" in obs.text
            # The hello site's after_launch hook ran where its instance runs.
            assert (env.leases["hello"].instance.data_dir / "launched").read_text() == "yes"
            shop_tab = await env.step("switch_tab(1)")
            assert shop_tab.observation.url.startswith(shop_url + "/account")
            # Signed in as the customer role of "shopping" (else: the sign-in page).
            assert shop_tab.observation.title.startswith("My Account")
            result = await env.step("stop()")
            assert result.reward == 1.0, result.info["evaluation"]
        finally:
            await env.close()


@pytest.fixture
def hello_deployment(hello_golden: Path, tmp_path: Path) -> Iterator[str]:
    """The hello site already running (as a user's own deployment), on a free port."""
    data = Path(shutil.copytree(hello_golden, tmp_path / "deployment"))
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "webserv_hello", "--data-dir", str(data), "--port", str(port)]
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(500):
            try:
                if httpx.get(url + "/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.02)  # poll interval while the site starts
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.browser
async def test_url_backend_runs_on_an_existing_deployment(hello_deployment: str):
    async with httpx.AsyncClient() as client:  # state another user left behind
        await client.post(hello_deployment + "/increment")
    config = RuntimeConfig(sites=[SiteConfig(name="hello", backend="url", url=hello_deployment)])
    suite = load_suite("hello")
    async with EnvRuntime(config) as runtime:
        env = EnvSession(runtime, max_steps=3)
        try:
            obs, info = await env.reset(suite.task(0))
            assert info["isolated"] is False and info["instance_url"] == hello_deployment
            assert "Count: 0" in obs.text  # the site's on_reset hook reset the deployment
            (status,) = runtime.status()
            assert status.backend == "url" and status.sites["hello"].leased == 1
            result = await env.step('stop("0")')
            assert result.reward == 1.0
        finally:
            await env.close()
        assert runtime.status()[0].sites["hello"].leased == 0


@pytest.mark.browser
def test_server_serves_the_plugin_with_a_golden_made_by_the_cli(hello_plugin: Path, tmp_path: Path):
    home, root = tmp_path / "home", tmp_path / "snapshots"
    seeded = webserv("site", "seed", "hello", "--out", str(tmp_path / "data"))
    assert seeded.returncode == 0, seeded.stderr
    stored = webserv(
        "pool", "golden", "hello", str(tmp_path / "data"),
        "--snapshot-root", str(root), "--snapshot-driver", "copy",
    )  # fmt: skip
    assert stored.returncode == 0, stored.stderr
    golden = stored.stdout.split()[1]
    server = server_process(
        "--site", "hello", "--standby", "1", "--snapshot-root", str(root),
        "--snapshot-driver", "copy",
        log=tmp_path / "server.log", env={"WEBSERV_HOME": str(home)},
    )  # fmt: skip
    server.start()
    try:
        spec = httpx.get(server.url + "/openapi.json").json()
        site = spec["components"]["schemas"]["CreateRequest"]["properties"]["site"]
        assert site["enum"] == ["hello"]
        refused = httpx.post(server.url + "/v1/envs", json={"site": "shop"})
        assert refused.status_code == 400 and "'hello'" in refused.json()["message"]
        pools = httpx.get(server.url + "/v1/pool").json()["pools"]
        assert pools[0]["sites"]["hello"]["golden"] == golden
        env = RemoteWebEnv(server.url, site="hello", max_steps=4)
        try:
            obs, _ = env.reset(options={"task_id": 1})
            for _ in range(2):
                obs, *_ = env.step(click(obs["text"], 'button "Increment"'))
            _, reward, terminated, _, _ = env.step("stop()")
            assert terminated and reward == 1.0
        finally:
            env.close()
        with pytest.raises(RemoteEnvError, match="bad_request"):
            RemoteWebEnv(server.url, site="nowhere", retry_for_s=0).reset()
    finally:
        server.stop()
    assert not (home / "seeded").exists()  # the server used the stored golden, seeded nothing


@pytest.mark.browser
def test_rollout_on_the_plugin_site(hello_golden: Path, tmp_path: Path):
    out = tmp_path / "run"
    ran = webserv(
        "rollout", "--site", "hello", "--policy", "random", "--envs", "1", "--episodes", "2",
        "--max-steps", "2", "--out", str(out), "--no-screenshots",
        env={"WEBSERV_HOME": str(tmp_path / "home"),
             "WEBSERV_SNAPSHOT_ROOT": str(tmp_path / "snapshots")},
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    episodes = [json.loads(line) for line in (out / "episodes.jsonl").read_text().splitlines()]
    assert len(episodes) == 2 and all(not e["error"] for e in episodes), episodes
    steps = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]
    assert steps and all(s["url"].startswith("http://127.0.0.1:") for s in steps)


def test_a_site_that_runs_only_in_a_container_defaults_to_docker():
    from webserv.env.config import SiteConfig

    assert SiteConfig.parse("shop").backend == "process"
    assert SiteConfig.parse("gitlab").backend == "docker"
    assert SiteConfig.parse("gitlab:url=http://127.0.0.1:8023").backend == "url"
