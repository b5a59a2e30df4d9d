"""Redmine as a site plugin (registered as ``redmine`` in ``pyproject.toml``).

Debian 12's ``redmine`` with its own PostgreSQL in one container (``containers/redmine``),
on the docker backend only. The golden is the data dir: the PostgreSQL cluster
(``/data/pgsql``) and the attachments (``/data/files``). Its content is generated here
(:mod:`webserv.sites.redmine.content`) and loaded by the image's ``webserv-seed``. Each
instance then gets Redmine's ``host_name`` setting rewritten to its own address, as
WebArena does for GitLab's ``external_url``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx

from webserv.sites.plugin import LaunchedInstance, Site, code_fingerprint
from webserv.sites.redmine import SITE_VERSION
from webserv.sites.redmine.content import (
    ADMIN_LOGIN,
    ADMIN_PASSWORD,
    LOGIN_USER,
    USER_PASSWORD,
    write_seed,
)
from webserv.sites.redmine.helpers import redmine_helpers
from webserv.sites.spec import GoldenRecipe, Login, SiteAlias, SiteSpec

HERE = Path(__file__).parent
ROOT = HERE.parents[2]
#: The repository's ``containers/redmine`` (absent from an installed wheel).
CONTAINER = ROOT / "containers" / "redmine"
#: Redmine's sign-in form; its authenticity_token is read from the page.
LOGIN_FORM = {"username": "{username}", "password": "{password}"}
PSQL = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "/run/postgresql", "-U", "redmine"]


def host_name_sql(url: str) -> str:
    """SQL that points Redmine's ``host_name`` and ``protocol`` at ``url``; the new
    ``updated_on`` makes every Redmine process drop its settings cache."""
    parts = urlsplit(url)
    host = parts.netloc.replace("'", "")
    protocol = "https" if parts.scheme == "https" else "http"
    return (
        f"UPDATE settings SET value = CASE name WHEN 'host_name' THEN '{host}' "
        f"ELSE '{protocol}' END, updated_on = now() AT TIME ZONE 'UTC' "
        "WHERE name IN ('host_name', 'protocol')"
    )


class RedmineSite(Site):
    spec = SiteSpec(
        name="redmine",
        version=SITE_VERSION,
        image="webserv/redmine:latest",
        container_port=3000,
        container_data_dir="/data",
        # The sign-in page reads Redmine's settings from PostgreSQL: a dead database is a 500.
        health_path="/login",
        # Rails boots in ~6 s alone, minutes when many instances boot on a busy host.
        ready_timeout_s=300.0,
        memory_limit="640m",
        logins=[
            Login(
                role="admin",
                username=ADMIN_LOGIN,
                password=ADMIN_PASSWORD,
                login_path="/login",
                form=LOGIN_FORM,
            ),
            Login(
                role="user",
                username=LOGIN_USER[0],
                password=USER_PASSWORD,
                login_path="/login",
                form=LOGIN_FORM,
            ),
        ],
        description="Redmine 5 (Debian) with PostgreSQL: projects, issues, wiki, REST API.",
    )
    recipe = GoldenRecipe(
        kind="seed",
        params={"seed": 7, "scale": 1.0, "media_mb": 0},
        container_command=["/usr/local/bin/webserv-seed"],
        command=(
            "webserv site seed redmine --out DIR [--seed 7] [--scale 1.0] [--param media_mb=0]"
        ),
    )
    #: Tasks on ``redmine`` sign in as the admin, on ``redmine_user`` as a project member.
    aliases: ClassVar[Mapping[str, SiteAlias]] = {
        "redmine": SiteAlias(path="", role="admin"),
        "redmine_user": SiteAlias(path="", role="user"),
    }
    container = CONTAINER if CONTAINER.is_dir() else None

    def fingerprint(self) -> str:
        paths = [HERE / "__init__.py", HERE / "content.py"]
        if CONTAINER.is_dir():
            paths += [path for path in CONTAINER.rglob("*") if path.is_file()]
        return code_fingerprint(ROOT, paths)

    def make_golden(self, out: Path, params: Mapping[str, Any]) -> None:
        values = self.golden_params(params)
        write_seed(
            out,
            seed=int(values["seed"]),
            scale=float(values["scale"]),
            media_mb=float(values["media_mb"]),
        )

    async def after_launch(self, instance: LaunchedInstance) -> None:
        if instance.backend != "docker":
            return  # a deployment of the user's own keeps the host name it was set up with
        await instance.exec([*PSQL, "redmine", "-c", host_name_sql(instance.url)])

    def evaluator_helpers(
        self, url: str, client: httpx.AsyncClient
    ) -> Mapping[str, Callable[..., Any]]:
        return redmine_helpers(url, client)

    def suites(self) -> Mapping[str, Path]:
        return {"redmine": HERE / "tasks"}


site = RedmineSite()
