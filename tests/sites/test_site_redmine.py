"""Redmine on the docker backend: its image, its golden seeded in the image, instances
with their own host name, logins per role, isolation, the golden left unchanged, a dead
PostgreSQL noticed by the health check, and the suite with the reference policy.

The golden is seeded once per code version (``~/.webserv/seeded``) and reused across runs;
the image is built when absent or older than ``containers/redmine``.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import docker
import docker_fixtures
import httpx
import pytest
from pool_fixtures import until

from webserv.browser.actions import parse
from webserv.env.config import RuntimeConfig, SiteConfig
from webserv.env.login import Credentials, log_in, session_client
from webserv.env.runner import run_suite
from webserv.env.runtime import EnvRuntime
from webserv.pool.backends.docker import DockerBackend
from webserv.pool.golden import SnapshotManifest, data_checksum, seeded_source
from webserv.pool.images.build import ensure_site_image
from webserv.pool.manager import PoolManager, PoolSite
from webserv.pool.snapshot import SnapshotStore
from webserv.sites.redmine.content import ADMIN_API_KEY, GOLDEN_HOST, LOGIN_USER, generate
from webserv.sites.redmine.helpers import redmine_helpers
from webserv.sites.redmine.plugin import ROOT, host_name_sql
from webserv.sites.redmine.tasks import generate as suite_generator
from webserv.sites.registry import get as get_site
from webserv.tasks.suite import load_suite

SITE = get_site("redmine")
PARAMS = load_suite("redmine").manifest.golden["redmine"]
OWNER = f"{docker_fixtures.OWNER}-redmine"
PSQL = ["psql", "-X", "-A", "-t", "-h", "/run/postgresql", "-U", "redmine", "redmine", "-c"]
API = {"X-Redmine-API-Key": ADMIN_API_KEY}
#: The templates the suite test runs: every state change, a count, a wiki fact, a URL.
SUITE_TEMPLATES = {40, 41, 42, 43, 44, 45, 46, 5, 8, 21}
#: PostgreSQL dies at once (no shutdown checkpoint); the container and Redmine run on.
KILL_POSTGRES = ["sh", "-c", "kill -KILL $(head -n 1 /data/pgsql/postmaster.pid)"]


@pytest.fixture(scope="session")
def redmine_image(engine: docker.DockerClient) -> str:
    """Built when absent or outdated, else reused."""
    assert SITE.spec.image is not None
    ensure_site_image(engine, "redmine", SITE.spec.image)
    return SITE.spec.image


@pytest.fixture(scope="session")
def redmine_golden(redmine_image: str) -> Path:
    """The suite's golden, seeded in the image once per code version and kept for reuse."""
    return seeded_source(SITE, PARAMS)


@pytest.fixture(scope="session")
def redmine_store(
    tmp_path_factory: pytest.TempPathFactory, redmine_golden: Path
) -> Iterator[SnapshotStore]:
    store = SnapshotStore(tmp_path_factory.mktemp("redmine-store"))
    store.create_golden(SITE.golden_name(PARAMS), redmine_golden)
    yield store
    store.wipe()


@pytest.fixture
async def pool(
    engine: docker.DockerClient, redmine_store: SnapshotStore, tmp_path: Path
) -> AsyncIterator[PoolManager]:
    """A pool of one standby Redmine; its containers and clones are removed afterwards."""
    backend = DockerBackend(owner=OWNER, client=engine)
    site = PoolSite(SITE.spec, SITE.golden_name(PARAMS), 1, after_launch=SITE.after_launch)
    manager = PoolManager(
        backend, redmine_store, [site], health_interval_s=0.5, state_dir=tmp_path / "state"
    )
    try:
        async with manager:
            yield manager
    finally:
        await backend.close()
        await docker_fixtures.remove_leftovers(OWNER, redmine_store)


async def _sign_in(client: httpx.AsyncClient, url: str, role: str) -> Credentials:
    login = next(login for login in SITE.spec.logins if login.role == role)
    return await log_in(client, url, login)


def _cookie_header(credentials: Credentials) -> dict[str, str]:
    return {"Cookie": "; ".join(f"{c['name']}={c['value']}" for c in credentials.cookies)}


@pytest.mark.docker
def test_golden_holds_the_generated_content(redmine_golden: Path):
    content = generate(PARAMS["seed"], PARAMS["scale"])
    assert len(content.projects) >= 20 and len(content.issues) >= 3000
    assert len(content.users) >= 100 and len(content.journals) >= 3000
    assert not (redmine_golden / "seed").exists()  # the seed input is consumed
    assert (redmine_golden / "pgsql" / "PG_VERSION").read_text().strip() == "15"
    attachment = content.attachments[0]
    stored = redmine_golden / "files" / attachment.disk_directory / attachment.disk_filename
    assert stored.read_bytes() == content.files[f"{attachment.disk_directory}/{stored.name}"]
    # The same seed makes the same content; another seed another.
    assert generate(PARAMS["seed"], PARAMS["scale"]).to_json() == content.to_json()
    assert generate(PARAMS["seed"] + 1, PARAMS["scale"]).to_json() != content.to_json()


def test_suite_is_what_the_generator_makes_and_spans_the_templates():
    suite = load_suite("redmine")
    committed = json.loads((suite_generator.HERE / "tasks.json").read_text())
    made = suite_generator.build(generate(PARAMS["seed"], PARAMS["scale"]))
    assert made == committed, "stale: run python -m webserv.sites.redmine.tasks.generate"
    assert len(suite.tasks) >= 40 and not suite.invalid
    assert len({task.intent_template_id for task in suite.tasks}) >= 12
    kinds = {kind for task in suite.tasks for kind in task.eval.eval_types}
    assert kinds == {"string_match", "url_match", "program_html"}
    for task in suite.tasks:
        assert task.reference_solution and task.sites[0] in SITE.served_names()
        for action in task.reference_solution:
            parse(action)


def test_committed_manifest_names_the_default_golden():
    manifest = SnapshotManifest.model_validate_json(
        (ROOT / "snapshots" / "redmine" / "snapshot.json").read_text()
    )
    assert manifest.recipe == SITE.recipe and manifest.params == SITE.golden_params()
    # A new generator or image makes a new golden: regenerate the manifest from a seeding.
    assert manifest.name == SITE.golden_name(), "snapshots/redmine/snapshot.json is stale"


def test_host_name_sql_names_the_instance():
    sql = host_name_sql("http://127.0.0.1:20123")
    assert "THEN '127.0.0.1:20123'" in sql and "ELSE 'http'" in sql


@pytest.mark.docker
async def test_instance_has_its_host_name_logins_and_helpers(pool: PoolManager):
    lease = await pool.acquire("redmine")
    try:
        url = lease.url
        host = url.split("://", 1)[1]
        backend = pool.backend
        rows = await backend.exec(
            lease.instance, [*PSQL, "SELECT name, value FROM settings ORDER BY name"]
        )
        assert f"host_name|{host}" in rows and GOLDEN_HOST not in rows
        async with session_client() as client:
            admin = await _sign_in(client, url, "admin")
            page = await client.get(f"{url}/settings?tab=general", headers=_cookie_header(admin))
            # Redmine's own settings (through its cache) now name the instance.
            assert page.status_code == 200 and f'value="{host}"' in page.text
            user = await _sign_in(client, url, "user")
            mine = await client.get(f"{url}/my/account", headers=_cookie_header(user))
            assert mine.status_code == 200 and LOGIN_USER[0] in mine.text
            refused = await client.get(f"{url}/admin", headers=_cookie_header(user))
            assert refused.status_code == 403
            anonymous = await client.get(f"{url}/my/account")
            assert anonymous.status_code == 302

            content = generate(PARAMS["seed"], PARAMS["scale"])
            issue = content.issues[0]
            helpers = redmine_helpers(url, client)
            assert await helpers["redmine_issue_field"](issue.id, "status") == issue.status
            manager = next(m for m in content.members_of(1) if "Manager" in m.roles)
            login = content.user(manager.user_id).login
            project = content.project(1).identifier
            assert await helpers["redmine_member_roles"](project, login) == "Manager"
            text = await helpers["redmine_wiki_text"](project, "Meeting_Notes")
            assert "kickoff had" in text
            assert await helpers["redmine_issue_field"](999999, "status") == ""

            # The health page needs the database: a dead PostgreSQL fails it.
            health = url + SITE.spec.health_path
            assert (await client.get(health)).status_code == 200
            await backend.exec(lease.instance, KILL_POSTGRES)
            assert (await client.get(health)).status_code >= 500
    finally:
        await pool.release(lease.id)


@pytest.mark.docker
async def test_writes_stay_in_their_instance_and_the_golden_is_unchanged(
    pool: PoolManager, redmine_store: SnapshotStore, redmine_golden: Path
):
    golden = redmine_store.golden_path(SITE.golden_name(PARAMS))
    before = data_checksum(golden)
    assert data_checksum(redmine_golden) == before
    note = f"Isolation check {os.getpid()}"
    async with httpx.AsyncClient(timeout=30) as client:
        first = await pool.acquire("redmine")
        try:
            body = {"issue": {"notes": note, "priority_id": 5}}
            written = await client.put(f"{first.url}/issues/1.json", json=body, headers=API)
            assert written.status_code == 204, written.text
            notes = await redmine_helpers(first.url, client)["redmine_issue_notes"](1)
            assert note in notes
        finally:
            await pool.release(first.id)
        second = await pool.acquire("redmine")
        try:
            assert second.instance.id != first.instance.id
            notes = await redmine_helpers(second.url, client)["redmine_issue_notes"](1)
            assert note not in notes
        finally:
            await pool.release(second.id)
    await pool.drain()
    assert data_checksum(golden) == before


@pytest.mark.docker
async def test_a_dead_postgres_fails_the_health_check_and_the_standby_is_replaced(
    pool: PoolManager,
):
    await pool.wait_standby(timeout_s=240)
    [standby] = list(pool._standby["redmine"])
    await pool.backend.exec(standby, KILL_POSTGRES)
    await until(lambda: pool.counters["replaced"] >= 1, timeout_s=30)
    assert pool.counters["replaced"] == 1
    await pool.wait_standby(timeout_s=240)
    [fresh] = list(pool._standby["redmine"])
    assert fresh.id != standby.id


@pytest.mark.docker
@pytest.mark.browser
async def test_suite_passes_with_the_reference_policy(redmine_golden: Path, tmp_path: Path):
    """One task of each state-changing template and of three others: 10 of the suite's
    57 tasks (the full suite: ``webserv suite run redmine``)."""
    suite = load_suite("redmine")
    first_of_template: dict[int, str] = {}
    for task in suite.tasks:
        if task.intent_template_id in SUITE_TEMPLATES:
            first_of_template.setdefault(task.intent_template_id, str(task.task_id))
    redmine = SiteConfig(
        name="redmine", backend="docker", golden=PARAMS, standby=2, golden_source=redmine_golden
    )
    config = RuntimeConfig(
        sites=[redmine],
        max_instances=4,
        snapshot_root=tmp_path / "snapshots",
        snapshot_driver="copy",
        owner=f"{OWNER}-suite",
    )
    runtime = await EnvRuntime(config).start()
    try:
        ids = list(first_of_template.values())
        report = await run_suite(suite, parallel=2, task_ids=ids, runtime=runtime)
    finally:
        await runtime.close()
    failed = [
        (r.task_id, r.error, r.checks, r.action_errors) for r in report.results if not r.success
    ]
    assert report.tasks == len(SUITE_TEMPLATES) and not failed, failed
