"""ServerConfig: where the server listens, who may call it, and its limits."""

from __future__ import annotations

import ipaddress
import re
import socket
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from webserv.env.config import RuntimeConfig, SiteConfig
from webserv.sites import registry
from webserv.tasks.suite import Suite, load_suite


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` exposes the server to this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def default_server_id(port: int) -> str:
    """Stable across restarts on one host and port, so a restarted server finds its leftovers."""
    host = re.sub(r"[^A-Za-z0-9_.-]", "-", socket.gethostname()) or "host"
    return f"server-{host}-{port}"


class ReplayConfig(BaseModel):
    """Recorded sessions the server serves as a site (see
    :mod:`webserv.behaviour.replay_env`): each session a task, each step scored."""

    name: str = Field("replay", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="Site name.")
    steps: Path = Field(description="A steps.jsonl (a rollout's, an OPeRA import's) or its dir.")
    reward: dict[str, Any] = Field(
        default_factory=dict,
        description="The reward config: its scheme (shop-r1 or customer-r1) and constants.",
    )
    rules: Literal["opera", "shop-r1"] = Field("opera", description="Exact-match rules.")


class ServerConfig(BaseModel):
    """Everything ``webserv serve`` takes; the runtime part says which sites it serves, on
    which backends, with which golden data."""

    host: str = "127.0.0.1"
    port: int = Field(8100, ge=0, le=65535)
    public_url: str | None = Field(
        None,
        description="Where others reach this server, for the registry (default: "
        "http://host:port); a cluster node agent sets its node's address.",
    )
    token: str | None = Field(None, description="Bearer token; required off loopback.")
    redis_url: str | None = Field(None, description="Lease store; in memory when unset.")
    server_id: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="Owner of this server's envs and instances (default: host and port).",
    )
    suites: list[str] = Field(
        default_factory=list,
        description="Task suites (names, dirs or task files) besides those of the served sites.",
    )
    env_ttl_s: float = Field(300.0, gt=0, description="An env no call touched this long ends.")
    park_after_s: float | None = Field(
        None,
        gt=0,
        description="An env idle this long lets go of its pages (the next call reopens them; "
        "see SessionConfig.park_after_s). None: never.",
    )
    max_envs: int = Field(64, ge=1, description="Open envs at most; beyond, 429.")
    max_group: int = Field(16, ge=1, description="Largest group of envs one call creates.")
    request_timeout_s: float = Field(120.0, gt=0, description="Longest one env call may take.")
    max_body_bytes: int = Field(65_536, ge=1_024, description="Largest request body; beyond, 413.")
    max_action_chars: int = Field(4_096, ge=16, description="Longest action; beyond, 413.")
    max_typed_chars: int = Field(2_000, ge=1, description="Longest text one type() may enter.")
    max_steps_limit: int = Field(1_000, ge=1, description="Largest max_steps a client may ask.")
    heartbeat_s: float = Field(2.0, gt=0, description="How often the registry entry is renewed.")
    view_dir: Path | None = Field(
        None, description="Records the viewer shows at /ui (webserv view's pages)."
    )
    replay: list[ReplayConfig] = Field(
        default_factory=list, description="Recorded sessions served as sites, besides the live."
    )
    runtime: RuntimeConfig = Field(
        default_factory=lambda: RuntimeConfig(
            sites=[SiteConfig(name=registry.default_site(), standby=2)]
        ),
        description="The sites served, their backends, pools and golden data.",
    )

    @field_validator("token")
    @classmethod
    def _token_a_header_can_carry(cls, token: str | None) -> str | None:
        """The token as clients can send it: HTTP strips the spaces around a header value (a
        token ``' s3cret '`` could never match), and carries visible ASCII only."""
        if token is None:
            return None
        token = token.strip()
        if not re.fullmatch(r"[\x21-\x7e]+", token):
            raise ValueError(
                "the token must be visible ASCII characters without spaces "
                "(clients send it in an Authorization header)"
            )
        return token

    @model_validator(mode="after")
    def _token_off_loopback(self) -> ServerConfig:
        if not is_loopback(self.host) and not self.token:
            raise ValueError(
                f"binding {self.host} exposes the server beyond this machine: "
                "set a token (--token or WEBSERV_TOKEN)"
            )
        return self

    @property
    def owner(self) -> str:
        return self.server_id or default_server_id(self.port)

    @model_validator(mode="after")
    def _names_once(self) -> ServerConfig:
        served = self.served
        if not served:
            raise ValueError("the server serves no site: give a live site or a replay")
        if len(set(served)) != len(served):
            raise ValueError(f"a site name is served twice: {served}")
        return self

    @property
    def served(self) -> list[str]:
        """Live sites, then recorded ones."""
        return [site.name for site in self.runtime.sites] + [r.name for r in self.replay]

    def load_suites(self) -> dict[str, Suite]:
        """Every suite the server offers: those of the live sites, then ``suites`` (a replay's
        suite is its recorded sessions, loaded with them)."""
        names: list[str | Path] = [
            path
            for site in self.runtime.sites
            for path in registry.get(site.name).suites().values()
        ]
        names += self.suites
        loaded = [load_suite(name) for name in names]
        return {suite.manifest.name: suite for suite in loaded}

    def runtime_config(self) -> RuntimeConfig:
        """The runtime to start: the served sites with the golden data their suites were made
        from, instances labelled with the owner."""
        sites = []
        suites = self.load_suites()
        for site in self.runtime.sites:
            golden = {}
            for suite in suites.values():
                golden.update(suite.manifest.golden.get(site.name, {}))
            sites.append(site.model_copy(update={"golden": {**golden, **site.golden}}))
        return self.runtime.model_copy(update={"owner": self.owner, "sites": sites})
