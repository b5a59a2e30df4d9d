"""The wire schemas of the HTTP API: what the server, `RemoteWebEnv` and the rollout fleet
exchange (they make the OpenAPI spec). Light: it loads neither the browser nor the pool."""

from __future__ import annotations

import base64
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from webserv.browser.observation import Observation
from webserv.browser.screenshot import ScreenshotOptions

TaskId = int | str

#: The request bodies take what their schema says and nothing else: no unknown field, and no
#: coercion (pydantic would otherwise read ``"yes"`` or ``1`` as true and ``"5"`` as 5).
REQUEST = ConfigDict(extra="forbid", strict=True)


class EnvOptions(ScreenshotOptions):
    """How one env behaves for all its episodes."""

    model_config = REQUEST

    max_steps: int = Field(30, ge=1, description="Steps before an episode is truncated.")
    token_budget: int = Field(2_000, ge=64, le=100_000, description="Tokens in `text` at most.")
    # At least a second, as --env-ttl: a tinier TTL ends the env before the client's next call.
    ttl_s: float | None = Field(
        None,
        ge=1,
        le=86_400,
        description="Seconds without a call before the env ends (default: the server's --env-ttl).",
    )


class ResetRequest(BaseModel):
    """Start a new episode: ``task`` picks it, else the env's RNG (seeded by ``seed``)."""

    model_config = REQUEST

    task: TaskId | None = Field(None, description="A task id of the suite.")
    seed: int | None = Field(None, ge=0, lt=2**63, description="Seeds the task choice.")


class CreateRequest(ResetRequest):
    """Create an env and start its first episode."""

    site: str = Field(description="The site the env runs on (one this server serves).")
    suite: str | None = Field(
        None, description="The suite its tasks come from (default: the site's first)."
    )
    options: EnvOptions = Field(default_factory=EnvOptions)


class GroupRequest(CreateRequest):
    """Create ``n`` envs whose first episodes start from the identical state."""

    n: int = Field(ge=1, description="Envs in the group.")


class StepRequest(BaseModel):
    """One action: call text such as ``click("12")``, or a JSON action object."""

    model_config = REQUEST

    action: str | dict[str, Any]


class ObservationOut(Observation):
    """An observation on the wire: :class:`Observation`'s fields, the screenshot as base64."""

    # JSON carries the image as base64 text, not bytes.
    screenshot: str | None = Field(  # type: ignore[assignment]
        None, description="Base64 PNG, JPEG or WebP of the viewport (as the env's options ask)."
    )

    @classmethod
    def of(cls, obs: Observation) -> ObservationOut:
        shot = base64.b64encode(obs.screenshot).decode() if obs.screenshot else None
        return cls(**obs.model_dump(exclude={"screenshot"}), screenshot=shot)

    def to_observation(self) -> Observation:
        png = base64.b64decode(self.screenshot) if self.screenshot else None
        return Observation(**self.model_dump(exclude={"screenshot"}), screenshot=png)


class ResetOut(BaseModel):
    env_id: str
    group: str | None = None
    observation: ObservationOut
    info: dict[str, Any]


class StepOut(BaseModel):
    observation: ObservationOut
    reward: float
    terminated: bool
    truncated: bool
    info: dict[str, Any]


class GroupOut(BaseModel):
    group: str
    envs: list[ResetOut]


class Closed(BaseModel):
    closed: list[str] = Field(description="The env ids that were closed.")


class EnvSummary(BaseModel):
    env_id: str
    group: str | None
    client: str
    suite: str
    task_id: TaskId | None
    steps: int
    episode_running: bool
    instance_url: str | None
    expires_in_s: float


class PoolOut(BaseModel):
    """The pool registry: this server, its envs and pool, and the other live servers."""

    server: str
    store: str
    envs: list[EnvSummary]
    sites: list[str] = Field(description="The sites this server serves.")
    pools: list[dict[str, Any]] = Field(description="One status per backend.")
    servers: list[dict[str, Any]]


class Health(BaseModel):
    status: str
    server: str
    envs: int


class ErrorBody(BaseModel):
    """Every error: a stable code, a message for people, and extra detail where useful."""

    error: str
    message: str
    detail: Any = None
