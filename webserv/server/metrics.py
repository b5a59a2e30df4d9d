"""Metrics of one server: Prometheus counters and histograms (steps, resets, latencies, errors,
envs, pool occupancy), and the recent observations the live dashboard draws.

Prometheus histograms count since the server started, so they cannot say how the last
minutes went; :class:`Recent` keeps the latest observations with their times for that, and
:func:`latency_window` summarises them in buckets.
"""

from __future__ import annotations

import math
import time
from collections import deque
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from pydantic import BaseModel, Field

from webserv.pool.manager import PoolStatus
from webserv.stats import percentile

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
#: Recent observations kept per quantity: ten minutes at about 33 a second. Beyond that
#: rate the oldest go first, so a window then covers less than its span.
RECENT_SAMPLES = 20_000

T = TypeVar("T")


class Recent(Generic[T]):
    """The last ``max_items`` observations, each with its monotonic time.

    Appended to and read from the event loop's thread only (a deque read while another
    thread appends raises), which is where the server observes and the dashboard reads."""

    def __init__(self, max_items: int = RECENT_SAMPLES) -> None:
        self._items: deque[tuple[float, T]] = deque(maxlen=max_items)

    def add(self, item: T, at: float | None = None) -> None:
        """Keep ``item``, observed at monotonic time ``at`` (default: now; times must not
        go back)."""
        self._items.append((time.monotonic() if at is None else at, item))

    def since(self, start: float) -> list[tuple[float, T]]:
        """The observations at monotonic time ``start`` or later, oldest first."""
        newer: list[tuple[float, T]] = []
        for entry in reversed(self._items):
            if entry[0] < start:
                break
            newer.append(entry)
        newer.reverse()
        return newer


class LatencyBucket(BaseModel):
    """The observations of one stretch of a window, in milliseconds; None when it had none."""

    start_s: float = Field(description="Where the stretch begins, in seconds before now.")
    n: int
    p50_ms: float | None
    p95_ms: float | None
    max_ms: float | None


class LatencyWindow(BaseModel):
    """Latencies of the last ``span_s`` seconds: over all of it, and per bucket, oldest first."""

    span_s: float
    bucket_s: float
    n: int
    p50_ms: float | None
    p95_ms: float | None
    buckets: list[LatencyBucket]


def _ms(values: list[float], q: float) -> float | None:
    return round(percentile(values, q) * 1000, 1) if values else None


def latency_window(
    recent: Recent[float], span_s: float, bucket_s: float, now: float | None = None
) -> LatencyWindow:
    """The observations (in seconds) of the last ``span_s`` seconds before ``now`` (monotonic),
    in ``ceil(span_s / bucket_s)`` buckets of ``bucket_s`` seconds."""
    now = time.monotonic() if now is None else now
    start = now - span_s
    count = math.ceil(span_s / bucket_s)
    binned: list[list[float]] = [[] for _ in range(count)]
    observed = recent.since(start)
    for at, seconds in observed:
        binned[min(count - 1, int((at - start) // bucket_s))].append(seconds)
    values = [seconds for _, seconds in observed]
    return LatencyWindow(
        span_s=span_s,
        bucket_s=bucket_s,
        n=len(values),
        p50_ms=_ms(values, 50),
        p95_ms=_ms(values, 95),
        buckets=[
            LatencyBucket(
                start_s=round(span_s - i * bucket_s, 3),
                n=len(group),
                p50_ms=_ms(group, 50),
                p95_ms=_ms(group, 95),
                max_ms=round(max(group) * 1000, 1) if group else None,
            )
            for i, group in enumerate(binned)
        ],
    )


class _Windowed:
    """A histogram whose observations are also kept as recent ones."""

    def __init__(self, histogram: Histogram, recent: Recent[float]) -> None:
        self.histogram = histogram
        self.recent = recent

    def observe(self, seconds: float) -> None:
        self.histogram.observe(seconds)
        self.recent.add(seconds)


class Metrics:
    """The server's metrics in a registry of their own (one per app, so apps do not clash)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.steps = Counter("webserv_steps", "Env steps carried out.", registry=r)
        self.resets = Counter("webserv_resets", "Episodes started.", registry=r)
        self.reaped = Counter("webserv_envs_reaped", "Envs ended by their TTL.", registry=r)
        self.errors = Counter("webserv_errors", "Error responses by code.", ["code"], registry=r)
        self.recent_steps: Recent[float] = Recent()
        self.recent_resets: Recent[float] = Recent()
        self.recent_errors: Recent[str] = Recent()
        self.step_seconds = _Windowed(
            Histogram(
                "webserv_step_seconds", "Env step time.", buckets=_LATENCY_BUCKETS, registry=r
            ),
            self.recent_steps,
        )
        self.reset_seconds = _Windowed(
            Histogram(
                "webserv_reset_seconds",
                "Reset time to the first observation.",
                buckets=_LATENCY_BUCKETS,
                registry=r,
            ),
            self.recent_resets,
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

    def count_error(self, code: str) -> None:
        """One error answer with ``code``: counted, and kept as a recent one."""
        self.errors.labels(code).inc()
        self.recent_errors.add(code)

    def total(self, name: str, **labels: str) -> float:
        """The value of counter sample ``name`` (e.g. ``webserv_steps_total``), 0 if unset."""
        return self.registry.get_sample_value(name, labels or None) or 0.0

    def error_totals(self) -> dict[str, int]:
        """Error answers since the server started, by code."""
        return {
            sample.labels["code"]: int(sample.value)
            for metric in self.errors.collect()
            for sample in metric.samples
            if sample.name == "webserv_errors_total"
        }

    def render(self, envs_open: int, pools: list[PoolStatus]) -> bytes:
        """The text exposition, with the gauges read now."""
        self.envs_open.set(envs_open)
        for pool in pools:
            for site, status in pool.sites.items():
                for state in ("standby", "leased", "launching"):
                    self.pool_instances.labels(site, state).set(getattr(status, state))
        return generate_latest(self.registry)
