"""Prometheus metrics of one server: steps, resets, latencies, errors, envs, pool occupancy."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from webserv.pool.manager import PoolStatus

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    """The server's metrics in a registry of their own (one per app, so apps do not clash)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.steps = Counter("webserv_steps", "Env steps carried out.", registry=r)
        self.resets = Counter("webserv_resets", "Episodes started.", registry=r)
        self.reaped = Counter("webserv_envs_reaped", "Envs ended by their TTL.", registry=r)
        self.errors = Counter("webserv_errors", "Error responses by code.", ["code"], registry=r)
        self.step_seconds = Histogram(
            "webserv_step_seconds", "Env step time.", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.reset_seconds = Histogram(
            "webserv_reset_seconds",
            "Reset time to the first observation.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.request_seconds = Histogram(
            "webserv_http_request_seconds",
            "HTTP request time by route.",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.envs_open = Gauge("webserv_envs_open", "Open envs.", registry=r)
        self.pool_instances = Gauge(
            "webserv_pool_instances", "Site instances by state.", ["site", "state"], registry=r
        )

    def render(self, envs_open: int, pools: list[PoolStatus]) -> bytes:
        """The text exposition, with the gauges read now."""
        self.envs_open.set(envs_open)
        for pool in pools:
            for site, status in pool.sites.items():
                for state in ("standby", "leased", "launching"):
                    self.pool_instances.labels(site, state).set(getattr(status, state))
        return generate_latest(self.registry)
