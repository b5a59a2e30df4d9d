"""The live dashboard's data: one server's pool, envs, latencies and errors, read now.

Everything comes from what the server already keeps: the pool status of each backend
(instances per site: warm standby, leased, launching; its counters), the service's envs,
the Prometheus counters, and the recent observations of :class:`~webserv.server.metrics.Metrics`
for the latency and error windows. The page polls :func:`dashboard` as JSON.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from webserv.pool.manager import InstanceStatus
from webserv.server.metrics import LatencyWindow, Metrics, latency_window

if TYPE_CHECKING:
    from webserv.server.service import EnvService

#: The window the dashboard shows, and its buckets.
WINDOW_S = 600.0
BUCKET_S = 20.0


class SiteRow(BaseModel):
    """One site of one pool: its instances by state."""

    backend: str
    site: str
    golden: str
    warm: int = Field(description="Ready in standby.")
    standby_target: int
    leased: int
    launching: int


class PoolRow(BaseModel):
    """One backend's pool: its limits, the host's memory, its counters since start."""

    backend: str
    snapshot_driver: str
    max_instances: int
    available_memory_bytes: int
    min_free_memory_bytes: int
    counters: dict[str, int] = Field(
        description="launched, adopted, recycled, replaced, reaped, pool_full, launch_failed."
    )


class EnvRow(BaseModel):
    """One live env."""

    env_id: str
    site: str
    client: str
    group: str | None
    task_id: int | str | None
    steps: int
    episode_running: bool
    age_s: float = Field(description="Since the env was created.")
    expires_in_s: float = Field(description="Until its TTL ends it, if no call comes.")


class Dashboard(BaseModel):
    """What the dashboard shows, read at ``time``."""

    time: float = Field(description="Unix time of the reading.")
    server: str
    store: str
    uptime_s: float
    sites: list[str]
    envs_open: int
    max_envs: int
    steps_total: int
    resets_total: int
    reaped_total: int
    pool_sites: list[SiteRow]
    pools: list[PoolRow]
    instances: list[InstanceStatus]
    envs: list[EnvRow]
    step_latency: LatencyWindow
    reset_latency: LatencyWindow
    errors_total: dict[str, int] = Field(description="Error answers since start, by code.")
    errors_recent: dict[str, int] = Field(description="Error answers in the window, by code.")


def _envs(service: EnvService, now: float) -> list[EnvRow]:
    rows = []
    for env in service.envs_list():
        summary = service.summary(env)
        rows.append(
            EnvRow(
                env_id=env.id,
                site=env.site,
                client=summary.client,
                group=summary.group,
                task_id=summary.task_id,
                steps=summary.steps,
                episode_running=summary.episode_running,
                age_s=round(now - env.record.created_at, 1),
                expires_in_s=summary.expires_in_s,
            )
        )
    return sorted(rows, key=lambda row: -row.age_s)


def dashboard(
    service: EnvService, metrics: Metrics, window_s: float = WINDOW_S, bucket_s: float = BUCKET_S
) -> Dashboard:
    """The server's state now. Call it on the event loop (the recent observations are
    appended there)."""
    now, monotonic = time.time(), time.monotonic()
    pools = service.pool_status()
    recent_errors = metrics.recent_errors.since(monotonic - window_s)
    return Dashboard(
        time=now,
        server=service.owner,
        store=service.store.name,
        uptime_s=round(now - service.started_at, 1),
        sites=service.served,
        envs_open=len(service.envs),
        max_envs=service.config.max_envs,
        steps_total=int(metrics.total("webserv_steps_total")),
        resets_total=int(metrics.total("webserv_resets_total")),
        reaped_total=int(metrics.total("webserv_envs_reaped_total")),
        pool_sites=[
            SiteRow(
                backend=pool.backend,
                site=name,
                golden=site.golden,
                warm=site.standby,
                standby_target=site.standby_target,
                leased=site.leased,
                launching=site.launching,
            )
            for pool in pools
            for name, site in pool.sites.items()
        ],
        pools=[PoolRow.model_validate(pool, from_attributes=True) for pool in pools],
        instances=[instance for pool in pools for instance in pool.instances],
        envs=_envs(service, now),
        step_latency=latency_window(metrics.recent_steps, window_s, bucket_s, monotonic),
        reset_latency=latency_window(metrics.recent_resets, window_s, bucket_s, monotonic),
        errors_total=metrics.error_totals(),
        errors_recent=dict(Counter(code for _, code in recent_errors)),
    )
