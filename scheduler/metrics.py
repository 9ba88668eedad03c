"""Prometheus metrics of one scheduler process (prometheus-client, on a registry of its own).

The app's job is the label ``job_name``, never ``job``: ``job`` (and ``instance``) are the labels
Prometheus gives every scraped series itself, so an app label of that name would be renamed
``exported_job`` and ``sum by (job)`` would answer with the scrape job. Besides the per-process counters,
the registry carries the process and platform collectors (``process_*``, ``python_info``, ``python_gc_*``),
``scrapesched_build_info`` and, once ``watch_freshness`` is called, the fleet-wide freshness read from the
database at scrape time (``FreshnessCollector``), so every replica answers the same and a restart loses
nothing. See docs/telemetry.md for the list.
"""

from __future__ import annotations

import platform
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from scrapesched.config.log_setup import get_logger
from scrapesched.db.retry import read
from scrapesched.scheduler import runs

log = get_logger("scheduler.metrics")

RUN_COUNTERS = ("rows_written", "requests", "not_modified", "retries", "rate_limit_waits")
JOB_LABEL = "job_name"
"""The label that names the app's job on every metric (``job`` is Prometheus's own target label)."""

__all__ = ["JOB_LABEL", "RUN_COUNTERS", "FreshnessCollector", "Metrics", "build_version"]


def build_version() -> str:
    """The installed distribution's version (``0+unknown`` when run from a tree that is not installed)."""
    try:
        return version("scrapesched")
    except PackageNotFoundError:
        return "0+unknown"


class Metrics:
    """The scheduler's counters, histogram and gauges, and the collectors every replica exports."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        # process_* (CPU, memory, file descriptors, start time) and python_info, as on the default registry.
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        self.build_info = Gauge(
            "scrapesched_build_info",
            "Always 1: the version of scrapesched and of Python this replica runs.",
            ["version", "python_version"],
            registry=r,
        )
        self.build_info.labels(build_version(), platform.python_version()).set(1)
        self.runs = Counter(
            "scrapesched_runs", "Runs finished, by job and status.", [JOB_LABEL, "status"], registry=r
        )
        self.duration = Histogram(
            "scrapesched_run_duration_seconds",
            "Wall time of runs, by job.",
            [JOB_LABEL],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
            registry=r,
        )
        self.in_flight = Gauge(
            "scrapesched_runs_in_flight", "Runs this replica executes right now, by job.", [JOB_LABEL], registry=r
        )
        self.lease_losses = Counter(
            "scrapesched_lease_losses", "Leases lost while running.", [JOB_LABEL], registry=r
        )
        self.claims_lost = Counter(
            "scrapesched_claims_lost", "Fires another replica claimed first.", [JOB_LABEL], registry=r
        )
        self.run_counters = {
            name: Counter(f"scrapesched_run_{name}", f"Sum of the runs' {name} counter.", [JOB_LABEL], registry=r)
            for name in RUN_COUNTERS
        }

    def watch_freshness(self, engine: Engine) -> None:
        """Export the fleet's last success per job shard, read from ``job_runs`` at every scrape."""
        self.registry.register(FreshnessCollector(engine))

    def register(self, collector: Collector) -> None:
        """Add a collector of another layer (the GitHub budget's, for one) to this process's registry."""
        self.registry.register(collector)


class FreshnessCollector(Collector):
    """``scrapesched_last_success_timestamp_seconds{job_name, shard}`` from the database, at scrape time.

    Any replica answers for the whole fleet, and the value survives restarts. When the database cannot be
    read, the scrape still succeeds: ``scrapesched_freshness_up`` is 0 and the per-shard series are absent
    (an alert on them then sees "no data", not a stale number)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def describe(self) -> list[Metric]:  # no query at registration time
        return [
            GaugeMetricFamily("scrapesched_last_success_timestamp_seconds", "", labels=[JOB_LABEL, "shard"]),
            GaugeMetricFamily("scrapesched_freshness_up", ""),
        ]

    def collect(self) -> Iterator[Metric]:
        last = GaugeMetricFamily(
            "scrapesched_last_success_timestamp_seconds",
            "Unix time the newest successful run of each job shard finished, fleet-wide (from job_runs).",
            labels=[JOB_LABEL, "shard"],
        )
        up = GaugeMetricFamily(
            "scrapesched_freshness_up", "1 when the last-success times could be read from the database, else 0."
        )
        try:
            successes = read(self._engine, runs.last_successes, attempts=2, what="freshness")
        except Exception as exc:  # a scrape must not fail on a database hiccup
            log.warning("freshness_unavailable", error_type=type(exc).__name__)
            up.add_metric([], 0)
        else:
            for (job, shard), finished in sorted(successes.items()):
                last.add_metric([job, shard], finished.timestamp())
            up.add_metric([], 1)
        yield last
        yield up
