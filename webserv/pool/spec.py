"""SiteSpec: everything the pool needs to know to launch, probe and log into one site."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Login(BaseModel):
    role: str
    username: str
    password: str
    login_path: str


class SiteSpec(BaseModel):
    """How to run one site, on either backend.

    ``command`` is the argv for the process backend; ``{port}`` and ``{data_dir}`` are
    substituted. ``image`` / ``container_port`` / ``container_data_dir`` are for the
    docker backend, where the instance's clone is bind-mounted at ``container_data_dir``.
    """

    name: str
    version: str = Field(description="Version of the golden data; a new seed format bumps it.")
    command: list[str] | None = None
    image: str | None = None
    container_port: int | None = None
    container_data_dir: str | None = None
    container_env: dict[str, str] = Field(default_factory=dict)
    health_path: str = "/healthz"
    ready_timeout_s: float = 60.0
    memory_limit: str | None = "1g"
    cpu_limit: float | None = None
    logins: list[Login] = Field(default_factory=list)
    description: str = ""
