"""The ``[retention]`` part of the settings: how long the ``retention`` job keeps each kind of row.

In the config file::

    [retention]
    samples = "7d"      # telemetry_samples and telemetry_scrapes
    hourly = "400d"     # telemetry_hourly
    job_runs = "30d"    # finished job_runs
    etags = "30d"       # http_etags not used for this long
    flush_ids = "7d"    # telemetry_flushes
    batch_size = 5000   # rows per DELETE (and per transaction)

These keys lived in ``[telemetry]`` as ``*_retention`` once; ``MOVED_KEYS`` names their new places, so a
config file that still sets one gets an error that says where it went.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from scrapesched.config.durations import DAY_S, Duration
from scrapesched.config.strict import Whole


class RetentionSettings(BaseModel):
    """The ``[retention]`` table."""

    model_config = ConfigDict(extra="forbid")

    samples: Duration = 7 * DAY_S
    """Raw telemetry samples (`telemetry_samples`) and per-scrape status rows (`telemetry_scrapes`) older than
    this are deleted."""
    hourly: Duration = 400 * DAY_S
    """Hourly telemetry rollups (`telemetry_hourly`) older than this are deleted."""
    job_runs: Duration = 30 * DAY_S
    """Finished `job_runs` rows older than this are deleted (running ones never are)."""
    etags: Duration = 30 * DAY_S
    """Stored ETags and bodies (`http_etags`) not used for this long are deleted."""
    flush_ids: Duration = 7 * DAY_S
    """Idempotency keys of HTTP summary flushes (`telemetry_flushes`) are kept this long: a flush retried
    within it is never counted twice."""
    batch_size: Whole = Field(default=5000, ge=1, le=100_000)
    """Rows deleted per statement (and per transaction), so no table stays locked."""


# Old key (table.key) -> new key, for the one-line error when a config file still uses the old one.
MOVED_KEYS: dict[str, str] = {
    "telemetry.samples_retention": "retention.samples",
    "telemetry.hourly_retention": "retention.hourly",
    "telemetry.job_runs_retention": "retention.job_runs",
    "telemetry.etags_retention": "retention.etags",
    "telemetry.flush_ids_retention": "retention.flush_ids",
    "telemetry.retention_batch_size": "retention.batch_size",
}
