"""The SiteSpecs webserv knows: the embedded shop, and WebArena's Docker images.

The shop runs here on both backends. WebArena's shopping, shopping_admin and GitLab
images (tens of GB each, distributed as tarballs) cannot be run on this machine; their
specs say how a user who has loaded them runs them through the same pool:

1. ``docker load --input shopping_final_0712.tar`` (likewise the others).
2. Export the mutable data dir of the image once and make it the golden snapshot::

       docker create --name wa-export shopping_final_0712
       docker cp wa-export:/var/lib/mysql ./shopping-golden && docker rm wa-export
       webserv pool golden shopping ./shopping-golden

3. Each instance then gets a copy-on-write clone bind-mounted at ``container_data_dir``,
   published on its own 127.0.0.1 port. Magento and GitLab store their own base URL, so
   after an instance is healthy the commands of ``base_url_commands`` must run in it
   (``docker exec``) with the instance's URL, exactly as WebArena's setup does.
"""

from __future__ import annotations

import sys

from webserv.pool.spec import Login, SiteSpec

SHOP_MODULE = "webserv.sites.shop"

#: What a zygote imports (``module``) or runs (``module:function``) before it launches
#: instances; a pre-started docker runtime runs the same list inside the site's image.
PRELOAD: dict[str, list[str]] = {
    "shop": [
        "webserv.sites.shop.app",
        "webserv.sites.shop.serve",
        "webserv.sites.shop.serve:warm",
        "uvicorn",
        "uvicorn.config",
        "uvicorn.server",
        "uvicorn.lifespan.on",
        "uvicorn.lifespan.off",
        "encodings.idna",
        "uvicorn.loops.auto",
        "uvicorn.protocols.http.auto",
        "uvicorn.protocols.websockets.auto",
        "uvicorn.loops.uvloop",
        "uvloop",
        "pydantic.v1",
        "argparse",
    ]
}


def shop_spec() -> SiteSpec:
    """The embedded shop (storefront + admin CMS over one SQLite data dir)."""
    from webserv.sites.shop.accounts import ACCOUNTS

    return SiteSpec(
        name="shop",
        version="1",
        command=[
            sys.executable,
            "-m",
            SHOP_MODULE,
            "--data-dir",
            "{data_dir}",
            "--port",
            "{port}",
        ],
        image="webserv/shop:latest",
        container_port=8000,
        container_data_dir="/data",
        health_path="/healthz",
        ready_timeout_s=60.0,
        memory_limit="512m",
        logins=[
            Login(role=a.role, username=a.login, password=a.password, login_path=a.login_path)
            for a in ACCOUNTS
        ],
        description="The embedded shop: storefront at /, admin CMS at /admin.",
    )


_MAGENTO_SQL = "UPDATE core_config_data SET value='{base_url}/' WHERE path = 'web/secure/base_url';"

WEBARENA_SHOPPING = SiteSpec(
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
        )
    ],
    description="WebArena One Stop Market (Magento 2 storefront; WebArena serves it on :7770).",
)

WEBARENA_SHOPPING_ADMIN = SiteSpec(
    name="shopping_admin",
    version="final_0719",
    image="shopping_admin_final_0719",
    container_port=80,
    container_data_dir="/var/lib/mysql",
    health_path="/admin",
    ready_timeout_s=300.0,
    memory_limit="4g",
    logins=[
        Login(role="admin", username="admin", password="admin1234", login_path="/admin"),
    ],
    description="WebArena Magento admin panel (WebArena serves it on :7780).",
)

WEBARENA_GITLAB = SiteSpec(
    name="gitlab",
    version="populated-final-port8023",
    image="gitlab-populated-final-port8023",
    container_port=8023,
    container_data_dir="/var/opt/gitlab",
    container_env={},
    health_path="/users/sign_in",
    ready_timeout_s=900.0,
    memory_limit="8g",
    logins=[
        Login(role="user", username="byteblaze", password="hello1234", login_path="/users/sign_in"),
    ],
    description=(
        "WebArena GitLab (served on :8023; container command "
        "/opt/gitlab/embedded/bin/runsvdir-start; boots in minutes)."
    ),
)


def base_url_commands(site: str, base_url: str) -> list[list[str]]:
    """The commands to ``docker exec`` in a healthy WebArena instance so that it serves
    links under ``base_url`` (e.g. ``http://127.0.0.1:20001``), as WebArena's setup does."""
    base_url = base_url.rstrip("/")
    magento = "/var/www/magento2/bin/magento"
    sql = _MAGENTO_SQL.format(base_url=base_url)
    mysql = ["mysql", "-u", "magentouser", "-pMyPassword", "magentodb", "-e", sql]
    if site == "shopping":
        return [
            [magento, "setup:store-config:set", f"--base-url={base_url}"],
            mysql,
            [magento, "cache:flush"],
        ]
    if site == "shopping_admin":
        return [
            [magento, "setup:store-config:set", f"--base-url={base_url}"],
            mysql,
            ["php", magento, "config:set", "admin/security/password_is_forced", "0"],
            ["php", magento, "config:set", "admin/security/password_lifetime", "0"],
            [magento, "cache:flush"],
        ]
    if site == "gitlab":
        return [
            ["sed", "-i", f"s|^external_url.*|external_url '{base_url}'|", "/etc/gitlab/gitlab.rb"],
            ["gitlab-ctl", "reconfigure"],
        ]
    raise KeyError(f"no base-URL setup for site {site!r}")


def all_specs() -> dict[str, SiteSpec]:
    """Every known site by name."""
    specs = [shop_spec(), WEBARENA_SHOPPING, WEBARENA_SHOPPING_ADMIN, WEBARENA_GITLAB]
    return {spec.name: spec for spec in specs}


def get_spec(name: str) -> SiteSpec:
    specs = all_specs()
    if name not in specs:
        raise KeyError(f"unknown site {name!r}; known: {', '.join(specs)}")
    return specs[name]
