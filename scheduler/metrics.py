"""Prometheus metrics of one scheduler process (prometheus-client, on a registry of its own)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

RUN_COUNTERS = ("rows_written", "requests", "not_modified", "retries", "rate_limit_waits")


class Metrics:
    """The scheduler's counters, histogram and gauges."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.runs = Counter("scrapesched_runs", "Runs finished, by job and status.", ["job", "status"], registry=r)
        self.duration = Histogram(
            "scrapesched_run_duration_seconds",
            "Wall time of runs, by job.",
            ["job"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
            registry=r,
        )
        self.lease_losses = Counter("scrapesched_lease_losses", "Leases lost while running.", ["job"], registry=r)
        self.claims_lost = Counter(
            "scrapesched_claims_lost", "Fires another replica claimed first.", ["job"], registry=r
        )
        self.last_success = Gauge(
            "scrapesched_last_success_timestamp_seconds",
            "Unix time of the last successful run, by job and shard.",
            ["job", "shard"],
            registry=r,
        )
        self.run_counters = {
            name: Counter(f"scrapesched_run_{name}", f"Sum of the runs' {name} counter.", ["job"], registry=r)
            for name in RUN_COUNTERS
        }
