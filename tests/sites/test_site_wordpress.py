"""WordPress on the docker backend: its image, its golden seeded in the image, instances
serving links under their own address, logins per role, the REST helpers, isolation, the
golden left unchanged, a dead MariaDB noticed by the health check, and the suite with the
reference policy.

The golden is seeded once per code version (``~/.webserv/seeded``) and reused across runs;
the image is built when absent or older than ``containers/wordpress``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import docker
import docker_fixtures
import httpx
import pytest
from pool_fixtures import until

from webserv.env.config import RuntimeConfig, SiteConfig
from webserv.env.login import Credentials, log_in, session_client
from webserv.env.runner import run_suite
from webserv.env.runtime import EnvRuntime
from webserv.pool.backends.docker import DockerBackend
from webserv.pool.golden import data_checksum, seeded_source
from webserv.pool.images.build import ensure_site_image
from webserv.pool.manager import PoolManager, PoolSite
from webserv.pool.snapshot import SnapshotStore
from webserv.sites.registry import get as get_site
from webserv.sites.wordpress.content import ADMIN_LOGIN, API_KEY, GOLDEN_URL, generate
from webserv.sites.wordpress.helpers import wordpress_helpers
from webserv.sites.wordpress.plugin import base_url_sql
from webserv.tasks.suite import load_suite

pytestmark = [pytest.mark.docker]

SITE = get_site("wordpress")
PARAMS = load_suite("wordpress").manifest.golden["wordpress"]
OWNER = f"{docker_fixtures.OWNER}-wordpress"
REST = httpx.BasicAuth(ADMIN_LOGIN, API_KEY["password"])


@pytest.fixture(scope="session")
def wordpress_image(engine: docker.DockerClient) -> str:
    """Built when absent or outdated, else reused."""
    assert SITE.spec.image is not None
    ensure_site_image(engine, "wordpress", SITE.spec.image)
    return SITE.spec.image


@pytest.fixture(scope="session")
def wordpress_golden(wordpress_image: str) -> Path:
    """The suite's golden, seeded in the image once per code version and kept for reuse."""
    return seeded_source(SITE, PARAMS)


@pytest.fixture(scope="session")
def wordpress_store(
    tmp_path_factory: pytest.TempPathFactory, wordpress_golden: Path
) -> Iterator[SnapshotStore]:
    store = SnapshotStore(tmp_path_factory.mktemp("wordpress-store"))
    store.create_golden(SITE.golden_name(PARAMS), wordpress_golden)
    yield store
    store.wipe()


@pytest.fixture
async def pool(
    engine: docker.DockerClient, wordpress_store: SnapshotStore, tmp_path: Path
) -> AsyncIterator[PoolManager]:
    """A pool of one standby WordPress; its containers and clones are removed afterwards."""
    backend = DockerBackend(owner=OWNER, client=engine)
    site = PoolSite(SITE.spec, SITE.golden_name(PARAMS), 1, after_launch=SITE.after_launch)
    manager = PoolManager(
        backend, wordpress_store, [site], health_interval_s=0.5, state_dir=tmp_path / "state"
    )
    try:
        async with manager:
            yield manager
    finally:
        await backend.close()
        await docker_fixtures.remove_leftovers(OWNER, wordpress_store)


async def _sign_in(client: httpx.AsyncClient, url: str, role: str) -> Credentials:
    login = next(login for login in SITE.spec.logins if login.role == role)
    return await log_in(client, url, login)


def _cookie_header(credentials: Credentials, path: str) -> dict[str, str]:
    """The cookies a browser would send to ``path`` (WordPress scopes its auth cookie to
    /wp-admin)."""
    sent = [c for c in credentials.cookies if path.startswith(c["path"])]
    return {"Cookie": "; ".join(f"{c['name']}={c['value']}" for c in sent)}


def test_golden_holds_the_generated_content(wordpress_golden: Path):
    content = generate(PARAMS["seed"], PARAMS["scale"], PARAMS["media_mb"])
    assert len(content.posts) >= 1000 and len(content.comments) >= 5000
    assert len(content.users) == 50
    assert {u.role for u in content.users} == {
        "administrator",
        "editor",
        "author",
        "contributor",
        "subscriber",
    }
    assert {c.status for c in content.comments} == {"1", "0", "spam"}
    assert not (wordpress_golden / "seed").exists()  # the seed input is consumed
    assert (wordpress_golden / "mysql" / "wordpress").is_dir()
    media = content.media[0]
    stored = (wordpress_golden / "uploads" / media.file).read_bytes()
    assert stored.startswith(b"\x89PNG\r\n\x1a\n")
    # The same seed makes the same content; another seed another.
    assert generate(PARAMS["seed"], PARAMS["scale"]).to_json() == content.to_json()
    assert generate(PARAMS["seed"] + 1, PARAMS["scale"]).to_json() != content.to_json()


def test_base_url_sql_sets_both_addresses():
    sql = base_url_sql("http://127.0.0.1:20123")
    assert "option_value = 'http://127.0.0.1:20123'" in sql
    assert "('siteurl', 'home')" in sql
    assert "\\'" in base_url_sql("http://h/'x")  # a quote cannot end the literal


async def test_instance_serves_its_address_logins_and_helpers(pool: PoolManager):
    lease = await pool.acquire("wordpress")
    try:
        url = lease.url.rstrip("/")
        async with session_client() as client:
            front = await client.get(f"{url}/")
            links = set(re.findall(r'href="(https?://[^/"]+)', front.text))
            # Every link of the blog points at this instance (the theme's footer credits
            # wordpress.org), none at the golden's address.
            assert front.status_code == 200 and links - {"https://wordpress.org"} == {url}, links
            assert GOLDEN_URL not in front.text

            admin = await _sign_in(client, url, "admin")
            path = "/wp-admin/users.php?s=morgan"
            users = await client.get(f"{url}{path}", headers=_cookie_header(admin, path))
            assert users.status_code == 200 and "morgan.reyes" in users.text
            author = await _sign_in(client, url, "author")
            mine = await client.get(f"{url}/wp-admin/", headers=_cookie_header(author, path))
            assert mine.status_code == 200 and "Morgan Reyes" in mine.text
            refused = await client.get(f"{url}{path}", headers=_cookie_header(author, path))
            assert refused.status_code == 403  # an author may not manage users
            anonymous = await client.get(f"{url}/wp-admin/")
            assert anonymous.status_code == 302 and "wp-login.php" in anonymous.headers["location"]

            content = generate(PARAMS["seed"], PARAMS["scale"])
            helpers = wordpress_helpers(SITE.name, url, client)
            draft = next(p for p in content.posts if p.status == "draft")
            assert await helpers["wordpress_post_status"](draft.id) == "draft"
            assert await helpers["wordpress_post_title"](draft.id) == draft.title
            held = next(c for c in content.comments if c.status == "0")
            assert await helpers["wordpress_comment_status"](held.id) == "hold"
            spam = next(c for c in content.comments if c.status == "spam")
            assert await helpers["wordpress_comment_status"](spam.id) == "spam"
            assert await helpers["wordpress_user_role"]("morgan.reyes") == "author"
            tagged = next(p for p in content.posts if p.tags)
            names = ", ".join(sorted(content.term(t).name for t in tagged.tags))
            assert await helpers["wordpress_tag_names"](tagged.id) == names
            assert await helpers["wordpress_setting"]("url") == url
            with pytest.raises(Exception, match="no comment"):
                await helpers["wordpress_comment_status"](10**7)
    finally:
        await pool.release(lease.id)


async def test_writes_stay_in_their_instance_and_the_golden_is_unchanged(
    pool: PoolManager, wordpress_store: SnapshotStore, wordpress_golden: Path
):
    golden = wordpress_store.golden_path(SITE.golden_name(PARAMS))
    before = data_checksum(golden)
    assert data_checksum(wordpress_golden) == before
    title = "Written in one instance only"
    async with httpx.AsyncClient(timeout=30, auth=REST) as client:
        first = await pool.acquire("wordpress")
        try:
            written = await client.post(
                f"{first.url}/", params={"rest_route": "/wp/v2/posts/1"}, json={"title": title}
            )
            assert written.status_code == 200, written.text
            helpers = wordpress_helpers(SITE.name, first.url, client)
            assert await helpers["wordpress_post_title"](1) == title
        finally:
            await pool.release(first.id)
        second = await pool.acquire("wordpress")
        try:
            assert second.instance.id != first.instance.id
            helpers = wordpress_helpers(SITE.name, second.url, client)
            assert await helpers["wordpress_post_title"](1) != title
        finally:
            await pool.release(second.id)
    await pool.drain()
    assert data_checksum(golden) == before


async def test_a_dead_mariadb_fails_the_health_check_and_the_standby_is_replaced(
    pool: PoolManager,
):
    await pool.wait_standby(timeout_s=120)
    [standby] = list(pool._standby["wordpress"])
    await pool.backend.exec(standby, ["sh", "-c", "kill -9 $(pidof mariadbd)"])
    async with httpx.AsyncClient() as client:
        health = await client.get(standby.url + SITE.spec.health_path)
        # The container still runs; WordPress cannot reach its database.
        assert health.status_code >= 500
        assert "Error establishing a database connection" in health.text
    await until(lambda: pool.counters["replaced"] >= 1, timeout_s=30)
    assert pool.counters["replaced"] == 1
    await pool.wait_standby(timeout_s=120)
    [fresh] = list(pool._standby["wordpress"])
    assert fresh.id != standby.id


@pytest.mark.browser
async def test_suite_passes_with_the_reference_policy(wordpress_golden: Path, tmp_path: Path):
    """One task of each template (21 of the suite's 62; the full suite is
    ``webserv suite run wordpress``)."""
    suite = load_suite("wordpress")
    first_of_template: dict[int, str] = {}
    for task in suite.tasks:
        first_of_template.setdefault(task.intent_template_id, str(task.task_id))
    wordpress = SiteConfig(
        name="wordpress",
        backend="docker",
        golden=PARAMS,
        standby=2,
        golden_source=wordpress_golden,
    )
    config = RuntimeConfig(
        sites=[wordpress],
        max_instances=6,  # 2 leased, 2 in standby, room for 2 recycling
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
    assert report.tasks == len(first_of_template) and not failed, failed
