"""WebArena's own images as site plugins: ``shopping``, ``shopping_admin``, ``gitlab`` and
``reddit``.

The images (tens of GB each, distributed as tarballs) are not shipped. A user who has loaded
them (``docker load --input shopping_final_0712.tar``) exports the mutable data dir once as
the golden snapshot::

    docker create --name wa-export shopping_final_0712
    docker cp wa-export:/var/lib/mysql ./shopping-golden && docker rm wa-export
    webserv pool golden shopping ./shopping-golden

and serves them on the docker backend (``webserv serve --site shopping:docker``), or points
webserv at a deployment that already runs (``--site shopping:url=http://host:7770``). Each
instance gets a copy-on-write clone bind-mounted at the data dir; once healthy, the base URL
Magento and GitLab keep in their own configuration is rewritten to the instance's address
(``after_launch``), exactly as WebArena's setup does.

The ``func:`` helpers of WebArena's tasks (:mod:`webserv.sites.webarena.helpers`) come with
the site whose tasks call them. The shopping helpers read the ``shopping`` instance, as
WebArena's read its SHOPPING site; ``shopping_admin`` has none: no WebArena task on it calls
one (all 20 calls are in tasks on ``shopping`` alone), and its Magento is another database.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import httpx

from webserv.sites.plugin import LaunchedInstance, Site
from webserv.sites.spec import GoldenRecipe, Login, SiteAlias, SiteSpec
from webserv.sites.webarena.helpers import gitlab_helpers, reddit_helpers, shopping_helpers

_MAGENTO = "/var/www/magento2/bin/magento"
#: Magento's sign-in forms (storefront and admin); their form_key is read from the page.
MAGENTO_LOGIN_FORM = {"login[username]": "{username}", "login[password]": "{password}"}
_MAGENTO_SQL = "UPDATE core_config_data SET value='{base_url}/' WHERE path = 'web/secure/base_url';"


def _export(image: str, path: str, site: str) -> GoldenRecipe:
    return GoldenRecipe(
        kind="export",
        export_path=path,
        command=(
            f"docker create --name wa-export {image} && docker cp wa-export:{path} ./{site}-golden"
            f" && docker rm wa-export && webserv pool golden {site} ./{site}-golden"
        ),
    )


def magento_base_url_commands(base_url: str, admin: bool) -> list[list[str]]:
    """What WebArena runs in a Magento container so that it serves links under ``base_url``."""
    sql = _MAGENTO_SQL.format(base_url=base_url)
    commands = [
        [_MAGENTO, "setup:store-config:set", f"--base-url={base_url}"],
        ["mysql", "-u", "magentouser", "-pMyPassword", "magentodb", "-e", sql],
    ]
    if admin:
        commands += [
            ["php", _MAGENTO, "config:set", "admin/security/password_is_forced", "0"],
            ["php", _MAGENTO, "config:set", "admin/security/password_lifetime", "0"],
        ]
    return [*commands, [_MAGENTO, "cache:flush"]]


def gitlab_base_url_commands(base_url: str) -> list[list[str]]:
    return [
        ["sed", "-i", f"s|^external_url.*|external_url '{base_url}'|", "/etc/gitlab/gitlab.rb"],
        ["gitlab-ctl", "reconfigure"],
    ]


class _WebArenaSite(Site):
    async def after_launch(self, instance: LaunchedInstance) -> None:
        if instance.backend != "docker":
            return  # a deployment of the user's own keeps the base URL it was set up with
        for argv in self.base_url_commands(instance.url.rstrip("/")):
            await instance.exec(argv)

    def base_url_commands(self, base_url: str) -> list[list[str]]:
        raise NotImplementedError


class ShoppingSite(_WebArenaSite):
    spec = SiteSpec(
        name="shopping",
        version="final_0712",
        image="shopping_final_0712",
        container_port=80,
        container_data_dir="/var/lib/mysql",
        health_path="/",
        ready_timeout_s=300.0,
        memory_limit="4g",
        logins=[
            Login(
                role="customer",
                username="emma.lopez@gmail.com",
                password="Password.123",
                login_path="/customer/account/login/",
                form=MAGENTO_LOGIN_FORM,
            )
        ],
        description="WebArena One Stop Market (Magento 2 storefront; WebArena serves it on :7770).",
    )
    recipe = _export("shopping_final_0712", "/var/lib/mysql", "shopping")
    aliases: ClassVar[Mapping[str, SiteAlias]] = {"shopping": SiteAlias(role="customer")}

    def base_url_commands(self, base_url: str) -> list[list[str]]:
        return magento_base_url_commands(base_url, admin=False)

    def evaluator_helpers(
        self, url: str, client: httpx.AsyncClient
    ) -> Mapping[str, Callable[..., Any]]:
        return shopping_helpers(self.name, url, client)


class ShoppingAdminSite(_WebArenaSite):
    spec = SiteSpec(
        name="shopping_admin",
        version="final_0719",
        image="shopping_admin_final_0719",
        container_port=80,
        container_data_dir="/var/lib/mysql",
        health_path="/admin",
        ready_timeout_s=300.0,
        memory_limit="4g",
        logins=[
            Login(
                role="admin",
                username="admin",
                password="admin1234",
                login_path="/admin",
                form=MAGENTO_LOGIN_FORM,
            )
        ],
        description="WebArena Magento admin panel (WebArena serves it on :7780).",
    )
    recipe = _export("shopping_admin_final_0719", "/var/lib/mysql", "shopping_admin")
    aliases: ClassVar[Mapping[str, SiteAlias]] = {"shopping_admin": SiteAlias(role="admin")}

    def base_url_commands(self, base_url: str) -> list[list[str]]:
        return magento_base_url_commands(base_url, admin=True)


class GitLabSite(_WebArenaSite):
    spec = SiteSpec(
        name="gitlab",
        version="populated-final-port8023",
        image="gitlab-populated-final-port8023",
        container_port=8023,
        container_data_dir="/var/opt/gitlab",
        health_path="/users/sign_in",
        ready_timeout_s=900.0,
        memory_limit="8g",
        logins=[
            Login(
                role="user",
                username="byteblaze",
                password="hello1234",
                login_path="/users/sign_in",
                form={"user[login]": "{username}", "user[password]": "{password}"},
            )
        ],
        description=(
            "WebArena GitLab (served on :8023; container command "
            "/opt/gitlab/embedded/bin/runsvdir-start; boots in minutes)."
        ),
    )
    recipe = _export("gitlab-populated-final-port8023", "/var/opt/gitlab", "gitlab")
    aliases: ClassVar[Mapping[str, SiteAlias]] = {"gitlab": SiteAlias(role="user")}

    def base_url_commands(self, base_url: str) -> list[list[str]]:
        return gitlab_base_url_commands(base_url)

    def evaluator_helpers(
        self, url: str, client: httpx.AsyncClient
    ) -> Mapping[str, Callable[..., Any]]:
        return gitlab_helpers(self.name, url)


class RedditSite(Site):
    """Postmill builds its links from the request's host, so unlike Magento and GitLab it
    keeps no base URL to rewrite after launch."""

    spec = SiteSpec(
        name="reddit",
        version="populated-exposed-withimg",
        image="postmill-populated-exposed-withimg",
        container_port=80,
        # WebArena's docs do not name it; the image's PostgreSQL cluster lives here
        # (WebArena-Verified's scripts for this image stop and reset it at this path).
        container_data_dir="/usr/local/pgsql/data",
        health_path="/",
        ready_timeout_s=300.0,
        memory_limit="4g",
        logins=[
            Login(
                role="user",
                username="MarvelsGrantMan136",
                password="test1234",
                login_path="/login",
                form={"_username": "{username}", "_password": "{password}"},
            )
        ],
        description="WebArena's Reddit: a Postmill forum (WebArena serves it on :9999).",
    )
    recipe = _export("postmill-populated-exposed-withimg", "/usr/local/pgsql/data", "reddit")
    aliases: ClassVar[Mapping[str, SiteAlias]] = {"reddit": SiteAlias(role="user")}

    def evaluator_helpers(
        self, url: str, client: httpx.AsyncClient
    ) -> Mapping[str, Callable[..., Any]]:
        return reddit_helpers(self.name, url)


shopping = ShoppingSite()
shopping_admin = ShoppingAdminSite()
gitlab = GitLabSite()
reddit = RedditSite()
