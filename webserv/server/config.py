"""ServerConfig: where the server listens, who may call it, and its limits."""

from __future__ import annotations

import ipaddress
import re
import socket

from pydantic import BaseModel, Field, model_validator

from webserv.env.runtime import RuntimeConfig
from webserv.tasks.suite import load_suite


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


class ServerConfig(BaseModel):
    """Everything ``webserv serve`` takes; the runtime part says which shop data it serves."""

    host: str = "127.0.0.1"
    port: int = Field(8100, ge=0, le=65535)
    token: str | None = Field(None, description="Bearer token; required off loopback.")
    redis_url: str | None = Field(None, description="Lease store; in memory when unset.")
    server_id: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="Owner of this server's envs and instances (default: host and port).",
    )
    suite: str = Field("shop", description="The task suite the envs draw tasks from.")
    env_ttl_s: float = Field(300.0, gt=0, description="An env no call touched this long ends.")
    max_envs: int = Field(64, ge=1, description="Open envs at most; beyond, 429.")
    max_group: int = Field(16, ge=1, description="Largest group of envs one call creates.")
    request_timeout_s: float = Field(120.0, gt=0, description="Longest one env call may take.")
    max_body_bytes: int = Field(65_536, ge=1_024, description="Largest request body; beyond, 413.")
    max_action_chars: int = Field(4_096, ge=16, description="Longest action; beyond, 413.")
    max_typed_chars: int = Field(2_000, ge=1, description="Longest text one type() may enter.")
    max_steps_limit: int = Field(1_000, ge=1, description="Largest max_steps a client may ask.")
    heartbeat_s: float = Field(2.0, gt=0, description="How often the registry entry is renewed.")
    runtime: RuntimeConfig | None = Field(
        None, description="Pool and golden data (default: the suite's data, 2 standby)."
    )

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

    def runtime_config(self) -> RuntimeConfig:
        """The runtime to start: the suite's golden data, instances labelled with the owner."""
        manifest = load_suite(self.suite).manifest
        base = self.runtime or RuntimeConfig(seed=manifest.seed, scale=manifest.scale)
        if (base.seed, base.scale) != (manifest.seed, manifest.scale):
            raise ValueError(
                f"suite {manifest.name} was made for seed {manifest.seed} scale "
                f"{manifest.scale}, the runtime serves seed {base.seed} scale {base.scale}"
            )
        return base.model_copy(update={"owner": self.owner})
