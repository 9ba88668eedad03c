"""The scraper jobs as the scheduler sees them: name, function, default schedule, shards, parameters.

Each ``JobSpec`` here is an entry point of ``scrapesched.jobs`` (pyproject.toml). This module imports only
the registry: the job functions are named as ``"module:function"`` and imported when a job first runs, so
``scrapesched jobs`` and ``status`` list these jobs without importing the GitHub client, httpx or the job
modules (``scrapers/github/jobs.py``, ``scrapers/telemetry/jobs.py``, ``scrapers/retention.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapesched.scheduler.registry import JobSpec, Param

if TYPE_CHECKING:
    from scrapesched.config.settings import Settings


def repositories(settings: Settings) -> list[str]:
    """The shards of the GitHub jobs: the configured repositories."""
    return list(settings.repos)


def endpoint_shards(settings: Settings) -> list[str]:
    """The shards of ``http_telemetry``: the names of the configured endpoints."""
    return [e.name for e in settings.telemetry.endpoints]


PER_PAGE = Param(int, 100, "items per page of GitHub lists (1-100)")

GITHUB_PRS = JobSpec(
    name="github_prs",
    run="scrapesched.scrapers.github.jobs:run_github_prs",
    description="Incremental sync of pull requests, labels, reviews, LGTM, Codecov and Trillian comments.",
    interval=900.0,
    lease_ttl=300.0,
    shards=repositories,
    params={"per_page": PER_PAGE},
)
PR_STATES_REFRESH = JobSpec(
    name="pr_states_refresh",
    run="scrapesched.scrapers.github.jobs:run_pr_states_refresh",
    description="Re-checks open pull requests (conditional requests) for closes, merges, labels, reviews.",
    interval=3600.0,
    lease_ttl=300.0,
    shards=repositories,
    params={"per_page": PER_PAGE},
)
FLAKY_TESTS_SUMMARY = JobSpec(
    name="flaky_tests_summary",
    run="scrapesched.scrapers.github.jobs:run_flaky_tests_summary",
    description="Aggregates test_results into flaky_tests_summary (runs, failures, failure rate).",
    interval=3600.0,
    lease_ttl=120.0,
    shards=repositories,
)
HTTP_TELEMETRY = JobSpec(
    name="http_telemetry",
    run="scrapesched.scrapers.telemetry.jobs:run_http_telemetry",
    description="Samples the [[telemetry.endpoints]] (Prometheus text or JSON) into telemetry_samples.",
    interval=60.0,
    lease_ttl=60.0,
    shards=endpoint_shards,
)
TELEMETRY_ROLLUP = JobSpec(
    name="telemetry_rollup",
    run="scrapesched.scrapers.telemetry.jobs:run_rollup",
    description="Consolidates raw telemetry samples into hourly min/max/avg/count/last rows.",
    interval=300.0,
    lease_ttl=300.0,
    params={
        "lookback_hours": Param(int, 2, "hours before the newest rolled-up hour that are recomputed"),
        "max_hours": Param(int, 48, "hours rolled up per run at most (the next run continues)"),
    },
)
RETENTION = JobSpec(
    name="retention",
    run="scrapesched.scrapers.retention:run_retention",
    description="Deletes samples, rollups, job runs and ETags past their retention, in bounded batches.",
    interval=3600.0,
    lease_ttl=600.0,
)
