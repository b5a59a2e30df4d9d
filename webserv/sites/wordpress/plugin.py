"""WordPress as a site plugin (registered as ``wordpress`` in ``pyproject.toml``).

A PHP and MySQL application that keeps its base URL in its database (``siteurl`` and
``home`` in ``wp_options``), as WebArena's Magento does: each instance's is rewritten to its
own address after launch. It runs on the docker backend only (``containers/wordpress``).

One instance serves two task site names: ``wordpress`` (the administrator, starting in
``/wp-admin/``) and ``wordpress_author`` (an author, whose screens show what an author may
do); both placeholders stand for the instance's root, as tasks read the blog too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import httpx

from webserv.sites.plugin import LaunchedInstance, Site, code_fingerprint
from webserv.sites.spec import GoldenRecipe, Login, SiteAlias, SiteSpec
from webserv.sites.wordpress import SITE_VERSION
from webserv.sites.wordpress.content import (
    ADMIN_LOGIN,
    ADMIN_PASSWORD,
    AUTHOR_LOGIN,
    USER_PASSWORD,
    generate,
    write_seed_input,
)
from webserv.sites.wordpress.helpers import wordpress_helpers

HERE = Path(__file__).parent
#: The repository's ``containers/wordpress`` (absent from an installed wheel).
CONTAINER = HERE.parents[2] / "containers" / "wordpress"
LOGIN_FORM = {"log": "{username}", "pwd": "{password}"}


def base_url_sql(base_url: str) -> str:
    """The statement that makes WordPress build every link under ``base_url``."""
    quoted = base_url.replace("\\", "\\\\").replace("'", "\\'")
    return (
        f"UPDATE wp_options SET option_value = '{quoted}' WHERE option_name IN ('siteurl', 'home');"
    )


class WordPressSite(Site):
    spec = SiteSpec(
        name="wordpress",
        version=SITE_VERSION,
        image="webserv/wordpress:latest",
        container_port=80,
        container_data_dir="/data",
        # The login page reads the database: a stopped MariaDB makes it a 500.
        health_path="/wp-login.php",
        ready_timeout_s=120.0,
        memory_limit="512m",
        logins=[
            Login(
                role="admin",
                username=ADMIN_LOGIN,
                password=ADMIN_PASSWORD,
                login_path="/wp-login.php",
                form=LOGIN_FORM,
            ),
            Login(
                role="author",
                username=AUTHOR_LOGIN,
                password=USER_PASSWORD,
                login_path="/wp-login.php",
                form=LOGIN_FORM,
            ),
        ],
        description="WordPress 6.1 (Debian) with MariaDB: the blog at /, its admin at /wp-admin/.",
    )
    recipe = GoldenRecipe(
        kind="seed",
        params={"seed": 7, "scale": 1.0, "media_mb": 0},
        container_command=["/usr/local/bin/webserv-seed"],
        command="webserv site seed wordpress --out DIR [--seed 7] [--scale 1.0]",
    )
    aliases: ClassVar[Mapping[str, SiteAlias]] = {
        # The instance's root, so tasks reach both the blog and /wp-admin/.
        "wordpress": SiteAlias(path="", role="admin"),
        "wordpress_author": SiteAlias(path="", role="author"),
    }
    container = CONTAINER if CONTAINER.is_dir() else None

    def fingerprint(self) -> str:
        sources = [HERE / "__init__.py", HERE / "content.py"]
        if self.container is not None:
            sources += [path for path in self.container.rglob("*") if path.is_file()]
        return code_fingerprint(HERE.parents[2], sources)

    def make_golden(self, out: Path, params: Mapping[str, Any]) -> None:
        values = self.golden_params(params)
        content = generate(
            seed=int(values["seed"]),
            scale=float(values["scale"]),
            media_mb=float(values["media_mb"]),
        )
        write_seed_input(out, content)

    async def after_launch(self, instance: LaunchedInstance) -> None:
        if instance.backend != "docker":
            return  # a deployment of the user's own keeps the address it was set up with
        sql = base_url_sql(instance.url.rstrip("/"))
        await instance.exec(["mariadb", "wordpress", "-e", sql])

    def evaluator_helpers(
        self, url: str, client: httpx.AsyncClient
    ) -> Mapping[str, Callable[..., Any]]:
        return wordpress_helpers(self.name, url, client)

    def suites(self) -> Mapping[str, Path]:
        return {"wordpress": HERE / "tasks"}


site = WordPressSite()
