"""The counter site as a webserv plugin: spec, golden recipe, login, reset hook, suite."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import httpx

from webserv.sites.plugin import LaunchedInstance, Site
from webserv.sites.spec import GoldenRecipe, Login, SiteAlias, SiteSpec

HERE = Path(__file__).parent


class HelloSite(Site):
    spec = SiteSpec(
        name="hello",
        version="1",
        command=[
            sys.executable,
            "-m",
            "webserv_hello",
            "--data-dir",
            "{data_dir}",
            "--port",
            "{port}",
        ],
        health_path="/healthz",
        ready_timeout_s=30.0,
        logins=[Login(role="user", username="ada", password="lovelace", login_path="/login")],
        description="A counter with a login (a test plugin).",
    )
    recipe = GoldenRecipe(kind="seed", params={"start": 0}, command="webserv site seed hello")
    aliases: ClassVar[Mapping[str, SiteAlias]] = {"hello": SiteAlias(role="user")}

    def make_golden(self, out: Path, params: Mapping[str, Any]) -> None:
        start = int(self.golden_params(params)["start"])
        out.mkdir(parents=True, exist_ok=True)
        (out / "state.json").write_text(
            json.dumps({"count": start, "start": start, "sessions": {}})
        )

    async def after_launch(self, instance: LaunchedInstance) -> None:
        # Proves the hook runs where the instance runs: a file beside its state.
        await instance.exec([sys.executable, "-c", "open('launched', 'w').write('yes')"])

    async def on_reset(self, url: str, client: httpx.AsyncClient) -> None:
        (await client.post(url.rstrip("/") + "/reset")).raise_for_status()

    def evaluator_helpers(self, url: str, client: httpx.AsyncClient) -> Mapping[str, Any]:
        return {"hello_count_url": lambda base: base.rstrip("/") + "/"}

    def suites(self) -> Mapping[str, Path]:
        return {"hello": HERE / "tasks"}


site = HelloSite()
