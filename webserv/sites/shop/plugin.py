"""The embedded shop as a site plugin (registered as ``shop`` in ``pyproject.toml``).

One instance serves WebArena's ``shopping`` (the storefront at ``/``) and ``shopping_admin``
(the admin CMS at ``/admin``) site names, so WebArena-format tasks run on it unchanged.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from webserv.sites.plugin import Site, code_fingerprint
from webserv.sites.shop import SITE_VERSION
from webserv.sites.shop.accounts import ACCOUNTS
from webserv.sites.spec import GoldenRecipe, Login, SiteAlias, SiteSpec

HERE = Path(__file__).parent
#: The repository's ``containers/shop`` (absent from an installed wheel).
CONTAINER = HERE.parents[2] / "containers" / "shop"


class ShopSite(Site):
    spec = SiteSpec(
        name="shop",
        version=SITE_VERSION,
        command=[
            sys.executable,
            "-m",
            "webserv.sites.shop",
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
    recipe = GoldenRecipe(
        kind="seed",
        params={"seed": 42, "scale": 1.0},
        command="webserv site seed shop --out DIR [--seed 42] [--scale 1.0]",
    )
    aliases: ClassVar[Mapping[str, SiteAlias]] = {
        "shopping": SiteAlias(path="", role="customer"),
        "shopping_admin": SiteAlias(path="/admin", role="admin"),
    }
    preload = (
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
    )
    container = CONTAINER if CONTAINER.is_dir() else None

    def fingerprint(self) -> str:
        return code_fingerprint(HERE, [HERE / "schema.sql", *(HERE / "seed").rglob("*.py")])

    def make_golden(self, out: Path, params: Mapping[str, Any]) -> None:
        from webserv.sites.shop.seed import seed

        values = self.golden_params(params)
        seed(out, seed=int(values["seed"]), scale=float(values["scale"]))

    def suites(self) -> Mapping[str, Path]:
        return {"shop": HERE / "tasks"}


site = ShopSite()
