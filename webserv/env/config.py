"""What a runtime serves: its sites (each on a backend, with its golden data) and limits.

Light on purpose (pydantic only): the CLI takes its option defaults from these models.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from webserv.browser.chromium import BrowserBuild
from webserv.sites import registry
from webserv.tasks.suite import Suite

BackendName = Literal["process", "docker", "url"]
_SITE_ARG = re.compile(
    r"^(?P<name>[A-Za-z0-9_.-]+)(?::(?P<backend>process|docker|url)(?:=(?P<url>.+))?)?$"
)


class SiteConfig(BaseModel):
    """One site a runtime serves, on one backend."""

    name: str = Field(description="A registered site (`webserv site list`).")
    backend: BackendName = Field(
        "process", description="Default: the first the site runs on (process, else docker)."
    )
    url: str | None = Field(None, description="url backend: the deployment's base URL.")
    golden: dict[str, Any] = Field(
        default_factory=dict, description="Golden data parameters (a seeded site: seed, scale)."
    )
    golden_source: Path | None = Field(
        None, description="A data dir to store as the golden if it is not in the store yet."
    )
    standby: int = Field(1, ge=0, description="Ready instances kept warm.")
    max_instances: int | None = Field(None, ge=1, description="Instances of this site at most.")

    @model_validator(mode="before")
    @classmethod
    def _site_default_backend(cls, data: Any) -> Any:
        """A site that only runs in a container (a real app's image) defaults to docker."""
        if isinstance(data, dict) and "backend" not in data and data.get("url") is None:
            name = data.get("name")
            if isinstance(name, str) and name in registry.names():
                return {**data, "backend": registry.get(name).backends[0]}
        return data

    @model_validator(mode="after")
    def _url_backend_has_url(self) -> SiteConfig:
        if (self.backend == "url") != (self.url is not None):
            raise ValueError(f"site {self.name}: the url backend, and only it, takes a url")
        return self

    @classmethod
    def parse(cls, text: str, **defaults: Any) -> SiteConfig:
        """``NAME``, ``NAME:BACKEND`` or ``NAME:url=BASE_URL`` (the ``--site`` syntax)."""
        match = _SITE_ARG.match(text.strip())
        if match is None:
            raise ValueError(
                f"bad site {text!r}: use NAME, NAME:process, NAME:docker or NAME:url=BASE_URL"
            )
        values = {k: v for k, v in match.groupdict().items() if v is not None}
        return cls.model_validate({**defaults, **values})


class RuntimeConfig(BaseModel):
    """Which sites the runtime serves, where their snapshots live, and its limits."""

    sites: list[SiteConfig] = Field(
        default_factory=lambda: [SiteConfig(name=registry.default_site())],
        description="The sites served (default: the embedded shop, process backend).",
    )
    max_instances: int = Field(16, ge=1, description="Site instances per backend at most.")
    snapshot_root: Path | None = Field(
        None,
        description="Snapshot store root (default: $WEBSERV_SNAPSHOT_ROOT, the btrfs mount, "
        "else under the webserv home).",
    )
    snapshot_driver: str | None = Field(
        None, description="Snapshot driver: btrfs, reflink, overlay or copy (default: detect)."
    )
    docker_runtimes: int = Field(
        0, ge=0, description="Pre-started containers per docker site (0: a container per launch)."
    )
    owner: str | None = Field(
        None,
        description="Owner label of the instances (default: per process). A runtime started "
        "again with the same owner reconciles what the previous one left running.",
    )
    warm_starts: bool = Field(
        True,
        description="Prepare each standby instance's next episode start (login, browser "
        "context, first page settled) so that a reset only hands it over.",
    )
    browser: BrowserBuild | None = Field(
        None,
        description="Chromium build of the sessions: headless-shell (lighter and faster) or "
        "chromium (default: the shell when installed).",
    )
    merge_memory: bool = Field(
        True,
        description="Mark the site processes (process backend), the site containers (docker "
        "backend, images with Perl) and the browser mergeable by the kernel's same-page "
        "merging (KSM; Linux 6.4+): identical pages of envs are then stored once wherever "
        "the host runs the KSM daemon (see webserv.ksm).",
    )

    @model_validator(mode="after")
    def _sites_once(self) -> RuntimeConfig:
        names = [site.name for site in self.sites]
        if len(set(names)) != len(names):
            raise ValueError(f"a site is listed twice: {names}")
        return self

    def site(self, name: str) -> SiteConfig:
        for site in self.sites:
            if site.name == name:
                return site
        raise KeyError(f"this runtime does not serve {name!r}")


def runtime_for(
    suite: Suite,
    sites: Sequence[str | SiteConfig] | None = None,
    runtime_config: RuntimeConfig | Mapping[str, Any] | None = None,
    **site_defaults: Any,
) -> RuntimeConfig:
    """The runtime a suite's tasks need: ``sites`` (``NAME[:BACKEND]`` or configs), else those
    the runtime config sets, else the suite's own; each with the golden data the answers came
    from."""
    if isinstance(runtime_config, RuntimeConfig):
        values = runtime_config.model_dump(exclude_unset=True)
    else:
        values = dict(runtime_config or {})
    if sites is None and "sites" not in values:
        if not suite.manifest.sites:
            raise ValueError(
                f"suite {suite.manifest.name} names no registered site: say which to serve"
            )
        sites = suite.manifest.sites
    if sites is not None:
        values["sites"] = [
            s if isinstance(s, SiteConfig) else SiteConfig.parse(s, **site_defaults) for s in sites
        ]
    config = RuntimeConfig.model_validate(values)
    checked = []
    for site in config.sites:
        golden = suite.manifest.golden.get(site.name, {})
        clash = {k: v for k, v in site.golden.items() if k in golden and golden[k] != v}
        if clash and site.backend != "url":
            raise ValueError(
                f"suite {suite.manifest.name} was made for {site.name} data {golden}, "
                f"the runtime serves {site.golden}"
            )
        checked.append(site.model_copy(update={"golden": {**golden, **site.golden}}))
    return config.model_copy(update={"sites": checked})
